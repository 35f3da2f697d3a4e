namespace CompactAI.Tensors;

/// <summary>
/// Which kernels the engine uses. At start-up (first format lookup) it takes the native library's kernels where the library
/// loaded with SIMD kernels and has one for the format (<see cref="Native.NativeKernels.IsAccelerated"/>), and the managed
/// ones otherwise. Setting
/// <see cref="PreferNative"/> to false forces managed kernels for models loaded afterwards (tests, benchmarks); the
/// environment variable <c>COMPACTAI_NATIVE=0</c> does the same for the whole process.
/// </summary>
internal static class KernelSelection
{
    private static volatile bool s_preferNative = Environment.GetEnvironmentVariable("COMPACTAI_NATIVE") != "0";

    private static volatile bool s_interleaveRows = Environment.GetEnvironmentVariable("COMPACTAI_INTERLEAVE") != "0";

    /// <summary>
    /// Whether models loaded from now on move the matrices the CPU computes into the native kernels' interleaved layouts
    /// (Q4_K: eight rows at a time) where the native kernels are in use. On by default; false (or the environment variable
    /// <c>COMPACTAI_INTERLEAVE=0</c>) keeps every matrix in the mapped file, for comparisons.
    /// </summary>
    public static bool InterleaveRows
    {
        get => s_interleaveRows;
        set => s_interleaveRows = value;
    }

    /// <summary>True when formats registered now take native kernels: preferred and accelerated.</summary>
    public static bool UseNative => PreferNative && Native.NativeKernels.IsAccelerated;

    /// <summary>Whether formats registered from now on use native kernels when available. Setting it resets the registry.</summary>
    public static bool PreferNative
    {
        get => s_preferNative;
        set
        {
            s_preferNative = value;
            TensorFormat.ResetRegistry();
        }
    }
}
