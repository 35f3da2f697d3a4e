namespace CompactAI.Server;

/// <summary>Options of the OpenAI-compatible endpoints (configuration section <c>Server</c>).</summary>
public sealed class OpenAIServerOptions
{
    /// <summary>The conventional configuration section name, <c>Server</c>.</summary>
    public const string SectionName = "Server";

    /// <summary>When set, every <c>/v1</c> request must send <c>Authorization: Bearer &lt;key&gt;</c>; others get 401.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Largest request body accepted, in bytes; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest <c>max_tokens</c> accepted (null: the model's per-sequence context size); larger ones get 400.</summary>
    public int? MaxTokensLimit { get; set; }

    /// <summary>Answer length of <c>/v1/completions</c> when the request sets no <c>max_tokens</c> (OpenAI's default is 16).</summary>
    public int DefaultCompletionTokens { get; set; } = 16;
}
