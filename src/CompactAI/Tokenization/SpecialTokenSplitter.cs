using System.Globalization;
using System.Text;
using CompactAI.Gguf;

namespace CompactAI.Tokenization;

/// <summary>A piece of the input: either plain text (<see cref="Token"/> = -1) or one special token.</summary>
internal readonly record struct TextFragment(int Start, int Length, int Token);

/// <summary>
/// Splits text on the texts of special tokens as llama.cpp's <c>tokenizer_st_partition</c> does: control and unknown
/// tokens only with <c>parseSpecial</c>, user-defined tokens always; the longest text (in UTF-8 bytes) first, every
/// occurrence of it across the whole input before shorter ones are searched. Shared by all tokenizer models.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly string[] _texts;
    private readonly TokenType[] _types;
    private readonly int[] _ordered;

    public SpecialTokenSplitter(string[] texts, TokenType[] types)
    {
        _texts = texts;
        _types = types;
        var special = new List<int>();
        for (int i = 0; i < texts.Length; i++)
        {
            if (types[i] is TokenType.Control or TokenType.UserDefined or TokenType.Unknown)
            {
                special.Add(i);
                HasUserDefined |= types[i] == TokenType.UserDefined;
            }
        }
        // Longest text (in UTF-8 bytes, as llama.cpp sorts) first; equal lengths by id.
        var keys = new long[special.Count];
        for (int i = 0; i < keys.Length; i++)
            keys[i] = ((long)-Encoding.UTF8.GetByteCount(texts[special[i]]) << 32) | (uint)special[i];
        Array.Sort(keys);
        _ordered = new int[keys.Length];
        for (int i = 0; i < keys.Length; i++) _ordered[i] = (int)(keys[i] & 0xFFFFFFFF);
    }

    /// <summary>Whether the vocabulary has user-defined tokens (they are split off even without <c>parseSpecial</c>).</summary>
    public bool HasUserDefined { get; }

    /// <summary>Whether <see cref="Split"/> can find anything for this setting.</summary>
    public bool IsNeeded(bool parseSpecial) => HasUserDefined || (parseSpecial && _ordered.Length > 0);

    /// <summary>Splits <paramref name="text"/> into plain-text fragments and special-token fragments, in order.</summary>
    public List<TextFragment> Split(string text, bool parseSpecial)
    {
        var fragments = new List<TextFragment> { new(0, text.Length, -1) };
        var next = new List<TextFragment>();
        foreach (int id in _ordered)
        {
            if (!parseSpecial && _types[id] != TokenType.UserDefined) continue;
            string special = _texts[id];
            next.Clear();
            foreach (var f in fragments)
            {
                if (f.Token >= 0)
                {
                    next.Add(f);
                    continue;
                }
                int start = f.Start, end = f.Start + f.Length;
                while (start < end)
                {
                    int at = text.AsSpan(start, end - start).IndexOf(special, StringComparison.Ordinal);
                    if (at < 0) break;
                    if (at > 0) next.Add(new TextFragment(start, at, -1));
                    next.Add(new TextFragment(start + at, special.Length, id));
                    start += at + special.Length;
                }
                if (start < end) next.Add(new TextFragment(start, end - start, -1));
            }
            (fragments, next) = (next, fragments);
        }
        return fragments;
    }
}

/// <summary>GGUF vocabulary reading and the llama.cpp conventions every tokenizer model shares.</summary>
internal static class VocabularyReader
{
    /// <summary>Token texts that end generation whatever the metadata says (llama.cpp's list).</summary>
    private static readonly string[] EndOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    ];

    /// <summary>
    /// Reads <c>tokenizer.ggml.tokens</c> (required, non-empty) and <c>tokenizer.ggml.token_type</c> (default normal).
    /// Empty texts become <c>[EMPTY_i]</c> so that they can never match, as in llama.cpp.
    /// </summary>
    public static (string[] Texts, TokenType[] Types) ReadTokens(GgufMetadata meta, string? path)
    {
        const string tokensKey = "tokenizer.ggml.tokens";
        string[] tokens = meta.GetArray<string>(tokensKey);
        int n = tokens.Length;
        if (n == 0) throw new GgufFormatException("the vocabulary is empty", tokensKey, -1, path);

        const string typesKey = "tokenizer.ggml.token_type";
        int[]? rawTypes = meta.GetArrayOrNull<int>(typesKey);
        if (rawTypes is not null && rawTypes.Length != n)
            throw new GgufFormatException($"has {rawTypes.Length} entries but {tokensKey} has {n}", typesKey, -1, path);

        var texts = new string[n];
        var types = new TokenType[n];
        for (int i = 0; i < n; i++)
        {
            texts[i] = tokens[i].Length == 0 ? string.Create(CultureInfo.InvariantCulture, $"[EMPTY_{i}]") : tokens[i];
            int t = rawTypes is null ? (int)TokenType.Normal : rawTypes[i];
            if (t is < (int)TokenType.Undefined or > (int)TokenType.Byte)
                throw new GgufFormatException($"token {i} has unknown type {t}", typesKey, -1, path);
            types[i] = (TokenType)t;
            if (types[i] == TokenType.Byte && ParseByteToken(texts[i]) < 0)
                throw new GgufFormatException($"token {i} has type Byte but its text '{texts[i]}' is not <0xNN>", tokensKey, -1, path);
        }
        return (texts, types);
    }

    /// <summary>The text → id map (later duplicates win, as in llama.cpp's <c>token_to_id</c>).</summary>
    public static Dictionary<string, int> BuildIds(string[] texts)
    {
        var ids = new Dictionary<string, int>(texts.Length, StringComparer.Ordinal);
        for (int i = 0; i < texts.Length; i++) ids[texts[i]] = i;
        return ids;
    }

    /// <summary>
    /// Marks the end-of-generation tokens: the given ids (EOS, EOT, EOM; -1 skipped) and, as in llama.cpp, tokens whose
    /// text is a well-known end-of-turn marker; the latter are made control tokens in <paramref name="types"/>.
    /// </summary>
    public static bool[] MarkEndOfGeneration(Dictionary<string, int> ids, TokenType[] types, ReadOnlySpan<int> explicitIds)
    {
        var eog = new bool[types.Length];
        foreach (string t in EndOfGenerationTexts)
        {
            if (ids.TryGetValue(t, out int id))
            {
                eog[id] = true;
                types[id] = TokenType.Control;
            }
        }
        foreach (int id in explicitIds)
            if (id >= 0) eog[id] = true;
        return eog;
    }

    /// <summary>Reads a token id; -1 and its unsigned 32/64-bit images mean "no such token".</summary>
    public static int ReadId(GgufMetadata meta, string key, int defaultId, int vocabularySize, string? path)
    {
        if (!meta.TryGetValue(key, out var value)) return defaultId < vocabularySize ? defaultId : -1;
        if (!value.TryGetInteger(out long signed, out ulong unsigned, out bool isUnsigned))
            throw new GgufFormatException($"expected an integer token id but found {value.Type}", key, -1, path);
        // Converters write -1, or its unsigned 32-bit image, for "no such token" (stories260K's padding id is 0xFFFFFFFF).
        if (isUnsigned ? unsigned is uint.MaxValue or ulong.MaxValue : signed == -1) return -1;
        if (isUnsigned ? unsigned >= (ulong)vocabularySize : signed < 0 || signed >= vocabularySize)
            throw new GgufFormatException(
                $"token id {(isUnsigned ? unsigned.ToString(CultureInfo.InvariantCulture) : signed.ToString(CultureInfo.InvariantCulture))} is out of range [0, {vocabularySize - 1}]",
                key, -1, path);
        return isUnsigned ? (int)unsigned : (int)signed;
    }

    /// <summary>The byte a <c>&lt;0xNN&gt;</c> text stands for, or -1.</summary>
    public static int ParseByteToken(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
        && byte.TryParse(text.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b)
            ? b
            : -1;

    /// <summary>
    /// Returns <paramref name="text"/> with lone surrogates replaced by U+FFFD — what llama.cpp sees after the UTF-8
    /// conversion; the same instance when there are none.
    /// </summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        var span = text.AsSpan();
        int i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return text;
        for (; i < span.Length; i++)
        {
            if (!char.IsSurrogate(span[i])) continue;
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
                continue;
            }
            return Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        }
        return text;
    }
}
