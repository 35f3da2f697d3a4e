namespace CompactAI;

/// <summary>Where a model's forward pass runs (<see cref="CompactModelOptions.Backend"/>).</summary>
public enum ComputeBackend
{
    /// <summary>
    /// A CUDA device when the <c>CompactAI.Cuda</c> package is referenced and a device with enough free memory exists, else the
    /// CPU. The choice, or the reason for the CPU, is logged once per model and is on <see cref="CompactModel.BackendDescription"/>.
    /// </summary>
    Auto,

    /// <summary>The CPU engine (managed SIMD and the native kernels).</summary>
    Cpu,

    /// <summary>
    /// A CUDA device (needs the <c>CompactAI.Cuda</c> package and the NVIDIA driver). When it cannot be used, loading throws
    /// <see cref="BackendUnavailableException"/> or <see cref="DeviceOutOfMemoryException"/> rather than falling back.
    /// </summary>
    Cuda,
}
