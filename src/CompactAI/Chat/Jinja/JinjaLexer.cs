using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace CompactAI.Chat.Jinja;

/// <summary>
/// Splits a template into tokens the way Jinja's lexer does for Hugging Face chat templates:
/// newlines normalised to <c>\n</c>, a single trailing newline dropped (<c>keep_trailing_newline=False</c>),
/// <c>trim_blocks</c> (the first newline after a block or comment tag is removed), <c>lstrip_blocks</c>
/// (spaces and tabs before a block or comment tag at the start of a line are removed), and the explicit
/// <c>-</c> / <c>+</c> whitespace controls on every tag. <c>{% raw %}</c> blocks are passed through as text.
/// </summary>
internal sealed partial class JinjaLexer
{
    private readonly string _src;
    private readonly bool _trimBlocks;
    private readonly bool _lstripBlocks;
    private readonly List<JinjaToken> _tokens = new();
    private readonly List<int> _lineStarts = new() { 0 };
    private int _pos;

    private JinjaLexer(string source, bool trimBlocks, bool lstripBlocks)
    {
        source = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        _src = source;
        _trimBlocks = trimBlocks;
        _lstripBlocks = lstripBlocks;
        for (int i = 0; i < source.Length; i++)
            if (source[i] == '\n') _lineStarts.Add(i + 1);
    }

    /// <summary>Tokenizes <paramref name="source"/>; the list ends with an <see cref="JinjaTokenKind.End"/> token.</summary>
    public static List<JinjaToken> Tokenize(string source, bool trimBlocks = true, bool lstripBlocks = true)
    {
        var lexer = new JinjaLexer(source, trimBlocks, lstripBlocks);
        lexer.Run();
        return lexer._tokens;
    }

    [GeneratedRegex(@"\{%([-+]?)\s*endraw\s*([-+]?)%\}")]
    private static partial Regex EndRawRegex();

    [GeneratedRegex(@"\G\s*raw\s*([-+]?)%\}")]
    private static partial Regex RawRegex();

    private void Run()
    {
        bool lineStarting = true;
        while (_pos <= _src.Length)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                AddData(_src[_pos..], _pos);
                break;
            }

            string data = _src[_pos..tag];
            char kind = _src[tag + 1];
            char marker = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            if (marker == '-')
            {
                data = data.TrimEnd();
            }
            else if (marker != '+' && _lstripBlocks && kind != '{')
            {
                int lineStart = data.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && IsSpacesOrTabs(data, lineStart)) data = data[..lineStart];
            }
            AddData(data, _pos);

            int inner = tag + 2 + (marker is '-' or '+' ? 1 : 0);
            if (kind == '#')
            {
                int close = _src.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0) throw Error("unterminated comment: missing '#}'", tag);
                bool stripAfter = close > inner && _src[close - 1] == '-';
                bool keep = close > inner && _src[close - 1] == '+';
                _pos = close + 2;
                SkipAfterTag(stripAfter, !keep && _trimBlocks);
            }
            else if (kind == '%' && RawRegex().Match(_src, inner) is { Success: true } raw)
            {
                LexRaw(tag, raw);
            }
            else
            {
                LexTag(kind == '%', tag);
            }
            lineStarting = _pos > 0 && _src[_pos - 1] == '\n';
        }
        var (line, col) = Position(_src.Length);
        _tokens.Add(new JinjaToken(JinjaTokenKind.End, "", line, col));
    }

    private int FindTagStart(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length) return -1;
            char c = _src[i + 1];
            if (c is '{' or '%' or '#') return i;
            i++;
        }
    }

    private static bool IsSpacesOrTabs(string s, int from)
    {
        for (int i = from; i < s.Length; i++)
            if (s[i] is not (' ' or '\t')) return false;
        return true;
    }

    private void AddData(string data, int at)
    {
        if (data.Length == 0) return;
        var (line, col) = Position(at);
        _tokens.Add(new JinjaToken(JinjaTokenKind.Data, data, line, col));
    }

    private void SkipAfterTag(bool stripWhitespace, bool trimNewline)
    {
        if (stripWhitespace)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
        }
        else if (trimNewline && _pos < _src.Length && _src[_pos] == '\n')
        {
            _pos++;
        }
    }

    private void LexRaw(int tag, Match raw)
    {
        int bodyStart = raw.Index + raw.Length;
        _pos = bodyStart;
        SkipAfterTag(raw.Groups[1].Value == "-", trimNewline: false); // Jinja does not trim_blocks after {% raw %}
        bodyStart = _pos;
        var end = EndRawRegex().Match(_src, bodyStart);
        if (!end.Success) throw Error("unterminated raw block: missing '{% endraw %}'", tag);
        string body = _src[bodyStart..end.Index];
        if (end.Groups[1].Value == "-") body = body.TrimEnd();
        else if (end.Groups[1].Value != "+" && _lstripBlocks)
        {
            int lineStart = body.LastIndexOf('\n') + 1;
            if (lineStart > 0 && IsSpacesOrTabs(body, lineStart)) body = body[..lineStart];
        }
        AddData(body, bodyStart);
        _pos = end.Index + end.Length;
        SkipAfterTag(end.Groups[2].Value == "-", end.Groups[2].Value != "+" && _trimBlocks);
    }

    private void LexTag(bool block, int tag)
    {
        var (tagLine, tagCol) = Position(tag);
        _tokens.Add(new JinjaToken(block ? JinjaTokenKind.BlockBegin : JinjaTokenKind.VariableBegin, block ? "{%" : "{{", tagLine, tagCol));
        _pos = tag + 2;
        if (_pos < _src.Length && _src[_pos] is '-' or '+') _pos++;
        var brackets = new Stack<char>();
        while (true)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
            if (_pos >= _src.Length)
                throw Error($"unexpected end of template: the tag opened here was never closed with '{(block ? "%}" : "}}")}'", tag);

            if (brackets.Count == 0 && TryTagEnd(block)) return;

            int start = _pos;
            char c = _src[_pos];
            var (line, col) = Position(start);
            if (c is '\'' or '"')
            {
                _tokens.Add(new JinjaToken(JinjaTokenKind.String, LexString(c), line, col));
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber(line, col);
            }
            else if (char.IsLetter(c) || c == '_')
            {
                while (_pos < _src.Length && (char.IsLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
                _tokens.Add(new JinjaToken(JinjaTokenKind.Name, _src[start.._pos], line, col));
            }
            else
            {
                string op = LexOperator() ?? throw Error($"unexpected character '{c}'", start);
                if (op is "(" or "[" or "{") brackets.Push(op[0]);
                else if (op is ")" or "]" or "}")
                {
                    char open = op[0] switch { ')' => '(', ']' => '[', _ => '{' };
                    if (brackets.Count == 0 || brackets.Peek() != open)
                    {
                        string expected = brackets.Count == 0 ? "" : $", expected '{brackets.Peek() switch { '(' => ')', '[' => ']', _ => '}' }}'";
                        throw Error($"unexpected '{op}'{expected}", start);
                    }
                    brackets.Pop();
                }
                _tokens.Add(new JinjaToken(JinjaTokenKind.Operator, op, line, col));
            }
        }
    }

    private bool TryTagEnd(bool block)
    {
        string close = block ? "%}" : "}}";
        char c = _src[_pos];
        bool strip = false, keep = false;
        int at = _pos;
        if (c is '-' or '+' && string.CompareOrdinal(_src, _pos + 1, close, 0, 2) == 0)
        {
            strip = c == '-';
            keep = c == '+';
            at = _pos + 1;
        }
        else if (string.CompareOrdinal(_src, _pos, close, 0, 2) != 0)
        {
            return false;
        }
        var (line, col) = Position(at);
        _tokens.Add(new JinjaToken(block ? JinjaTokenKind.BlockEnd : JinjaTokenKind.VariableEnd, close, line, col));
        _pos = at + 2;
        SkipAfterTag(strip, block && !keep && _trimBlocks);
        return true;
    }

    private static readonly string[] Operators =
    {
        "//", "**", "==", "!=", "<=", ">=",
        "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|",
    };

    private string? LexOperator()
    {
        foreach (var op in Operators)
        {
            if (string.CompareOrdinal(_src, _pos, op, 0, op.Length) == 0)
            {
                _pos += op.Length;
                return op;
            }
        }
        return null;
    }

    private void LexNumber(int line, int col)
    {
        int start = _pos;
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        }
        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int save = _pos;
            _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-') _pos++;
            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) _pos++;
            }
            else
            {
                _pos = save;
            }
        }
        string text = _src[start.._pos].Replace("_", "", StringComparison.Ordinal);
        if (!isFloat && !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw Error($"integer literal '{text}' is too large", start);
        _tokens.Add(new JinjaToken(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, text, line, col));
    }

    /// <summary>Reads a quoted string and applies Python's escape sequences (unknown escapes keep their backslash).</summary>
    private string LexString(char quote)
    {
        int start = _pos;
        _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length) throw Error("unterminated string literal", start);
            char c = _src[_pos++];
            if (c == quote) return sb.ToString();
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (_pos >= _src.Length) throw Error("unterminated string literal", start);
            char e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break; // line continuation
                case 'x': AppendHex(sb, 2, start); break;
                case 'u': AppendHex(sb, 4, start); break;
                case 'U': AppendHex(sb, 8, start); break;
                case >= '0' and <= '7':
                {
                    int value = e - '0';
                    for (int k = 0; k < 2 && _pos < _src.Length && _src[_pos] is >= '0' and <= '7'; k++) value = value * 8 + (_src[_pos++] - '0');
                    sb.Append((char)value);
                    break;
                }
                default: sb.Append('\\').Append(e); break;
            }
        }
    }

    private void AppendHex(StringBuilder sb, int digits, int stringStart)
    {
        if (_pos + digits > _src.Length || !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp)
            || cp > 0x10FFFF)
            throw Error($"invalid \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in string literal", stringStart);
        _pos += digits;
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32(cp));
    }

    private (int Line, int Column) Position(int index)
    {
        int i = _lineStarts.BinarySearch(index);
        if (i < 0) i = ~i - 1;
        return (i + 1, index - _lineStarts[i] + 1);
    }

    private ChatTemplateException Error(string message, int index)
    {
        var (line, col) = Position(index);
        return new ChatTemplateException(message, line, col);
    }
}
