using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Embeddings;

/// <summary>WordPiece (<c>tokenizer.ggml.model = bert</c>) against llama.cpp's llama-tokenize on MiniLM's vocabulary.</summary>
public sealed class WordPieceTokenizerTests
{
    private static readonly Lazy<WordPieceTokenizer> s_tokenizer = new(() =>
    {
        using var file = GgufFile.Open(MiniLMGoldens.ModelPath);
        return (WordPieceTokenizer)ModelTokenizer.FromGguf(file);
    });

    private static WordPieceTokenizer Tokenizer => s_tokenizer.Value;

    [Fact]
    public void Reads_llama_cpp_special_ids_and_normalizer_defaults()
    {
        Assert.Equal(30522, Tokenizer.VocabularySize);
        Assert.Equal(101, Tokenizer.BosToken);
        Assert.Equal(102, Tokenizer.SeparatorToken);
        Assert.Equal(100, Tokenizer.UnknownToken);
        Assert.True(Tokenizer.Lowercase);
        Assert.True(Tokenizer.StripAccents);
        Assert.Equal("[CLS]", Tokenizer.GetTokenText(101));
        Assert.Equal(TokenType.Control, Tokenizer.GetTokenType(102));
    }

    [Fact]
    public void Sentences_give_llama_cpp_ids()
    {
        var sentences = MiniLMGoldens.Sentences;
        var expected = MiniLMGoldens.SentenceTokens;
        Assert.Equal(16, sentences.Length);
        for (int i = 0; i < sentences.Length; i++)
            Assert.True(expected[i].SequenceEqual(Tokenizer.Encode(sentences[i])), $"'{sentences[i]}': expected [{string.Join(", ", expected[i])}], got [{string.Join(", ", Tokenizer.Encode(sentences[i]))}]");
    }

    [Fact]
    public void Tricky_cases_give_llama_cpp_ids()
    {
        // Accents, combining marks, punctuation, unknown words, CJK, Hangul, emoji, control and zero-width characters, long words.
        var cases = MiniLMGoldens.TokenizerCases;
        Assert.True(cases.Length >= 30);
        var failures = new List<string>();
        foreach (var (text, ids, idsSpecial) in cases)
        {
            var got = Tokenizer.Encode(text, addSpecial: true, parseSpecial: false);
            if (!ids.SequenceEqual(got)) failures.Add($"'{text}': expected [{string.Join(", ", ids)}], got [{string.Join(", ", got)}]");
            var gotSpecial = Tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
            if (!idsSpecial.SequenceEqual(gotSpecial)) failures.Add($"'{text}' (parse special): expected [{string.Join(", ", idsSpecial)}], got [{string.Join(", ", gotSpecial)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Unknown_words_and_special_texts_behave_as_in_llama_cpp()
    {
        // A CJK character outside the vocabulary is [UNK]; the texts of control tokens are split as punctuation unless parsed.
        var cases = MiniLMGoldens.TokenizerCases.ToDictionary(c => c.Text);
        Assert.Contains(100, cases["中文分词测试"].Ids);
        Assert.Equal([101, 101, 102, 103, 100, 0, 102], cases["[CLS] [SEP] [MASK] [UNK] [PAD]"].IdsSpecial);
        Assert.Equal([101, 102], Tokenizer.Encode(""));
        Assert.Empty(Tokenizer.Encode("", addSpecial: false));
    }

    [Fact]
    public void Decoding_renders_word_starts_as_spaces()
    {
        var ids = Tokenizer.Encode("Hello World, supercalifragilistic", addSpecial: false);
        Assert.Equal(" hello world , supercalifragilistic", Tokenizer.Decode(ids));
        Assert.Equal("[CLS] hello[SEP]", Tokenizer.Decode(Tokenizer.Encode("hello"), renderSpecial: true));
    }
}
