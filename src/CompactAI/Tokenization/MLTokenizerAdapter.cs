using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace CompactAI.Tokenization;

/// <summary>
/// A <see cref="ModelTokenizer"/> as a Microsoft.ML.Tokenizers <see cref="Tokenizer"/> (<see cref="ModelTokenizer.AsTokenizer"/>):
/// encoding, counting and decoding all go to the model's tokenizer, so the ids are llama.cpp's. The library's own
/// normalisation and pre-tokenisation settings do not apply: the model's tokenizer always does its own.
/// </summary>
internal sealed class MLTokenizerAdapter(ModelTokenizer tokenizer, bool addSpecialTokens) : Tokenizer
{
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string s = text ?? textSpan.ToString();
        var ids = tokenizer.Encode(s, addSpecialTokens);
        int count = Math.Min(ids.Count, Math.Max(0, settings.MaxTokenCount));
        var tokens = new List<EncodedToken>(count);
        var bytes = new List<byte>();
        int cursor = 0;
        for (int i = 0; i < count; i++)
        {
            int id = ids[i];
            bytes.Clear();
            tokenizer.AppendTokenBytes(id, bytes);
            var (start, length) = Locate(s, cursor, Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes)));
            tokens.Add(new EncodedToken(id, tokenizer.GetTokenText(id), new Range(start, start + length)));
            cursor = start + length;
        }
        return new EncodeResults<EncodedToken> { Tokens = tokens, CharsConsumed = count == ids.Count ? s.Length : cursor };
    }

    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string s = text ?? textSpan.ToString();
        var ids = tokenizer.Encode(s, addSpecialTokens);
        if (ids.Count <= settings.MaxTokenCount) return new EncodeResults<int> { Tokens = ids, CharsConsumed = s.Length };
        var tokens = EncodeToTokens(s, s, settings);
        return new EncodeResults<int> { Tokens = tokens.Tokens.Select(t => t.Id).ToArray(), CharsConsumed = tokens.CharsConsumed };
    }

    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        Math.Min(tokenizer.Encode(text ?? textSpan.ToString(), addSpecialTokens).Count, Math.Max(0, settings.MaxTokenCount));

    public override string Decode(IEnumerable<int> ids) => tokenizer.Decode(ids);

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        idsConsumed = charsWritten = 0;
        var decoder = tokenizer.CreateStreamingDecoder();
        foreach (int id in ids)
        {
            string piece = decoder.Add(id);
            if (piece.Length > destination.Length - charsWritten) return OperationStatus.DestinationTooSmall;
            piece.CopyTo(destination[charsWritten..]);
            charsWritten += piece.Length;
            idsConsumed++;
        }
        string rest = decoder.Flush();
        if (rest.Length > destination.Length - charsWritten) return OperationStatus.DestinationTooSmall;
        rest.CopyTo(destination[charsWritten..]);
        charsWritten += rest.Length;
        return OperationStatus.Done;
    }

    /// <summary>
    /// Where the token whose rendered text is <paramref name="piece"/> sits in <paramref name="text"/>, searching from
    /// <paramref name="cursor"/>: as rendered, else without the space a word-initial piece starts with, case-insensitively;
    /// an empty range at the cursor when it is not there (special tokens, normalised text, part of a character).
    /// </summary>
    private static (int Start, int Length) Locate(string text, int cursor, string piece)
    {
        if (piece.Length == 0 || piece.Contains('\uFFFD')) return (cursor, 0);
        int at = text.IndexOf(piece, cursor, StringComparison.Ordinal);
        if (at == cursor) return (at, piece.Length);
        string trimmed = piece.TrimStart(' ');
        if (trimmed.Length > 0)
        {
            int t = text.IndexOf(trimmed, cursor, StringComparison.OrdinalIgnoreCase);
            if (t >= 0 && (at < 0 || t <= at) && IsSkippable(text.AsSpan(cursor, t - cursor))) return (t, trimmed.Length);
        }
        if (at >= 0 && IsSkippable(text.AsSpan(cursor, at - cursor))) return (at, piece.Length);
        return (cursor, 0);
    }

    /// <summary>Whether only white space (which a tokenizer may fold into the next token or drop) lies between tokens.</summary>
    private static bool IsSkippable(ReadOnlySpan<char> gap)
    {
        foreach (char c in gap)
            if (!char.IsWhiteSpace(c) && !char.IsControl(c)) return false;
        return true;
    }
}
