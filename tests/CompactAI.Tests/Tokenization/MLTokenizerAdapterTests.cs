using System.Buffers;
using CompactAI.Gguf;
using CompactAI.Tests.Embeddings;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Tokenization;

/// <summary><see cref="ModelTokenizer.AsTokenizer"/>: offsets, truncation, decoding into a span, special tokens.</summary>
public sealed class MLTokenizerAdapterTests
{
    private static ModelTokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return ModelTokenizer.FromGguf(file);
    }

    [Fact]
    public void WordPiece_with_special_tokens_gives_llama_cpp_ids_for_minilm()
    {
        var tokenizer = Load(MiniLMGoldens.ModelPath).AsTokenizer(addSpecialTokens: true);
        var sentences = MiniLMGoldens.Sentences;
        var expected = MiniLMGoldens.SentenceTokens;
        for (int i = 0; i < sentences.Length; i++)
        {
            Assert.Equal(expected[i], tokenizer.EncodeToIds(sentences[i]));
            Assert.Equal(expected[i].Length, tokenizer.CountTokens(sentences[i]));
        }
        // Lowercased pieces are found case-insensitively: "Hello" is token "▁hello" at [0, 5).
        var tokens = tokenizer.EncodeToTokens("Hello World", out _);
        Assert.Equal([101, 7592, 2088, 102], tokens.Select(t => t.Id));
        Assert.Equal((0, 5), Offsets(tokens[1].Offset, 11));
        Assert.Equal((6, 11), Offsets(tokens[2].Offset, 11));
    }

    [Fact]
    public void Byte_level_bpe_offsets_cover_the_text_and_truncation_reports_what_was_consumed()
    {
        var tokenizer = Load(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf")).AsTokenizer();
        const string text = "Hello world, this is a test of the offsets.";
        var tokens = tokenizer.EncodeToTokens(text, out _);
        Assert.Equal(text, string.Concat(tokens.Select(t => text[t.Offset])));
        var ids = tokenizer.EncodeToIds(text, 3, out _, out int consumed);
        Assert.Equal(tokens.Take(3).Select(t => t.Id), ids);
        Assert.Equal(Offsets(tokens[2].Offset, text.Length).End, consumed);
        int index = tokenizer.GetIndexByTokenCount(text, 3, out _, out int count);
        Assert.Equal((3, consumed), (count, index));
    }

    [Fact]
    public void Decoding_into_a_span_stops_at_whole_tokens()
    {
        var model = Load(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"));
        var tokenizer = model.AsTokenizer();
        var ids = tokenizer.EncodeToIds("Hello world");
        Span<char> small = stackalloc char[7];
        Assert.Equal(OperationStatus.DestinationTooSmall, tokenizer.Decode(ids, small, out int used, out int written));
        Assert.Equal((1, "Hello"), (used, small[..written].ToString()));
        Span<char> big = stackalloc char[64];
        Assert.Equal(OperationStatus.Done, tokenizer.Decode(ids, big, out used, out written));
        Assert.Equal((ids.Count, "Hello world"), (used, big[..written].ToString()));
    }

    private static (int Start, int End) Offsets(Range r, int length) => (r.Start.GetOffset(length), r.End.GetOffset(length));
}
