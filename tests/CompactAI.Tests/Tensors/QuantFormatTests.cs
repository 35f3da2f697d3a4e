using CompactAI.Tensors;
using CompactAI.Tensors.Formats;
using CompactAI.Threading;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// Per-format properties of the quantized formats: round-trip error bounds, Dot against the dequantized maths, SIMD kernels
/// against the portable ones, and degenerate inputs. Run with <c>DOTNET_EnableAVX2=0</c> (or <c>DOTNET_EnableAVXVNNI=0</c>)
/// to exercise the other instruction-set tiers.
/// </summary>
public sealed class QuantFormatTests
{
    /// <summary>
    /// Upper bounds on rmse / rms for unit Gaussian data, about 1.3× the values measured with the llama.cpp-exact quantizers
    /// (Q8_0 0.0055, Q6_K 0.018, Q5_K 0.037, Q5_1 0.039, Q5_0 0.044, Q4_K 0.073, Q4_1 0.081, Q4_0 0.088, Q3_K 0.153, Q2_K 0.296).
    /// They match the formats' step sizes: 8-bit blocks are off by half a step of max/127 (≈ 0.55% of rms for a 32-block), and
    /// each bit fewer roughly doubles that; the K-quants' fitted scales and mins do better than the plain formats of equal bits.
    /// </summary>
    public static TheoryData<GgmlType, double> ErrorBounds() => new()
    {
        { GgmlType.Q8_0, 0.007 }, { GgmlType.Q8_1, 0.007 }, { GgmlType.Q8_K, 0.009 },
        { GgmlType.Q6_K, 0.024 }, { GgmlType.Q5_0, 0.058 }, { GgmlType.Q5_1, 0.052 }, { GgmlType.Q5_K, 0.048 },
        { GgmlType.Q4_0, 0.115 }, { GgmlType.Q4_1, 0.105 }, { GgmlType.Q4_K, 0.095 },
        { GgmlType.Q3_K, 0.20 }, { GgmlType.Q2_K, 0.38 },
    };

    public static TheoryData<GgmlType> QuantizedTypes() => new()
    {
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q8_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K,
    };

    /// <summary>The formats with a dedicated SIMD kernel and a portable one to check it against.</summary>
    public static TheoryData<GgmlType> SimdTypes() => new()
    {
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q8_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K,
    };

    internal static float[] Gaussian(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return x;
    }

    private static byte[] Quantize(TensorFormat f, float[] x)
    {
        var q = new byte[f.RowBytes(x.Length)];
        f.Quantize(x, q);
        return q;
    }

    private static float[] Dequantize(TensorFormat f, byte[] q, int n)
    {
        var y = new float[n];
        f.Dequantize(q, y);
        return y;
    }

    [Theory]
    [MemberData(nameof(ErrorBounds))]
    public void RoundTrip_ErrorWithinFormatBound(GgmlType type, double bound)
    {
        var f = TensorFormat.For(type);
        var x = Gaussian(16 * 256, seed: 1);
        var y = Dequantize(f, Quantize(f, x), x.Length);
        double se = 0, ss = 0;
        for (int i = 0; i < x.Length; i++)
        {
            se += (double)(y[i] - x[i]) * (y[i] - x[i]);
            ss += (double)x[i] * x[i];
        }
        double relRmse = Math.Sqrt(se / ss);
        Assert.True(relRmse <= bound, $"{type}: rmse/rms {relRmse:F5} exceeds {bound}");
        // A bound far above the measured error would not catch regressions either.
        Assert.True(relRmse >= bound / 2, $"{type}: rmse/rms {relRmse:F5} is implausibly far below the bound {bound}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 1.0 / 254)]
    [InlineData(GgmlType.Q4_0, 1.0 / 8)]
    [InlineData(GgmlType.Q5_0, 1.0 / 16)]
    [InlineData(GgmlType.Q4_1, 1.0 / 15)]
    [InlineData(GgmlType.Q5_1, 1.0 / 31)]
    public void RoundTrip_PerElementErrorWithinStep(GgmlType type, double stepOfMax)
    {
        // Q8_0: half a step of max/127. Q4_0/Q5_0: the largest magnitude maps to −8 (−16) exactly, so the opposite extreme is
        // clipped by at most one step max/8 (max/16). Q4_1/Q5_1: half a step of (max − min)/15 (31) ≤ 2·amax/30 (62).
        var f = TensorFormat.For(type);
        var x = Gaussian(64 * 32, seed: 2, scale: 3);
        var y = Dequantize(f, Quantize(f, x), x.Length);
        for (int b = 0; b < x.Length / 32; b++)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(x[32 * b + i]));
            double limit = amax * (stepOfMax + 1.0 / 512) + 1e-6; // + f16 rounding of d and m (2⁻¹¹ relative, times up to 127 steps)
            for (int i = 32 * b; i < 32 * b + 32; i++)
            {
                Assert.True(Math.Abs(y[i] - x[i]) <= limit, $"{type}[{i}]: {x[i]} -> {y[i]}, limit {limit}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void Dot_EqualsDotOfDequantizedRows(GgmlType type)
    {
        var f = TensorFormat.For(type);
        var act = TensorFormat.For(f.ActivationType);
        foreach (int blocks in new[] { 1, 3, 8 })
        {
            int n = blocks * f.BlockSize;
            var w = Quantize(f, Gaussian(n, seed: 10 + blocks));
            var x = Gaussian(n, seed: 20 + blocks, scale: 2);
            var a = Quantize(act, x);
            var wd = Dequantize(f, w, n);
            var ad = Dequantize(act, a, n);
            double exact = 0, magnitude = 0, unquantized = 0, unquantizedMagnitude = 0;
            for (int i = 0; i < n; i++)
            {
                exact += (double)wd[i] * ad[i];
                magnitude += Math.Abs((double)wd[i] * ad[i]);
                unquantized += (double)wd[i] * x[i];
                unquantizedMagnitude += Math.Abs((double)wd[i] * x[i]);
            }
            float dot = f.Dot(w, a, n);
            // Q8_1 keeps s = d·Σq as f16, so the min term of Q4_1/Q5_1 carries a 2⁻¹¹ relative rounding.
            double tol = (f.ActivationType == GgmlType.Q8_1 && type != GgmlType.Q8_1 ? 1e-3 : 2e-5) * magnitude;
            Assert.True(Math.Abs(dot - exact) <= tol, $"{type} n={n}: Dot {dot}, dequantized dot {exact}, tolerance {tol}");
            // Against the float activations: only the activation quantization error (about 1/127 per element, random signs).
            Assert.True(Math.Abs(dot - unquantized) <= 0.01 * unquantizedMagnitude, $"{type} n={n}: Dot {dot}, float dot {unquantized}");
        }
    }

    private static Func<byte[], byte[], int, float> Portable(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => (w, a, n) => Q4_0Format.DotPortable(w, a, n),
        GgmlType.Q4_1 => (w, a, n) => Q4_1Format.DotPortable(w, a, n),
        GgmlType.Q5_0 => (w, a, n) => Q5_0Format.DotPortable(w, a, n),
        GgmlType.Q5_1 => (w, a, n) => Q5_1Format.DotPortable(w, a, n),
        GgmlType.Q8_0 => (w, a, n) => Q8_0Format.DotPortable(w, a, n),
        GgmlType.Q8_1 => (w, a, n) => Q8_1Format.DotPortable(w, a, n),
        GgmlType.Q2_K => (w, a, n) => Q2_KFormat.DotPortable(w, a, n),
        GgmlType.Q3_K => (w, a, n) => Q3_KFormat.DotPortable(w, a, n),
        GgmlType.Q4_K => (w, a, n) => Q4_KFormat.DotPortable(w, a, n),
        GgmlType.Q5_K => (w, a, n) => Q5_KFormat.DotPortable(w, a, n),
        GgmlType.Q6_K => (w, a, n) => Q6_KFormat.DotPortable(w, a, n),
        GgmlType.Q8_K => (w, a, n) => Q8_KFormat.DotPortable(w, a, n),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    [Theory]
    [MemberData(nameof(SimdTypes))]
    public void Dot_SimdMatchesPortable_ForOneToEightBlocks(GgmlType type)
    {
        var f = TensorFormat.For(type);
        var act = TensorFormat.For(f.ActivationType);
        var portable = Portable(type);
        for (int blocks = 1; blocks <= 8; blocks++)
        {
            int n = blocks * f.BlockSize;
            // Offset a sub-range of the weights so the kernels also see rows that start at odd addresses.
            var wAll = Quantize(f, Gaussian(n + f.BlockSize, seed: 100 + blocks, scale: 0.05f));
            var w = wAll.AsSpan(f.BlockBytes).ToArray();
            var a = Quantize(act, Gaussian(n, seed: 200 + blocks));
            float simd = f.Dot(w, a, n), reference = portable(w, a, n);
            // Integer block sums are exact in both; only the float accumulation order differs.
            var wd = Dequantize(f, w, n);
            var ad = Dequantize(act, a, n);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs((double)wd[i] * ad[i]);
            Assert.True(Math.Abs(simd - reference) <= 1e-5 * magnitude, $"{type} blocks={blocks}: SIMD {simd}, portable {reference}");
        }
    }

    private delegate void Quantizer(ReadOnlySpan<float> src, Span<byte> dst);

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_1)]
    [InlineData(GgmlType.Q8_K)]
    public void ActivationQuantize_VectorMatchesScalarBytes_IncludingTies(GgmlType type)
    {
        var f = TensorFormat.For(type);
        Quantizer scalar = type switch
        {
            GgmlType.Q8_0 => Q8_0Format.QuantizePortable,
            GgmlType.Q8_1 => Q8_1Format.QuantizePortable,
            _ => Q8_KFormat.QuantizePortable,
        };
        int n = 4 * 256;
        var inputs = new List<float[]> { Gaussian(n, 40), Gaussian(n, 41, 1e-3f), Gaussian(n, 42, 3e4f), new float[n] };
        // Scale 1 (block max ±127): x·scale is exact, so halves reach the rounding: roundf sends them away from zero,
        // nearest_int to even; 0.49999997 must round to 0 either way.
        var ties = new float[n];
        for (int i = 0; i < n; i++)
        {
            ties[i] = (i % 32) switch
            {
                0 => (i / 32) % 2 == 0 ? 127f : -127f,
                1 => 0.49999997f,
                2 => -0.49999997f,
                _ => ((i * 7) % 253 - 126) + ((i % 3) == 0 ? 0.5f : (i % 3) == 1 ? -0.5f : 0.25f),
            };
        }
        inputs.Add(ties);
        foreach (var x in inputs)
        {
            var vector = new byte[f.RowBytes(n)];
            var reference = new byte[f.RowBytes(n)];
            f.Quantize(x, vector);
            scalar(x, reference);
            Assert.Equal(reference, vector);
        }
    }

    [Fact]
    public void Int8Dot_MatchesScalar_ForAllLengthsAndExtremes()
    {
        var rng = new Random(5);
        for (int n = 0; n <= 100; n++)
        {
            var a = new sbyte[n];
            var b = new sbyte[n];
            for (int i = 0; i < n; i++)
            {
                a[i] = (sbyte)rng.Next(-127, 128);
                b[i] = i % 5 == 0 ? (sbyte)-128 : (sbyte)rng.Next(-127, 128);
            }
            if (n > 3) { a[1] = 127; b[1] = 127; a[2] = -127; b[2] = 127; }
            int expected = 0;
            for (int i = 0; i < n; i++) expected += a[i] * b[i];
            Assert.Equal(expected, Int8Dot.Dot(a, b));
        }
    }

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void ZeroBlocks_QuantizeToZeroAndDotToZero(GgmlType type)
    {
        var f = TensorFormat.For(type);
        var act = TensorFormat.For(f.ActivationType);
        int n = 2 * Math.Max(f.BlockSize, act.BlockSize);
        var zeros = new float[n];
        var q = Quantize(f, zeros);
        Assert.All(Dequantize(f, q, n), v => Assert.Equal(0f, v));
        var a = Quantize(act, Gaussian(n, seed: 3));
        Assert.Equal(0f, f.Dot(q, a, n));
        var w = Quantize(f, Gaussian(n, seed: 4));
        Assert.Equal(0f, f.Dot(w, Quantize(act, zeros), n));
    }

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void ExtremeValues_DoNotProduceNaN(GgmlType type)
    {
        var f = TensorFormat.For(type);
        var act = TensorFormat.For(f.ActivationType);
        int n = 4 * Math.Max(f.BlockSize, act.BlockSize);
        var cases = new List<float[]>
        {
            Gaussian(n, seed: 6, scale: 10000f),          // large, still within f16 range for the block scales
            Gaussian(n, seed: 7, scale: 1e-10f),          // tiny: block scales underflow f16
            Gaussian(n, seed: 8, scale: 1e-30f),          // below the K-quants' all-zero threshold
            Enumerable.Range(0, n).Select(i => i % 37 == 0 ? 30000f : 1e-6f).ToArray(), // one spike per block
            Enumerable.Range(0, n).Select(i => -1234.5f).ToArray(),                     // constant blocks
        };
        var a = Quantize(act, Gaussian(n, seed: 9));
        foreach (var x in cases)
        {
            var q = Quantize(f, x);
            var y = Dequantize(f, q, n);
            Assert.All(y, v => Assert.True(float.IsFinite(v), $"{type}: dequantized {v}"));
            float dot = f.Dot(q, a, n);
            Assert.True(float.IsFinite(dot), $"{type}: Dot {dot}");
            var ax = Quantize(act, x);
            Assert.All(Dequantize(act, ax, n), v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public void Q4_0_HandBuiltBlock_FollowsTheSpec()
    {
        // d = 0.5 (f16 0x3800); byte j = element j (low nibble) and j + 16 (high nibble); w = d·(q − 8).
        var block = new byte[18];
        block[0] = 0x00; block[1] = 0x38;
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];
        TensorFormat.For(GgmlType.Q4_0).Dequantize(block, y);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal(0.5f * (j - 8), y[j]);
            Assert.Equal(0.5f * (15 - j - 8), y[j + 16]);
        }
    }

    [Fact]
    public void Q4_K_HandBuiltBlock_FollowsTheSpec()
    {
        // Scales 1..8 and mins 10..17 (6 bits; sub-blocks 4-7 split into the high bits of bytes 0-7 and the nibbles of 8-11),
        // d = 1, dmin = 0.5, every nibble = its position mod 16.
        var block = new byte[144];
        BitConverter.TryWriteBytes(block.AsSpan(0), (Half)1f);
        BitConverter.TryWriteBytes(block.AsSpan(2), (Half)0.5f);
        byte[] sc = [1, 2, 3, 40, 5, 6, 7, 63], mn = [10, 11, 12, 13, 14, 15, 16, 17];
        KQuantMath.PackScaleMinK4(sc, mn, block.AsSpan(4, 12));
        Assert.Equal(40 & 63, block[4 + 3] & 63);
        Assert.Equal((63 & 0xF) | ((17 & 0xF) << 4), block[4 + 11]);
        for (int i = 0; i < 128; i++) block[16 + i] = (byte)((i & 0xF) | (((i + 1) & 0xF) << 4));
        var y = new float[256];
        TensorFormat.For(GgmlType.Q4_K).Dequantize(block, y);
        for (int e = 0; e < 256; e++)
        {
            int chunk = e / 64, l = e % 32, j = e / 32;
            int byteIndex = 32 * chunk + l;
            int q = e % 64 < 32 ? byteIndex & 0xF : (byteIndex + 1) & 0xF;
            Assert.Equal(1f * sc[j] * q - 0.5f * mn[j], y[e]);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public unsafe void MatMul_QuantizesActivationsOnceAndMatchesDequantizedProduct(GgmlType type)
    {
        var f = TensorFormat.For(type);
        int rows = 7, cols = 512, batch = 3;
        var wq = Quantize(f, Gaussian(rows * cols, seed: 30));
        var wd = Dequantize(f, wq, rows * cols);
        var x = Gaussian(batch * cols, seed: 31);
        var y = new float[batch * rows];
        using var pool = new WorkerPool(2);
        var mm = new MatMul(pool);
        fixed (byte* p = wq) mm.Compute(new WeightMatrix(p, rows, cols, f), x, batch, y);
        for (int b = 0; b < batch; b++)
        {
            for (int r = 0; r < rows; r++)
            {
                double expected = 0, magnitude = 0;
                for (int c = 0; c < cols; c++)
                {
                    expected += (double)wd[r * cols + c] * x[b * cols + c];
                    magnitude += Math.Abs((double)wd[r * cols + c] * x[b * cols + c]);
                }
                Assert.True(Math.Abs(y[b * rows + r] - expected) <= 0.01 * magnitude, $"{type} y[{b},{r}] = {y[b * rows + r]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void UnsupportedType_IsNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => TensorFormat.For(GgmlType.IQ2_XXS));
        Assert.Contains("IQ2_XXS", e.Message);
    }

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void ActivationType_PairsAsLlamaCpp(GgmlType type)
    {
        var expected = type switch
        {
            GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => GgmlType.Q8_0,
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q8_1 => GgmlType.Q8_1,
            _ => GgmlType.Q8_K,
        };
        Assert.Equal(expected, TensorFormat.For(type).ActivationType);
    }
}
