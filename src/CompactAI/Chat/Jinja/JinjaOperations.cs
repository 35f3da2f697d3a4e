using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CompactAI.Chat.Jinja;

// Runtime values. Python's types map to: str -> string, int -> long, float -> double, bool -> bool,
// None -> null, list -> List<object?>, tuple -> JinjaTuple, dict -> OrderedDictionary<string, object?>, plus
// JinjaUndefined, JinjaNamespace, JinjaCallable and JinjaLoop. Lists and dicts are never mutated once built
// (transformers renders in an immutable sandbox), so they can be shared freely.

/// <summary>Python semantics of the runtime values: truth, <c>str()</c>, <c>repr()</c>, equality, ordering, arithmetic, access.</summary>
internal static class JinjaOperations
{
    private const int MaxNesting = 200;

    public static bool IsTruthy(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        JinjaUndefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        JinjaNamespace => "Namespace",
        JinjaCallable => "function",
        JinjaLoop => "LoopContext",
        _ => v.GetType().Name,
    };

    /// <summary>Python's <c>str(v)</c> (undefined prints as empty text).</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => Repr(v, 0),
    };

    /// <summary>Python's <c>repr(v)</c>.</summary>
    public static string Repr(object? v, int depth = 0)
    {
        if (depth > MaxNesting) throw new JinjaRuntimeError("value is nested too deeply to print");
        switch (v)
        {
            case null: return "None";
            case JinjaUndefined: return "";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FormatFloat(d);
            case string s: return QuoteString(s);
            case JinjaTuple tuple:
            {
                var sb = new StringBuilder("(");
                for (int i = 0; i < tuple.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    sb.Append(Repr(tuple[i], depth + 1));
                }
                return sb.Append(tuple.Count == 1 ? ",)" : ")").ToString();
            }
            case List<object?> list:
            {
                var sb = new StringBuilder("[");
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    sb.Append(Repr(list[i], depth + 1));
                }
                return sb.Append(']').ToString();
            }
            case OrderedDictionary<string, object?> dict:
            {
                var sb = new StringBuilder("{");
                bool first = true;
                foreach (var (k, val) in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    sb.Append(QuoteString(k)).Append(": ").Append(Repr(val, depth + 1));
                }
                return sb.Append('}').ToString();
            }
            case JinjaNamespace ns:
            {
                var sb = new StringBuilder("<Namespace {");
                bool first = true;
                foreach (var (k, val) in ns.Attributes)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    sb.Append(QuoteString(k)).Append(": ").Append(Repr(val, depth + 1));
                }
                return sb.Append("}>").ToString();
            }
            default: return v.ToString() ?? "";
        }
    }

    /// <summary>Python's string <c>repr</c>: single quotes unless the text contains one and no double quote.</summary>
    private static string QuoteString(string s)
    {
        char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(q);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == q) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(q).ToString();
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, exponent form below 1e-4 and from 1e16.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest round-trip digits come from "R"; its exponent layout is normalised below.
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = shortest.StartsWith('-');
        if (negative) shortest = shortest[1..];
        int exp = 0;
        int e = shortest.IndexOfAny(new[] { 'E', 'e' });
        string mantissa = shortest;
        if (e >= 0)
        {
            exp = int.Parse(shortest.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = shortest[..e];
        }
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int pointPos = (dot < 0 ? mantissa.Length : dot) + exp; // digits before the decimal point
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; pointPos--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int decimalExponent = pointPos - 1;
        string body;
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            string frac = digits.Length > 1 ? "." + digits[1..] : "";
            body = $"{digits[0]}{frac}e{(decimalExponent < 0 ? "-" : "+")}{Math.Abs(decimalExponent):00}";
        }
        else if (pointPos <= 0)
        {
            body = "0." + new string('0', -pointPos) + digits;
        }
        else if (pointPos >= digits.Length)
        {
            body = digits + new string('0', pointPos - digits.Length) + ".0";
        }
        else
        {
            body = digits[..pointPos] + "." + digits[pointPos..];
        }
        return negative ? "-" + body : body;
    }

    /// <summary>Python's <c>==</c>.</summary>
    public static bool PyEquals(object? a, object? b, int depth = 0)
    {
        if (depth > MaxNesting) throw new JinjaRuntimeError("values are nested too deeply to compare");
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case null: return b is null;
            case JinjaUndefined: return b is JinjaUndefined;
            case string s: return b is string t && s == t;
            case List<object?> la:
            {
                if (b is not List<object?> lb || la.Count != lb.Count || (la is JinjaTuple) != (lb is JinjaTuple)) return false;
                for (int i = 0; i < la.Count; i++)
                    if (!PyEquals(la[i], lb[i], depth + 1)) return false;
                return true;
            }
            case OrderedDictionary<string, object?> da:
            {
                if (b is not OrderedDictionary<string, object?> db || da.Count != db.Count) return false;
                foreach (var (k, v) in da)
                    if (!db.TryGetValue(k, out var w) || !PyEquals(v, w, depth + 1)) return false;
                return true;
            }
            default: return ReferenceEquals(a, b);
        }
    }

    /// <summary>Python's ordering (<c>&lt;</c> etc.) between numbers, strings or lists; anything else is a type error.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a).CompareTo(ToDouble(b));
            return ToLong(a).CompareTo(ToLong(b));
        }
        if (a is string s && b is string t) return string.CompareOrdinal(s, t) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if (a is List<object?> la && b is List<object?> lb)
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (PyEquals(la[i], lb[i])) continue;
                return Compare(la[i], lb[i], op);
            }
            return la.Count.CompareTo(lb.Count);
        }
        throw new JinjaRuntimeError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaRuntimeError($"expected a number, got '{TypeName(v)}'"),
    };

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => d,
        _ => throw new JinjaRuntimeError($"expected a number, got '{TypeName(v)}'"),
    };

    /// <summary>Python's <c>len(v)</c>; strings count code points.</summary>
    public static long Length(object? v) => v switch
    {
        string s => CodePoints.Length(s),
        List<object?> l => l.Count,
        OrderedDictionary<string, object?> d => d.Count,
        JinjaUndefined => 0,
        _ => throw new JinjaRuntimeError($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>The items a <c>for</c> loop or a sequence filter sees: list items, dict keys, string characters; undefined is empty.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        OrderedDictionary<string, object?> d => d.Keys.Select(k => (object?)k).ToList(),
        string s => CodePoints.Split(s).Select(c => (object?)c).ToList(),
        JinjaUndefined => new List<object?>(),
        JinjaNamespace => throw new JinjaRuntimeError("'Namespace' object is not iterable"),
        _ => throw new JinjaRuntimeError($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string t => s.Contains(t, StringComparison.Ordinal),
        string => throw new JinjaRuntimeError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Any(x => PyEquals(x, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        JinjaUndefined => false,
        _ => throw new JinjaRuntimeError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary>Normalises a Python index (negative counts from the end); -1 when out of range.</summary>
    public static int NormalizeIndex(long index, int count)
    {
        if (index < 0) index += count;
        return index < 0 || index >= count ? -1 : (int)index;
    }

    /// <summary>Python's <c>slice(start, stop, step).indices(count)</c> applied to a list.</summary>
    public static List<T> Slice<T>(IReadOnlyList<T> items, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0) throw new JinjaRuntimeError("slice step cannot be zero");
        int n = items.Count;
        long lo, hi;
        if (st > 0)
        {
            lo = start is null ? 0 : start.Value < 0 ? Math.Max(0, start.Value + n) : Math.Min(start.Value, n);
            hi = stop is null ? n : stop.Value < 0 ? Math.Max(0, stop.Value + n) : Math.Min(stop.Value, n);
        }
        else
        {
            lo = start is null ? n - 1 : start.Value < 0 ? Math.Max(-1, start.Value + n) : Math.Min(start.Value, n - 1);
            hi = stop is null ? -1 : stop.Value < 0 ? Math.Max(-1, stop.Value + n) : Math.Min(stop.Value, n - 1);
        }
        var result = new List<T>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) result.Add(items[(int)i]);
        return result;
    }

    /// <summary>Converts an application value (strings, numbers, booleans, lists, dictionaries, <see cref="JsonElement"/>, <see cref="ChatTurn"/>) to a runtime value.</summary>
    public static object? FromClr(object? value, int depth = 0)
    {
        if (depth > MaxNesting) throw new ArgumentException("value is nested too deeply for a chat template");
        switch (value)
        {
            case null: return null;
            case string or bool or long or double or JinjaUndefined or JinjaCallable or JinjaNamespace: return value;
            case int i: return (long)i;
            case uint u: return (long)u;
            case short s: return (long)s;
            case ushort us: return (long)us;
            case byte b: return (long)b;
            case sbyte sb: return (long)sb;
            case ulong ul: return ul <= long.MaxValue ? (object)(long)ul : (double)ul;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case Enum e: return e.ToString();
            case ChatTurn turn:
                return new OrderedDictionary<string, object?>(StringComparer.Ordinal) { ["role"] = turn.Role, ["content"] = turn.Content };
            case JsonElement json: return FromJson(json, depth);
            case IDictionary<string, object?> dict:
            {
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in dict) d[k] = FromClr(v, depth + 1);
                return d;
            }
            case IReadOnlyDictionary<string, object?> rdict:
            {
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in rdict) d[k] = FromClr(v, depth + 1);
                return d;
            }
            case IDictionary ndict:
            {
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in ndict) d[Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? ""] = FromClr(entry.Value, depth + 1);
                return d;
            }
            case IEnumerable seq:
            {
                var list = new List<object?>();
                foreach (var item in seq) list.Add(FromClr(item, depth + 1));
                return list;
            }
            default:
                throw new ArgumentException($"values of type {value.GetType()} cannot be passed to a chat template; use strings, numbers, booleans, lists or dictionaries");
        }
    }

    private static object? FromJson(JsonElement json, int depth)
    {
        if (depth > MaxNesting) throw new ArgumentException("value is nested too deeply for a chat template");
        switch (json.ValueKind)
        {
            case JsonValueKind.String: return json.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null:
            case JsonValueKind.Undefined: return null;
            case JsonValueKind.Number: return json.TryGetInt64(out long l) ? (object)l : json.GetDouble();
            case JsonValueKind.Array: return json.EnumerateArray().Select(e => FromJson(e, depth + 1)).ToList();
            default:
            {
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var p in json.EnumerateObject()) d[p.Name] = FromJson(p.Value, depth + 1);
                return d;
            }
        }
    }
}
