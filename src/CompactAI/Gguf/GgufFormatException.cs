namespace CompactAI.Gguf;

/// <summary>
/// Thrown when a GGUF file is malformed: bad magic or version, a count or length that does not fit in the file,
/// an unknown type, an out-of-file or misaligned tensor offset, or a missing or mistyped metadata key.
/// </summary>
/// <remarks>The message names the file, the field and the byte offset at which the problem was found.</remarks>
public sealed class GgufFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, in words.</param>
    /// <param name="field">The field or metadata key concerned (e.g. <c>tensor_count</c>, <c>llama.block_count</c>).</param>
    /// <param name="offset">The byte offset in the file where the field starts, or -1 when not applicable.</param>
    /// <param name="filePath">The file, when known.</param>
    public GgufFormatException(string message, string? field = null, long offset = -1, string? filePath = null)
        : base(Compose(message, field, offset, filePath))
    {
        Field = field;
        Offset = offset;
        FilePath = filePath;
    }

    /// <summary>The field or metadata key concerned, when known.</summary>
    public string? Field { get; }

    /// <summary>The byte offset in the file, or -1 when not applicable.</summary>
    public long Offset { get; }

    /// <summary>The file, when known.</summary>
    public string? FilePath { get; }

    private static string Compose(string message, string? field, long offset, string? filePath)
    {
        var where = new List<string>(3);
        if (filePath is not null) where.Add($"file '{filePath}'");
        if (field is not null) where.Add($"field '{field}'");
        if (offset >= 0) where.Add($"offset {offset}");
        return where.Count == 0 ? $"Invalid GGUF: {message}" : $"Invalid GGUF ({string.Join(", ", where)}): {message}";
    }
}
