namespace CompactAI;

/// <summary>
/// A device has too little free memory for what was asked of it: the model's weights at load, or a new session's KV cache and
/// scratch buffers. Thrown before anything is uploaded when the estimate does not fit, and also when the driver itself refuses an
/// allocation. The device and every model and session already on it stay usable.
/// </summary>
public sealed class DeviceOutOfMemoryException : BackendUnavailableException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="backend">The device's backend.</param>
    /// <param name="device">The device, e.g. "CUDA device #0 (NVIDIA GeForce RTX 4090)".</param>
    /// <param name="what">What needed the memory, e.g. "the weights of 24 layers and a 4096-token KV cache".</param>
    /// <param name="requiredBytes">Bytes needed.</param>
    /// <param name="freeBytes">Bytes free on the device when asked.</param>
    /// <param name="innerException">The driver's allocation error, when the driver refused (else null).</param>
    public DeviceOutOfMemoryException(ComputeBackend backend, string device, string what, long requiredBytes, long freeBytes, Exception? innerException = null)
        : base(backend, $"{device} has too little free memory for {what}: needed {MibUp(requiredBytes)} MiB, free {freeBytes >> 20} MiB.",
            innerException)
    {
        Device = device;
        RequiredBytes = requiredBytes;
        FreeBytes = freeBytes;
    }

    /// <summary>The device, as the message names it.</summary>
    public string Device { get; }

    /// <summary>Bytes that were needed.</summary>
    public long RequiredBytes { get; }

    /// <summary>Bytes free on the device at the time.</summary>
    public long FreeBytes { get; }

    /// <summary>Bytes as mebibytes rounded up; free memory is rounded down, so a shortfall never prints as equal numbers.</summary>
    private static long MibUp(long bytes) => (bytes + (1 << 20) - 1) >> 20;
}
