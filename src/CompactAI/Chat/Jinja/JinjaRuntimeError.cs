namespace CompactAI.Chat.Jinja;

/// <summary>An error raised while evaluating; the evaluator adds the template position and wraps it in <see cref="ChatTemplateException"/>.</summary>
internal sealed class JinjaRuntimeError : Exception
{
    public JinjaRuntimeError(string message, bool raisedByTemplate = false) : base(message) => RaisedByTemplate = raisedByTemplate;

    public bool RaisedByTemplate { get; }
}
