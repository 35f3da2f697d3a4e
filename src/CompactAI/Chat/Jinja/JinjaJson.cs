using System.Globalization;
using System.Text;

namespace CompactAI.Chat.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it: Python's
/// <c>json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>
/// (no HTML escaping, unlike plain Jinja's <c>tojson</c>).
/// </summary>
internal static class JinjaJson
{
    private const int MaxNesting = 200;

    public static string Serialize(object? value, int? indent, string? itemSeparator, string? keySeparator, bool sortKeys, bool ensureAscii, int maxLength)
    {
        itemSeparator ??= indent is null ? ", " : ",";
        keySeparator ??= ": ";
        var sb = new StringBuilder();
        Write(sb, value, indent, itemSeparator, keySeparator, sortKeys, ensureAscii, 0, maxLength);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, int? indent, string itemSep, string keySep, bool sortKeys, bool ascii, int depth, int maxLength)
    {
        if (depth > MaxNesting) throw new JinjaRuntimeError("value is nested too deeply for tojson");
        if (sb.Length > maxLength) throw new JinjaRuntimeError($"tojson output exceeds the limit of {maxLength} characters");
        switch (value)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : JinjaOperations.FormatFloat(d));
                break;
            case string s: WriteString(sb, s, ascii); break;
            case List<object?> list:
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, depth + 1);
                    Write(sb, list[i], indent, itemSep, keySep, sortKeys, ascii, depth + 1, maxLength);
                }
                NewLine(sb, indent, depth);
                sb.Append(']');
                break;
            case OrderedDictionary<string, object?> dict:
                WriteObject(sb, dict, indent, itemSep, keySep, sortKeys, ascii, depth, maxLength);
                break;
            case JinjaUndefined u:
                throw new JinjaRuntimeError($"{u.Description} (an undefined value is not JSON serializable)");
            default:
                throw new JinjaRuntimeError($"Object of type {JinjaOperations.TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteObject(StringBuilder sb, OrderedDictionary<string, object?> dict, int? indent, string itemSep, string keySep, bool sortKeys, bool ascii,
        int depth, int maxLength)
    {
        if (dict.Count == 0)
        {
            sb.Append("{}");
            return;
        }
        IEnumerable<KeyValuePair<string, object?>> entries = dict;
        if (sortKeys) entries = dict.OrderBy(p => p.Key, StringComparer.Ordinal);
        sb.Append('{');
        bool first = true;
        foreach (var (k, v) in entries)
        {
            if (!first) sb.Append(itemSep);
            first = false;
            NewLine(sb, indent, depth + 1);
            WriteString(sb, k, ascii);
            sb.Append(keySep);
            Write(sb, v, indent, itemSep, keySep, sortKeys, ascii, depth + 1, maxLength);
        }
        NewLine(sb, indent, depth);
        sb.Append('}');
    }

    private static void NewLine(StringBuilder sb, int? indent, int depth)
    {
        if (indent is null) return;
        sb.Append('\n').Append(' ', indent.Value * depth);
    }

    private static void WriteString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7f)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
