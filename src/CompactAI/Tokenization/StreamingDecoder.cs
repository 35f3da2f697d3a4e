using System.Text;

namespace CompactAI.Tokenization;

/// <summary>
/// Turns tokens into text one at a time, holding back the bytes of an incomplete UTF-8 character until the token
/// that completes it arrives. Not thread-safe; one per generation stream.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly ModelTokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly List<byte> _pending = new(16);
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private char[] _chars = new char[64];

    internal StreamingDecoder(ModelTokenizer tokenizer, bool renderSpecial)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds a token and returns the text that is now complete (possibly empty).</summary>
    public string Add(int token)
    {
        _pending.Clear();
        _tokenizer.AppendTokenBytes(token, _pending, _renderSpecial);
        if (_pending.Count == 0) return string.Empty;
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending);
        int max = _utf8.GetCharCount(bytes, flush: false);
        if (_chars.Length < max) _chars = new char[Math.Max(max, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush: false);
        return n == 0 ? string.Empty : new string(_chars, 0, n);
    }

    /// <summary>Whether the start of a character is held back (a <see cref="Flush"/> now would return U+FFFD).</summary>
    internal bool HasPending => _utf8.GetCharCount(ReadOnlySpan<byte>.Empty, flush: true) > 0;

    /// <summary>Returns whatever is held back (an incomplete character becomes U+FFFD) and resets the decoder.</summary>
    public string Flush()
    {
        int n = _utf8.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        _utf8.Reset();
        return n == 0 ? string.Empty : new string(_chars, 0, n);
    }
}
