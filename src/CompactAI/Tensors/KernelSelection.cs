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
