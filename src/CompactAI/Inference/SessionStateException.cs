namespace CompactAI.Inference;

/// <summary>
/// A saved session state (<see cref="InferenceSession.LoadState"/>) was refused: the stream is truncated or corrupt, was
/// saved from a different model, or does not fit the session's context. <see cref="Field"/> names the field that failed.
/// </summary>
public sealed class SessionStateException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, naming the field.</param>
    /// <param name="field">The field of the state format that failed, e.g. <c>magic</c>, <c>model_hash</c>, <c>token_count</c>.</param>
    /// <param name="offset">Byte offset of the field from the start of the state, or −1 when not applicable.</param>
    public SessionStateException(string message, string field, long offset)
        : base(offset >= 0 ? $"{message} (field '{field}' at byte {offset} of the state)" : $"{message} (field '{field}')")
    {
        Field = field;
        Offset = offset;
    }

    /// <summary>The field of the state format that failed.</summary>
    public string Field { get; }

    /// <summary>Byte offset of <see cref="Field"/> from the start of the state, or −1.</summary>
    public long Offset { get; }
}
