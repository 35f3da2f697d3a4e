using System.Globalization;
using System.Text;

namespace CompactAI.Chat.Jinja;

/// <summary>The Python methods templates call on strings (<c>content.strip()</c>, <c>.split('x')</c>, ...) and dicts (<c>.items()</c>, <c>.get(k)</c>).</summary>
internal static class JinjaMethods
{
    /// <summary>The bound method <paramref name="name"/> of <paramref name="target"/>, or null when it has none.</summary>
    public static JinjaCallable? Find(object? target, string name, JinjaLimits limits) => target switch
    {
        string s => StringMethod(s, name, limits),
        OrderedDictionary<string, object?> d => DictMethod(d, name),
        _ => null,
    };

    private static JinjaCallable? StringMethod(string s, string name, JinjaLimits limits)
    {
        Func<JinjaCallArguments, object?>? f = name switch
        {
            "upper" => a => { a.Check(0); return Upper(s); },
            "lower" => a => { a.Check(0); return s.ToLowerInvariant(); },
            "casefold" => a => { a.Check(0); return s.ToLowerInvariant(); },
            "strip" => a => { a.Check(1, "chars"); return Strip(s, a.Get(0, "chars", null), true, true); },
            "lstrip" => a => { a.Check(1, "chars"); return Strip(s, a.Get(0, "chars", null), true, false); },
            "rstrip" => a => { a.Check(1, "chars"); return Strip(s, a.Get(0, "chars", null), false, true); },
            "startswith" => a => { a.Check(1); return Affix(s, a.Get(0, "prefix", null), true); },
            "endswith" => a => { a.Check(1); return Affix(s, a.Get(0, "suffix", null), false); },
            "split" => a => { a.Check(2, "sep", "maxsplit"); return Split(s, a.Get(0, "sep", null), a.Get(1, "maxsplit", -1L), false); },
            "rsplit" => a => { a.Check(2, "sep", "maxsplit"); return Split(s, a.Get(0, "sep", null), a.Get(1, "maxsplit", -1L), true); },
            "splitlines" => a => { a.Check(0); return SplitLines(s); },
            "replace" => a =>
            {
                a.Check(3, "count");
                return Replace(s, RequireString(a.Get(0, "old", null), "replace"), RequireString(a.Get(1, "new", null), "replace"), a.Get(2, "count", -1L), limits);
            },
            "title" => a => { a.Check(0); return PythonTitle(s); },
            "capitalize" => a => { a.Check(0); return Capitalize(s); },
            "find" => a => { a.Check(1); return (long)s.IndexOf(RequireString(a.Get(0, "sub", null), "find"), StringComparison.Ordinal); },
            "rfind" => a => { a.Check(1); return (long)s.LastIndexOf(RequireString(a.Get(0, "sub", null), "rfind"), StringComparison.Ordinal); },
            "count" => a => { a.Check(1); return CountOccurrences(s, RequireString(a.Get(0, "sub", null), "count")); },
            "join" => a =>
            {
                a.Check(1);
                var parts = JinjaOperations.Iterate(a.Get(0, "iterable", null)).Select(x => x as string ?? throw new JinjaRuntimeError($"join() expects strings, found '{JinjaOperations.TypeName(x)}'"));
                return limits.CheckString(string.Join(s, parts));
            },
            "isdigit" => a => { a.Check(0); return s.Length > 0 && s.All(char.IsDigit); },
            "isalpha" => a => { a.Check(0); return s.Length > 0 && s.All(char.IsLetter); },
            "isalnum" => a => { a.Check(0); return s.Length > 0 && s.All(char.IsLetterOrDigit); },
            "isspace" => a => { a.Check(0); return s.Length > 0 && s.All(char.IsWhiteSpace); },
            "islower" => a => { a.Check(0); return s.Any(char.IsLetter) && s == s.ToLowerInvariant(); },
            "isupper" => a => { a.Check(0); return s.Any(char.IsLetter) && s == s.ToUpperInvariant(); },
            _ => null,
        };
        return f is null ? null : new JinjaCallable("str." + name, f);
    }

    private static JinjaCallable? DictMethod(OrderedDictionary<string, object?> d, string name)
    {
        Func<JinjaCallArguments, object?>? f = name switch
        {
            "items" => a => { a.Check(0); return Items(d); },
            "keys" => a => { a.Check(0); return d.Keys.Select(k => (object?)k).ToList(); },
            "values" => a => { a.Check(0); return d.Values.ToList(); },
            "get" => a =>
            {
                a.Check(2);
                return a.Get(0, "key", null) is string k && d.TryGetValue(k, out var v) ? v : a.Get(1, "default", null);
            },
            _ => null,
        };
        return f is null ? null : new JinjaCallable("dict." + name, f);
    }

    /// <summary>Python's <c>str.splitlines()</c>: splits at every line boundary, <c>\r\n</c> counting once, with no trailing empty line.</summary>
    private static List<object?> SplitLines(string s)
    {
        var lines = new List<object?>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')) continue;
            lines.Add(s[start..i]);
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python's <c>str.upper()</c>, including the full case mapping of 'ß' to "SS".</summary>
    public static string Upper(string s)
    {
        string upper = s.ToUpperInvariant();
        return upper.Contains('ß') ? upper.Replace("ß", "SS", StringComparison.Ordinal) : upper;
    }

    public static List<object?> Items(OrderedDictionary<string, object?> d) =>
        d.Select(p => (object?)new JinjaTuple(new[] { p.Key, p.Value })).ToList();

    public static string RequireString(object? v, string function) =>
        v as string ?? throw new JinjaRuntimeError($"{function}() expects a string argument, got '{JinjaOperations.TypeName(v)}'");

    /// <summary>Python's <c>str.strip([chars])</c> family (no argument: Unicode whitespace).</summary>
    public static string Strip(string s, object? chars, bool start, bool end)
    {
        if (chars is null or JinjaUndefined)
        {
            if (start && end) return s.Trim();
            return start ? s.TrimStart() : s.TrimEnd();
        }
        var set = RequireString(chars, "strip").ToCharArray();
        if (start && end) return s.Trim(set);
        return start ? s.TrimStart(set) : s.TrimEnd(set);
    }

    private static bool Affix(string s, object? affix, bool prefix)
    {
        if (affix is List<object?> options) return options.Any(o => Affix(s, o, prefix));
        string a = RequireString(affix, prefix ? "startswith" : "endswith");
        return prefix ? s.StartsWith(a, StringComparison.Ordinal) : s.EndsWith(a, StringComparison.Ordinal);
    }

    /// <summary>Python's <c>str.split(sep=None, maxsplit=-1)</c> / <c>rsplit</c>.</summary>
    private static List<object?> Split(string s, object? sep, object? maxSplitValue, bool fromRight)
    {
        long maxSplit = maxSplitValue is null ? -1 : JinjaOperations.ToLong(maxSplitValue);
        var parts = new List<string>();
        if (sep is null or JinjaUndefined)
        {
            var words = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (maxSplit < 0 || words.Length <= maxSplit + 1) return words.Select(w => (object?)w).ToList();
            // Python keeps the remainder (with its inner whitespace) as the last part.
            if (!fromRight)
            {
                int pos = 0;
                for (int i = 0; i < maxSplit; i++)
                {
                    while (char.IsWhiteSpace(s[pos])) pos++;
                    int startPos = pos;
                    while (!char.IsWhiteSpace(s[pos])) pos++;
                    parts.Add(s[startPos..pos]);
                }
                parts.Add(s[pos..].TrimStart());
            }
            else
            {
                int pos = s.Length;
                var tail = new List<string>();
                for (int i = 0; i < maxSplit; i++)
                {
                    while (char.IsWhiteSpace(s[pos - 1])) pos--;
                    int endPos = pos;
                    while (!char.IsWhiteSpace(s[pos - 1])) pos--;
                    tail.Insert(0, s[pos..endPos]);
                }
                parts.Add(s[..pos].TrimEnd());
                parts.AddRange(tail);
            }
            return parts.Select(w => (object?)w).ToList();
        }
        string separator = RequireString(sep, "split");
        if (separator.Length == 0) throw new JinjaRuntimeError("empty separator");
        var all = s.Split(separator);
        if (maxSplit < 0 || all.Length <= maxSplit + 1) return all.Select(w => (object?)w).ToList();
        int keep = (int)maxSplit;
        if (!fromRight)
        {
            parts.AddRange(all.Take(keep));
            parts.Add(string.Join(separator, all.Skip(keep)));
        }
        else
        {
            parts.Add(string.Join(separator, all.Take(all.Length - keep)));
            parts.AddRange(all.Skip(all.Length - keep));
        }
        return parts.Select(w => (object?)w).ToList();
    }

    public static string Replace(string s, string oldValue, string newValue, object? countValue, JinjaLimits limits)
    {
        long count = countValue is null ? -1 : JinjaOperations.ToLong(countValue);
        if (count == 0) return s;
        if (oldValue.Length == 0)
        {
            // Python inserts the replacement between every character (and at both ends).
            var chars = CodePoints.Split(s);
            long slots = chars.Count + 1;
            if (count >= 0) slots = Math.Min(slots, count);
            limits.CheckLength(s.Length + slots * newValue.Length);
            var sb = new StringBuilder();
            for (int i = 0; i <= chars.Count; i++)
            {
                if (i < slots) sb.Append(newValue);
                if (i < chars.Count) sb.Append(chars[i]);
            }
            return sb.ToString();
        }
        long occurrences = CountOccurrences(s, oldValue);
        if (count >= 0) occurrences = Math.Min(occurrences, count);
        limits.CheckLength(s.Length + occurrences * (newValue.Length - oldValue.Length));
        if (count < 0) return s.Replace(oldValue, newValue, StringComparison.Ordinal);
        var result = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int hit = s.IndexOf(oldValue, pos, StringComparison.Ordinal);
            if (hit < 0) break;
            result.Append(s, pos, hit - pos).Append(newValue);
            pos = hit + oldValue.Length;
        }
        return result.Append(s, pos, s.Length - pos).ToString();
    }

    private static long CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return CodePoints.Length(s) + 1;
        long n = 0;
        for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Python's <c>str.title()</c>: a letter following a non-letter is upper-cased, every other letter lower-cased.</summary>
    public static string PythonTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousIsLetter = false;
        foreach (char c in s)
        {
            sb.Append(previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousIsLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.capitalize()</c>: first character upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
}
