namespace CompactAI.Tensors;

/// <summary>
/// The defaults of the kernel options of <see cref="CompactModelOptions"/>, from environment variables read when the options are
/// created: <c>COMPACTAI_NATIVE=0</c> (managed kernels), <c>COMPACTAI_INTERLEAVE=0</c> (no interleaved copies) and
/// <c>COMPACTAI_NATIVE_PATH</c> (where the native library is loaded from).
/// </summary>
internal static class KernelDefaults
{
    /// <summary><see cref="CpuKernels.Managed"/> when <c>COMPACTAI_NATIVE=0</c>, else <see cref="CpuKernels.Auto"/>.</summary>
    public static CpuKernels CpuKernels => Environment.GetEnvironmentVariable("COMPACTAI_NATIVE") == "0" ? CpuKernels.Managed : CpuKernels.Auto;

    /// <summary>False when <c>COMPACTAI_INTERLEAVE=0</c>, else true.</summary>
    public static bool InterleaveWeights => Environment.GetEnvironmentVariable("COMPACTAI_INTERLEAVE") != "0";

    /// <summary><c>COMPACTAI_NATIVE_PATH</c>, or null when it is unset or empty.</summary>
    public static string? NativeLibraryPath => Environment.GetEnvironmentVariable("COMPACTAI_NATIVE_PATH") is { Length: > 0 } p ? p : null;
}
