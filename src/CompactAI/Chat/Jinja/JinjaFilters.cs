using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace CompactAI.Chat.Jinja;

/// <summary>Jinja's built-in filters used by chat templates, with transformers' <c>tojson</c>.</summary>
internal static partial class JinjaFilters
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "indent", "int", "items",
        "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    };

    public static bool Exists(string name) => Names.Contains(name);

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginningSplit();

    public static object? Apply(string name, object? value, JinjaCallArguments a, JinjaLimits limits)
    {
        switch (name)
        {
            case "default" or "d":
            {
                a.Check(2, "default_value", "boolean");
                var fallback = a.Get(0, "default_value", "");
                bool boolean = JinjaOperations.IsTruthy(a.Get(1, "boolean", false));
                return value is JinjaUndefined || (boolean && !JinjaOperations.IsTruthy(value)) ? fallback : value;
            }
            case "length" or "count":
                a.Check(0);
                return JinjaOperations.Length(value);
            case "string":
                a.Check(0);
                return limits.CheckString(JinjaOperations.ToStr(value));
            case "safe":
                a.Check(0);
                return value;
            case "trim":
                a.Check(1, "chars");
                return JinjaMethods.Strip(JinjaOperations.ToStr(value), a.Get(0, "chars", null), true, true);
            case "upper":
                a.Check(0);
                return JinjaMethods.Upper(JinjaOperations.ToStr(value));
            case "lower":
                a.Check(0);
                return JinjaOperations.ToStr(value).ToLowerInvariant();
            case "capitalize":
                a.Check(0);
                return JinjaMethods.Capitalize(JinjaOperations.ToStr(value));
            case "title":
                a.Check(0);
                return string.Concat(WordBeginningSplit().Split(JinjaOperations.ToStr(value))
                    .Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..].ToLowerInvariant()));
            case "replace":
            {
                a.Check(3, "old", "new", "count");
                string s = JinjaOperations.ToStr(value);
                return JinjaMethods.Replace(s, JinjaOperations.ToStr(a.Get(0, "old", null)), JinjaOperations.ToStr(a.Get(1, "new", null)), a.Get(2, "count", null), limits);
            }
            case "escape" or "e":
                a.Check(0);
                return JinjaOperations.ToStr(value).Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
                    .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);
            case "center":
            {
                a.Check(1, "width");
                string s = JinjaOperations.ToStr(value);
                long width = JinjaOperations.ToLong(a.Get(0, "width", 80L));
                limits.CheckLength(width);
                if (width <= s.Length) return s;
                int margin = (int)width - s.Length;
                int left = margin / 2 + (margin & (int)width & 1);
                return new string(' ', left) + s + new string(' ', (int)width - s.Length - left);
            }
            case "indent":
                return Indent(value, a, limits);
            case "truncate":
            {
                a.Check(4, "length", "killwords", "end", "leeway");
                var chars = CodePoints.Split(JinjaOperations.ToStr(value));
                long length = JinjaOperations.ToLong(a.Get(0, "length", 255L));
                string end = JinjaOperations.ToStr(a.Get(2, "end", "..."));
                long leeway = JinjaOperations.ToLong(a.Get(3, "leeway", 5L));
                if (length < end.Length || leeway < 0) throw new JinjaRuntimeError("truncate: length must be at least len(end) and leeway non-negative");
                if (chars.Count <= length + leeway) return string.Concat(chars);
                string head = string.Concat(chars.Take((int)(length - end.Length)));
                if (!JinjaOperations.IsTruthy(a.Get(1, "killwords", false)))
                {
                    int space = head.LastIndexOf(' ');
                    if (space >= 0) head = head[..space];
                }
                return head + end;
            }
            case "batch":
            {
                a.Check(2, "linecount", "fill_with");
                long size = JinjaOperations.ToLong(a.Get(0, "linecount", null));
                if (size <= 0) throw new JinjaRuntimeError("batch size must be positive");
                bool fill = a.Has(1, "fill_with");
                var fillWith = a.Get(1, "fill_with", null);
                var result = new List<object?>();
                List<object?>? current = null;
                foreach (var item in JinjaOperations.Iterate(value))
                {
                    current ??= new List<object?>();
                    current.Add(item);
                    if (current.Count == size)
                    {
                        result.Add(current);
                        current = null;
                    }
                }
                if (current is not null)
                {
                    while (fill && current.Count < size) current.Add(fillWith);
                    result.Add(current);
                }
                return result;
            }
            case "wordcount":
                a.Check(0);
                return (long)Regex.Matches(JinjaOperations.ToStr(value), @"\w+").Count;
            case "int":
                a.Check(2, "default", "base");
                return ToInt(value, a.Get(0, "default", 0L), JinjaOperations.ToLong(a.Get(1, "base", 10L)));
            case "float":
                a.Check(1, "default");
                return ToFloat(value, a.Get(0, "default", 0.0));
            case "abs":
                a.Check(0);
                return value switch
                {
                    long l => (object)Math.Abs(l),
                    double d => Math.Abs(d),
                    bool b => b ? 1L : 0L,
                    _ => throw new JinjaRuntimeError($"bad operand type for abs(): '{JinjaOperations.TypeName(value)}'"),
                };
            case "round":
            {
                a.Check(2, "precision", "method");
                int precision = (int)JinjaOperations.ToLong(a.Get(0, "precision", 0L));
                string method = JinjaOperations.ToStr(a.Get(1, "method", "common"));
                double d = JinjaOperations.ToDouble(value);
                double scale = Math.Pow(10, precision);
                return method switch
                {
                    "common" => Math.Round(d, Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
                    "ceil" => Math.Ceiling(d * scale) / scale,
                    "floor" => Math.Floor(d * scale) / scale,
                    _ => throw new JinjaRuntimeError("round method must be 'common', 'ceil' or 'floor'"),
                };
            }
            case "tojson":
            {
                a.Check(0, "indent", "ensure_ascii", "separators", "sort_keys");
                var indentValue = a.Get(-1, "indent", null);
                int? indent = indentValue is null ? null : (int)Math.Clamp(JinjaOperations.ToLong(indentValue), 0, 64);
                string? itemSep = null, keySep = null;
                if (a.Get(-1, "separators", null) is List<object?> { Count: 2 } seps)
                {
                    itemSep = JinjaMethods.RequireString(seps[0], "tojson");
                    keySep = JinjaMethods.RequireString(seps[1], "tojson");
                }
                return JinjaJson.Serialize(value, indent, itemSep, keySep, JinjaOperations.IsTruthy(a.Get(-1, "sort_keys", false)),
                    JinjaOperations.IsTruthy(a.Get(-1, "ensure_ascii", false)), limits.MaxOutputLength);
            }
            case "list":
                a.Check(0);
                return new List<object?>(JinjaOperations.Iterate(value));
            case "items":
                a.Check(0);
                return value switch
                {
                    OrderedDictionary<string, object?> d => JinjaMethods.Items(d),
                    JinjaUndefined => new List<object?>(),
                    _ => throw new JinjaRuntimeError($"items filter expects a mapping, got '{JinjaOperations.TypeName(value)}'"),
                };
            case "first":
            {
                a.Check(0);
                var items = JinjaOperations.Iterate(value);
                return items.Count > 0 ? items[0] : new JinjaUndefined("first() of an empty sequence is undefined");
            }
            case "last":
            {
                a.Check(0);
                var items = JinjaOperations.Iterate(value);
                return items.Count > 0 ? items[^1] : new JinjaUndefined("last() of an empty sequence is undefined");
            }
            case "reverse":
                a.Check(0);
                if (value is string rs)
                {
                    var chars = CodePoints.Split(rs);
                    chars.Reverse();
                    return string.Concat(chars);
                }
                return Enumerable.Reverse(JinjaOperations.Iterate(value)).ToList();
            case "join":
            {
                a.Check(2, "d", "attribute");
                string separator = JinjaOperations.ToStr(a.Get(0, "d", ""));
                var items = JinjaOperations.Iterate(value);
                if (a.Get(1, "attribute", null) is string attribute) items = items.Select(x => JinjaAccess.GetPath(x, attribute, limits)).ToList();
                var sb = new StringBuilder();
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(separator);
                    sb.Append(JinjaOperations.ToStr(items[i]));
                    limits.CheckLength(sb.Length);
                }
                return sb.ToString();
            }
            case "attr":
                a.Check(1, "name");
                return JinjaAccess.GetAttributeOnly(value, JinjaMethods.RequireString(a.Get(0, "name", null), "attr"), limits);
            case "map":
                return Map(value, a, limits);
            case "select" or "reject":
            {
                var items = JinjaOperations.Iterate(value);
                bool keep = name == "select";
                if (a.Positional.Count == 0) return items.Where(x => JinjaOperations.IsTruthy(x) == keep).ToList();
                string test = JinjaMethods.RequireString(a.Positional[0], name);
                var testArgs = a.Positional.Skip(1).ToList();
                return items.Where(x => JinjaTestFunctions.Apply(test, x, testArgs) == keep).ToList();
            }
            case "selectattr" or "rejectattr":
            {
                var items = JinjaOperations.Iterate(value);
                bool keep = name == "selectattr";
                if (a.Positional.Count == 0) throw new JinjaRuntimeError($"{name}() needs an attribute name");
                string attribute = JinjaMethods.RequireString(a.Positional[0], name);
                if (a.Positional.Count == 1) return items.Where(x => JinjaOperations.IsTruthy(JinjaAccess.GetPath(x, attribute, limits)) == keep).ToList();
                string test = JinjaMethods.RequireString(a.Positional[1], name);
                var testArgs = a.Positional.Skip(2).ToList();
                return items.Where(x => JinjaTestFunctions.Apply(test, JinjaAccess.GetPath(x, attribute, limits), testArgs) == keep).ToList();
            }
            case "sort":
            {
                a.Check(3, "reverse", "case_sensitive", "attribute");
                bool reverse = JinjaOperations.IsTruthy(a.Get(0, "reverse", false));
                var key = KeyFunction(a.Get(1, "case_sensitive", false), a.Get(2, "attribute", null), limits);
                var items = JinjaOperations.Iterate(value).Select(x => (Item: x, Key: key(x))).ToList();
                var sorted = items.OrderBy(p => p.Key, Comparer<object?>.Create((x, y) => JinjaOperations.Compare(x, y, "<"))).Select(p => p.Item).ToList();
                if (reverse) sorted.Reverse();
                return sorted;
            }
            case "unique":
            {
                a.Check(2, "case_sensitive", "attribute");
                var key = KeyFunction(a.Get(0, "case_sensitive", false), a.Get(1, "attribute", null), limits);
                var result = new List<object?>();
                var seen = new List<object?>();
                foreach (var x in JinjaOperations.Iterate(value))
                {
                    var k = key(x);
                    if (seen.Any(s => JinjaOperations.PyEquals(s, k))) continue;
                    seen.Add(k);
                    result.Add(x);
                }
                return result;
            }
            case "min" or "max":
            {
                a.Check(2, "case_sensitive", "attribute");
                var key = KeyFunction(a.Get(0, "case_sensitive", false), a.Get(1, "attribute", null), limits);
                var items = JinjaOperations.Iterate(value);
                if (items.Count == 0) return new JinjaUndefined($"{name}() of an empty sequence is undefined");
                var best = items[0];
                foreach (var x in items.Skip(1))
                {
                    int c = JinjaOperations.Compare(key(x), key(best), "<");
                    if (name == "min" ? c < 0 : c > 0) best = x;
                }
                return best;
            }
            case "sum":
            {
                a.Check(2, "attribute", "start");
                object? total = a.Get(1, "start", 0L);
                var attribute = a.Get(0, "attribute", null) as string;
                foreach (var x in JinjaOperations.Iterate(value))
                    total = JinjaArithmetic.Binary("+", total, attribute is null ? x : JinjaAccess.GetPath(x, attribute, limits), limits);
                return total;
            }
            case "dictsort":
            {
                a.Check(3, "case_sensitive", "by", "reverse");
                if (value is not OrderedDictionary<string, object?> d) throw new JinjaRuntimeError("dictsort expects a mapping");
                bool caseSensitive = JinjaOperations.IsTruthy(a.Get(0, "case_sensitive", false));
                int index = JinjaOperations.ToStr(a.Get(1, "by", "key")) == "value" ? 1 : 0;
                var key = KeyFunction(caseSensitive, null, limits);
                var sorted = JinjaMethods.Items(d).OrderBy(p => key(((List<object?>)p!)[index]), Comparer<object?>.Create((x, y) => JinjaOperations.Compare(x, y, "<"))).ToList();
                if (JinjaOperations.IsTruthy(a.Get(2, "reverse", false))) sorted.Reverse();
                return sorted;
            }
            default:
                throw new JinjaRuntimeError($"no filter named '{name}'");
        }
    }

    private static Func<object?, object?> KeyFunction(object? caseSensitive, object? attribute, JinjaLimits limits)
    {
        bool sensitive = JinjaOperations.IsTruthy(caseSensitive);
        string? path = attribute as string ?? (attribute is long l ? l.ToString(CultureInfo.InvariantCulture) : null);
        return x =>
        {
            var v = path is null ? x : JinjaAccess.GetPath(x, path, limits);
            return !sensitive && v is string s ? s.ToLowerInvariant() : v;
        };
    }

    private static object? Map(object? value, JinjaCallArguments a, JinjaLimits limits)
    {
        var items = JinjaOperations.Iterate(value);
        if (a.Has(-1, "attribute"))
        {
            string attribute = JinjaOperations.ToStr(a.Get(-1, "attribute", null));
            bool hasDefault = a.Has(-1, "default");
            var fallback = a.Get(-1, "default", null);
            return items.Select(x =>
            {
                var v = JinjaAccess.GetPath(x, attribute, limits);
                return v is JinjaUndefined && hasDefault ? fallback : v;
            }).ToList();
        }
        if (a.Positional.Count == 0) throw new JinjaRuntimeError("map() needs a filter name or attribute=");
        string filter = JinjaMethods.RequireString(a.Positional[0], "map");
        var rest = new JinjaCallArguments(filter, a.Positional.Skip(1).ToList(), a.Keywords);
        return items.Select(x => Apply(filter, x, rest, limits)).ToList();
    }

    private static object? Indent(object? value, JinjaCallArguments a, JinjaLimits limits)
    {
        a.Check(3, "width", "first", "blank");
        var width = a.Get(0, "width", 4L);
        string indention = width is string w ? w : new string(' ', (int)Math.Clamp(JinjaOperations.ToLong(width), 0, 1024));
        bool first = JinjaOperations.IsTruthy(a.Get(1, "first", false));
        bool blank = JinjaOperations.IsTruthy(a.Get(2, "blank", false));
        string s = JinjaOperations.ToStr(value) + "\n";
        var lines = s.Split('\n').ToList();
        lines.RemoveAt(lines.Count - 1);
        limits.CheckLength(s.Length + (long)lines.Count * indention.Length);
        string rv;
        if (blank)
        {
            rv = string.Join("\n" + indention, lines);
        }
        else
        {
            rv = lines[0];
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indention + l : l));
        }
        return first ? indention + rv : rv;
    }

    private static object? ToInt(object? value, object? fallback, long numberBase)
    {
        switch (value)
        {
            case long l: return l;
            case bool b: return b ? 1L : 0L;
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
            {
                string t = s.Trim().Replace("_", "", StringComparison.Ordinal);
                try
                {
                    if (numberBase == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long r)) return r;
                    if (numberBase is 2 or 8 or 16)
                    {
                        if (t.Length > 2 && t[0] == '0' && char.ToLowerInvariant(t[1]) == (numberBase == 2 ? 'b' : numberBase == 8 ? 'o' : 'x')) t = t[2..];
                        return Convert.ToInt64(t, (int)numberBase);
                    }
                }
                catch (FormatException) { }
                catch (OverflowException) { }
                return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            }
            default: return fallback;
        }
    }

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        double d => d,
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) => f,
        _ => fallback,
    };
}
