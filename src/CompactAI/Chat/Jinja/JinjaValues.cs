namespace CompactAI.Chat.Jinja;

// Runtime values. Python's types map to: str -> string, int -> long, float -> double, bool -> bool,
// None -> null, list/tuple -> List<object?>, dict -> OrderedDictionary<string, object?>, plus the few
// Jinja objects below. Lists and dicts are never mutated once built (transformers renders in an immutable sandbox).

/// <summary>Jinja's default <c>Undefined</c>: prints as empty text, is falsy, iterates as empty, and fails loudly on any other use.</summary>
internal sealed class JinjaUndefined
{
    public JinjaUndefined(string description) => Description = description;

    /// <summary>What was looked up, for error messages (e.g. <c>'tools' is undefined</c>).</summary>
    public string Description { get; }

    public override string ToString() => "";
}

/// <summary>A Python tuple: a list that prints as <c>(a, b)</c> (made by tuple literals, <c>items()</c> and <c>dictsort</c>).</summary>
internal sealed class JinjaTuple : List<object?>
{
    public JinjaTuple(IEnumerable<object?> items) : base(items) { }
}

/// <summary>The mutable object made by <c>namespace(...)</c>; the only thing a template may assign attributes to.</summary>
internal sealed class JinjaNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
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

/// <summary>The <c>loop</c> variable inside a <c>for</c> body.</summary>
internal sealed class JinjaLoop
{
    private readonly List<object?> _items;

    public JinjaLoop(List<object?> items) => _items = items;

    public int Index0 { get; set; }

    public object? Get(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(_items.Count - Index0),
        "revindex0" => (long)(_items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == _items.Count - 1,
        "length" => (long)_items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? _items[Index0 - 1] : new JinjaUndefined("'loop.previtem' is undefined"),
        "nextitem" => Index0 < _items.Count - 1 ? _items[Index0 + 1] : new JinjaUndefined("'loop.nextitem' is undefined"),
        "cycle" => new JinjaCallable("loop.cycle", a =>
        {
            if (a.Positional.Count == 0) throw new JinjaRuntimeError("loop.cycle() needs at least one argument");
            return a.Positional[Index0 % a.Positional.Count];
        }),
        _ => new JinjaUndefined($"'loop' has no attribute '{name}'"),
    };
}

/// <summary>An error raised while evaluating; the evaluator adds the template position and wraps it in <see cref="ChatTemplateException"/>.</summary>
internal sealed class JinjaRuntimeError : Exception
{
    public JinjaRuntimeError(string message, bool raisedByTemplate = false) : base(message) => RaisedByTemplate = raisedByTemplate;

    public bool RaisedByTemplate { get; }
}
