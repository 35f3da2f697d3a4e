using System.Runtime.CompilerServices;
using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// Every vocabulary token's bytes, computed once per tokenizer and shared: flat bytes with offsets, the tokens grouped by
/// first byte (so a mask rejects a whole group when its first byte is rejected), the end-of-generation tokens and a
/// per-token flag for "plain string text" (no quote, backslash or control byte, whole UTF-8 characters only).
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
        var groupSizes = new int[256];
        for (int id = 0; id < n; id++)
        {
            _offsets[id] = bytes.Count;
            if (tokenizer.IsEndOfGeneration(id)) { endOfGeneration.Add(id); continue; }
            int start = bytes.Count;
            tokenizer.AppendTokenBytes(id, bytes);
            if (bytes.Count == start) silent.Add(id);
            else groupSizes[bytes[start]]++;
        }
        _offsets[n] = bytes.Count;
        _bytes = [.. bytes];

        GroupStarts = new int[257];
        for (int b = 0; b < 256; b++) GroupStarts[b + 1] = GroupStarts[b] + groupSizes[b];
        ByFirstByte = new int[GroupStarts[256]];
        var fill = GroupStarts[..256];
        PlainText = new bool[n];
        for (int id = 0; id < n; id++)
        {
            var t = Bytes(id);
            if (t.IsEmpty || tokenizer.IsEndOfGeneration(id)) continue;
            ByFirstByte[fill[t[0]]++] = id;
            PlainText[id] = IsPlainText(t);
        }
        EndOfGeneration = [.. endOfGeneration];
        Silent = [.. silent];
        VocabularySize = n;
    }

    /// <summary>The table for <paramref name="tokenizer"/> (built on first use, then cached for the tokenizer's lifetime).</summary>
    public static TokenByteTable For(ModelTokenizer tokenizer) => s_cache.GetValue(tokenizer, static t => new TokenByteTable(t));

    public int VocabularySize { get; }

    /// <summary>Tokens with bytes, grouped by first byte: group b is <c>ByFirstByte[GroupStarts[b]..GroupStarts[b + 1]]</c>.</summary>
    public int[] ByFirstByte { get; }

    public int[] GroupStarts { get; }

    /// <summary>End-of-generation tokens (EOS, EOT, …).</summary>
    public int[] EndOfGeneration { get; }

    /// <summary>Tokens that stand for no bytes and do not end generation (BOS, unused slots): never allowed.</summary>
    public int[] Silent { get; }

    /// <summary>Whether the token's bytes may continue any string with no escape or UTF-8 sequence pending.</summary>
    public bool[] PlainText { get; }

    public ReadOnlySpan<byte> Bytes(int id) => _bytes.AsSpan(_offsets[id], _offsets[id + 1] - _offsets[id]);

    private static bool IsPlainText(ReadOnlySpan<byte> t)
    {
        foreach (byte b in t)
            if (b < 0x20 || b == '"' || b == '\\') return false;
        return System.Text.Unicode.Utf8.IsValid(t);
    }
}
