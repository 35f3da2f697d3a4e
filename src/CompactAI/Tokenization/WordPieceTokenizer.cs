using System.Buffers;
using System.Text;
using CompactAI.Gguf;
using CompactAI.Tokenization.PreTokenizers;

namespace CompactAI.Tokenization;

/// <summary>
/// The WordPiece tokenizer of BERT-family GGUF models (<c>tokenizer.ggml.model = "bert"</c>: MiniLM, BGE, E5, GTE,
/// arctic-embed, nomic-embed), behaving like llama.cpp's WPM tokenizer.
/// </summary>
/// <remarks>
/// <para><b>Vocabulary.</b> llama.cpp's converter stores word-initial pieces with a leading <c>▁</c> (U+2581) and
/// continuation pieces (<c>##ing</c> in the Hugging Face vocabulary) without a prefix, so every piece is looked up
/// verbatim.</para>
/// <para><b>Encoding.</b> Special tokens are split off first as in the other tokenizers (control and unknown-type texts only
/// with <c>parseSpecial</c>, user-defined texts always). Each remaining piece is pre-processed code point by code point:
/// with accent stripping (<c>tokenizer.ggml.normalizer.strip_accents</c>, default the lowercase flag) each code point
/// becomes the first code point of its NFD and combining marks (<c>\p{M}</c>) are dropped; white space ends a word; NUL,
/// U+FFFD and <c>\p{C}</c> are dropped; with lowercasing (<c>tokenizer.ggml.normalizer.lowercase</c>, default true) the
/// code point is lowercased; punctuation, ASCII symbols and CJK ideographs are words of their own. Each word, with
/// <c>▁</c> prepended, is split greedily into the longest vocabulary pieces from left to right; a word with a position no
/// piece matches becomes the single unknown token. With <c>addSpecial</c>, [CLS] (<see cref="ModelTokenizer.BosToken"/>)
/// comes first and [SEP] (<see cref="SeparatorToken"/>) last, whatever <c>add_bos_token</c> says, as in llama.cpp.</para>
/// <para><b>Decoding.</b> Normal tokens render their text with <c>▁</c> as a space, so decoded text starts with a space;
/// llama.cpp's optional clean-up of spaces before punctuation is not applied.</para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class WordPieceTokenizer : ModelTokenizer
{
    private const char SpaceMarker = '\u2581';

    private readonly TokenTable _table;
    private readonly int _maxTokenChars;

    private WordPieceTokenizer(string[] texts, TokenType[] types, int cls, int sep, int unk, int eos, bool lowercase, bool stripAccents)
    {
        BosToken = cls;
        EosToken = eos;
        AddBos = cls >= 0;
        AddEos = false;
        SeparatorToken = sep;
        UnknownToken = unk;
        Lowercase = lowercase;
        StripAccents = stripAccents;
        _table = new TokenTable(texts, types, [eos], SentencePieceTokenizer.BuildPieces);
        foreach (string t in texts) _maxTokenChars = Math.Max(_maxTokenChars, t.Length);
    }

    /// <summary>The separator token [SEP] appended by <see cref="Encode"/> with special tokens (<c>tokenizer.ggml.seperator_token_id</c>, default 102), or -1.</summary>
    public int SeparatorToken { get; }

    /// <summary>The unknown token [UNK] a word with no matching pieces becomes (<c>tokenizer.ggml.unknown_token_id</c>, default 100), or -1.</summary>
    public int UnknownToken { get; }

    /// <summary>Whether text is lowercased before it is split (<c>tokenizer.ggml.normalizer.lowercase</c>, default true).</summary>
    public bool Lowercase { get; }

    /// <summary>Whether accents are stripped before the text is split (<c>tokenizer.ggml.normalizer.strip_accents</c>, default <see cref="Lowercase"/>).</summary>
    public bool StripAccents { get; }

    /// <inheritdoc />
    public override int VocabularySize => _table.Count;

    /// <summary>Builds the tokenizer from the <c>tokenizer.ggml.*</c> metadata of a GGUF file.</summary>
    /// <param name="file">The GGUF file (a full model or a vocabulary-only file).</param>
    /// <remarks>
    /// Reads <c>tokens</c> (required), <c>token_type</c> (default normal), the ids <c>bos_token_id</c> ([CLS], default 101),
    /// <c>seperator_token_id</c> (llama.cpp's spelling; [SEP], default 102), <c>unknown_token_id</c> (default 100),
    /// <c>eos_token_id</c> (default none), and the flags <c>normalizer.lowercase</c> and <c>normalizer.strip_accents</c>;
    /// the defaults are llama.cpp's (an id past the end of the vocabulary means none).
    /// </remarks>
    /// <exception cref="GgufFormatException">The token list is missing or empty, the types do not have one entry per token, a type is unknown, or a special id is out of range (the message names the key).</exception>
    public static new WordPieceTokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var meta = file.Metadata;
        string? path = file.FilePath;
        var (texts, types) = VocabularyReader.ReadTokens(meta, path);
        int n = texts.Length;
        int cls = VocabularyReader.ReadId(meta, "tokenizer.ggml.bos_token_id", 101, n, path);
        int sep = VocabularyReader.ReadId(meta, "tokenizer.ggml.seperator_token_id", 102, n, path);
        int unk = VocabularyReader.ReadId(meta, "tokenizer.ggml.unknown_token_id", 100, n, path);
        int eos = VocabularyReader.ReadId(meta, "tokenizer.ggml.eos_token_id", -1, n, path);
        VocabularyReader.ReadId(meta, "tokenizer.ggml.padding_token_id", 0, n, path);
        bool lowercase = meta.GetBool("tokenizer.ggml.normalizer.lowercase", true);
        bool stripAccents = meta.GetBool("tokenizer.ggml.normalizer.strip_accents", lowercase);
        return new WordPieceTokenizer(texts, types, cls, sep, unk, eos, lowercase, stripAccents);
    }

    /// <inheritdoc />
    public override TokenType GetTokenType(int id) => _table.GetTokenType(id);

    /// <inheritdoc />
    public override string GetTokenText(int id) => _table.GetTokenText(id);

    /// <inheritdoc />
    public override bool IsEndOfGeneration(int id) => _table.IsEndOfGeneration(id);

    /// <inheritdoc />
    public override IReadOnlyList<int> Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _table.Encode(text, parseSpecial, addSpecial ? BosToken : -1, addSpecial ? SeparatorToken : -1, new PlainText(this));
    }

    /// <inheritdoc />
    public override void AppendTokenBytes(int id, List<byte> destination, bool renderSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        _table.AppendTokenBytes(id, destination, renderSpecial);
    }

    private readonly struct PlainText(WordPieceTokenizer owner) : IPlainTextEncoder
    {
        public void Encode(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output) => owner.EncodePlain(text, output);
    }

    /// <summary>Pre-processes <paramref name="text"/> into words and appends each word's pieces.</summary>
    private void EncodePlain(ReadOnlySpan<char> text, List<int> output)
    {
        // A word never grows past its text: 2 UTF-16 units per code point at most, plus the leading ▁.
        char[] buffer = ArrayPool<char>.Shared.Rent(2 * text.Length + 2);
        try
        {
            buffer[0] = SpaceMarker;
            int length = 1;
            int i = 0;
            while (i < text.Length)
            {
                Rune.DecodeFromUtf16(text[i..], out var rune, out int consumed);
                i += consumed;
                int cp = rune.Value;
                if (StripAccents) cp = WordPieceNfd.Base(cp);
                var flags = Codepoints.Flags(cp);
                if ((flags & CodepointFlags.Whitespace) != 0)
                {
                    length = EndWord(buffer, length, output);
                    continue;
                }
                if (cp == 0 || cp == 0xFFFD || (flags & CodepointFlags.Control) != 0) continue;
                if (StripAccents && (flags & CodepointFlags.Mark) != 0) continue;
                var r = new Rune(cp);
                if (Lowercase) r = Rune.ToLowerInvariant(r);
                if ((flags & CodepointFlags.Punctuation) != 0 || (cp < 0x7F && (flags & CodepointFlags.Symbol) != 0) || IsChineseCharacter(cp))
                {
                    length = EndWord(buffer, length, output);
                    length += r.EncodeToUtf16(buffer.AsSpan(length));
                    length = EndWord(buffer, length, output);
                }
                else
                {
                    length += r.EncodeToUtf16(buffer.AsSpan(length));
                }
            }
            EndWord(buffer, length, output);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>Appends the pieces of the word in <paramref name="buffer"/> (▁ + text), if any; returns the empty word's length.</summary>
    private int EndWord(char[] buffer, int length, List<int> output)
    {
        if (length > 1) EncodeWord(buffer.AsSpan(0, length), output);
        return 1;
    }

    /// <summary>Greedy longest-match-first split of <paramref name="word"/>; the unknown token when some position has no piece.</summary>
    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        var lookup = _table.Lookup;
        int first = output.Count;
        int i = 0;
        while (i < word.Length)
        {
            int found = -1, length = Math.Min(word.Length - i, _maxTokenChars);
            for (; length > 0; length--)
            {
                if (lookup.TryGetValue(word.Slice(i, length), out found)) break;
            }
            if (length == 0)
            {
                output.RemoveRange(first, output.Count - first);
                break;
            }
            output.Add(found);
            i += length;
        }
        if (output.Count == first && UnknownToken >= 0) output.Add(UnknownToken);
    }

    /// <summary>The CJK ideograph blocks BERT's tokenizer splits into single characters (as llama.cpp lists them).</summary>
    private static bool IsChineseCharacter(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B920 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
