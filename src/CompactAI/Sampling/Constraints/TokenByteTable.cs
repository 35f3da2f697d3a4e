using System.Runtime.CompilerServices;
using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// Every vocabulary token's bytes, computed once per tokenizer and shared: flat bytes with offsets, the tokens in byte
/// order with common-prefix lengths (a trie walked without building one), the end-of-generation tokens and each
/// token's length as plain string text.
/// </summary>
internal sealed class TokenByteTable
{
    private static readonly ConditionalWeakTable<ModelTokenizer, TokenByteTable> s_cache = new();

    private readonly byte[] _bytes;
    private readonly int[] _offsets;      // token id → start in _bytes; _offsets[id + 1] is its end

    private TokenByteTable(ModelTokenizer tokenizer)
    {
        int n = tokenizer.VocabularySize;
        var bytes = new List<byte>(n * 8);
        _offsets = new int[n + 1];
        var endOfGeneration = new List<int>();
        var silent = new List<int>();
        for (int id = 0; id < n; id++)
        {
            _offsets[id] = bytes.Count;
            if (tokenizer.IsEndOfGeneration(id)) { endOfGeneration.Add(id); continue; }
            int start = bytes.Count;
            tokenizer.AppendTokenBytes(id, bytes);
            if (bytes.Count == start) silent.Add(id);
        }
        _offsets[n] = bytes.Count;
        _bytes = [.. bytes];

        // Tokens with bytes in lexicographic byte order, each with its common prefix length with the one before: the
        // mask walks them as a trie, reusing the automaton state of the shared prefix and skipping every token under a
        // rejected prefix (a rejected first byte skips its whole group at once).
        var sorted = new List<int>(n);
        PlainChars = new short[n];
        for (int id = 0; id < n; id++)
        {
            var t = Bytes(id);
            PlainChars[id] = -1;
            if (t.IsEmpty || tokenizer.IsEndOfGeneration(id)) continue;
            sorted.Add(id);
            if (IsPlainText(t)) PlainChars[id] = (short)Math.Min(short.MaxValue, System.Text.Encoding.UTF8.GetCharCount(t) - CountLowSurrogates(t));
            MaxTokenLength = Math.Max(MaxTokenLength, t.Length);
        }
        sorted.Sort((a, b) => Bytes(a).SequenceCompareTo(Bytes(b)));
        Sorted = [.. sorted];
        CommonPrefix = new int[Sorted.Length];
        for (int i = 1; i < Sorted.Length; i++) CommonPrefix[i] = Bytes(Sorted[i - 1]).CommonPrefixLength(Bytes(Sorted[i]));
        EndOfGeneration = [.. endOfGeneration];
        Silent = [.. silent];
        VocabularySize = n;
    }

    /// <summary>The table for <paramref name="tokenizer"/> (built on first use, then cached for the tokenizer's lifetime).</summary>
    public static TokenByteTable For(ModelTokenizer tokenizer) => s_cache.GetValue(tokenizer, static t => new TokenByteTable(t));

    public int VocabularySize { get; }

    /// <summary>Tokens with bytes (not end-of-generation), in lexicographic order of their bytes.</summary>
    public int[] Sorted { get; }

    /// <summary><c>CommonPrefix[i]</c>: how many leading bytes <c>Sorted[i]</c> shares with <c>Sorted[i - 1]</c>.</summary>
    public int[] CommonPrefix { get; }

    /// <summary>The longest token, in bytes.</summary>
    public int MaxTokenLength { get; }

    /// <summary>End-of-generation tokens (EOS, EOT, …).</summary>
    public int[] EndOfGeneration { get; }

    /// <summary>Tokens that stand for no bytes and do not end generation (BOS, unused slots): never allowed.</summary>
    public int[] Silent { get; }

    /// <summary>
    /// For a token of plain string text (no quote, backslash or control byte; whole UTF-8 characters), the characters
    /// (code points) it adds to a string; −1 for other tokens.
    /// </summary>
    public short[] PlainChars { get; }

    public ReadOnlySpan<byte> Bytes(int id) => _bytes.AsSpan(_offsets[id], _offsets[id + 1] - _offsets[id]);

    private static bool IsPlainText(ReadOnlySpan<byte> t)
    {
        foreach (byte b in t)
            if (b < 0x20 || b == '"' || b == '\\') return false;
        return System.Text.Unicode.Utf8.IsValid(t);
    }

    private static int CountLowSurrogates(ReadOnlySpan<byte> t)
    {
        int n = 0;
        foreach (byte b in t) if (b >= 0xF0) n++; // a 4-byte sequence decodes to two UTF-16 chars but is one code point
        return n;
    }
}
