namespace CompactAI.Chat.Jinja;

/// <summary>A Python tuple: a list that prints as <c>(a, b)</c> (made by tuple literals, <c>items()</c> and <c>dictsort</c>).</summary>
internal sealed class JinjaTuple : List<object?>
{
    public JinjaTuple(IEnumerable<object?> items) : base(items) { }
}
