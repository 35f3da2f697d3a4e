namespace CompactAI;

/// <summary>
/// Thrown when text generation (a session, the session pool, the chat client) is asked of an encoder-only embedding model
/// such as all-MiniLM-L6-v2 (<c>bert</c>): such a model has no language-model head. Embed text with it through
/// <see cref="Chat.CompactEmbeddingGenerator"/> instead.
/// </summary>
public sealed class EncoderOnlyModelException : NotSupportedException
{
    /// <summary>Creates the exception for the model named <paramref name="modelName"/> of architecture <paramref name="architecture"/>.</summary>
    public EncoderOnlyModelException(string modelName, string architecture)
        : base($"'{modelName}' (architecture {architecture}) is an encoder-only embedding model: it cannot generate text. Embed text with it through CompactEmbeddingGenerator (or the server's /v1/embeddings).")
    {
        ModelName = modelName;
        Architecture = architecture;
    }

    /// <summary>The model's name (<c>general.name</c> or the file name).</summary>
    public string ModelName { get; }

    /// <summary>The model's architecture, e.g. <c>bert</c>.</summary>
    public string Architecture { get; }
}
