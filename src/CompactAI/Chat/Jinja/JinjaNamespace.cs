namespace CompactAI.Chat.Jinja;

/// <summary>The mutable object made by <c>namespace(...)</c>; the only thing a template may assign attributes to.</summary>
internal sealed class JinjaNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
