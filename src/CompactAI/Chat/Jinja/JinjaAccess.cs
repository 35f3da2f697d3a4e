namespace CompactAI.Chat.Jinja;

/// <summary>
/// Jinja's <c>getattr</c> (<c>x.name</c>: attribute, then item) and <c>getitem</c> (<c>x[key]</c>: item, then attribute).
/// A missing attribute or key is undefined; reading anything from an undefined value is an error.
/// </summary>
internal static class JinjaAccess
{
    public static object? GetAttribute(object? target, string name, JinjaLimits limits)
    {
        switch (target)
        {
            case JinjaUndefined u:
                throw new JinjaRuntimeError($"{u.Description} (cannot read attribute '{name}' of an undefined value)");
            case OrderedDictionary<string, object?> d:
                if (JinjaMethods.Find(d, name, limits) is { } method) return method;
                return d.TryGetValue(name, out var value) ? value : Missing(target, name);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attr) ? attr : Missing(target, name);
            case JinjaLoop loop:
                return loop.Get(name);
            default:
                return (object?)JinjaMethods.Find(target, name, limits) ?? Missing(target, name);
        }
    }

    /// <summary>Python's <c>getattr</c> without the item fallback (the <c>attr</c> filter): dict keys are not attributes.</summary>
    public static object? GetAttributeOnly(object? target, string name, JinjaLimits limits) => target switch
    {
        JinjaUndefined u => throw new JinjaRuntimeError($"{u.Description} (cannot read attribute '{name}' of an undefined value)"),
        JinjaNamespace or JinjaLoop => GetAttribute(target, name, limits),
        _ => (object?)JinjaMethods.Find(target, name, limits) ?? Missing(target, name),
    };

    public static object? GetItem(object? target, object? key, JinjaLimits limits)
    {
        switch (target)
        {
            case JinjaUndefined u:
                throw new JinjaRuntimeError($"{u.Description} (cannot index an undefined value with {JinjaOperations.Repr(key)})");
            case OrderedDictionary<string, object?> d when key is string k:
                if (d.TryGetValue(k, out var value)) return value;
                return (object?)JinjaMethods.Find(d, k, limits) ?? Missing(target, k);
            case List<object?> list when key is long or bool:
            {
                int i = JinjaOperations.NormalizeIndex(JinjaOperations.ToLong(key), list.Count);
                return i < 0 ? new JinjaUndefined($"list index {JinjaOperations.Repr(key)} is out of range") : list[i];
            }
            case string s when key is long or bool:
            {
                var chars = CodePoints.HasSurrogates(s) ? CodePoints.Split(s) : null;
                int count = chars?.Count ?? s.Length;
                int i = JinjaOperations.NormalizeIndex(JinjaOperations.ToLong(key), count);
                if (i < 0) return new JinjaUndefined($"string index {JinjaOperations.Repr(key)} is out of range");
                return chars is null ? s[i].ToString() : chars[i];
            }
            case var _ when key is string name:
                return GetAttribute(target, name, limits);
            default:
                return new JinjaUndefined($"{JinjaOperations.TypeName(target)} object has no element {JinjaOperations.Repr(key)}");
        }
    }

    /// <summary>Follows a dotted path (<c>"function.name"</c>, <c>"items.0"</c>) as Jinja's attribute getters do.</summary>
    public static object? GetPath(object? target, string path, JinjaLimits limits)
    {
        object? value = target;
        foreach (var part in path.Split('.'))
        {
            if (value is JinjaUndefined) return value;
            value = long.TryParse(part, out long index) ? GetItem(value, index, limits) : GetItem(value, part, limits);
        }
        return value;
    }

    private static JinjaUndefined Missing(object? target, string name) =>
        new($"'{JinjaOperations.TypeName(target)} object' has no attribute '{name}'");
}
