using CompactAI.Models.Synthetic;
using CompactAI.Tensors;
using CompactAI.Tensors.Formats;
using CompactAI.Tensors.Native;
using CompactAI.Tensors.Quantization;
using CompactAI.Threading;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// The native kernels (<c>native/cpu</c>) against the managed ones: row dot products, activation quantizers, the matrix
/// entry, and the engine's choice between them. Every kernel test runs once per instruction-set level the CPU has
/// (scalar, AVX2, AVX-512 VNNI), capped through <c>cai_set_max_isa</c>.
/// </summary>
/// <remarks>
/// <para>How these tests skip, honestly: xunit 2.9 has no dynamic skip (and a theory with no data is an error, not a skip),
/// so <see cref="NativeFactAttribute"/> and <see cref="NativeTheoryAttribute"/> set <c>Skip</c> at discovery when the library
/// did not load. Test runners then report them as skipped, never as passed. CI builds the library (the MSBuild target and
/// <c>.ci/run</c> both run CMake) and sets <c>COMPACTAI_REQUIRE_NATIVE=1</c>, which turns the skip off so that a missing
/// library fails <see cref="LibraryIsLoaded"/> and every other test here.</para>
/// <para>Tolerances: the integer sums are exact, so with unit block scales native and managed results must be equal to the
/// bit; with real scales they may differ only by the float rounding of the per-block scale products and their summation
/// order (relative 1e-6 of the magnitude of the terms).</para>
/// The class runs alone (its collection disables parallelization) because it switches the library's instruction-set level and
/// the kernel registry, which other tests' matmuls would otherwise see.
/// </remarks>
[Collection(nameof(NativeKernelTests))]
public sealed class NativeKernelTests
{
    /// <summary>The weight formats the native library has dot products for, with the activation formats they pair with.</summary>
    public static TheoryData<GgmlType> WeightTypes() => new()
    {
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    };

    public static TheoryData<GgmlType> ActivationTypes() => new() { GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q8_K };

    [NativeFact]
    public void LibraryIsLoaded()
    {
        Assert.True(NativeKernels.IsAvailable, $"native kernels unavailable: {NativeKernels.LoadError}");
        Assert.False(string.IsNullOrEmpty(NativeKernels.Features));
        Assert.InRange(NativeKernels.Isa, 0, 2);
        foreach (var (type, _) in NativeKernels.DotExports) Assert.True(NativeKernels.HasDot(type), type.ToString());
    }

    [NativeTheory]
    [MemberData(nameof(WeightTypes))]
    public void DotMatchesManagedOnQuantizedRows(GgmlType type)
    {
        var managed = Managed(type);
        var native = NativeTensorFormat.TryCreate(managed)!;
        var act = Managed(managed.ActivationType);
        ForEachIsa(isa =>
        {
            for (int blocks = 1; blocks <= 8; blocks++)
            {
                int n = blocks * managed.BlockSize;
                var x = Gaussian(n, seed: 100 * blocks + (int)type, scale: 0.5f + blocks);
                var a = Gaussian(n, seed: 7 + blocks, scale: 2f);
                var w = new byte[managed.RowBytes(n)];
                managed.Quantize(x, w);
                var qa = new byte[act.RowBytes(n)];
                act.Quantize(a, qa);

                float expected = managed.Dot(w, qa, n), actual = native.Dot(w, qa, n);
                double tol = 1e-6 * Magnitude(managed, w, act, qa, n);
                Assert.True(Math.Abs(expected - actual) <= tol,
                    $"{type} isa {isa} n={n}: native {actual}, managed {expected}, tolerance {tol}");
            }
        });
    }

    /// <summary>
    /// Random bits everywhere except the block scales, which are 1: every result is an integer the floats hold exactly, so any
    /// unpacking or integer-sum difference shows as inequality.
    /// </summary>
    [NativeTheory]
    [MemberData(nameof(WeightTypes))]
    public void DotIsExactOnRandomBitsWithUnitScales(GgmlType type)
    {
        var managed = Managed(type);
        var native = NativeTensorFormat.TryCreate(managed)!;
        ForEachIsa(isa =>
        {
            for (int blocks = 1; blocks <= 8; blocks++)
            {
                int n = blocks * managed.BlockSize;
                var rng = new Random(1000 * blocks + (int)type);
                var w = RandomUnitScaleWeights(type, managed, n, rng);
                var qa = RandomUnitScaleActivations(managed.ActivationType, n, rng);
                float expected = managed.Dot(w, qa, n), actual = native.Dot(w, qa, n);
                Assert.True(expected == actual, $"{type} isa {isa} n={n}: native {actual}, managed {expected}");
                Assert.Equal(Math.Round(expected), expected);
            }
        });
    }

    [NativeTheory]
    [MemberData(nameof(ActivationTypes))]
    public unsafe void QuantizersAreByteIdentical(GgmlType type)
    {
        var managed = Managed(type);
        Assert.True(NativeKernels.HasQuantizer(type));
        int bs = managed.BlockSize;
        var rows = new List<float[]>();
        foreach (float scale in new[] { 1e-7f, 1e-3f, 0.1f, 1f, 37f, 6e4f })
        {
            for (int blocks = 1; blocks <= 8; blocks++) rows.Add(Gaussian(blocks * bs, seed: blocks * 31 + (int)type, scale: scale));
        }
        var special = new float[4 * bs];                    // block 0: all zero
        special[bs + 3] = -2.5f;                            // block 1: one negative spike
        for (int i = 0; i < bs; i++) special[2 * bs + i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f); // block 2: halves after scaling
        for (int i = 0; i < bs; i++) special[3 * bs + i] = 127f * i / bs; // block 3: exact levels and ties
        rows.Add(special);

        foreach (var x in rows)
        {
            var expected = new byte[managed.RowBytes(x.Length)];
            var actual = new byte[expected.Length];
            managed.QuantizeActivations(x, expected);
            ForEachIsa(_ =>
            {
                fixed (float* px = x)
                fixed (byte* py = actual)
                {
                    NativeKernels.Quantize(type, px, py, x.Length);
                }
                Assert.Equal(expected, actual);
            });
        }
    }

    [NativeTheory]
    [MemberData(nameof(WeightTypes))]
    public unsafe void MatMulRowsMatchesPerRowDots(GgmlType type)
    {
        var managed = Managed(type);
        var native = NativeTensorFormat.TryCreate(managed)!;
        var act = Managed(managed.ActivationType);
        const int rows = 13;
        int n = 3 * managed.BlockSize;
        long rowBytes = managed.RowBytes(n), actRowBytes = act.RowBytes(n);
        var w = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) managed.Quantize(Gaussian(n, seed: r, scale: 1 + r), w.AsSpan((int)(r * rowBytes), (int)rowBytes));
        // Batches and row ranges that reach every tile shape of the register-tiled formats (1–4 rows × 1–4 columns).
        foreach (int batch in new[] { 1, 2, 3, 5, 6, 7, 8 })
        foreach (var (lo, hi) in new[] { (2, 11), (1, 12), (2, 12), (0, rows) })
        {
            var x = Gaussian(batch * n, seed: 99 + batch);
            var qa = new byte[batch * actRowBytes];
            for (int b = 0; b < batch; b++) act.Quantize(x.AsSpan(b * n, n), qa.AsSpan((int)(b * actRowBytes), (int)actRowBytes));
            ForEachIsa(isa =>
            {
                // A range of rows into a wider output: rows outside [lo, hi) and the padding stay untouched.
                const int stride = rows + 3;
                var y = new float[batch * stride];
                Array.Fill(y, float.NaN);
                fixed (byte* pw = w, pa = qa)
                fixed (float* py = y)
                {
                    Assert.True(NativeKernels.MatMulRows(type, pw, rowBytes, n, lo, hi, pa, actRowBytes, batch, py, stride));
                }
                for (int b = 0; b < batch; b++)
                {
                    var arow = qa.AsSpan((int)(b * actRowBytes), (int)actRowBytes);
                    for (int r = 0; r < stride; r++)
                    {
                        float got = y[b * stride + r];
                        if (r < lo || r >= hi)
                        {
                            Assert.True(float.IsNaN(got), $"row {r} written");
                            continue;
                        }
                        var wrow = w.AsSpan((int)(r * rowBytes), (int)rowBytes);
                        double tol = 1e-6 * Magnitude(managed, wrow.ToArray(), act, arow.ToArray(), n);
                        float single = native.Dot(wrow, arow, n);
                        // Every product is the single-row kernel's, bit for bit, whatever the batch and the row's place in
                        // it (register tiles included): what keeps a sequence's tokens the same alone and in a batch.
                        Assert.Equal(single, got);
                        float expected = managed.Dot(wrow, arow, n);
                        Assert.True(Math.Abs(expected - got) <= tol, $"{type} isa {isa} batch {batch} row {r}: {got} vs {expected}");
                    }
                }
            });
        }
    }

    [NativeFact]
    public unsafe void MatMulRowsRefusesUnsupportedInput()
    {
        float y = 0;
        byte b = 0;
        Assert.False(NativeKernels.MatMulRows(GgmlType.F32, &b, 4, 32, 0, 1, &b, 4, 1, &y, 1));
        Assert.False(NativeKernels.MatMulRows(GgmlType.Q4_K, &b, 144, 100, 0, 1, &b, 292, 1, &y, 1));
    }

    [NativeTheory]
    [MemberData(nameof(WeightTypes))]
    public unsafe void MatMulDriverTakesTheNativePathWithTheSameResults(GgmlType type)
    {
        var managed = Managed(type);
        var native = NativeTensorFormat.TryCreate(managed)!;
        Assert.Equal((int)type, native.NativeTypeId);
        Assert.Equal(-1, managed.NativeTypeId);
        const int rows = 37, batch = 3;
        int n = 2 * managed.BlockSize;
        var w = new byte[rows * managed.RowBytes(n)];
        for (int r = 0; r < rows; r++) managed.Quantize(Gaussian(n, seed: 5 * r), w.AsSpan((int)(r * managed.RowBytes(n)), (int)managed.RowBytes(n)));
        var x = Gaussian(batch * n, seed: 3);
        var yManaged = new float[batch * rows];
        var yNative = new float[batch * rows];
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        fixed (byte* pw = w)
        {
            matmul.Compute(new WeightMatrix(pw, rows, n, managed), x, batch, yManaged);
            matmul.Compute(new WeightMatrix(pw, rows, n, native), x, batch, yNative);
        }
        for (int i = 0; i < yManaged.Length; i++)
        {
            Assert.True(Math.Abs(yManaged[i] - yNative[i]) <= 1e-5 * (1 + Math.Abs(yManaged[i])), $"{type} [{i}]: {yNative[i]} vs {yManaged[i]}");
        }
    }

    [NativeFact]
    public void AutoPrefersNativeAndManagedCanBeChosen()
    {
        var auto = FormatSet.Select(CpuKernels.Auto, null);
        if (!NativeKernels.IsAccelerated)
        {
            // A scalar-only build is tested above but never preferred over the managed kernels.
            Assert.IsType<Q4_KFormat>(auto.For(GgmlType.Q4_K));
            return;
        }
        Assert.IsType<NativeTensorFormat>(auto.For(GgmlType.Q4_K));
        Assert.IsType<NativeTensorFormat>(auto.For(GgmlType.Q8_K)); // native quantizer, managed Dot
        Assert.Equal(-1, auto.For(GgmlType.Q8_K).NativeTypeId);
        Assert.IsType<F32Format>(auto.For(GgmlType.F32));
        Assert.Same(auto.For(GgmlType.Q8_K), auto.For(GgmlType.Q4_K).ActivationFormat);
        var managed = FormatSet.Select(CpuKernels.Managed, null);
        Assert.IsType<Q4_KFormat>(managed.For(GgmlType.Q4_K));
        Assert.IsType<Q8_KFormat>(managed.For(GgmlType.Q4_K).ActivationFormat);
        Assert.False(managed.IsNative);
        Assert.True(auto.IsNative);
    }

    [Fact]
    public void KernelOptionsAreValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { CpuKernels = (CpuKernels)9 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { NativeLibraryPath = "" }.Validate());
        new CompactModelOptions { CpuKernels = CpuKernels.Managed, InterleaveWeights = false }.Validate();
        Assert.Same(FormatSet.Managed, FormatSet.Select(CpuKernels.Managed, "/not/loaded/because/managed.so"));
    }

    [NativeFact]
    public void NativeTakesTheLibraryEvenWithoutSimdKernels()
    {
        var native = FormatSet.Select(CpuKernels.Native, null);
        Assert.True(native.IsNative);
        Assert.IsType<NativeTensorFormat>(native.For(GgmlType.Q4_K));
        Assert.Equal((int)GgmlType.Q4_K, native.For(GgmlType.Q4_K).NativeTypeId);
    }

    [NativeFact]
    public void ANativeLibraryPathOtherThanTheLoadedOneIsRefused()
    {
        Assert.True(NativeKernels.EnsureLoaded());
        Assert.True(NativeKernels.EnsureLoaded(NativeKernels.LibraryPath)); // the same file again is fine
        var e = Assert.Throws<InvalidOperationException>(() => NativeKernels.EnsureLoaded("/nonexistent/libcompactai_cpu.so"));
        Assert.Contains("/nonexistent/libcompactai_cpu.so", e.Message);
        Assert.Contains(NativeKernels.LibraryPath!, e.Message);
    }

    [NativeFact]
    public async Task ModelsWithDifferentKernelsRunSideBySideWithTheSameLogits()
    {
        if (!NativeKernels.IsAccelerated) return; // Auto takes the managed kernels over a scalar-only library
        string dir = Directory.CreateTempSubdirectory("compactai-kernels-").FullName;
        try
        {
            string path = Path.Combine(dir, "small-llama-q4_k_m.gguf");
            CompactAI.Models.Synthetic.SyntheticModel.Write(ModelShape.For("small-llama"), QuantizationPreset.Q4_K_M, TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), path, seed: 4);
            int[] prompt = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13];
            var options = new CompactModelOptions { Threads = 2, ContextSize = 64, Backend = ComputeBackend.Cpu, CpuKernels = CpuKernels.Auto };
            using var native = CompactModel.Load(path, options);
            using var managed = CompactModel.Load(path, options with { CpuKernels = CpuKernels.Managed });
            Assert.True(native.Weights.Formats.IsNative);
            Assert.False(managed.Weights.Formats.IsNative);
            Assert.IsType<Q4_KFormat>(managed.Weights.Layers[0].Up.Format);
            Assert.NotEqual(-1, native.Weights.Layers[0].Up.Format.NativeTypeId);
            using var s1 = native.CreateSession();
            using var s2 = managed.CreateSession();
            float[] a = await s1.GetNextTokenLogitsAsync(prompt);
            float[] b = await s2.GetNextTokenLogitsAsync(prompt);
            double scale = b.Max(v => Math.Abs(v));
            for (int i = 0; i < a.Length; i++)
                Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 * scale, $"logit {i}: native {a[i]} vs managed {b[i]} (max |logit| {scale})");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static TensorFormat Managed(GgmlType type) => BuiltInFormats.Create().Single(f => f.Type == type);

    /// <summary>Runs <paramref name="body"/> at every instruction-set level the library can use, then restores the best.</summary>
    private static void ForEachIsa(Action<int> body)
    {
        int best = NativeKernels.SetMaxIsa(int.MaxValue);
        try
        {
            for (int level = 0; level <= best; level++)
            {
                Assert.Equal(level, NativeKernels.SetMaxIsa(level));
                body(level);
            }
        }
        finally
        {
            NativeKernels.SetMaxIsa(int.MaxValue);
        }
    }

    /// <summary>Σ |w_i|·|a_i| + max|w|·Σ|a_i| over the dequantized rows: the size of the terms whose rounding the tolerance allows.</summary>
    private static double Magnitude(TensorFormat wf, byte[] w, TensorFormat af, byte[] a, int n)
    {
        var wd = new float[n];
        var ad = new float[n];
        wf.Dequantize(w, wd);
        af.Dequantize(a, ad);
        double wmax = wd.Max(v => Math.Abs((double)v)), sum = 0;
        for (int i = 0; i < n; i++) sum += (Math.Abs(wd[i]) + wmax) * Math.Abs(ad[i]);
        return sum + 1e-30;
    }

    private const ushort HalfOne = 0x3C00;

    private static byte[] RandomUnitScaleWeights(GgmlType type, TensorFormat f, int n, Random rng)
    {
        var w = new byte[f.RowBytes(n)];
        rng.NextBytes(w);
        for (int b = 0; b < n / f.BlockSize; b++)
        {
            var block = w.AsSpan(b * f.BlockBytes, f.BlockBytes);
            switch (type)
            {
                case GgmlType.Q4_0 or GgmlType.Q5_0:
                    SetHalf(block, 0, HalfOne);
                    break;
                case GgmlType.Q4_1 or GgmlType.Q5_1:
                    SetHalf(block, 0, HalfOne);
                    SetHalf(block, 2, HalfOne);
                    break;
                case GgmlType.Q8_0:
                    SetHalf(block, 0, HalfOne);
                    for (int i = 2; i < block.Length; i++) if (block[i] == 0x80) block[i] = 0x81; // −128 is outside ggml's range
                    break;
                case GgmlType.Q2_K:
                    SetHalf(block, 80, HalfOne);
                    SetHalf(block, 82, HalfOne);
                    break;
                case GgmlType.Q3_K:
                    SetHalf(block, 108, HalfOne);
                    break;
                case GgmlType.Q4_K or GgmlType.Q5_K:
                    SetHalf(block, 0, HalfOne);
                    SetHalf(block, 2, HalfOne);
                    break;
                case GgmlType.Q6_K:
                    SetHalf(block, 208, HalfOne);
                    for (int g = 0; g < 16; g++) block[192 + g] = (byte)(sbyte)rng.Next(-16, 16); // keep sums well inside 2^24
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type));
            }
        }
        return w;
    }

    private static byte[] RandomUnitScaleActivations(GgmlType type, int n, Random rng)
    {
        var f = Managed(type);
        var a = new byte[f.RowBytes(n)];
        for (int b = 0; b < n / f.BlockSize; b++)
        {
            var block = a.AsSpan(b * f.BlockBytes, f.BlockBytes);
            int qOffset = type switch { GgmlType.Q8_0 => 2, GgmlType.Q8_1 => 4, _ => 4 };
            var q = block.Slice(qOffset, f.BlockSize);
            int sum = 0;
            for (int i = 0; i < q.Length; i++)
            {
                int v = rng.Next(-127, 128);
                q[i] = (byte)(sbyte)v;
                sum += v;
            }
            if (type == GgmlType.Q8_K)
            {
                BitConverter.TryWriteBytes(block, 1.0f);
                for (int g = 0; g < 16; g++)
                {
                    int s = 0;
                    for (int i = 0; i < 16; i++) s += (sbyte)q[16 * g + i];
                    BitConverter.TryWriteBytes(block.Slice(260 + 2 * g, 2), (short)s);
                }
            }
            else
            {
                SetHalf(block, 0, HalfOne);
                if (type == GgmlType.Q8_1) SetHalf(block, 2, BitConverter.HalfToUInt16Bits((Half)sum));
            }
        }
        return a;
    }

    private static void SetHalf(Span<byte> block, int offset, ushort bits) => BitConverter.TryWriteBytes(block.Slice(offset, 2), bits);

    private static float[] Gaussian(int n, int seed, float scale = 1f) => QuantFormatTests.Gaussian(n, seed, scale);
}

[CollectionDefinition(nameof(NativeKernelTests), DisableParallelization = true)]
public sealed class NativeKernelTestsCollection;

/// <summary>True when the native tests must run: CI sets <c>COMPACTAI_REQUIRE_NATIVE=1</c> after building the library.</summary>
internal static class NativeRequirement
{
    public static bool Required => Environment.GetEnvironmentVariable("COMPACTAI_REQUIRE_NATIVE") == "1";

    public static string? SkipReason =>
        NativeKernels.IsAvailable || Required
            ? null
            : $"Native kernels unavailable ({NativeKernels.LoadError}); build native/cpu or set COMPACTAI_REQUIRE_NATIVE=1 to fail instead.";
}

/// <summary>A fact that is skipped (reported as such) when the native library is unavailable and not required.</summary>
public sealed class NativeFactAttribute : FactAttribute
{
    public NativeFactAttribute() => Skip = NativeRequirement.SkipReason;
}

/// <summary>A theory that is skipped (reported as such) when the native library is unavailable and not required.</summary>
public sealed class NativeTheoryAttribute : TheoryAttribute
{
    public NativeTheoryAttribute() => Skip = NativeRequirement.SkipReason;
}
