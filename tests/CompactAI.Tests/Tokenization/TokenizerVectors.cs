using System.Text;

namespace CompactAI.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors in <c>tokenizer-vectors/</c>: <c>NAME.inp</c> holds the cases, each ending with the
/// separator line <c>__ggml_vocab_test__</c>; <c>NAME.out</c> the expected ids, one line of space-separated ids per case.
/// </summary>
public static class TokenizerVectors
{
    private const string CaseSeparator = "\n__ggml_vocab_test__\n";

    /// <summary>The cases of vocabulary <paramref name="vocabName"/> (e.g. <c>ggml-vocab-gpt-2.gguf</c>) and their expected ids.</summary>
    public static (string[] Inputs, int[][] Expected) Read(string vocabName)
    {
        string inp = File.ReadAllText(TestData.TokenizerVectors(vocabName + ".inp"), Encoding.UTF8);
        string[] outLines = File.ReadAllText(TestData.TokenizerVectors(vocabName + ".out"), Encoding.UTF8).Split('\n');
        // Every case, including the last, ends with the separator line; the text after the last one is not a case.
        string[] parts = inp.Split(CaseSeparator);
        Assert.Equal("", parts[^1]);
        string[] inputs = parts[..^1];
        Assert.Equal("", outLines[^1]);
        Assert.Equal(inputs.Length, outLines.Length - 1);
        var expected = new int[inputs.Length][];
        for (int i = 0; i < inputs.Length; i++)
            expected[i] = outLines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        return (inputs, expected);
    }

    /// <summary>The indices 0..<paramref name="count"/>−1 as theory data, one row per case.</summary>
    public static TheoryData<int> CaseIndices(int count)
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < count; i++) data.Add(i);
        return data;
    }
}
