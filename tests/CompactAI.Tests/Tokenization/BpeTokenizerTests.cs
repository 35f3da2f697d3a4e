using System.Text;
using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Tokenization;

public sealed class BpeTokenizerTests : TokenizerVectorConformance
{
    private const string Vocab = "ggml-vocab-gpt-2.gguf";

    private static readonly Lazy<BpeTokenizer> Gpt2 = new(() => Load(TestData.TokenizerVectors(Vocab)));

    private static BpeTokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return BpeTokenizer.FromGguf(file);
    }

    protected override string VocabName => Vocab;

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void DecodeOfEncodeGivesTheTextBackForGpt2Vectors(int index)
    {
        string input = Vectors.Inputs[index];
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
        using var file = GgufFile.Open(TestData.TokenizerVectors(Vocab));
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
            using (var source = GgufFile.Open(TestData.TokenizerVectors(Vocab)))
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
