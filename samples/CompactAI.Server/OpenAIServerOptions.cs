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

    /// <summary>
    /// LoRA adapter files (comma-separated; <c>--lora</c>), numbered 0, 1, … and applied at scale 1 unless a request's
    /// <c>"lora": [{"id", "scale"}]</c> says otherwise, as llama-server does. Adapters run on the CPU engine.
    /// </summary>
    public string? Lora { get; set; }

    /// <summary>
    /// Longest a generation request may take, in seconds (time queued for a session included, the model's initial load not);
    /// a request over it is cancelled and answered 504 <c>generation_timeout</c>. 0: no limit.
    /// </summary>
    public int GenerationTimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// Most generation and embedding requests that may wait for a session beyond those running (the model's
    /// <c>MaxParallelSequences</c>); further ones get 429 <c>too_many_requests</c> with <c>Retry-After</c>.
    /// </summary>
    public int MaxQueuedRequests { get; set; } = 64;

    private const int MaxTimeoutSeconds = int.MaxValue / 1000; // a timer's longest delay, about 24 days

    /// <summary>The problems with these values, if any (negative or out-of-range limits).</summary>
    internal IEnumerable<string> Problems()
    {
        if (MaxRequestBodyBytes < 1) yield return $"{nameof(MaxRequestBodyBytes)} must be positive (got {MaxRequestBodyBytes}).";
        if (GenerationTimeoutSeconds is < 0 or > MaxTimeoutSeconds)
            yield return $"{nameof(GenerationTimeoutSeconds)} (--timeout) must be from 0 to {MaxTimeoutSeconds} (got {GenerationTimeoutSeconds}).";
        if (MaxQueuedRequests < 0) yield return $"{nameof(MaxQueuedRequests)} (--max-queue) must be 0 or more (got {MaxQueuedRequests}).";
    }
}

/// <summary>Refuses <see cref="OpenAIServerOptions"/> with negative or out-of-range limits, naming each field.</summary>
internal sealed class OpenAIServerOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<OpenAIServerOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, OpenAIServerOptions options)
    {
        var problems = options.Problems().ToList();
        return problems.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problems);
    }
}
