using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Native;

/// <summary>
/// The native CPU kernels (<c>libcompactai_cpu</c>, built from <c>native/cpu</c>): loaded once per process, by the first
/// <see cref="EnsureLoaded"/> (a model whose <see cref="CompactModelOptions.CpuKernels"/> is not Managed, or a first look at
/// <see cref="IsAvailable"/>), from the path given (<see cref="CompactModelOptions.NativeLibraryPath"/>, by default
/// <c>COMPACTAI_NATIVE_PATH</c>), else beside this assembly, else from <c>runtimes/&lt;rid&gt;/native</c>, else through the
/// platform's library search. When the library is missing or of another ABI version, <see cref="IsAvailable"/> is false,
/// <see cref="LoadError"/> says why, and the engine runs its managed kernels.
/// </summary>
/// <remarks>
/// Entry points are bound as unmanaged function pointers. The row dot products are short and never block, so they skip the
/// GC transition; the matrix entry and the quantizers (which may run for many microseconds) do not.
/// </remarks>
internal static unsafe class NativeKernels
{
    /// <summary>The library's base name.</summary>
    public const string LibraryName = "compactai_cpu";

    /// <summary>The ABI version this assembly was written against (<c>CAI_VERSION</c>).</summary>
    public const int ExpectedVersion = 3;

    private static readonly delegate* unmanaged[SuppressGCTransition]<int, void*, void*, float>[] s_dots =
        new delegate* unmanaged[SuppressGCTransition]<int, void*, void*, float>[16];
    private static readonly delegate* unmanaged<float*, void*, int, void>[] s_quantizers = new delegate* unmanaged<float*, void*, int, void>[16];
    private static delegate* unmanaged<int, void*, nuint, int, int, int, void*, nuint, int, float*, int, int> s_matmulRows;
    private static delegate* unmanaged<float*, float*, float*, int, int, int, int, float, float, float*, float*, void> s_attend;
    private static delegate* unmanaged<void*, nuint, int, int, void*, void> s_repackQ4KX8;
    private static delegate* unmanaged<int, int> s_setMaxIsa;
    private static delegate* unmanaged<int> s_isa;

    private static readonly Lock s_loadLock = new();
    private static volatile bool s_loaded;
    private static bool s_available;
    private static string s_features = "";
    private static string? s_libraryPath, s_loadError, s_requestedPath;

    /// <summary>
    /// Loads the library unless an earlier call did, from <paramref name="path"/> when given (null: <c>COMPACTAI_NATIVE_PATH</c>,
    /// else the default places), and returns <see cref="IsAvailable"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The library was already loaded (or tried) from another place than <paramref name="path"/>: a process loads it once.
    /// </exception>
    public static bool EnsureLoaded(string? path = null)
    {
        if (!s_loaded)
        {
            lock (s_loadLock)
            {
                if (!s_loaded)
                {
                    s_requestedPath = path ?? KernelDefaults.NativeLibraryPath;
                    Load(s_requestedPath);
                    s_loaded = true;
                    return s_available;
                }
            }
        }
        if (path is not null && !SamePath(path, s_requestedPath) && !SamePath(path, s_libraryPath))
            throw new InvalidOperationException(
                $"The native kernels were already loaded from {s_libraryPath ?? s_requestedPath ?? "the default places"}{(s_available ? "" : $" ({s_loadError})")}; " +
                $"a process loads them once, so NativeLibraryPath '{path}' cannot take effect.");
        return s_available;
    }

    private static bool SamePath(string a, string? b) =>
        b is not null && string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private static void Load(string? explicitPath)
    {
        // The x64 library is compiled for x86-64-v3 throughout; on an older CPU any call could fault.
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64 &&
            !(Avx2.IsSupported && Fma.IsSupported && Bmi1.IsSupported && Bmi2.IsSupported && Lzcnt.IsSupported))
        {
            s_loadError = "the CPU lacks x86-64-v3 (AVX2, FMA, BMI), which the library is built for";
            return;
        }
        if (!TryLoad(explicitPath, out nint handle, out string? path))
        {
            s_loadError = path is null ? $"{FileName} not found" : $"{path} could not be loaded";
            return;
        }
        try
        {
            var version = (delegate* unmanaged<int>)Export(handle, "cai_version");
            int v = version();
            if (v != ExpectedVersion)
            {
                s_loadError = $"{path} has ABI version {v}, expected {ExpectedVersion}";
                return;
            }
            foreach (var (type, name) in DotExports) s_dots[(int)type] = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, float>)Export(handle, name);
            s_quantizers[(int)GgmlType.Q8_0] = (delegate* unmanaged<float*, void*, int, void>)Export(handle, "cai_quantize_row_q8_0");
            s_quantizers[(int)GgmlType.Q8_1] = (delegate* unmanaged<float*, void*, int, void>)Export(handle, "cai_quantize_row_q8_1");
            s_quantizers[(int)GgmlType.Q8_K] = (delegate* unmanaged<float*, void*, int, void>)Export(handle, "cai_quantize_row_q8_k");
            s_matmulRows = (delegate* unmanaged<int, void*, nuint, int, int, int, void*, nuint, int, float*, int, int>)Export(handle, "cai_matmul_rows");
            s_attend = (delegate* unmanaged<float*, float*, float*, int, int, int, int, float, float, float*, float*, void>)Export(handle, "cai_attend_f16acc");
            s_repackQ4KX8 = (delegate* unmanaged<void*, nuint, int, int, void*, void>)Export(handle, "cai_repack_q4_k_x8");
            s_setMaxIsa = (delegate* unmanaged<int, int>)Export(handle, "cai_set_max_isa");
            s_isa = (delegate* unmanaged<int>)Export(handle, "cai_isa");
            s_features = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)Export(handle, "cai_features"))()) ?? "";
            s_libraryPath = path;
            s_available = true;
        }
        catch (EntryPointNotFoundException e)
        {
            Array.Clear(s_dots);
            Array.Clear(s_quantizers);
            s_loadError = $"{path}: {e.Message}";
        }
    }

    /// <summary>True when the library loaded and every entry point was found (loading it from the default places if nothing did yet).</summary>
    public static bool IsAvailable => EnsureLoaded();

    /// <summary>
    /// True when the library loaded and runs SIMD kernels (AVX2 or better). A scalar-only build (e.g. on Arm64) is available
    /// for tests but not preferred over the managed kernels, which vectorize there.
    /// </summary>
    public static bool IsAccelerated => IsAvailable && s_isa() >= 1;

    /// <summary>The instruction sets the library selected, e.g. <c>"avx2 fma f16c avx512vnni"</c>; empty when unavailable.</summary>
    public static string Features => EnsureLoaded() ? s_features : "";

    /// <summary>The file loaded, or null.</summary>
    public static string? LibraryPath => EnsureLoaded() ? s_libraryPath : null;

    /// <summary>Why the library is not in use, or null when it is.</summary>
    public static string? LoadError => EnsureLoaded() ? null : s_loadError;

    /// <summary>The (weight type, export) pairs of the row dot products.</summary>
    internal static readonly (GgmlType Type, string Export)[] DotExports =
    [
        (GgmlType.Q4_0, "cai_dot_q4_0_q8_0"), (GgmlType.Q4_1, "cai_dot_q4_1_q8_1"), (GgmlType.Q5_0, "cai_dot_q5_0_q8_0"),
        (GgmlType.Q5_1, "cai_dot_q5_1_q8_1"), (GgmlType.Q8_0, "cai_dot_q8_0_q8_0"), (GgmlType.Q2_K, "cai_dot_q2_k_q8_k"),
        (GgmlType.Q3_K, "cai_dot_q3_k_q8_k"), (GgmlType.Q4_K, "cai_dot_q4_k_q8_k"), (GgmlType.Q5_K, "cai_dot_q5_k_q8_k"),
        (GgmlType.Q6_K, "cai_dot_q6_k_q8_k"),
    ];

    /// <summary>True when the library has a row dot product for weights of <paramref name="type"/>.</summary>
    public static bool HasDot(GgmlType type) => (uint)type < (uint)s_dots.Length && s_dots[(int)type] != null;

    /// <summary>True when the library has an activation quantizer to <paramref name="type"/>.</summary>
    public static bool HasQuantizer(GgmlType type) => (uint)type < (uint)s_quantizers.Length && s_quantizers[(int)type] != null;

    /// <summary>Σ w·a over <paramref name="n"/> elements (<c>cai_dot_*</c>); <see cref="HasDot"/> must hold and both rows be long enough.</summary>
    public static float Dot(GgmlType type, byte* weights, byte* activations, int n) => s_dots[(int)type](n, weights, activations);

    /// <summary>Quantizes <paramref name="n"/> floats into <paramref name="type"/> (<c>cai_quantize_row_*</c>); <see cref="HasQuantizer"/> must hold.</summary>
    public static void Quantize(GgmlType type, float* x, byte* y, int n) => s_quantizers[(int)type](x, y, n);

    /// <summary>
    /// y[b·yStride + r] = dot(row r, activation row b) for r in [rowStart, rowEnd) and b in [0, batch) (<c>cai_matmul_rows</c>).
    /// </summary>
    /// <returns>False when the library refused the arguments (unsupported type or column count).</returns>
    public static bool MatMulRows(GgmlType type, byte* w, long rowBytes, int columns, int rowStart, int rowEnd,
        byte* act, long actRowBytes, int batch, float* y, int yStride) =>
        s_matmulRows((int)type, w, (nuint)rowBytes, columns, rowStart, rowEnd, act, (nuint)actRowBytes, batch, y, yStride) == 0;

    /// <summary>The <c>cai_matmul_rows</c> weight type of Q4_K rows interleaved by <see cref="RepackQ4KX8"/> (<c>CAI_TYPE_Q4_K_X8</c>).</summary>
    public const int Q4KX8TypeId = 0x100 | (int)GgmlType.Q4_K;

    /// <summary>
    /// Interleaves Q4_K rows eight at a time (<c>cai_repack_q4_k_x8</c>) into <paramref name="dst"/>, which takes as many bytes
    /// as the source rows. <paramref name="rows"/> must be a multiple of 8 and <paramref name="columns"/> of 256.
    /// <see cref="IsAvailable"/> must hold.
    /// </summary>
    public static void RepackQ4KX8(byte* src, long rowBytes, int rows, int columns, byte* dst) =>
        s_repackQ4KX8(src, (nuint)rowBytes, rows, columns, dst);

    /// <summary>
    /// One query row of attention over one KV head with an F16 running sum (<c>cai_attend_f16acc</c>): the same
    /// arithmetic as the managed <see cref="Models.Attention"/> loop. <see cref="IsAvailable"/> must hold.
    /// </summary>
    public static void Attend(float* q, float* keys, float* values, int headDim, int valueDim, int first, int length,
        float scale, float softcap, float* scratch, float* output) =>
        s_attend(q, keys, values, headDim, valueDim, first, length, scale, softcap, scratch, output);

    /// <summary>The instruction-set level in use: 0 scalar, 1 AVX2, 2 AVX-512 VNNI; −1 when unavailable.</summary>
    public static int Isa => IsAvailable ? s_isa() : -1;

    /// <summary>
    /// Caps the library's instruction-set level (tests and benchmarks compare paths with it) and returns the level in effect.
    /// Not safe while other threads run kernels.
    /// </summary>
    public static int SetMaxIsa(int level) => IsAvailable ? s_setMaxIsa(level) : -1;

    /// <summary>The platform's file name of the library.</summary>
    public static string FileName =>
        OperatingSystem.IsWindows() ? LibraryName + ".dll" : OperatingSystem.IsMacOS() ? "lib" + LibraryName + ".dylib" : "lib" + LibraryName + ".so";

    private static nint Export(nint handle, string name) => NativeLibrary.GetExport(handle, name);

    private static bool TryLoad(string? explicitPath, out nint handle, out string? path)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            path = explicitPath;
            return NativeLibrary.TryLoad(explicitPath, out handle);
        }
        foreach (var candidate in CandidatePaths())
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out handle))
            {
                path = candidate;
                return true;
            }
        }
        path = LibraryName;
        if (NativeLibrary.TryLoad(LibraryName, typeof(NativeKernels).Assembly, DllImportSearchPath.SafeDirectories, out handle)) return true;
        path = null;
        return false;
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "Assembly.Location is empty in a single-file app; AppContext.BaseDirectory is probed as well.")]
    private static IEnumerable<string> CandidatePaths()
    {
        string arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var dirs = new List<string>();
        string? assemblyDir = Path.GetDirectoryName(typeof(NativeKernels).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir)) dirs.Add(assemblyDir);
        dirs.Add(AppContext.BaseDirectory);
        foreach (var dir in dirs.Distinct())
        {
            yield return Path.Combine(dir, FileName);
            yield return Path.Combine(dir, "runtimes", $"{os}-{arch}", "native", FileName);
            if (RuntimeInformation.RuntimeIdentifier is { Length: > 0 } rid && rid != $"{os}-{arch}")
                yield return Path.Combine(dir, "runtimes", rid, "native", FileName);
        }
    }
}
