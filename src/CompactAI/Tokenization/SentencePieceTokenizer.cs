using System.Buffers;
using System.Globalization;
using System.Text;
using CompactAI.Gguf;

namespace CompactAI.Tokenization;

/// <summary>
/// The SentencePiece (SPM) tokenizer of Llama-family GGUF models (<c>tokenizer.ggml.model = "llama"</c>: Llama 2,
/// TinyLlama, Mistral, Phi-3, Gemma, ...), behaving like llama.cpp's SPM tokenizer.
/// </summary>
/// <remarks>
/// <para><b>Encoding.</b> When <c>parseSpecial</c> is set, the text is first split on the texts of control
/// and unknown-type tokens (e.g. <c>&lt;s&gt;</c>); the texts of user-defined tokens are split off always, even without
/// <c>parseSpecial</c> (as llama.cpp and Hugging Face tokenizers do). Token texts are matched longest first: every
/// occurrence of the longest special text is split off across the whole input before shorter ones are searched. Each
/// remaining piece of plain text has its spaces replaced by U+2581 (<c>▁</c>); a leading <c>▁</c> is added when
/// <c>tokenizer.ggml.add_space_prefix</c> (default true) is set and the piece is at the start of the text or
/// directly follows a special token. The piece is cut into Unicode characters, and the adjacent pair whose
/// concatenation is a vocabulary token with the highest score is merged, repeatedly (ties: leftmost pair first).
/// Each final symbol is emitted as its token; a character that is no token is emitted as the byte tokens
/// <c>&lt;0xNN&gt;</c> of its UTF-8 bytes, or the unknown token where the vocabulary has no such byte token.
/// The empty string gives no tokens (only BOS/EOS when asked for).</para>
/// <para><b>Decoding.</b> <see cref="AppendTokenBytes"/> and <see cref="ModelTokenizer.Decode"/> render each token
/// as its piece: normal tokens as their text with <c>▁</c> turned back into spaces, byte tokens as their byte,
/// user-defined tokens as their text verbatim, control and unknown tokens as nothing (their text, e.g.
/// <c>&lt;unk&gt;</c>, with <c>renderSpecial</c>), unused and undefined tokens as nothing. Unlike llama.cpp's
/// <c>llama_detokenize</c>, the space that encoding adds as a prefix is <em>not</em> removed: decoding the tokens of
/// <c>"Hello"</c> gives <c>" Hello"</c>, so <c>Decode(Encode(x, addSpecial: false))</c> is <c>" " + x</c> for
/// non-empty <c>x</c> when the space prefix is on. This keeps decoding a pure concatenation of pieces, which is what
/// a <see cref="StreamingDecoder"/> produces for generated tokens.</para>
/// <para><b>End of generation.</b> EOS, <c>tokenizer.ggml.eot_token_id</c>, <c>tokenizer.ggml.eom_token_id</c>, and,
/// as in llama.cpp, tokens whose text is a well-known end-of-turn marker (<c>&lt;end_of_turn&gt;</c>,
/// <c>&lt;|end|&gt;</c>, <c>&lt;|im_end|&gt;</c>, <c>&lt;|endoftext|&gt;</c>, ...); such tokens are treated as control
/// tokens whatever their stored type.</para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class SentencePieceTokenizer : ModelTokenizer
{
    private const char SpaceMarker = '\u2581';

    private readonly TokenTable _table;
    private readonly float[] _scores;
    private readonly int[] _byteTokens;
    private readonly bool _addSpacePrefix;

    private SentencePieceTokenizer(string[] texts, float[] scores, TokenType[] types, bool addSpacePrefix,
        int bos, int eos, int unk, int eot, int eom, bool addBos, bool addEos)
    {
        _scores = scores;
        _addSpacePrefix = addSpacePrefix;
        BosToken = bos;
        EosToken = eos;
        UnknownToken = unk;
        AddBos = addBos;
        AddEos = addEos;

        _table = new TokenTable(texts, types, [eos, eot, eom], BuildPieces);
        var ids = _table.Ids;

        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            if (!ids.TryGetValue(string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>"), out int id)
                && !(b < 0x80 && ids.TryGetValue(((char)b).ToString(), out id)))
                id = -1;
            _byteTokens[b] = id;
        }
    }

    /// <summary>The unknown token id (<c>tokenizer.ggml.unknown_token_id</c>, default 0), or -1.</summary>
    public int UnknownToken { get; }

    /// <summary>Whether a space is prepended to the text (<c>tokenizer.ggml.add_space_prefix</c>, default true).</summary>
    public bool AddSpacePrefix => _addSpacePrefix;

    /// <inheritdoc />
    public override int VocabularySize => _table.Count;

    /// <summary>The score of token <paramref name="id"/> (higher merges first).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id.</exception>
    public float GetTokenScore(int id) => _scores[_table.CheckId(id)];

    /// <summary>Builds the tokenizer from the <c>tokenizer.ggml.*</c> metadata of a GGUF file.</summary>
    /// <param name="file">The GGUF file (a full model or a vocabulary-only file).</param>
    /// <remarks>
    /// Reads <c>tokens</c> (required), <c>scores</c> (default 0) and <c>token_type</c> (default normal), the special
    /// ids <c>bos_token_id</c> (default 1), <c>eos_token_id</c> (default 2), <c>unknown_token_id</c> (default 0),
    /// <c>padding_token_id</c>, <c>eot_token_id</c>, <c>eom_token_id</c>, and the flags <c>add_bos_token</c>
    /// (default true), <c>add_eos_token</c> (default false) and <c>add_space_prefix</c> (default true).
    /// The model key <c>tokenizer.ggml.model</c> is not checked; <see cref="ModelTokenizer.FromGguf"/> dispatches on it.
    /// </remarks>
    /// <exception cref="GgufFormatException">
    /// The token list is missing or empty; the scores or types do not have one entry per token; a token type is
    /// unknown; a byte token's text is not <c>&lt;0xNN&gt;</c>; or an explicitly given special token id is out of
    /// range (-1 and <c>0xFFFFFFFF</c> mean "no such token"). The message names the metadata key.
    /// </exception>
    public static new SentencePieceTokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var meta = file.Metadata;
        string? path = file.FilePath;

        var (texts, types) = VocabularyReader.ReadTokens(meta, path);
        int n = texts.Length;

        const string scoresKey = "tokenizer.ggml.scores";
        float[]? scores = meta.GetArrayOrNull<float>(scoresKey);
        if (scores is not null && scores.Length != n)
            throw new GgufFormatException($"has {scores.Length} entries but tokenizer.ggml.tokens has {n}", scoresKey, -1, path);

        int bos = VocabularyReader.ReadId(meta, "tokenizer.ggml.bos_token_id", 1, n, path);
        int eos = VocabularyReader.ReadId(meta, "tokenizer.ggml.eos_token_id", 2, n, path);
        int unk = VocabularyReader.ReadId(meta, "tokenizer.ggml.unknown_token_id", 0, n, path);
        VocabularyReader.ReadId(meta, "tokenizer.ggml.padding_token_id", -1, n, path);
        int eot = VocabularyReader.ReadId(meta, "tokenizer.ggml.eot_token_id", -1, n, path);
        int eom = VocabularyReader.ReadId(meta, "tokenizer.ggml.eom_token_id", -1, n, path);

        return new SentencePieceTokenizer(texts, scores ?? new float[n], types,
            meta.GetBool("tokenizer.ggml.add_space_prefix", true), bos, eos, unk, eot, eom,
            meta.GetBool("tokenizer.ggml.add_bos_token", true), meta.GetBool("tokenizer.ggml.add_eos_token", false));
    }

    /// <inheritdoc />
    public override TokenType GetTokenType(int id) => _table.GetTokenType(id);

    /// <inheritdoc />
    public override string GetTokenText(int id) => _table.GetTokenText(id);

    /// <inheritdoc />
    public override bool IsEndOfGeneration(int id) => _table.IsEndOfGeneration(id);

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">
    /// A character is in no token and the vocabulary has neither a byte token for one of its bytes nor an unknown token.
    /// </exception>
    public override IReadOnlyList<int> Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _table.Encode(text, parseSpecial, addSpecial && AddBos ? BosToken : -1, addSpecial && AddEos ? EosToken : -1,
            new PlainText(this));
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id.</exception>
    public override void AppendTokenBytes(int id, List<byte> destination, bool renderSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        _table.AppendTokenBytes(id, destination, renderSpecial);
    }

    /// <summary>A piece at the start of the text or after a special token gets the space prefix (when it is on).</summary>
    private readonly struct PlainText(SentencePieceTokenizer owner) : IPlainTextEncoder
    {
        public void Encode(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output) =>
            owner.EncodePlain(text, owner._addSpacePrefix && atStartOrAfterSpecial, output);
    }

    /// <summary>Tokenizes one piece of plain text (no special tokens in it) and appends the ids.</summary>
    private void EncodePlain(ReadOnlySpan<char> text, bool spacePrefix, List<int> output)
    {
        int length = text.Length + (spacePrefix ? 1 : 0);
        if (length == 0) return;
        char[] bufferArray = ArrayPool<char>.Shared.Rent(length);
        Symbol[] symbols = ArrayPool<Symbol>.Shared.Rent(length);
        try
        {
            Span<char> buffer = bufferArray.AsSpan(0, length);
            int p = 0;
            if (spacePrefix) buffer[p++] = SpaceMarker;
            text.CopyTo(buffer[p..]);
            buffer.Replace(' ', SpaceMarker);

            // One symbol per Unicode character (a surrogate pair is one character).
            int count = 0;
            for (int i = 0; i < length;)
            {
                int n = char.IsHighSurrogate(buffer[i]) && i + 1 < length && char.IsLowSurrogate(buffer[i + 1]) ? 2 : 1;
                symbols[count] = new Symbol(i, n, count - 1, i + n == length ? -1 : count + 1);
                count++;
                i += n;
            }

            var queue = new PriorityQueue<Bigram, Bigram>(count, BigramOrder.Instance);
            for (int i = 1; i < count; i++) TryAddBigram(buffer, symbols, i - 1, i, queue);

            while (queue.TryDequeue(out var bigram, out _))
            {
                if (!MergeSymbols.TryMerge(symbols, bigram.Left, bigram.Right, bigram.Length)) continue;
                TryAddBigram(buffer, symbols, symbols[bigram.Left].Prev, bigram.Left, queue);
                TryAddBigram(buffer, symbols, bigram.Left, symbols[bigram.Left].Next, queue);
            }

            for (int i = 0; i != -1; i = symbols[i].Next)
            {
                var piece = buffer.Slice(symbols[i].Start, symbols[i].Length);
                if (_table.Lookup.TryGetValue(piece, out int id))
                    output.Add(id);
                else
                    AppendByteFallback(piece, output);
            }
        }
        finally
        {
            ArrayPool<Symbol>.Shared.Return(symbols);
            ArrayPool<char>.Shared.Return(bufferArray);
        }
    }

    private void TryAddBigram(ReadOnlySpan<char> buffer, Symbol[] symbols, int left, int right, PriorityQueue<Bigram, Bigram> queue)
    {
        if (left < 0 || right < 0) return;
        int length = symbols[left].Length + symbols[right].Length;
        if (!_table.Lookup.TryGetValue(buffer.Slice(symbols[left].Start, length), out int id)) return;
        var bigram = new Bigram(left, right, length, _scores[id]);
        queue.Enqueue(bigram, bigram);
    }

    private void AppendByteFallback(ReadOnlySpan<char> character, List<int> output)
    {
        Span<byte> utf8 = stackalloc byte[8];
        int n = Encoding.UTF8.GetBytes(character, utf8);
        for (int j = 0; j < n; j++)
        {
            int id = _byteTokens[utf8[j]];
            if (id < 0) id = UnknownToken;
            if (id < 0)
                throw new InvalidOperationException(
                    $"Cannot encode byte 0x{utf8[j]:X2}: the vocabulary has no <0x{utf8[j]:X2}> token and no unknown token.");
            output.Add(id);
        }
    }

    /// <summary>The bytes each token renders as, packed: token i is <c>bytes[offsets[i]..offsets[i + 1]]</c>.</summary>
    internal static (byte[] Bytes, int[] Offsets) BuildPieces(string[] texts, TokenType[] types)
    {
        // "▁" becomes a space in normal tokens; the other kinds render their text verbatim.
        static string Rendered(string text, TokenType type) =>
            type == TokenType.Normal ? text.Replace(SpaceMarker, ' ') : text;

        var offsets = new int[texts.Length + 1];
        int total = 0;
        for (int i = 0; i < texts.Length; i++)
        {
            offsets[i] = total;
            total += types[i] == TokenType.Byte ? 1 : Encoding.UTF8.GetByteCount(Rendered(texts[i], types[i]));
        }
        offsets[texts.Length] = total;
        var bytes = new byte[total];
        for (int i = 0; i < texts.Length; i++)
        {
            if (types[i] == TokenType.Byte)
                bytes[offsets[i]] = (byte)VocabularyReader.ParseByteToken(texts[i]);
            else
                Encoding.UTF8.GetBytes(Rendered(texts[i], types[i]), bytes.AsSpan(offsets[i]));
        }
        return (bytes, offsets);
    }

    private readonly record struct Bigram(int Left, int Right, int Length, float Score);

    /// <summary>Highest score first; on a tie, the leftmost pair.</summary>
    private sealed class BigramOrder : IComparer<Bigram>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare(Bigram x, Bigram y)
        {
            int c = y.Score.CompareTo(x.Score);
            return c != 0 ? c : x.Left.CompareTo(y.Left);
        }
    }
}
