namespace CompactAI;

/// <summary>
/// A feature that the model's <see cref="ComputeBackend"/> cannot provide, e.g. saving a session's state on
/// <see cref="ComputeBackend.LLamaSharp"/>, whose KV cache lives inside llama.cpp. <see cref="Feature"/> names it.
/// </summary>
public sealed class BackendFeatureNotSupportedException : NotSupportedException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="backend">The backend the model runs on.</param>
    /// <param name="feature">The feature, e.g. "saving and loading session state (SaveState, LoadState)".</param>
    /// <param name="reason">Why the backend cannot provide it (one sentence), or null.</param>
    public BackendFeatureNotSupportedException(ComputeBackend backend, string feature, string? reason = null)
        : base($"The {backend} backend does not support {feature}{(reason is null ? "." : $": {reason}")}")
    {
        Backend = backend;
        Feature = feature;
    }

    /// <summary>The backend the model runs on.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>The feature that is not supported.</summary>
    public string Feature { get; }
}
