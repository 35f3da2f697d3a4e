using System.Text;
using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Tokenization;

public sealed class BpeTokenizerTests
{
    private const string VocabName = "ggml-vocab-gpt-2.gguf";
    private const string CaseSeparator = "\n__ggml_vocab_test__\n";

    private static readonly Lazy<BpeTokenizer> Gpt2 = new(() => Load(TestData.TokenizerVectors(VocabName)));
    private static readonly Lazy<(string[] Inputs, int[][] Expected)> Vectors = new(ReadVectors);

    private static BpeTokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return BpeTokenizer.FromGguf(file);
    }

    private static (string[] Inputs, int[][] Expected) ReadVectors()
    {
        string inp = File.ReadAllText(TestData.TokenizerVectors(VocabName + ".inp"), Encoding.UTF8);
        string[] outLines = File.ReadAllText(TestData.TokenizerVectors(VocabName + ".out"), Encoding.UTF8).Split('\n');
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

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Vectors.Value.Inputs.Length; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void VectorFileHasAllCases()
    {
        Assert.Equal(46, Vectors.Value.Inputs.Length);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void EncodesGpt2VectorsLikeLlamaCpp(int index)
    {
        string input = Vectors.Value.Inputs[index];
        var ids = Gpt2.Value.Encode(input, addSpecial: false, parseSpecial: false);
        Assert.Equal(Vectors.Value.Expected[index], ids);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void DecodeOfEncodeGivesTheTextBackForGpt2Vectors(int index)
    {
        string input = Vectors.Value.Inputs[index];
        var t = Gpt2.Value;
        Assert.Equal(input, t.Decode(t.Encode(input, addSpecial: false)));
    }

    [Fact]
    public void Gpt2Metadata()
    {
        var t = Gpt2.Value;
        Assert.Equal(50257, t.VocabularySize);
        Assert.Equal("gpt-2", t.PreTokenizer);
        Assert.Equal(50256, t.BosToken);
        Assert.Equal(50256, t.EosToken);
        Assert.False(t.AddBos);
        Assert.False(t.AddEos);
        Assert.Equal(TokenType.Control, t.GetTokenType(50256));
        Assert.Equal("<|endoftext|>", t.GetTokenText(50256));
        Assert.True(t.IsEndOfGeneration(50256));
        Assert.False(t.IsEndOfGeneration(0));
        Assert.Equal(0, t.GetMergeRank("Ġ", "t"));
        Assert.Equal(-1, t.GetMergeRank("t", "Ġ"));
    }

    [Fact]
    public void FromGgufDispatchesOnTheModelKey()
    {
        using var file = GgufFile.Open(TestData.TokenizerVectors(VocabName));
        Assert.IsType<BpeTokenizer>(ModelTokenizer.FromGguf(file));
    }

    [Fact]
    public void LoneSurrogatesAreEncodedAsTheReplacementCharacter()
    {
        // llama.cpp receives UTF-8, in which a lone surrogate can only arrive as U+FFFD.
        var t = Gpt2.Value;
        Assert.Equal(t.Encode("a\uFFFDb\uFFFD", addSpecial: false), t.Encode("a\uD800b\uDC00", addSpecial: false));
    }

    [Fact]
    public void AddSpecialUsesTheMetadataFlags()
    {
        // gpt-2 has no add_bos_token key: llama.cpp adds nothing for its pre-tokenizer.
        var t = Gpt2.Value;
        Assert.Equal(t.Encode("Hello", addSpecial: false), t.Encode("Hello", addSpecial: true));
    }

    [Fact]
    public void MissingMergesAreAFormatError()
    {
        string path = Path.Combine(Path.GetTempPath(), $"compactai-bpe-nomerges-{Guid.NewGuid():N}.gguf");
        try
        {
            var writer = new GgufWriter();
            using (var source = GgufFile.Open(TestData.TokenizerVectors(VocabName)))
            {
                foreach (var (key, value) in source.Metadata)
                    if (key is not ("tokenizer.ggml.merges" or GgufFile.AlignmentKey)) writer.Add(key, value);
            }
            writer.WriteTo(path);
            using var file = GgufFile.Open(path);
            var e = Assert.Throws<GgufFormatException>(() => ModelTokenizer.FromGguf(file));
            Assert.Contains("tokenizer.ggml.merges", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
