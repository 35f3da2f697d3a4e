using System.Text;
using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Tokenization;

public sealed class SentencePieceTokenizerTests : TokenizerVectorConformance
{
    private const string Vocab = "ggml-vocab-llama-spm.gguf";

    private static readonly Lazy<SentencePieceTokenizer> LlamaSpm = new(() => Load(Path.Combine(VectorsDir, Vocab)));
    private static readonly Lazy<SentencePieceTokenizer> Stories = new(() => Load(Path.Combine(SharedDir, "models", "stories260K.gguf")));

    private static string SharedDir => TestData.SharedDir;

    private static string VectorsDir => Path.Combine(SharedDir, "tokenizer-vectors");

    private static SentencePieceTokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return SentencePieceTokenizer.FromGguf(file);
    }

    protected override string VocabName => Vocab;

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void DecodeOfEncodeGivesTheTextWithTheSpacePrefix(int index)
    {
        string input = Vectors.Inputs[index];
        var tokenizer = LlamaSpm.Value;
        Assert.True(tokenizer.AddSpacePrefix);
        string decoded = tokenizer.Decode(tokenizer.Encode(input, addSpecial: false));
        Assert.Equal(input.Length == 0 ? "" : " " + input, decoded);
        // With BOS added, decoding skips it (a control token) unless asked to render it.
        var withBos = tokenizer.Encode(input);
        Assert.Equal(1, withBos[0]);
        Assert.Equal(decoded, tokenizer.Decode(withBos));
        Assert.Equal("<s>" + decoded, tokenizer.Decode(withBos, renderSpecial: true));
    }

    [Fact]
    public void LlamaSpmMetadata()
    {
        var t = LlamaSpm.Value;
        Assert.Equal(32000, t.VocabularySize);
        Assert.Equal(1, t.BosToken);
        Assert.Equal(2, t.EosToken);
        Assert.Equal(0, t.UnknownToken);
        Assert.True(t.AddBos);
        Assert.False(t.AddEos);
        Assert.Equal(TokenType.Unknown, t.GetTokenType(0));
        Assert.Equal(TokenType.Control, t.GetTokenType(1));
        Assert.Equal(TokenType.Byte, t.GetTokenType(3 + 0x0A));
        Assert.Equal("<0x0A>", t.GetTokenText(3 + 0x0A));
        Assert.Equal("▁Hello", t.GetTokenText(15043));
        Assert.True(t.IsEndOfGeneration(2));
        Assert.False(t.IsEndOfGeneration(1));
        Assert.False(t.IsEndOfGeneration(15043));
    }

    [Fact]
    public void FromGgufDispatchesOnTheModelKey()
    {
        using var file = GgufFile.Open(Path.Combine(VectorsDir, Vocab));
        Assert.IsType<SentencePieceTokenizer>(ModelTokenizer.FromGguf(file));
    }

    [Fact]
    public void EmptyTextGivesOnlySpecialTokens()
    {
        var t = LlamaSpm.Value;
        Assert.Empty(t.Encode("", addSpecial: false));
        Assert.Equal([1], t.Encode(""));
    }

    [Fact]
    public void ControlTokenTextsAreSplitOffOnlyWithParseSpecial()
    {
        var t = LlamaSpm.Value;
        // llama.cpp: after a special token, the following text gets the space prefix again.
        Assert.Equal([1, 15043, 2, 29871, 3186], t.Encode("<s>Hello</s> world", addSpecial: false, parseSpecial: true));
        var plain = t.Encode("<s>Hello", addSpecial: false, parseSpecial: false);
        Assert.DoesNotContain(1, plain);
        Assert.Equal(" <s>Hello", t.Decode(plain));
        Assert.Equal(" Hello  world", t.Decode(t.Encode("<s>Hello</s> world", addSpecial: false, parseSpecial: true)));
        Assert.Equal("<s> Hello</s>  world",
            t.Decode(t.Encode("<s>Hello</s> world", addSpecial: false, parseSpecial: true), renderSpecial: true));
    }

    [Fact]
    public void UnknownTokenRendersOnlyAsSpecial()
    {
        var t = LlamaSpm.Value;
        Assert.Equal("", t.Decode([0]));
        Assert.Equal("<unk>", t.Decode([0], renderSpecial: true));
    }

    [Fact]
    public void Stories260KEncodesOnceUponATime()
    {
        var t = Stories.Value;
        Assert.Equal([403, 407, 261, 378], t.Encode("Once upon a time", addSpecial: false));
        Assert.Equal([1, 403, 407, 261, 378], t.Encode("Once upon a time"));
    }

    [Fact]
    public void Stories260KDecodesTheGreedyContinuation()
    {
        int[] ids =
        [
            432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
            411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426,
        ];
        const string expected = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";
        var t = Stories.Value;
        Assert.Equal(expected, t.Decode(ids));

        var stream = t.CreateStreamingDecoder();
        var sb = new StringBuilder();
        foreach (int id in ids) sb.Append(stream.Add(id));
        sb.Append(stream.Flush());
        Assert.Equal(expected, sb.ToString());
    }

    [Fact]
    public void StreamingDecoderNeverSplitsACharacter()
    {
        const string text = "héllo 😀 日本";
        var t = LlamaSpm.Value;
        var ids = t.Encode(text, addSpecial: false);
        // The emoji has no token: it falls back to its four UTF-8 bytes F0 9F 98 80.
        var byteTokens = ids.Where(id => t.GetTokenType(id) == TokenType.Byte).Select(id => t.GetTokenText(id)).ToArray();
        Assert.Equal(["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], byteTokens);

        var stream = t.CreateStreamingDecoder();
        var pieces = new List<string>();
        foreach (int id in ids)
        {
            string piece = stream.Add(id);
            Assert.DoesNotContain('\uFFFD', piece);
            if (piece.Length > 0) Assert.False(char.IsHighSurrogate(piece[^1]), "piece ends inside a surrogate pair");
            pieces.Add(piece);
        }
        Assert.Equal("", stream.Flush());
        // The emoji's first three byte tokens give nothing; the fourth gives the whole character.
        Assert.Contains("😀", pieces);
        Assert.Equal(t.Decode(ids), string.Concat(pieces));
        Assert.Equal(" " + text, string.Concat(pieces));
    }

    [Fact]
    public void MergesHighestScoreFirstAndFallsBackToBytes()
    {
        // Vocabulary: ▁ab would need "▁a"+"b" (score -1) but "ab" (score -0.5) wins first, then "▁"+"ab" is not a token.
        string[] tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "<0x63>", "<|user|>"];
        float[] scores = [0, 0, 0, -3, -4, -4, -1, -0.5f, 0, 0];
        int[] types = [2, 3, 3, 1, 1, 1, 1, 1, 6, 4];
        var t = Build(tokens, scores, types);
        Assert.Equal([3, 7], t.Encode("ab", addSpecial: false));
        // "c" is a byte token; "d" has neither a token nor a byte token, so it becomes UNK.
        Assert.Equal([6, 8, 0], t.Encode("acd", addSpecial: false));
        // User-defined tokens are split off even without parseSpecial, and the text after them gets the space prefix.
        Assert.Equal([6, 9, 6], t.Encode("a<|user|>a", addSpecial: false));
        Assert.Equal(" a<|user|> a", t.Decode([6, 9, 6]));
        Assert.Equal(" ac", t.Decode([6, 8, 0]));
    }

    [Fact]
    public void LongestSpecialTextIsSplitOffFirst()
    {
        string[] tokens = ["<unk>", "<s>", "</s>", "<|x|>", "<|x|>y", "▁", "y"];
        var t = Build(tokens, [0, 0, 0, 0, 0, -1, -1], [2, 3, 3, 4, 4, 1, 1]);
        Assert.Equal([3, 4, 3], t.Encode("<|x|><|x|>y<|x|>", addSpecial: false));
        Assert.Equal([5, 6, 3], t.Encode("y<|x|>", addSpecial: false));
    }

    [Fact]
    public void LongTextRoundTrips()
    {
        var t = LlamaSpm.Value;
        string text = string.Concat(Enumerable.Repeat(string.Join("\n", Vectors.Inputs), 40));
        var ids = t.Encode(text, addSpecial: false);
        Assert.Equal(" " + text, t.Decode(ids));
    }

    [Fact]
    public void SpacePrefixCanBeTurnedOff()
    {
        string[] tokens = ["<unk>", "<s>", "</s>", "▁", "a", "▁a"];
        var t = Build(tokens, [0, 0, 0, -1, -1, -0.5f], [2, 3, 3, 1, 1, 1], w => w.Add("tokenizer.ggml.add_space_prefix", false));
        Assert.False(t.AddSpacePrefix);
        Assert.Equal([4, 5], t.Encode("a a", addSpecial: false));
    }

    [Fact]
    public void EndOfGenerationIncludesEotAndKnownTexts()
    {
        string[] tokens = ["<unk>", "<s>", "</s>", "<end_of_turn>", "<eot>", "a"];
        var t = Build(tokens, new float[6], [2, 3, 3, 1, 3, 1], w => w.Add("tokenizer.ggml.eot_token_id", 4u));
        Assert.True(t.IsEndOfGeneration(2));
        Assert.True(t.IsEndOfGeneration(3));
        Assert.True(t.IsEndOfGeneration(4));
        Assert.False(t.IsEndOfGeneration(5));
        Assert.False(t.IsEndOfGeneration(-1));
        // Like llama.cpp, a known end-of-turn text is treated as a control token.
        Assert.Equal(TokenType.Control, t.GetTokenType(3));
    }

    [Fact]
    public void ScoresLengthMismatchIsAFormatError()
    {
        var ex = Assert.Throws<GgufFormatException>(() => Build(["<unk>", "<s>", "</s>", "a"], [0, 0, 0], [2, 3, 3, 1]));
        Assert.Equal("tokenizer.ggml.scores", ex.Field);
    }

    [Fact]
    public void TypesLengthMismatchIsAFormatError()
    {
        var ex = Assert.Throws<GgufFormatException>(() => Build(["<unk>", "<s>", "</s>", "a"], [0, 0, 0, 0], [2, 3, 3]));
        Assert.Equal("tokenizer.ggml.token_type", ex.Field);
    }

    [Fact]
    public void BosIdOutOfRangeIsAFormatError()
    {
        var ex = Assert.Throws<GgufFormatException>(() =>
            Build(["<unk>", "<s>", "</s>", "a"], [0, 0, 0, 0], [2, 3, 3, 1], w => w.Add("tokenizer.ggml.bos_token_id", 4u)));
        Assert.Equal("tokenizer.ggml.bos_token_id", ex.Field);
        Assert.Contains("out of range", ex.Message);
    }

    [Fact]
    public void AllOnesIdMeansNoToken()
    {
        var t = Build(["<unk>", "<s>", "</s>", "▁a"], [0, 0, 0, 0], [2, 3, 3, 1], w => w.Add("tokenizer.ggml.bos_token_id", uint.MaxValue));
        Assert.Equal(-1, t.BosToken);
        Assert.Equal([3], t.Encode("a", addSpecial: true));
    }

    [Fact]
    public void EosIdOutOfRangeIsAFormatError()
    {
        var ex = Assert.Throws<GgufFormatException>(() =>
            Build(["<unk>", "<s>", "</s>", "a"], [0, 0, 0, 0], [2, 3, 3, 1], w => w.Add("tokenizer.ggml.eos_token_id", 100u)));
        Assert.Equal("tokenizer.ggml.eos_token_id", ex.Field);
    }

    [Fact]
    public void MalformedByteTokenIsAFormatError()
    {
        var ex = Assert.Throws<GgufFormatException>(() => Build(["<unk>", "<s>", "</s>", "<0xZZ>"], [0, 0, 0, 0], [2, 3, 3, 6]));
        Assert.Equal("tokenizer.ggml.tokens", ex.Field);
    }

    [Fact]
    public void DecodeRejectsOutOfRangeIds()
    {
        var t = LlamaSpm.Value;
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([32000]));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([-1]));
    }

    private static SentencePieceTokenizer Build(string[] tokens, float[] scores, int[] types, Action<GgufWriter>? extra = null)
    {
        var writer = new GgufWriter()
            .Add("general.architecture", "llama")
            .Add("tokenizer.ggml.model", "llama")
            .Add("tokenizer.ggml.tokens", tokens)
            .Add("tokenizer.ggml.scores", scores)
            .Add("tokenizer.ggml.token_type", types);
        extra?.Invoke(writer);
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        using var file = GgufFile.FromBytes(stream.ToArray());
        return SentencePieceTokenizer.FromGguf(file);
    }
}
