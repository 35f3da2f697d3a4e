namespace CompactAI;

/// <summary>
/// The requested <see cref="ComputeBackend"/> cannot run this model: the <c>CompactAI.Cuda</c> package is not referenced, there is
/// no CUDA driver or device, the device index is out of range, or the device lacks a kernel for one of the model's tensor types.
/// The message says which. With <see cref="ComputeBackend.Auto"/> the same reason is logged and the model runs on the CPU instead.
/// </summary>
public class BackendUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="backend">The backend that was asked for.</param>
    /// <param name="reason">Why it cannot be used (one sentence).</param>
    public BackendUnavailableException(ComputeBackend backend, string reason)
        : base($"The {backend} backend cannot run this model: {reason}")
    {
        Backend = backend;
        Reason = reason;
    }

    /// <summary>Creates the exception with the backend's own error as the inner exception.</summary>
    /// <param name="backend">The backend that was asked for.</param>
    /// <param name="reason">Why it cannot be used (one sentence).</param>
    /// <param name="innerException">The driver's or library's error (may be null).</param>
    public BackendUnavailableException(ComputeBackend backend, string reason, Exception? innerException)
        : base($"The {backend} backend cannot run this model: {reason}", innerException)
    {
        Backend = backend;
        Reason = reason;
    }

    /// <summary>The backend that was asked for.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>Why it cannot be used, without the leading "The … backend cannot run this model" (what <see cref="ComputeBackend.Auto"/> logs).</summary>
    public string Reason { get; }
}
