using System.Runtime.CompilerServices;

namespace CompactAI.Tokenization;

/// <summary>
/// One symbol of a merge tokenizer's working list: <see cref="Length"/> chars of the buffer from <see cref="Start"/>, linked to
/// its neighbours (-1: none). A symbol merged into its left neighbour has length 0.
/// </summary>
internal struct Symbol(int start, int length, int prev, int next)
{
    public int Start = start;
    public int Length = length;
    public int Prev = prev;
    public int Next = next;
}

/// <summary>The merge step both the BPE and the SentencePiece merge loops share.</summary>
internal static class MergeSymbols
{
    /// <summary>
    /// Merges symbol <paramref name="right"/> into <paramref name="left"/> unless the queued pair is stale — one side has been
    /// merged into something else since the pair, of <paramref name="length"/> chars, was queued. Returns whether it merged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryMerge(Symbol[] symbols, int left, int right, int length)
    {
        ref Symbol l = ref symbols[left];
        ref Symbol r = ref symbols[right];
        if (l.Length == 0 || r.Length == 0 || l.Length + r.Length != length) return false;

        l.Length += r.Length;
        r.Length = 0;
        l.Next = r.Next;
        if (r.Next >= 0) symbols[r.Next].Prev = left;
        return true;
    }
}
