namespace CompactAI.Chat.Jinja;

/// <summary>Jinja's default <c>Undefined</c>: prints as empty text, is falsy, iterates as empty, and fails loudly on any other use.</summary>
internal sealed class JinjaUndefined
{
    public JinjaUndefined(string description) => Description = description;

    /// <summary>What was looked up, for error messages (e.g. <c>'tools' is undefined</c>).</summary>
    public string Description { get; }

    public override string ToString() => "";
}
