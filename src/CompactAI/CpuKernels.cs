namespace CompactAI;

/// <summary>Which kernels compute a model's matrix products and attention on the CPU (<see cref="CompactModelOptions.CpuKernels"/>).</summary>
public enum CpuKernels
{
    /// <summary>
    /// The native library's kernels (<c>libcompactai_cpu</c>) where it loaded with SIMD kernels and has one for the format, the
    /// managed ones otherwise.
    /// </summary>
    Auto,

    /// <summary>The managed kernels only; the native library is not loaded for the model.</summary>
    Managed,

    /// <summary>
    /// The native library's kernels wherever it has one, even a scalar-only build; loading the model throws
    /// <see cref="BackendUnavailableException"/> when the library cannot be loaded.
    /// </summary>
    Native,
}
