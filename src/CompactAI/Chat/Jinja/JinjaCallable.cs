namespace CompactAI.Chat.Jinja;

/// <summary>A function value: a global (<c>range</c>, <c>namespace</c>, ...), a bound method (<c>'x'.upper</c>) or a macro.</summary>
internal sealed class JinjaCallable
{
    public JinjaCallable(string name, Func<JinjaCallArguments, object?> invoke)
    {
        Name = name;
        Invoke = invoke;
    }

    public string Name { get; }
    public Func<JinjaCallArguments, object?> Invoke { get; }

    public override string ToString() => $"<function {Name}>";
}

/// <summary>Positional and keyword arguments of a call, with Python-like binding helpers.</summary>
internal sealed class JinjaCallArguments
{
    public JinjaCallArguments(string callee, List<object?> positional, List<(string Name, object? Value)> keywords)
    {
        Callee = callee;
        Positional = positional;
        Keywords = keywords;
    }

    public string Callee { get; }
    public List<object?> Positional { get; }
    public List<(string Name, object? Value)> Keywords { get; }

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback)
    {
        if (index >= 0 && index < Positional.Count) return Positional[index];
        foreach (var (n, v) in Keywords)
            if (n == name) return v;
        return fallback;
    }

    public bool Has(int index, string name)
    {
        if (index >= 0 && index < Positional.Count) return true;
        foreach (var (n, _) in Keywords)
            if (n == name) return true;
        return false;
    }

    /// <summary>Rejects more than <paramref name="maxPositional"/> positional arguments or unknown keywords.</summary>
    public void Check(int maxPositional, params string[] keywordNames)
    {
        if (Positional.Count > maxPositional)
            throw new JinjaRuntimeError($"{Callee}() takes at most {maxPositional} positional argument(s) ({Positional.Count} given)");
        foreach (var (n, _) in Keywords)
            if (Array.IndexOf(keywordNames, n) < 0) throw new JinjaRuntimeError($"{Callee}() got an unexpected keyword argument '{n}'");
    }
}
