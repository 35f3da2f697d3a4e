using System.Buffers;
using System.Text;
using CompactAI.Gguf;
using CompactAI.Tokenization.PreTokenizers;

namespace CompactAI.Tokenization;

/// <summary>
/// The byte-level BPE tokenizer of GPT-2-style GGUF models (<c>tokenizer.ggml.model = "gpt2"</c>: GPT-2, Llama 3,
/// Qwen 2, SmolLM, DeepSeek, StarCoder, Falcon, Mistral Tekken, ...), behaving like llama.cpp's BPE tokenizer.
/// </summary>
/// <remarks>
/// <para><b>Encoding.</b> Special tokens are split off first, exactly as in <see cref="SentencePieceTokenizer"/>:
/// control and unknown-type token texts only with <c>parseSpecial</c>, user-defined token texts always, longest first.
/// Each remaining piece of text is split by the pre-tokenizer named by <c>tokenizer.ggml.pre</c> (missing: llama.cpp's
/// <c>default</c>; unknown: <see cref="NotSupportedException"/>), a fixed sequence of regexes identical to the one
/// llama.cpp lists for that name (see <see cref="SupportedPreTokenizers"/>). Each pre-token's UTF-8 bytes are mapped to
/// characters with GPT-2's byte↔unicode table (printable Latin-1 bytes as themselves, the other 68 bytes as
/// U+0100…U+0143), then, unless the pre-tokenizer ignores merges and the whole pre-token is a vocabulary token, the
/// adjacent pair with the lowest rank in <c>tokenizer.ggml.merges</c> is merged repeatedly (ties: leftmost first). Each
/// final symbol is emitted as its token; a symbol that is no token is emitted as the tokens of its single ASCII
/// characters, or dropped, as llama.cpp does.</para>
/// <para><b>Decoding.</b> Normal tokens map their characters back to bytes (a character outside the byte table, which
/// no GPT-2-style vocabulary has, is written as its own UTF-8); user-defined tokens render their text verbatim; byte
/// tokens <c>&lt;0xNN&gt;</c> their byte; control and unknown tokens nothing, or their text with
/// <c>renderSpecial</c>. Byte-level BPE is lossless: <c>Decode(Encode(x, addSpecial: false))</c> is <c>x</c> for any
/// text without lone surrogates and without special-token texts (llama.cpp's optional <c>clean_spaces</c> post-processing
/// of detokenized text is not applied).</para>
/// <para><b>Special tokens.</b> BOS and EOS default to token 11 as in llama.cpp (GGUF files normally set
/// <c>bos_token_id</c>/<c>eos_token_id</c>); <c>add_bos_token</c> defaults to false except for the pre-tokenizers llama.cpp
/// turns it on for (Llama 3 and Tekken); <c>add_eos_token</c> defaults to false. End of generation is detected as in
/// <see cref="SentencePieceTokenizer"/>.</para>
/// <para><b>Why not Microsoft.ML.Tokenizers.</b> Its BPE model takes Hugging Face <c>vocab.json</c>/<c>merges.txt</c> and
/// its own pre-tokenizer regexes; matching llama.cpp needs llama.cpp's exact regex sequences, its hand-written GPT-2 /
/// Llama 3 / Qwen 2 splitters, its category-collapsing regex semantics and its special-token partition, which leaves
/// only the merge loop to reuse — so this class implements the merge loop itself and adds no dependency.</para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class BpeTokenizer : ModelTokenizer
{
    /// <summary>GPT-2's byte → character table.</summary>
    private static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Character → byte, for characters below U+0144; -1 where there is none.</summary>
    private static readonly short[] CharToByte = BuildCharToByte();

    private readonly TokenTable _table;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _ranks;
    private readonly int[] _asciiTokens;
    private readonly BpePreTokenizer _pre;

    private BpeTokenizer(string[] texts, TokenType[] types, string[] merges, BpePreTokenizer pre,
        int bos, int eos, int eot, int eom, bool addBos, bool addEos)
    {
        _pre = pre;
        BosToken = bos;
        EosToken = eos;
        AddBos = addBos;
        AddEos = addEos;

        _table = new TokenTable(texts, types, [eos, eot, eom], BuildPieces);
        var ids = _table.Ids;

        // "left right" → rank; the first occurrence wins, as llama.cpp's bpe_ranks.emplace.
        var ranks = new Dictionary<string, int>(merges.Length, StringComparer.Ordinal);
        for (int i = 0; i < merges.Length; i++)
        {
            if (merges[i].IndexOf(' ', 1) > 0) ranks.TryAdd(merges[i], i);
        }
        _ranks = ranks.GetAlternateLookup<ReadOnlySpan<char>>();

        _asciiTokens = new int[128];
        for (int c = 0; c < 128; c++)
            _asciiTokens[c] = ids.TryGetValue(((char)c).ToString(), out int id) ? id : -1;
    }

    /// <summary>The <c>tokenizer.ggml.pre</c> values this tokenizer supports.</summary>
    public static IReadOnlyList<string> SupportedPreTokenizers => BpePreTokenizer.SupportedNames;

    /// <summary>The pre-tokenizer in use (<c>tokenizer.ggml.pre</c>, or <c>default</c> when the file has none).</summary>
    public string PreTokenizer => _pre.Name;

    /// <inheritdoc />
    public override int VocabularySize => _table.Count;

    /// <summary>Builds the tokenizer from the <c>tokenizer.ggml.*</c> metadata of a GGUF file.</summary>
    /// <param name="file">The GGUF file (a full model or a vocabulary-only file).</param>
    /// <remarks>
    /// Reads <c>tokens</c> (required), <c>token_type</c> (default normal), <c>merges</c> (required), <c>pre</c> (default
    /// <c>default</c>), the special ids <c>bos_token_id</c> and <c>eos_token_id</c> (default 11, as in llama.cpp),
    /// <c>unknown_token_id</c>, <c>padding_token_id</c>, <c>eot_token_id</c>, <c>eom_token_id</c>, and the flags
    /// <c>add_bos_token</c> (default: false, true for the Llama 3 and Tekken pre-tokenizers) and <c>add_eos_token</c>
    /// (default false). The model key <c>tokenizer.ggml.model</c> is not checked; <see cref="ModelTokenizer.FromGguf"/>
    /// dispatches on it.
    /// </remarks>
    /// <exception cref="GgufFormatException">
    /// The token list or the merges are missing; the token list is empty; the types do not have one entry per token; a
    /// token type is unknown; a merge is empty; or a special token id is out of range. The message names the metadata key
    /// (and the index of a bad entry).
    /// </exception>
    /// <exception cref="NotSupportedException"><c>tokenizer.ggml.pre</c> names a pre-tokenizer that is not supported.</exception>
    public static new BpeTokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var meta = file.Metadata;
        string? path = file.FilePath;

        var pre = BpePreTokenizer.Get(meta.GetString("tokenizer.ggml.pre", null));
        var (texts, types) = VocabularyReader.ReadTokens(meta, path);
        const string mergesKey = "tokenizer.ggml.merges";
        if (!meta.ContainsKey(mergesKey)) throw new GgufFormatException("is missing: BPE needs its merges", mergesKey, -1, path);
        string[] merges = meta.GetArray<string>(mergesKey);
        for (int i = 0; i < merges.Length; i++)
        {
            // A merge is "left right" with both sides non-empty; an empty entry cannot be one (and would break the split below).
            if (string.IsNullOrEmpty(merges[i]))
                throw new GgufFormatException($"entry {i} is empty; each merge is 'left right'", $"{mergesKey}[{i}]", -1, path);
        }

        int n = texts.Length;
        int bos = VocabularyReader.ReadId(meta, "tokenizer.ggml.bos_token_id", 11, n, path);
        int eos = VocabularyReader.ReadId(meta, "tokenizer.ggml.eos_token_id", 11, n, path);
        VocabularyReader.ReadId(meta, "tokenizer.ggml.unknown_token_id", -1, n, path);
        VocabularyReader.ReadId(meta, "tokenizer.ggml.padding_token_id", -1, n, path);
        int eot = VocabularyReader.ReadId(meta, "tokenizer.ggml.eot_token_id", -1, n, path);
        int eom = VocabularyReader.ReadId(meta, "tokenizer.ggml.eom_token_id", -1, n, path);

        return new BpeTokenizer(texts, types, merges, pre, bos, eos, eot, eom,
            meta.GetBool("tokenizer.ggml.add_bos_token", pre.AddBosByDefault), meta.GetBool("tokenizer.ggml.add_eos_token", false));
    }

    /// <inheritdoc />
    public override TokenType GetTokenType(int id) => _table.GetTokenType(id);

    /// <inheritdoc />
    public override string GetTokenText(int id) => _table.GetTokenText(id);

    /// <inheritdoc />
    public override bool IsEndOfGeneration(int id) => _table.IsEndOfGeneration(id);

    /// <summary>The rank of merging <paramref name="left"/> and <paramref name="right"/> (lower merges first), or -1.</summary>
    public int GetMergeRank(string left, string right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return _ranks.TryGetValue(left + " " + right, out int rank) ? rank : -1;
    }

    /// <summary>Splits <paramref name="text"/> into pre-tokens with this tokenizer's pre-tokenizer (no special tokens, no byte mapping).</summary>
    public IReadOnlyList<string> PreTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _pre.Split(VocabularyReader.ReplaceLoneSurrogates(text));
    }

    /// <inheritdoc />
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

    private readonly struct PlainText(BpeTokenizer owner) : IPlainTextEncoder
    {
        public void Encode(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output) => owner.EncodePlain(text, output);
    }

    /// <summary>Pre-tokenizes one piece of plain text (no special tokens in it), BPE-merges each pre-token and appends the ids.</summary>
    private void EncodePlain(ReadOnlySpan<char> text, List<int> output)
    {
        if (text.IsEmpty) return;
        var pieces = new List<(int Start, int Length)>();
        _pre.Split(text, pieces);
        char[] word = ArrayPool<char>.Shared.Rent(64);
        byte[] utf8 = ArrayPool<byte>.Shared.Rent(64);
        try
        {
            foreach (var (start, length) in pieces)
            {
                var piece = text.Slice(start, length);
                int byteCount = Encoding.UTF8.GetByteCount(piece);
                if (utf8.Length < byteCount)
                {
                    ArrayPool<byte>.Shared.Return(utf8);
                    utf8 = ArrayPool<byte>.Shared.Rent(byteCount);
                    ArrayPool<char>.Shared.Return(word);
                    word = ArrayPool<char>.Shared.Rent(byteCount);
                }
                Encoding.UTF8.GetBytes(piece, utf8);
                for (int i = 0; i < byteCount; i++) word[i] = ByteToChar[utf8[i]];
                EncodeWord(word.AsSpan(0, byteCount), output);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
            ArrayPool<char>.Shared.Return(word);
        }
    }

    /// <summary>BPE-merges one byte-mapped pre-token (each char is one symbol to start with).</summary>
    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (_pre.IgnoreMerges && _table.Lookup.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }

        int count = word.Length;
        Symbol[] symbols = ArrayPool<Symbol>.Shared.Rent(count);
        char[] keyBuffer = ArrayPool<char>.Shared.Rent(count + 1);
        try
        {
            for (int i = 0; i < count; i++) symbols[i] = new Symbol(i, 1, i - 1, i + 1 == count ? -1 : i + 1);

            var queue = new PriorityQueue<Bigram, Bigram>(count, BigramOrder.Instance);
            for (int i = 1; i < count; i++) TryAddBigram(word, symbols, i - 1, i, keyBuffer, queue);

            while (queue.TryDequeue(out var bigram, out _))
            {
                if (!MergeSymbols.TryMerge(symbols, bigram.Left, bigram.Right, bigram.Length)) continue;
                TryAddBigram(word, symbols, symbols[bigram.Left].Prev, bigram.Left, keyBuffer, queue);
                TryAddBigram(word, symbols, bigram.Left, symbols[bigram.Left].Next, keyBuffer, queue);
            }

            for (int i = 0; i != -1; i = symbols[i].Next)
            {
                var piece = word.Slice(symbols[i].Start, symbols[i].Length);
                if (_table.Lookup.TryGetValue(piece, out int id))
                {
                    output.Add(id);
                    continue;
                }
                // llama.cpp looks up each byte of the symbol's UTF-8 text on its own; only ASCII bytes can be tokens.
                foreach (char c in piece)
                {
                    if (c < 128 && _asciiTokens[c] >= 0) output.Add(_asciiTokens[c]);
                }
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(keyBuffer);
            ArrayPool<Symbol>.Shared.Return(symbols);
        }
    }

    private void TryAddBigram(ReadOnlySpan<char> word, Symbol[] symbols, int left, int right, char[] keyBuffer,
        PriorityQueue<Bigram, Bigram> queue)
    {
        if (left < 0 || right < 0) return;
        int leftLength = symbols[left].Length, rightLength = symbols[right].Length;
        var key = keyBuffer.AsSpan(0, leftLength + rightLength + 1);
        word.Slice(symbols[left].Start, leftLength).CopyTo(key);
        key[leftLength] = ' ';
        word.Slice(symbols[right].Start, rightLength).CopyTo(key[(leftLength + 1)..]);
        if (!_ranks.TryGetValue(key, out int rank)) return;
        var bigram = new Bigram(left, right, leftLength + rightLength, rank);
        queue.Enqueue(bigram, bigram);
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            map[b] = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF ? (char)b : (char)next++;
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[0x144];
        map.AsSpan().Fill(-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>The bytes each token renders as, packed: token i is <c>bytes[offsets[i]..offsets[i + 1]]</c>.</summary>
    private static (byte[] Bytes, int[] Offsets) BuildPieces(string[] texts, TokenType[] types)
    {
        var offsets = new int[texts.Length + 1];
        var bytes = new List<byte>(texts.Length * 6);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < texts.Length; i++)
        {
            offsets[i] = bytes.Count;
            string text = texts[i];
            switch (types[i])
            {
                case TokenType.Byte:
                    bytes.Add((byte)VocabularyReader.ParseByteToken(text));
                    break;
                case TokenType.Normal:
                    foreach (var rune in text.EnumerateRunes())
                    {
                        if (rune.Value < CharToByte.Length && CharToByte[rune.Value] >= 0)
                        {
                            bytes.Add((byte)CharToByte[rune.Value]);
                        }
                        else
                        {
                            int n = rune.EncodeToUtf8(utf8);
                            for (int j = 0; j < n; j++) bytes.Add(utf8[j]);
                        }
                    }
                    break;
                default:
                    bytes.AddRange(Encoding.UTF8.GetBytes(text));
                    break;
            }
        }
        offsets[texts.Length] = bytes.Count;
        return (bytes.ToArray(), offsets);
    }

    private readonly record struct Bigram(int Left, int Right, int Length, int Rank);

    /// <summary>Lowest rank first; on a tie, the leftmost pair.</summary>
    private sealed class BigramOrder : IComparer<Bigram>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare(Bigram x, Bigram y)
        {
            int c = x.Rank.CompareTo(y.Rank);
            return c != 0 ? c : x.Left.CompareTo(y.Left);
        }
    }
}
