using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Tokenization;

/// <summary>
/// The conformance suite every tokenizer runs against llama.cpp's test vectors (<c>NAME.inp</c>/<c>NAME.out</c> in
/// ../shared/tokenizer-vectors; llama.cpp tokenizes them with add_special = false and parse_special = false).
/// One subclass per tokenizer names its vocabulary; the tokenizer-specific tests live in the subclass.
/// </summary>
public abstract class TokenizerVectorConformance
{
    /// <summary>Both vector files shipped with llama.cpp hold this many cases.</summary>
    public const int CaseCount = 46;

    private static readonly Dictionary<string, (ModelTokenizer Tokenizer, (string[] Inputs, int[][] Expected) Vectors)> s_loaded = new();

    /// <summary>The vocabulary file, e.g. <c>ggml-vocab-gpt-2.gguf</c>.</summary>
    protected abstract string VocabName { get; }

    /// <summary>The tokenizer built from <see cref="VocabName"/> (loaded once per vocabulary).</summary>
    protected ModelTokenizer VectorTokenizer => Loaded.Tokenizer;

    /// <summary>The cases and their expected ids.</summary>
    protected (string[] Inputs, int[][] Expected) Vectors => Loaded.Vectors;

    private (ModelTokenizer Tokenizer, (string[] Inputs, int[][] Expected) Vectors) Loaded
    {
        get
        {
            lock (s_loaded)
            {
                if (!s_loaded.TryGetValue(VocabName, out var loaded))
                {
                    using var file = GgufFile.Open(TestData.TokenizerVectors(VocabName));
                    loaded = (ModelTokenizer.FromGguf(file), TokenizerVectors.Read(VocabName));
                    s_loaded[VocabName] = loaded;
                }
                return loaded;
            }
        }
    }

    public static TheoryData<int> CaseIndices() => TokenizerVectors.CaseIndices(CaseCount);

    [Fact]
    public void VectorFileHasAllCases() => Assert.Equal(CaseCount, Vectors.Inputs.Length);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void EncodesLikeLlamaCpp(int index)
    {
        var ids = VectorTokenizer.Encode(Vectors.Inputs[index], addSpecial: false, parseSpecial: false);
        Assert.Equal(Vectors.Expected[index], ids);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void AsMicrosoftMLTokenizerEncodesLikeLlamaCpp(int index)
    {
        // The Microsoft.ML.Tokenizers view (ModelTokenizer.AsTokenizer) gives the same ids, counts and texts.
        var tokenizer = VectorTokenizer.AsTokenizer();
        string input = Vectors.Inputs[index];
        Assert.Equal(Vectors.Expected[index], tokenizer.EncodeToIds(input));
        Assert.Equal(Vectors.Expected[index].Length, tokenizer.CountTokens(input));
        Assert.Equal(Vectors.Expected[index], tokenizer.EncodeToTokens(input, out _).Select(t => t.Id));
        Assert.Equal(VectorTokenizer.Decode(Vectors.Expected[index]), tokenizer.Decode(Vectors.Expected[index]));
    }
}
