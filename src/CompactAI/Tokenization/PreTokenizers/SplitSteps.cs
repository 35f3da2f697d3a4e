using System.Text;
using System.Text.RegularExpressions;

namespace CompactAI.Tokenization.PreTokenizers;

/// <summary>
/// The text being pre-tokenized: its code points, their <see cref="CodepointFlags"/>, and (built on first use) the
/// "collapsed" string in which every code point is one char, as llama.cpp's <c>unicode_regex_split</c> makes it.
/// </summary>
internal sealed class SplitText
{
    private string? _collapsed;

    public SplitText(int[] codepoints)
    {
        Codepoints = codepoints;
        Flags = new CodepointFlags[codepoints.Length];
        for (int i = 0; i < codepoints.Length; i++) Flags[i] = PreTokenizers.Codepoints.Flags(codepoints[i]);
    }

    public int[] Codepoints { get; }

    public CodepointFlags[] Flags { get; }

    /// <summary>
    /// ASCII code points as themselves; other whitespace as U+000B; other code points as one marker char per category
    /// (<see cref="RegexSplitStep.MarkerNumber"/> …), or U+00D0 for the rest. Regexes that use <c>\p{…}</c> run on this.
    /// </summary>
    public string Collapsed => _collapsed ??= BuildCollapsed();

    private string BuildCollapsed() => string.Create(Codepoints.Length, this, static (span, self) =>
    {
        for (int i = 0; i < span.Length; i++)
        {
            int cp = self.Codepoints[i];
            var flags = self.Flags[i];
            span[i] = cp < 128 ? (char)cp
                : (flags & CodepointFlags.Whitespace) != 0 ? '\v'
                : (flags & CodepointFlags.Categories) switch
                {
                    CodepointFlags.Number => RegexSplitStep.MarkerNumber,
                    CodepointFlags.Letter => RegexSplitStep.MarkerLetter,
                    CodepointFlags.Punctuation => RegexSplitStep.MarkerPunctuation,
                    CodepointFlags.Mark => RegexSplitStep.MarkerMark,
                    CodepointFlags.Symbol => RegexSplitStep.MarkerSymbol,
                    _ => RegexSplitStep.MarkerOther,
                };
        }
    });
}

/// <summary>
/// One stage of a pre-tokenizer: splits each piece produced by the previous stage (given as consecutive lengths in
/// code points) into smaller pieces.
/// </summary>
internal abstract class SplitStep
{
    /// <summary>Splits every piece in <paramref name="pieces"/> and appends the resulting lengths to <paramref name="result"/>.</summary>
    public abstract void Split(SplitText text, List<int> pieces, List<int> result);
}

/// <summary>
/// llama.cpp's hand-written form of the GPT-2 pattern <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)</c>
/// (llama.cpp runs this code, not the regex, whenever a pre-tokenizer lists that exact pattern). Contractions are
/// lower-case only; code points that match nothing become one-code-point pieces.
/// </summary>
internal sealed class Gpt2SplitStep : SplitStep
{
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    public static readonly Gpt2SplitStep Instance = new();

    public override void Split(SplitText text, List<int> pieces, List<int> result)
    {
        int[] cps = text.Codepoints;
        int start = 0;
        foreach (int length in pieces)
        {
            var piece = new Piece(cps, text.Flags, start, start + length, result);
            start += length;
            int pos = piece.Begin;
            while (pos < piece.End)
            {
                int cpt = piece.Cpt(pos);
                var flags = piece.FlagsAt(pos);

                if (piece.Contraction(pos, lowerCaseOnly: true) is int n and > 0)
                {
                    pos += piece.Add(pos + n);
                    continue;
                }

                var flags2 = cpt == ' ' ? piece.FlagsAt(pos + 1) : flags;
                if ((flags2 & CodepointFlags.Letter) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((flags2 & CodepointFlags.Letter) != 0) flags2 = piece.FlagsAt(++pos);
                    piece.Add(pos);
                    continue;
                }
                if ((flags2 & CodepointFlags.Number) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((flags2 & CodepointFlags.Number) != 0) flags2 = piece.FlagsAt(++pos);
                    piece.Add(pos);
                    continue;
                }
                if (Piece.IsOther(flags2))
                {
                    if (cpt == ' ') pos++;
                    while (Piece.IsOther(flags2)) flags2 = piece.FlagsAt(++pos);
                    piece.Add(pos);
                    continue;
                }

                int spaces = 0;
                while ((piece.FlagsAt(pos + spaces) & CodepointFlags.Whitespace) != 0) spaces++;
                pos = piece.AddWhitespaceRun(pos, spaces);
            }
        }
    }
}

/// <summary>
/// llama.cpp's hand-written form of the Llama 3 pattern
/// <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>
/// and of the Qwen 2 pattern (the same with <c>\p{N}</c> instead of <c>\p{N}{1,3}</c>).
/// </summary>
internal sealed class Llama3SplitStep(int maxDigits) : SplitStep
{
    public const string Llama3Pattern =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string Qwen2Pattern =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static readonly Llama3SplitStep Llama3 = new(3);

    public static readonly Llama3SplitStep Qwen2 = new(1);

    public override void Split(SplitText text, List<int> pieces, List<int> result)
    {
        int[] cps = text.Codepoints;
        int start = 0;
        foreach (int length in pieces)
        {
            var piece = new Piece(cps, text.Flags, start, start + length, result);
            start += length;
            int pos = piece.Begin;
            while (pos < piece.End)
            {
                int cpt = piece.Cpt(pos);
                var flags = piece.FlagsAt(pos);

                if (piece.Contraction(pos, lowerCaseOnly: false) is int n and > 0)
                {
                    pos += piece.Add(pos + n);
                    continue;
                }

                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cpt == '\r' || cpt == '\n' || (flags & CodepointFlags.Number) != 0)
                    && ((flags & CodepointFlags.Letter) != 0 || (piece.FlagsAt(pos + 1) & CodepointFlags.Letter) != 0))
                {
                    pos++;
                    while ((piece.FlagsAt(pos) & CodepointFlags.Letter) != 0) pos++;
                    piece.Add(pos);
                    continue;
                }

                // \p{N}{1,maxDigits}
                if ((flags & CodepointFlags.Number) != 0)
                {
                    int first = pos;
                    while ((piece.FlagsAt(pos) & CodepointFlags.Number) != 0)
                    {
                        if (++pos - first >= maxDigits)
                        {
                            piece.Add(pos);
                            first = pos;
                        }
                    }
                    piece.Add(pos);
                    continue;
                }

                // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (llama.cpp tests the current code point's flags for "inside the piece").
                var flags2 = cpt == ' ' ? piece.FlagsAt(pos + 1) : flags;
                if ((flags2 & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0 && flags != CodepointFlags.None)
                {
                    if (cpt == ' ') pos++;
                    while (Piece.IsOther(flags2)) flags2 = piece.FlagsAt(++pos);
                    int c2 = piece.Cpt(pos);
                    while (c2 is '\r' or '\n') c2 = piece.Cpt(++pos);
                    piece.Add(pos);
                    continue;
                }

                int spaces = 0, lastNewlineEnd = 0;
                while ((piece.FlagsAt(pos + spaces) & CodepointFlags.Whitespace) != 0)
                {
                    if (piece.Cpt(pos + spaces) is '\r' or '\n') lastNewlineEnd = pos + spaces + 1;
                    spaces++;
                }
                if (lastNewlineEnd > 0)
                {
                    // \s*[\r\n]+
                    pos = lastNewlineEnd;
                    piece.Add(pos);
                    continue;
                }
                pos = piece.AddWhitespaceRun(pos, spaces);
            }
        }
    }
}

/// <summary>Cursor helpers over one piece of the code-point array for the hand-written splitters.</summary>
internal struct Piece(int[] codepoints, CodepointFlags[] flags, int begin, int end, List<int> output)
{
    /// <summary>Returned by <see cref="Cpt"/> outside the piece.</summary>
    public const int OutOfRange = -1;

    private int _previousEnd = begin;

    public readonly int Begin { get; } = begin;

    public readonly int End { get; } = end;

    public readonly int Cpt(int pos) => pos >= Begin && pos < End ? codepoints[pos] : OutOfRange;

    public readonly CodepointFlags FlagsAt(int pos) => pos >= Begin && pos < End ? flags[pos] : CodepointFlags.None;

    /// <summary>Ends the current sub-piece at <paramref name="pos"/> (nothing is emitted for an empty one); returns its length.</summary>
    public int Add(int pos)
    {
        int length = pos - _previousEnd;
        if (length > 0) output.Add(length);
        _previousEnd = pos;
        return length;
    }

    /// <summary>
    /// Ends the sub-piece after the run of <paramref name="spaces"/> whitespace code points at <paramref name="pos"/>:
    /// <c>\s+(?!\S)</c> (the last whitespace goes with what follows) when more follows, else <c>\s+</c>; a single code point
    /// when there is no whitespace (it matched nothing). Returns the new position.
    /// </summary>
    public int AddWhitespaceRun(int pos, int spaces)
    {
        if (spaces > 1 && pos + spaces < End) pos += spaces - 1;
        else if (spaces > 0) pos += spaces;
        else pos++;
        Add(pos);
        return pos;
    }

    /// <summary><c>[^\s\p{L}\p{N}]</c> inside the piece.</summary>
    public static bool IsOther(CodepointFlags f) =>
        (f & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0 && f != CodepointFlags.None;

    /// <summary>The length (2 or 3) of the contraction <c>'s 't 're 've 'm 'll 'd</c> at <paramref name="pos"/>, or 0.</summary>
    public readonly int Contraction(int pos, bool lowerCaseOnly)
    {
        if (Cpt(pos) != '\'' || pos + 1 >= End) return 0;
        int next = Lower(Cpt(pos + 1), lowerCaseOnly);
        if (next is 's' or 't' or 'm' or 'd') return 2;
        if (pos + 2 >= End) return 0;
        int nextNext = Lower(Cpt(pos + 2), lowerCaseOnly);
        return (next, nextNext) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
    }

    // Only ASCII capitals lower-case to the ASCII letters tested here.
    private static int Lower(int cp, bool keep) => !keep && cp is >= 'A' and <= 'Z' ? cp + ('a' - 'A') : cp;
}

/// <summary>
/// A pre-tokenizer regex run the way llama.cpp runs the ones it has no hand-written code for (<c>std::regex</c>,
/// ECMAScript grammar, on each piece separately; matches and the gaps between them both become pieces).
/// </summary>
/// <remarks>
/// As in llama.cpp, a pattern that uses <c>\p{N}</c>, <c>\p{L}</c>, <c>\p{P}</c>, <c>\p{M}</c> or <c>\p{S}</c> (and no
/// other non-ASCII characters) runs on <see cref="SplitText.Collapsed"/>, with each <c>\p{X}</c> replaced by a class
/// holding the category's marker char and its ASCII members. Any other pattern runs on the code points themselves, with
/// non-ASCII whitespace replaced by U+000B; a supplementary-plane character or range in a class is given a private
/// stand-in char (a lone surrogate, which normalized input never contains) so that .NET's UTF-16 regex treats every
/// code point as one char. ECMAScript's <c>$</c> (end of the piece only) becomes <c>\z</c>.
/// </remarks>
internal sealed class RegexSplitStep : SplitStep
{
    public const char MarkerOther = '\u00D0';
    public const char MarkerNumber = '\u00D1';
    public const char MarkerLetter = '\u00D2';
    public const char MarkerPunctuation = '\u00D3';
    public const char MarkerMark = '\u00D4';
    public const char MarkerSymbol = '\u00D5';

    private const char AstralOther = '\uDBFF';

    private readonly Regex _regex;
    private readonly bool _collapsed;
    private readonly List<(int First, int Last)> _astral = [];

    public RegexSplitStep(string pattern)
    {
        Pattern = pattern;
        _collapsed = UsesCategories(pattern);
        _regex = new Regex(Translate(pattern), RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture);
    }

    /// <summary>The pattern as llama.cpp lists it.</summary>
    public string Pattern { get; }

    /// <summary>The .NET pattern that runs.</summary>
    public string DotNetPattern => _regex.ToString();

    public override void Split(SplitText text, List<int> pieces, List<int> result)
    {
        string input = _collapsed ? text.Collapsed : Widen(text);
        int start = 0;
        foreach (int length in pieces)
        {
            int previous = start;
            for (var m = _regex.Match(input, start, length); m.Success; m = m.NextMatch())
            {
                // As llama.cpp: the gap before a match is a piece; an empty match ends the gap but is no piece
                // (llama.cpp records a zero-length word, which yields no tokens).
                if (m.Index > previous) result.Add(m.Index - previous);
                if (m.Length > 0) result.Add(m.Length);
                previous = m.Index + m.Length;
            }
            if (previous < start + length) result.Add(start + length - previous);
            start += length;
        }
    }

    private static bool UsesCategories(string pattern) =>
        pattern.Contains(@"\p{N}", StringComparison.Ordinal) || pattern.Contains(@"\p{L}", StringComparison.Ordinal)
        || pattern.Contains(@"\p{P}", StringComparison.Ordinal) || pattern.Contains(@"\p{M}", StringComparison.Ordinal)
        || pattern.Contains(@"\p{S}", StringComparison.Ordinal);

    /// <summary>One char per code point: BMP code points as themselves (non-ASCII whitespace as U+000B), others as stand-ins.</summary>
    private string Widen(SplitText text)
    {
        var cps = text.Codepoints;
        var chars = new char[cps.Length];
        for (int i = 0; i < cps.Length; i++)
        {
            int cp = cps[i];
            if (cp > 0xFFFF)
            {
                chars[i] = AstralOther;
                for (int j = 0; j < _astral.Count; j++)
                {
                    if (cp >= _astral[j].First && cp <= _astral[j].Last)
                    {
                        chars[i] = (char)(0xD800 + j);
                        break;
                    }
                }
            }
            else
            {
                chars[i] = cp > 0x7F && (text.Flags[i] & CodepointFlags.Whitespace) != 0 ? '\v' : (char)cp;
            }
        }
        return new string(chars);
    }

    private string Translate(string pattern)
    {
        var sb = new StringBuilder(pattern.Length * 2);
        var runes = pattern.EnumerateRunes().ToArray();
        bool inside = false;
        for (int i = 0; i < runes.Length; i++)
        {
            int c = runes[i].Value;
            if (c == '\\' && i + 1 < runes.Length)
            {
                if (_collapsed && runes[i + 1].Value == 'p' && TryCategory(runes, i, out string? members, out int consumed))
                {
                    sb.Append(inside ? members : "[" + members + "]");
                    i += consumed - 1;
                    continue;
                }
                if (runes[i + 1].Value is 'd' or 'w' or 'b' or 'D' or 'W' or 'B')
                    throw new NotSupportedException($"Pre-tokenizer pattern escape \\{(char)runes[i + 1].Value} has no exact .NET equivalent: {pattern}");
                sb.Append('\\').Append(runes[i + 1].ToString());
                i++;
                continue;
            }
            if (_collapsed && c >= 128)
                throw new NotSupportedException($"Pre-tokenizer pattern mixes Unicode categories and non-ASCII characters: {pattern}");
            if (c == '[' && !inside)
            {
                inside = true;
                sb.Append('[');
            }
            else if (c == ']' && inside)
            {
                inside = false;
                sb.Append(']');
            }
            else if (c == '$' && !inside)
            {
                sb.Append(@"\z");
            }
            else if (c > 0xFFFF)
            {
                int last = c;
                if (inside && i + 2 < runes.Length && runes[i + 1].Value == '-' && runes[i + 2].Value != ']')
                {
                    last = runes[i + 2].Value;
                    i += 2;
                }
                _astral.Add((c, last));
                if (_astral.Count >= 0x3FF) throw new NotSupportedException($"Too many supplementary-plane ranges in {pattern}");
                AppendEscaped(sb, (char)(0xD800 + _astral.Count - 1));
            }
            else
            {
                AppendEscaped(sb, (char)c);
            }
        }
        return sb.ToString();
    }

    private static void AppendEscaped(StringBuilder sb, char c)
    {
        if (c < 0x20 || c >= 0x7F) sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
        else sb.Append(c);
    }

    /// <summary>The members of a collapsed <c>\p{X}</c> class: its marker char and its ASCII members.</summary>
    private static bool TryCategory(Rune[] runes, int at, out string? members, out int consumed)
    {
        members = null;
        consumed = 0;
        int close = -1;
        for (int j = at + 2; j < runes.Length && j <= at + 10; j++)
        {
            if (runes[j].Value == '}')
            {
                close = j;
                break;
            }
        }
        if (close < 0 || runes[at + 2].Value != '{') return false;
        string name = string.Concat(runes[(at + 3)..close].Select(r => r.ToString()));
        members = name switch
        {
            "N" => @"\u00D10-9",
            "L" or "Lu" or "Ll" or "Lt" or "Lm" or "Lo" => @"\u00D2A-Za-z",
            "P" => @"\u00D3!-#%-*,-/:-;?-@\[-\]_\{\}",
            "M" => @"\u00D4",
            "S" => @"\u00D5\$\+<->\^`\|~",
            _ => null,
        };
        consumed = close - at + 1;
        return members is not null;
    }
}
