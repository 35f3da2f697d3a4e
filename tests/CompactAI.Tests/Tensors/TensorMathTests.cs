using CompactAI.Tensors;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// <see cref="TensorMath"/> against scalar double-precision references at every length 0…130 and a few large ones,
/// with edge values (NaN, ±∞, −0), in-place use, and the argument checks at the entry.
/// </summary>
public sealed class TensorMathTests
{
    private static readonly int[] Large = [255, 256, 257, 1000, 4099];

    public static IEnumerable<object[]> Lengths() => Enumerable.Range(0, 131).Concat(Large).Select(n => new object[] { n });

    private static float[] Random(int n, int seed, float scale = 4)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>|actual − expected| ≤ abs + rel·|expected|, with NaN matching NaN and infinities matching exactly.</summary>
    private static void Close(double expected, float actual, double rel = 1e-5, double abs = 1e-6, string? what = null)
    {
        if (double.IsNaN(expected)) { Assert.True(float.IsNaN(actual), $"{what}: expected NaN, got {actual}"); return; }
        if (double.IsInfinity(expected)) { Assert.Equal(expected, actual); return; }
        Assert.True(Math.Abs(actual - expected) <= abs + rel * Math.Abs(expected), $"{what}: expected {expected:R}, got {actual:R}");
    }

    // ---- Dot and cosine similarity -------------------------------------------------------------------------------

    [Theory, MemberData(nameof(Lengths))]
    public void DotMatchesTheScalarReference(int n)
    {
        var x = Random(n, n);
        var y = Random(n, n + 1000);
        double expected = 0, magnitude = 0;
        for (int i = 0; i < n; i++) { expected += (double)x[i] * y[i]; magnitude += Math.Abs((double)x[i] * y[i]); }
        // Float accumulation in a different order: the error is relative to Σ|x·y|, not to the (possibly cancelling) sum.
        Close(expected, TensorMath.Dot(x, y), rel: 0, abs: 1e-6 * (magnitude + 1));
    }

    [Theory, MemberData(nameof(Lengths))]
    public void CosineSimilarityMatchesTheScalarReference(int n)
    {
        var x = Random(n, n);
        var y = Random(n, n + 7);
        if (n == 0) { Assert.True(float.IsNaN(TensorMath.CosineSimilarity(x, y))); return; }
        double dot = 0, xx = 0, yy = 0;
        for (int i = 0; i < n; i++) { dot += (double)x[i] * y[i]; xx += (double)x[i] * x[i]; yy += (double)y[i] * y[i]; }
        float actual = TensorMath.CosineSimilarity(x, y);
        Close(dot / (Math.Sqrt(xx) * Math.Sqrt(yy)), actual, rel: 0, abs: 1e-5);
        Close(1.0, TensorMath.CosineSimilarity(x, x), rel: 0, abs: 1e-5);
        Assert.InRange(actual, -1.00001f, 1.00001f);
    }

    [Fact]
    public void DotAndCosineEdgeValues()
    {
        Assert.True(float.IsNaN(TensorMath.Dot([1, float.NaN, 2], [1, 1, 1])));
        Assert.Equal(float.PositiveInfinity, TensorMath.Dot([1, float.PositiveInfinity], [1, 2]));
        Assert.True(float.IsNaN(TensorMath.Dot([float.PositiveInfinity], [0])));
        Assert.Equal(0f, TensorMath.Dot([-0f], [1f]));
        Assert.True(float.IsNaN(TensorMath.CosineSimilarity([0, 0, 0], [1, 2, 3]))); // undefined angle
        Assert.Equal(-1f, TensorMath.CosineSimilarity([1, 2, 3], [-2, -4, -6]), 6);
    }

    [Fact]
    public void DotAndCosineRejectMismatchedLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => TensorMath.Dot(new float[3], new float[4]));
        Assert.Equal("y", e.ParamName);
        Assert.Contains("'x'", e.Message);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => TensorMath.CosineSimilarity(new float[3], new float[2])).ParamName);
    }

    // ---- Softmax, log-softmax, log-sum-exp -----------------------------------------------------------------------

    private static double[] SoftmaxReference(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        var r = new double[x.Length];
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += r[i] = Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) r[i] /= sum;
        return r;
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SoftmaxMatchesTheScalarReferenceOutOfPlaceAndInPlace(int n)
    {
        var x = Random(n, n, scale: 20);
        var expected = SoftmaxReference(x);
        var dst = new float[n + 3];
        dst.AsSpan(n).Fill(42);
        TensorMath.Softmax(x, dst);
        for (int i = 0; i < n; i++) Close(expected[i], dst[i], rel: 1e-5, abs: 1e-9, what: $"p[{i}]");
        Assert.All(dst[n..], v => Assert.Equal(42, v)); // only x.Length elements are written
        if (n > 0) Close(1.0, (float)dst.Take(n).Sum(v => (double)v), rel: 0, abs: 1e-5);

        TensorMath.Softmax(x.AsSpan());
        Assert.Equal(dst[..n], x);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void LogSoftmaxAndLogSumExpMatchTheScalarReference(int n)
    {
        var x = Random(n, n + 3, scale: 30);
        double max = double.NegativeInfinity, sum = 0;
        foreach (float v in x) max = Math.Max(max, v);
        foreach (float v in x) sum += Math.Exp(v - max);
        double lse = n == 0 ? double.NegativeInfinity : max + Math.Log(sum);
        Close(lse, TensorMath.LogSumExp(x), rel: 1e-6, abs: 1e-6);

        var dst = new float[n];
        TensorMath.LogSoftmax(x, dst);
        for (int i = 0; i < n; i++) Close(x[i] - lse, dst[i], rel: 1e-6, abs: 2e-5, what: $"logp[{i}]");
        TensorMath.LogSoftmax(x, x); // in place
        Assert.Equal(dst, x);
    }

    [Fact]
    public void SoftmaxEdgeValues()
    {
        // −∞ masks an entry; huge logits do not overflow.
        var p = new float[4];
        TensorMath.Softmax([float.NegativeInfinity, 1000, 1000, float.NegativeInfinity], p);
        Assert.Equal([0f, 0.5f, 0.5f, 0f], p);
        // +∞ entries share the mass.
        TensorMath.Softmax([float.PositiveInfinity, 3, float.PositiveInfinity, float.NegativeInfinity], p);
        Assert.Equal([0.5f, 0f, 0.5f, 0f], p);
        // NaN, or nothing but −∞, is undefined: all NaN.
        TensorMath.Softmax([1, float.NaN, 2, 3], p);
        Assert.All(p, v => Assert.True(float.IsNaN(v)));
        TensorMath.Softmax([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], p);
        Assert.All(p, v => Assert.True(float.IsNaN(v)));
        // −0 and +0 are the same logit.
        var z = new float[2];
        TensorMath.Softmax([-0f, 0f], z);
        Assert.Equal([0.5f, 0.5f], z);
        var one = new float[1];
        TensorMath.Softmax([-12345f], one);
        Assert.Equal(1f, one[0]);
    }

    [Fact]
    public void LogSumExpAndLogSoftmaxEdgeValues()
    {
        Assert.Equal(float.NegativeInfinity, TensorMath.LogSumExp([]));
        Assert.Equal(float.NegativeInfinity, TensorMath.LogSumExp([float.NegativeInfinity, float.NegativeInfinity]));
        Assert.Equal(float.PositiveInfinity, TensorMath.LogSumExp([1, float.PositiveInfinity]));
        Assert.True(float.IsNaN(TensorMath.LogSumExp([1, float.NaN])));
        Assert.Equal(1000f + MathF.Log(2), TensorMath.LogSumExp([1000, 1000]), 3);
        Assert.Equal(MathF.Log(2), TensorMath.LogSumExp([-0f, 0f]), 6);

        var d = new float[3];
        TensorMath.LogSoftmax([float.NegativeInfinity, 0, 0], d);
        Assert.Equal(float.NegativeInfinity, d[0]);
        Assert.Equal(-MathF.Log(2), d[1], 6);
        TensorMath.LogSoftmax([1, float.PositiveInfinity, 0], d);
        Assert.All(d, v => Assert.True(float.IsNaN(v)));
    }

    // ---- RMS norm --------------------------------------------------------------------------------------------------

    [Theory, MemberData(nameof(Lengths))]
    public void RmsNormMatchesTheScalarReferenceOutOfPlaceAndInPlace(int n)
    {
        var x = Random(n, n, scale: 3);
        var gain = Random(n, n + 11, scale: 2);
        const float eps = 1e-5f;
        double ms = 0;
        foreach (float v in x) ms += (double)v * v;
        double scale = 1 / Math.Sqrt(ms / Math.Max(1, n) + eps);
        var dst = new float[n];
        TensorMath.RmsNorm(x, gain, eps, dst);
        for (int i = 0; i < n; i++) Close(x[i] * scale * gain[i], dst[i], rel: 1e-5, abs: 1e-6, what: $"y[{i}]");
        TensorMath.RmsNorm(x, gain, eps, x);
        Assert.Equal(dst, x);
    }

    [Fact]
    public void RmsNormEdgeValues()
    {
        var d = new float[3];
        TensorMath.RmsNorm([0, -0f, 0], [1, 1, 1], 1e-5f, d); // all zeros stay zeros (ε keeps the scale finite)
        Assert.Equal([0f, -0f, 0f], d);
        Assert.True(float.IsNegative(d[1]));
        TensorMath.RmsNorm([1, float.NaN, 1], [1, 1, 1], 1e-5f, d);
        Assert.All(d, v => Assert.True(float.IsNaN(v)));
        TensorMath.RmsNorm([3, 4, 0], [1, 1, 1], 0, d); // ε = 0 allowed: rms = √(25/3)
        Close(3 / Math.Sqrt(25.0 / 3), d[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.RmsNorm(new float[2], new float[2], -1, new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.RmsNorm(new float[2], new float[2], float.NaN, new float[2]));
        Assert.Equal("gain", Assert.Throws<ArgumentException>(() => TensorMath.RmsNorm(new float[4], new float[3], 1e-5f, new float[4])).ParamName);
        var shared = new float[4];
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => TensorMath.RmsNorm(new float[4], shared, 1e-5f, shared)).ParamName);
    }

    // ---- Activations ---------------------------------------------------------------------------------------------

    public static IEnumerable<object[]> Activations() =>
    [
        ["silu", (Func<double, double>)(v => v / (1 + Math.Exp(-v)))],
        ["gelu", (Func<double, double>)(v => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))))],
        ["softcap", (Func<double, double>)(v => 30 * Math.Tanh(v / 30))],
    ];

    private static void Apply(string op, ReadOnlySpan<float> x, Span<float> dst)
    {
        switch (op)
        {
            case "silu": TensorMath.Silu(x, dst); break;
            case "gelu": TensorMath.GeluTanh(x, dst); break;
            case "softcap": TensorMath.Softcap(x, 30, dst); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    [Theory, MemberData(nameof(Activations))]
    public void ActivationsMatchTheScalarReferenceAtEveryLength(string op, Func<double, double> reference)
    {
        foreach (int n in Enumerable.Range(0, 131).Concat(Large))
        {
            var x = Random(n, n, scale: 12);
            var dst = new float[n];
            Apply(op, x, dst);
            for (int i = 0; i < n; i++) Close(reference(x[i]), dst[i], rel: 1e-5, abs: 1e-6, what: $"{op}({x[i]}) n={n}");
            Apply(op, x, x);
            Assert.Equal(dst, x);
        }
    }

    [Fact]
    public void ActivationEdgeValues()
    {
        var d = new float[5];
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f];
        TensorMath.Silu(x, d);
        Assert.True(float.IsNaN(d[0]));
        Assert.Equal(float.PositiveInfinity, d[1]);
        Assert.True(float.IsNaN(d[2])); // −∞/(1+∞) in the x/(1+e^−x) form the engine uses (documented)
        Assert.True(float.IsNegative(d[3]) && d[3] == 0);
        TensorMath.Softcap(x, 50, d);
        Assert.True(float.IsNaN(d[0]));
        Assert.Equal([50f, -50f], d[1..3]);
        Assert.True(float.IsNegative(d[3]) && d[3] == 0);
        TensorMath.GeluTanh(x, d);
        Assert.True(float.IsNaN(d[0]));
        Assert.True(float.IsNegative(d[3]) && d[3] == 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.Softcap(new float[1], 0, new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.Softcap(new float[1], float.PositiveInfinity, new float[1]));
    }

    [Theory, MemberData(nameof(Lengths))]
    public void RoundToHalfEqualsTheHalfConversion(int n)
    {
        var x = Random(n, n, scale: 70000); // includes values beyond Half.MaxValue
        if (n > 4) { x[0] = float.NaN; x[1] = -0f; x[2] = 1e-8f; x[3] = float.NegativeInfinity; }
        var dst = new float[n];
        TensorMath.RoundToHalf(x, dst);
        for (int i = 0; i < n; i++) Assert.Equal(BitConverter.SingleToInt32Bits((float)(Half)x[i]), BitConverter.SingleToInt32Bits(dst[i]) | (float.IsNaN(dst[i]) ? 0 : 0));
        TensorMath.RoundToHalf(x, x);
        Assert.Equal(dst, x);
    }

    // ---- Argument checks shared by the element-wise operations -------------------------------------------------

    public static IEnumerable<object[]> UnaryOps() => new[] { "silu", "gelu", "softcap", "softmax", "logsoftmax", "half" }.Select(s => new object[] { s });

    private static void Unary(string op, ReadOnlySpan<float> x, Span<float> dst)
    {
        switch (op)
        {
            case "softmax": TensorMath.Softmax(x, dst); break;
            case "logsoftmax": TensorMath.LogSoftmax(x, dst); break;
            case "half": TensorMath.RoundToHalf(x, dst); break;
            default: Apply(op, x, dst); break;
        }
    }

    [Theory, MemberData(nameof(UnaryOps))]
    public void ATooShortOrPartiallyOverlappingDestinationThrows(string op)
    {
        var e = Assert.Throws<ArgumentException>(() => Unary(op, new float[8], new float[7]));
        Assert.Equal("destination", e.ParamName);
        var buffer = new float[16];
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => Unary(op, buffer.AsSpan(0, 8), buffer.AsSpan(1, 8))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => Unary(op, buffer.AsSpan(2, 8), buffer.AsSpan(0, 8))).ParamName);
        Unary(op, buffer.AsSpan(0, 8), buffer.AsSpan(8, 8)); // adjacent, not overlapping
        Unary(op, [], []);
        Assert.Throws<ArgumentException>(() => TensorMath.RmsNorm(new float[8], new float[8], 1e-5f, new float[7]));
    }

    // ---- Top-k --------------------------------------------------------------------------------------------------

    private static int[] TopKReference(float[] values, int k) =>
        // float.CompareTo orders NaN below every number and −0 equal to +0; OrderByDescending is stable (ties: lower index).
        Enumerable.Range(0, values.Length).OrderByDescending(i => values[i], Comparer<float>.Create((a, b) => a.CompareTo(b))).Take(k).ToArray();

    [Theory, MemberData(nameof(Lengths))]
    public void TopKEqualsAStableDescendingSort(int n)
    {
        var rng = new Random(n);
        // Few distinct values, so ties are common; some NaN, ±∞ and −0 mixed in.
        var values = new float[n];
        for (int i = 0; i < n; i++)
            values[i] = rng.Next(12) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, 3 => -0f, 4 => 0f, var v => v % 5 - 2 };
        foreach (int k in new[] { 0, 1, 2, 5, 40, n / 2, n - 1, n }.Where(k => k >= 0 && k <= n).Distinct())
        {
            var idx = new int[k + 2];
            var top = new float[k + 2];
            idx[k] = idx[k + 1] = -7;
            TensorMath.TopK(values, k, idx, top);
            var expected = TopKReference(values, k);
            Assert.Equal(expected, idx[..k]);
            for (int j = 0; j < k; j++) Assert.Equal(values[expected[j]], top[j]);
            Assert.Equal(-7, idx[k]); // only k elements written
        }
    }

    [Fact]
    public void TopKOnALargeRandomVocabulary()
    {
        var values = Random(150_000, 5, scale: 10);
        var idx = new int[50];
        var top = new float[50];
        TensorMath.TopK(values, 50, idx, top);
        Assert.Equal(TopKReference(values, 50), idx);
    }

    [Fact]
    public void TopKRejectsBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.TopK(new float[3], 4, new int[4], new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.TopK(new float[3], -1, new int[4], new float[4]));
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => TensorMath.TopK(new float[3], 2, new int[1], new float[2])).ParamName);
        Assert.Equal("topValues", Assert.Throws<ArgumentException>(() => TensorMath.TopK(new float[3], 2, new int[2], new float[1])).ParamName);
    }

    // ---- Quantized rows -----------------------------------------------------------------------------------------

    /// <summary>
    /// Each format's round-trip bound, as a fraction of the largest |x| in the block (or, for float formats, of |x|
    /// itself): half a quantization step of the format's grid, with room for the scale being rounded to f16 and, for
    /// K-quants, for the sub-block scales being quantized too.
    /// </summary>
    public static IEnumerable<object[]> QuantFormats() =>
    [
        [GgmlType.F32, 0.0], [GgmlType.F16, 1.0 / 2048], [GgmlType.BF16, 1.0 / 256],
        [GgmlType.Q8_0, 1.0 / 127], [GgmlType.Q8_1, 1.0 / 127], [GgmlType.Q8_K, 1.0 / 127],
        [GgmlType.Q5_0, 1.0 / 16], [GgmlType.Q5_1, 1.0 / 16], [GgmlType.Q4_0, 1.0 / 8], [GgmlType.Q4_1, 1.0 / 8],
        [GgmlType.Q6_K, 1.0 / 32], [GgmlType.Q5_K, 1.0 / 16], [GgmlType.Q4_K, 1.0 / 8], [GgmlType.Q3_K, 1.0 / 4], [GgmlType.Q2_K, 1.0 / 2],
    ];

    [Theory, MemberData(nameof(QuantFormats))]
    public void QuantizeDequantizeRoundTripsWithinTheFormatsBound(GgmlType type, double bound)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        foreach (int blocks in new[] { 0, 1, 2, 3, 8 })
        {
            int n = blocks * Math.Max(block, 32);
            var x = Random(n, n + (int)type, scale: 3);
            int bytes = TensorMath.RowBytes(type, n);
            Assert.Equal(GgmlTypeInfo.RowBytes(type, n), bytes);
            var q = new byte[bytes + 5];
            TensorMath.QuantizeRow(x, type, q);
            var y = new float[n];
            TensorMath.DequantizeRow(q, type, y);
            for (int b = 0; b < n; b += block)
            {
                double amax = 0;
                for (int i = b; i < b + block; i++) amax = Math.Max(amax, Math.Abs(x[i]));
                for (int i = b; i < b + block; i++)
                {
                    double limit = block == 1 ? bound * Math.Abs(x[i]) : bound * amax * 1.01;
                    Assert.True(Math.Abs(y[i] - x[i]) <= limit, $"{type} [{i}]: {x[i]} came back as {y[i]} (limit {limit})");
                }
            }
            // The engine's own format gives the same bytes: one implementation.
            var viaFormat = new byte[bytes];
            if (n > 0) TensorFormat.For(type).Quantize(x, viaFormat);
            Assert.Equal(viaFormat, q[..bytes]);
        }
    }

    [Fact]
    public void QuantizedRowsRejectBadArguments()
    {
        var e = Assert.Throws<ArgumentException>(() => TensorMath.QuantizeRow(new float[33], GgmlType.Q8_0, new byte[100]));
        Assert.Equal("source", e.ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => TensorMath.QuantizeRow(new float[64], GgmlType.Q8_0, new byte[67])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => TensorMath.DequantizeRow(new byte[100], GgmlType.Q4_K, new float[255])).ParamName);
        Assert.Equal("source", Assert.Throws<ArgumentException>(() => TensorMath.DequantizeRow(new byte[143], GgmlType.Q4_K, new float[256])).ParamName);
        Assert.Throws<NotSupportedException>(() => TensorMath.QuantizeRow(new float[256], GgmlType.IQ2_XXS, new byte[1000]));
        Assert.Throws<NotSupportedException>(() => TensorMath.DequantizeRow(new byte[1000], GgmlType.IQ2_XXS, new float[256]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorMath.RowBytes((GgmlType)77, 32));
        Assert.Throws<ArgumentException>(() => TensorMath.RowBytes(GgmlType.Q6_K, 100));
        Assert.Equal(34 * 4, TensorMath.RowBytes(GgmlType.Q8_0, 128));
    }
}
