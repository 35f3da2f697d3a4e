namespace CompactAI.Chat;

/// <summary>
/// Thrown when a chat template cannot be parsed or rendered: a syntax error (with its line and column), an
/// operation the template language does not allow (adding a string to a number, reading an attribute of an
/// undefined value, ...), a resource limit reached, or a <c>raise_exception(...)</c> call made by the template itself.
/// A template that fails never yields a partial or wrong prompt.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, in words.</param>
    /// <param name="line">The 1-based template line where it went wrong, when known.</param>
    /// <param name="column">The 1-based template column where it went wrong, when known.</param>
    /// <param name="raisedByTemplate">True when the template called <c>raise_exception</c>.</param>
    /// <param name="innerException">The underlying exception, if any.</param>
    public ChatTemplateException(string message, int? line = null, int? column = null, bool raisedByTemplate = false, Exception? innerException = null)
        : base(Compose(message, line, column, raisedByTemplate), innerException)
    {
        Reason = message;
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>The reason without the location prefix (for <c>raise_exception</c>, the template's own message).</summary>
    public string Reason { get; }

    /// <summary>The 1-based line in the template source, when known.</summary>
    public int? Line { get; }

    /// <summary>The 1-based column in the template source, when known.</summary>
    public int? Column { get; }

    /// <summary>True when the template itself refused the input through <c>raise_exception(message)</c>.</summary>
    public bool RaisedByTemplate { get; }

    private static string Compose(string message, int? line, int? column, bool raised)
    {
        string where = line is null ? "" : column is null ? $" at line {line}" : $" at line {line}, column {column}";
        return raised ? $"Chat template raised an exception{where}: {message}" : $"Chat template error{where}: {message}";
    }
}
