using System.Runtime.InteropServices;
using CompactAI.Cuda;
using CompactAI.Cuda.Kernels;
using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Threading;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Tests.Cuda;

/// <summary>
/// Every CUDA kernel, run on ILGPU's CPU accelerator (the same kernel code a GPU runs, with simulated warps), against the CPU
/// engine's own maths on random inputs. Sizes are small: the CPU accelerator simulates every thread.
/// </summary>
[Collection(CpuAcceleratorCollection.Name)]
public sealed class CudaKernelTests(CpuAcceleratorFixture fixture)
{
    private readonly CudaBackend _backend = fixture.Backend;
    private Accelerator Acc => _backend.Accelerator;
    private DeviceKernels K => _backend.Kernels;

    public static TheoryData<GgmlType> MatVecTypes => new() { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K };

    private static float[] Random(Random rng, int n, float scale = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Random weights quantized by the CPU engine's own quantizer into <paramref name="type"/>'s GGUF layout.</summary>
    private static byte[] RandomWeights(GgmlType type, int rows, int cols, int seed)
    {
        var format = TensorFormat.For(type);
        var values = Random(new Random(seed), rows * cols);
        var bytes = new byte[format.RowBytes(cols) * rows];
        if (type == GgmlType.F32)
        {
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes);
            return bytes;
        }
        Assert.True(format.CanQuantize, $"{type} cannot quantize");
        format.Quantize(values, bytes);
        return bytes;
    }

    private float[] Download(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        Acc.Synchronize();
        return buffer.GetAsArray1D();
    }

    [Theory]
    [MemberData(nameof(MatVecTypes))]
    public void MatVec_MatchesDequantizeThenDot(GgmlType type)
    {
        const int rows = 6, cols = 512;
        var format = TensorFormat.For(type);
        var weights = RandomWeights(type, rows, cols, seed: (int)type + 1);
        var x = Random(new Random(7), cols);
        using var w = new DeviceMatrix(_backend, type, weights, rows, cols);
        using var dx = Acc.Allocate1D(x);
        using var dy = Acc.Allocate1D<float>(rows);
        K.MatVec(w, dx.View, dy.View);
        var y = Download(dy);

        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            format.Dequantize(weights.AsSpan((int)(r * format.RowBytes(cols)), (int)format.RowBytes(cols)), row);
            double dot = 0, magnitude = 0;
            for (int c = 0; c < cols; c++)
            {
                dot += (double)row[c] * x[c];
                magnitude += Math.Abs((double)row[c] * x[c]);
            }
            // Relative 1e-4 of Σ|w·x| (the scale of the sum's rounding; a dot can cancel to near zero).
            Assert.True(Math.Abs(y[r] - dot) <= 1e-4 * magnitude, $"{type} row {r}: device {y[r]}, CPU {dot} (Σ|w·x| {magnitude})");
        }
    }

    /// <summary>
    /// The prompt-batch kernel against the CPU engine's matmul (<see cref="MatMul"/>, which quantizes activations to Q8_0/Q8_K
    /// for quantized weights) and against dequantize-then-dot in double, for token counts below, at and across the 8-token tile.
    /// </summary>
    [Theory]
    [MemberData(nameof(MatVecTypes))]
    public void MatMul_MatchesCpuMatMul(GgmlType type)
    {
        const int rows = 5, cols = 512, maxTokens = 19;
        var format = TensorFormat.For(type);
        var weights = RandomWeights(type, rows, cols, seed: 40 + (int)type);
        var x = Random(new Random(8), DeviceMemoryEstimate.PaddedRows(maxTokens) * cols);
        using var w = new DeviceMatrix(_backend, type, weights, rows, cols);
        using var dx = Acc.Allocate1D(x);
        using var dy = Acc.Allocate1D<float>(maxTokens * rows);
        var dequantized = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            format.Dequantize(weights.AsSpan((int)(r * format.RowBytes(cols)), (int)format.RowBytes(cols)), dequantized.AsSpan(r * cols, cols));
        var cpu = new float[maxTokens * rows];
        foreach (int tokens in new[] { 2, 8, 11, maxTokens })
        {
            dy.MemSetToZero();
            K.MatMul(w, dx.View, dy.View, tokens);
            var y = Download(dy);
            unsafe
            {
                fixed (byte* p = weights)
                using (var pool = new WorkerPool(1))
                    new MatMul(pool).Compute(new WeightMatrix(p, rows, cols, format), x, tokens, cpu);
            }
            for (int b = 0; b < tokens; b++)
            {
                for (int r = 0; r < rows; r++)
                {
                    double dot = 0, magnitude = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        dot += (double)dequantized[r * cols + c] * x[b * cols + c];
                        magnitude += Math.Abs((double)dequantized[r * cols + c] * x[b * cols + c]);
                    }
                    float actual = y[b * rows + r], engine = cpu[b * rows + r];
                    Assert.True(Math.Abs(actual - dot) <= 1e-4 * magnitude, $"{type}, {tokens} tokens, [{b}, {r}]: device {actual}, exact {dot}");
                    // The engine quantizes activations for quantized weights: agreement to that rounding (~1e-3 of Σ|w·x|).
                    double tolerance = type is GgmlType.F32 or GgmlType.F16 ? 1e-4 : 1e-2;
                    Assert.True(Math.Abs(actual - engine) <= tolerance * magnitude, $"{type}, {tokens} tokens, [{b}, {r}]: device {actual}, CPU engine {engine}");
                }
            }
            // Rows past the batch are left alone.
            for (int i = tokens * rows; i < y.Length; i++) Assert.Equal(0f, y[i]);
        }
    }

    [Theory]
    [MemberData(nameof(MatVecTypes))]
    public void Embedding_EqualsCpuDequantizeRow(GgmlType type)
    {
        const int rows = 4, cols = 256;
        var format = TensorFormat.For(type);
        var weights = RandomWeights(type, rows, cols, seed: 100 + (int)type);
        using var e = new DeviceMatrix(_backend, type, weights, rows, cols);
        int[] tokens = [0, 3, 1];
        using var ids = Acc.Allocate1D(tokens);
        using var dst = Acc.Allocate1D<float>(tokens.Length * cols);
        var expected = new float[cols];
        K.Embedding(e, ids.View, tokens.Length, dst.View, 1.0f);
        var actual = Download(dst);
        for (int b = 0; b < tokens.Length; b++)
        {
            format.Dequantize(weights.AsSpan((int)(tokens[b] * format.RowBytes(cols)), (int)format.RowBytes(cols)), expected);
            Assert.Equal(expected, actual.AsSpan(b * cols, cols).ToArray()); // the same float, element by element
        }
        K.Embedding(e, ids.View, 1, dst.View, 2.5f);
        var scaled = Download(dst);
        format.Dequantize(weights.AsSpan(0, (int)format.RowBytes(cols)), expected);
        for (int i = 0; i < cols; i++) Assert.Equal(expected[i] * 2.5f, scaled[i]);
    }

    [Fact]
    public void RmsNorm_MatchesTensorMath()
    {
        const int rows = 3, n = 72;
        var rng = new Random(11);
        var x = Random(rng, rows * n, 3);
        var gain = Random(rng, n);
        using var dx = Acc.Allocate1D(x);
        using var dg = Acc.Allocate1D(gain);
        using var dy = Acc.Allocate1D<float>(rows * n);
        K.RmsNorm(dx.View, dg.View, dy.View, rows, n, 1e-5f);
        var y = Download(dy);
        var expected = new float[n];
        for (int r = 0; r < rows; r++)
        {
            TensorMath.RmsNorm(x.AsSpan(r * n, n), gain, 1e-5f, expected);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[r * n + i] - expected[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"row {r} [{i}]: {y[r * n + i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData(RopeStyle.Interleaved, 16, 0, 1, 1.0f, 1.0f)]
    [InlineData(RopeStyle.Interleaved, 16, 37, 3, 1.0f, 1.0f)]
    [InlineData(RopeStyle.NeoX, 16, 37, 4, 0.25f, 1.0f)]   // linear position scaling
    [InlineData(RopeStyle.NeoX, 8, 200, 2, 1.0f, 1.19f)]  // partial rotary (8 of 16 dimensions), frequency factors, LongRoPE attention factor
    public void Rope_MatchesRopeTable(RopeStyle style, int ropeDims, int startPos, int tokens, float positionScale, float magnitude)
    {
        const int heads = 3, headDim = 16, context = 256;
        var data = Random(new Random(startPos + ropeDims), tokens * heads * headDim);
        var factors = ropeDims == 8 ? new[] { 1f, 2f, 4f, 8f } : null;
        // The device rotates by the CPU's own table of the whole context.
        var whole = new RopeTable(ropeDims, 10000f, positionScale, factors, magnitude, context);
        whole.Prepare(0, context);
        using var dd = Acc.Allocate1D(data);
        using var dc = Acc.Allocate1D(whole.Cos.ToArray());
        using var ds = Acc.Allocate1D(whole.Sin.ToArray());
        K.Rope(dd.View, dc.View, ds.View, tokens, heads, headDim, ropeDims, startPos, style);
        var actual = Download(dd);

        var table = new RopeTable(ropeDims, 10000f, positionScale, factors, magnitude, tokens);
        table.Prepare(startPos, tokens);
        var expected = (float[])data.Clone();
        table.Apply(expected, heads, headDim, tokens, style);
        Assert.Equal(expected, actual); // same angles, same arithmetic: bit-identical
    }

    [Fact]
    public void Softmax_MatchesTensorMath()
    {
        const int rows = 2, n = 100;
        var x = Random(new Random(5), rows * n, 8);
        using var dx = Acc.Allocate1D(x);
        K.Softmax(dx.View, rows, n);
        var y = Download(dx);
        for (int r = 0; r < rows; r++)
        {
            var expected = x.AsSpan(r * n, n).ToArray();
            TensorMath.Softmax(expected);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[r * n + i] - expected[i]) <= 1e-6f + 1e-5f * expected[i], $"row {r} [{i}]: {y[r * n + i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData(FfnActivation.Silu)]
    [InlineData(FfnActivation.GeluTanh)]
    public void GatedActivation_MatchesTensorMath(FfnActivation activation)
    {
        const int n = 300;
        var rng = new Random(3);
        var gate = Random(rng, n, 6);
        var up = Random(rng, n, 2);
        using var dg = Acc.Allocate1D(gate);
        using var du = Acc.Allocate1D(up);
        K.GatedActivation(dg.View, du.View, n, activation);
        var actual = Download(dg);
        var expected = (float[])gate.Clone();
        // What the CPU forward pass computes: SiLU, or GELU through ggml's half-precision table.
        if (activation == FfnActivation.Silu) TensorMath.Silu(expected, expected);
        else TensorMath.GeluTanhAsGgml(expected);
        int differ = 0;
        for (int i = 0; i < n; i++)
        {
            float e = expected[i] * up[i];
            if (activation == FfnActivation.Silu)
            {
                Assert.True(Math.Abs(actual[i] - e) <= 1e-6f * (1 + Math.Abs(e)), $"[{i}]: {actual[i]} vs {e}");
                continue;
            }
            // The table's half rounding is reproduced; tanh differs from MathF.Tanh by an ulp or two, which can flip a rounding.
            if (actual[i] != e) differ++;
            Assert.True(Math.Abs(actual[i] - e) <= 1e-3f * Math.Abs(e), $"[{i}]: {actual[i]} vs {e}");
        }
        Assert.True(differ <= n / 100, $"{differ} of {n} GELU values differ from the CPU's table");
    }

    [Fact]
    public void AddRows_AddsTheBiasToEveryRow()
    {
        const int rows = 3, width = 20;
        var rng = new Random(10);
        var x = Random(rng, rows * width);
        var bias = Random(rng, width);
        using var dx = Acc.Allocate1D(x);
        using var db = Acc.Allocate1D(bias);
        K.AddRows(dx.View, db.View, rows, width);
        var actual = Download(dx);
        for (int i = 0; i < rows * width; i++) Assert.Equal(x[i] + bias[i % width], actual[i]);
    }

    [Fact]
    public void Softcap_MatchesTensorMath()
    {
        const int n = 200;
        var x = Random(new Random(12), n, 80);
        using var dx = Acc.Allocate1D(x);
        K.Softcap(dx.View, n, 30f);
        var actual = Download(dx);
        var expected = new float[n];
        TensorMath.Softcap(x, 30f, expected);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6f * 30, $"[{i}]: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void Add_AddsElementwise()
    {
        var rng = new Random(9);
        var x = Random(rng, 50);
        var y = Random(rng, 50);
        using var dx = Acc.Allocate1D(x);
        using var dy = Acc.Allocate1D(y);
        K.Add(dx.View, dy.View, 50);
        var actual = Download(dx);
        for (int i = 0; i < 50; i++) Assert.Equal(x[i] + y[i], actual[i]);
    }

    private static ModelConfig AttentionConfig(int heads, int kvHeads, int headDim, float softcap, bool scaleQuery) => new()
    {
        Architecture = "llama", ContextLength = 64, EmbeddingLength = heads * headDim, BlockCount = 1, FeedForwardLength = 4,
        HeadCount = heads, KvHeadCount = kvHeads, HeadDim = headDim, ValueDim = headDim, RopeDimensions = headDim,
        RopeFreqBase = 10000, RopeStyle = RopeStyle.Interleaved, RmsNormEpsilon = 1e-5f, VocabularySize = 8,
        AttentionScale = 1 / MathF.Sqrt(headDim), AttentionSoftcap = softcap, ScaleQueryBeforeAttention = scaleQuery,
    };

    /// <summary>
    /// A batch of query positions (causal within the batch) over a cache filled by earlier batches, against the CPU engine's
    /// Attention and exact double-precision attention over the same half-rounded q, k and v.
    /// </summary>
    [Theory]
    [InlineData(0f, 0, false, 1)]
    [InlineData(0f, 0, false, 4)]  // a prompt batch: causal mask within the batch
    [InlineData(0f, 5, false, 3)]  // sliding window of 5 positions
    [InlineData(20f, 0, false, 2)] // Gemma 2 style soft-cap
    [InlineData(0f, 0, true, 3)]   // q scaled before rounding (Gemma, Phi-3)
    public void Attention_MatchesCpuEngine(float softcap, int window, bool scaleQuery, int batch)
    {
        const int heads = 4, kvHeads = 2, hd = 16, capacity = 16, positions = 11;
        var c = AttentionConfig(heads, kvHeads, hd, softcap, scaleQuery);
        var rng = new Random(21 + window + batch);
        var cpuCache = new KvCache(1, capacity, kvHeads, hd, hd);
        using var keys = Acc.Allocate1D<float>(kvHeads * capacity * hd);
        using var values = Acc.Allocate1D<float>(kvHeads * capacity * hd);
        using var dk = Acc.Allocate1D<float>(3 * kvHeads * hd);
        using var dv = Acc.Allocate1D<float>(3 * kvHeads * hd);
        // Stored in batches of up to 3 tokens, as prompt processing does.
        for (int p = 0; p < positions; p += 3)
        {
            int n = Math.Min(3, positions - p);
            var k = Random(rng, n * kvHeads * hd, 2);
            var v = Random(rng, n * kvHeads * hd, 2);
            cpuCache.Store(0, p, n, k, v);
            dk.View.SubView(0, k.Length).CopyFromCPU(k);
            dv.View.SubView(0, v.Length).CopyFromCPU(v);
            K.StoreKv(dk.View, keys.View, n, kvHeads, hd, capacity, p, half: true);
            K.StoreKv(dv.View, values.View, n, kvHeads, hd, capacity, p, half: true);
        }
        // The device cache holds the same half-rounded values as the CPU cache.
        var deviceKeys = Download(keys);
        var deviceValues = Download(values);
        for (int h = 0; h < kvHeads; h++)
        {
            Assert.Equal(cpuCache.KeysOf(0, h)[..(positions * hd)].ToArray(), deviceKeys.AsSpan(h * capacity * hd, positions * hd).ToArray());
            Assert.Equal(cpuCache.ValuesOf(0, h)[..(positions * hd)].ToArray(), deviceValues.AsSpan(h * capacity * hd, positions * hd).ToArray());
        }

        // The batch's queries are the last `batch` positions.
        int startPos = positions - batch;
        var q = Random(rng, batch * heads * hd, 2);
        float preScale = scaleQuery ? c.AttentionScale : 1f, scale = scaleQuery ? 1f : c.AttentionScale;
        using var dq = Acc.Allocate1D(q);
        using var dout = Acc.Allocate1D<float>(batch * heads * hd);
        var shape = new AttentionShape(heads, heads / kvHeads, hd, hd, capacity, startPos, window, half: true, preScale,
            softcap > 0 ? scale / softcap : scale, softcap);
        K.Attend(dq.View, keys.View, values.View, dout.View, batch, shape);
        var actual = Download(dout);

        var expected = new float[batch * heads * hd];
        var caches = Enumerable.Repeat<KvCache?>(cpuCache, batch).ToArray();
        var rowPositions = Enumerable.Range(startPos, batch).ToArray();
        using (var pool = new WorkerPool(1)) new Attention(c, pool).Run(q, caches, rowPositions, 0, batch, expected, window);

        for (int b = 0; b < batch; b++)
        {
            int len = startPos + b + 1, first = window > 0 ? Math.Max(0, len - window) : 0;
            var exact = ExactAttention(q.AsSpan(b * heads * hd, heads * hd).ToArray(), cpuCache, heads, kvHeads, hd, first, len, preScale, scale, softcap);
            for (int i = 0; i < heads * hd; i++)
            {
                float device = actual[b * heads * hd + i], cpu = expected[b * heads * hd + i];
                Assert.True(Math.Abs(device - exact[i]) <= 1e-5 * (1 + Math.Abs(exact[i])), $"token {b} [{i}] device {device} vs exact {exact[i]}");
                // The CPU engine keeps llama.cpp's half-precision Σp·v accumulator: agreement to half-precision rounding.
                Assert.True(Math.Abs(device - cpu) <= 2e-3 * (1 + Math.Abs(cpu)), $"token {b} [{i}] device {device} vs CPU {cpu}");
            }
        }
    }

    private static double[] ExactAttention(float[] q, KvCache cache, int heads, int kvHeads, int hd, int first, int len, float preScale, float scale, float softcap)
    {
        var result = new double[heads * hd];
        for (int h = 0; h < heads; h++)
        {
            var keys = cache.KeysOf(0, h / (heads / kvHeads));
            var values = cache.ValuesOf(0, h / (heads / kvHeads));
            var s = new double[len];
            double max = double.NegativeInfinity;
            for (int t = first; t < len; t++)
            {
                double dot = 0;
                for (int d = 0; d < hd; d++) dot += (double)(float)(System.Half)(q[h * hd + d] * preScale) * keys[t * hd + d];
                s[t] = dot * scale;
                if (softcap > 0) s[t] = softcap * Math.Tanh(s[t] / softcap);
                max = Math.Max(max, s[t]);
            }
            double sum = 0;
            for (int t = first; t < len; t++) sum += s[t] = Math.Exp(s[t] - max);
            for (int t = first; t < len; t++)
                for (int d = 0; d < hd; d++) result[h * hd + d] += s[t] / sum * values[t * hd + d];
        }
        return result;
    }
}

/// <summary>The device's float → half rounding (plain C#, so it runs here as it does in a kernel) against <see cref="System.Half"/>.</summary>
public sealed class DeviceHalfRoundingTests
{
    [Fact]
    public void RoundToHalf_MatchesSystemHalf()
    {
        var rng = new Random(1);
        var specials = new[] { 0f, -0f, 65504f, 65519.99f, 65520f, -65520f, 1e-8f, 2.98e-8f, 2.9802322e-8f, 6.1e-5f, 6.103515625e-5f, 1e-30f,
            float.PositiveInfinity, float.NegativeInfinity, 1.0009765625f + 0.00048828125f };
        foreach (var f in specials) Check(f);
        for (int i = 0; i < 200_000; i++)
        {
            // Random bit patterns over the exponents that matter (subnormal halves to overflow), and exact ties.
            uint bits = (uint)rng.Next() | ((uint)rng.Next(2) << 31);
            float f = BitConverter.UInt32BitsToSingle((bits & 0x807FFFFFu) | ((uint)rng.Next(96, 145) << 23));
            Check(f);
            Check(BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(f) & ~0x1FFFu) | 0x1000u));
        }

        static void Check(float f)
        {
            float expected = (float)(System.Half)f, actual = CompactAI.Cuda.Kernels.Dequant.RoundToHalf(f);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{f:R}: {actual:R} vs System.Half {expected:R}");
        }
    }

    [Fact]
    public void HalfToFloat_MatchesSystemHalf_ForEveryHalf()
    {
        for (uint h = 0; h < 0x10000; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h), actual = CompactAI.Cuda.Kernels.Dequant.HalfToFloat(h);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual));
            else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
        }
    }
}

/// <summary>The kernels' exp and tanh (plain C#, run here as in a kernel) against the runtime's.</summary>
public sealed class DeviceMathTests
{
    [Fact]
    public void Exp_MatchesMathExp()
    {
        for (double x = -103; x <= 88.7; x += 0.0137)
        {
            double expected = Math.Exp((float)x), actual = CompactAI.Cuda.Kernels.DeviceMath.Exp((float)x);
            if (expected < 1.2e-38) Assert.True(Math.Abs(actual - expected) <= 2e-45, $"exp({(float)x}) = {actual}, expected {expected}");
            else Assert.True(Math.Abs(actual - expected) <= 3e-7 * expected, $"exp({(float)x}) = {actual}, expected {expected}");
        }
        Assert.Equal(1f, CompactAI.Cuda.Kernels.DeviceMath.Exp(0f));
        Assert.Equal(float.PositiveInfinity, CompactAI.Cuda.Kernels.DeviceMath.Exp(89f));
        Assert.Equal(0f, CompactAI.Cuda.Kernels.DeviceMath.Exp(-104f));
        Assert.Equal(0f, CompactAI.Cuda.Kernels.DeviceMath.Exp(float.NegativeInfinity));
        Assert.True(float.IsNaN(CompactAI.Cuda.Kernels.DeviceMath.Exp(float.NaN)));
    }

    [Fact]
    public void Tanh_MatchesMathTanh()
    {
        for (double x = -12; x <= 12; x += 0.00731)
        {
            double expected = Math.Tanh((float)x), actual = CompactAI.Cuda.Kernels.DeviceMath.Tanh((float)x);
            Assert.True(Math.Abs(actual - expected) <= 3e-7 * Math.Abs(expected) + 1e-12, $"tanh({(float)x}) = {actual}, expected {expected}");
        }
        Assert.Equal(1e-20f, CompactAI.Cuda.Kernels.DeviceMath.Tanh(1e-20f));
    }
}
