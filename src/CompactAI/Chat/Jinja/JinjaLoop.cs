namespace CompactAI.Chat.Jinja;

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
