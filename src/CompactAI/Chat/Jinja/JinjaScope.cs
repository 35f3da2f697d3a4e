namespace CompactAI.Chat.Jinja;

/// <summary>
/// A variable scope. As in Jinja, each <c>for</c> iteration and each macro call gets a child scope, so a
/// <c>set</c> inside them is not seen outside (which is why templates use <c>namespace()</c>); <c>if</c> blocks do not.
/// </summary>
internal sealed class JinjaScope
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public JinjaScope(JinjaScope? parent = null) => Parent = parent;

    public JinjaScope? Parent { get; }

    public void Set(string name, object? value) => _variables[name] = value;

    public bool TryGet(string name, out object? value)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            if (scope._variables.TryGetValue(name, out value)) return true;
        }
        value = null;
        return false;
    }
}
