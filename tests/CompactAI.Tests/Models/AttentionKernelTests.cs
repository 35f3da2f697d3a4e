using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Tests.Tensors;

namespace CompactAI.Tests.Models;

/// <summary>
/// The native attention row (<c>cai_attend_f16acc</c>) against the managed loop it replaces, and both against the
/// definition: softmax(q·Kᵀ·scale)·V computed in double precision, which the F16 running sum approximates to half precision.
/// </summary>
public sealed class AttentionKernelTests
{
    public static TheoryData<int, int, int, int, float> Shapes() => new()
    {
        // head dim, value dim, first position, positions, soft-cap
        { 64, 64, 0, 1, 0f },
        { 64, 64, 0, 200, 0f },
        { 128, 128, 37, 300, 0f },
        { 64, 64, 0, 90, 50f },   // Gemma 2's attention soft-cap
        { 20, 12, 3, 40, 0f },    // dimensions that are not multiples of eight: the scalar tails
        { 256, 256, 0, 64, 0f },
    };

    [NativeTheory]
    [MemberData(nameof(Shapes))]
    public void NativeRowEqualsManagedRowBitForBit(int hd, int vd, int first, int len, float softcap)
    {
        var (q, keys, values) = RandomHead(hd, vd, len, seed: hd * 1000 + len);
        float scale = 1 / MathF.Sqrt(hd);
        var managed = new float[vd];
        var native = new float[vd];
        Attention.AttendManaged(q, keys, values, first, len, scale, softcap, new float[vd], managed);
        Attention.AttendNative(q, keys, values, first, len, scale, softcap, new float[vd], native);
        for (int i = 0; i < vd; i++) Assert.True(managed[i] == native[i], $"[{i}] native {native[i]} vs managed {managed[i]}");
    }

    [NativeTheory]
    [MemberData(nameof(Shapes))]
    public void NativeRowApproximatesExactAttention(int hd, int vd, int first, int len, float softcap)
    {
        var (q, keys, values) = RandomHead(hd, vd, len, seed: hd * 7 + len);
        float scale = 1 / MathF.Sqrt(hd);
        var got = new float[vd];
        Attention.AttendNative(q, keys, values, first, len, scale, softcap, new float[vd], got);

        var scores = new double[len];
        double max = double.NegativeInfinity;
        for (int t = first; t < len; t++)
        {
            double s = 0;
            for (int i = 0; i < hd; i++) s += (double)q[i] * keys[t * hd + i];
            s *= scale;
            if (softcap > 0) s = softcap * Math.Tanh(s); // the kernel applies cap·tanh to the scaled score (callers fold 1/cap into scale)
            scores[t] = s;
            max = Math.Max(max, s);
        }
        double z = 0;
        for (int t = first; t < len; t++) z += Math.Exp(scores[t] - max);
        for (int i = 0; i < vd; i++)
        {
            double expected = 0;
            for (int t = first; t < len; t++) expected += Math.Exp(scores[t] - max) / z * values[t * vd + i];
            // The running sum is rounded to half precision after every position: error grows like √len half-ulps.
            double tol = 2e-3 * (1 + Math.Sqrt(len - first) / 4);
            Assert.True(Math.Abs(expected - got[i]) <= tol, $"[{i}] {got[i]} vs exact {expected}");
        }
    }

    [NativeFact]
    public void NativeRowRefusesShortBuffers()
    {
        var (q, keys, values) = RandomHead(16, 16, 4, seed: 1);
        Assert.Throws<ArgumentException>(() =>
            Attention.AttendNative(q, keys.AsSpan(0, 3 * 16), values, 0, 4, 0.25f, 0, new float[16], new float[16]));
    }

    /// <summary>q, keys and values rounded to half precision, as the cache and llama.cpp's flash attention hold them.</summary>
    private static (float[] Q, float[] Keys, float[] Values) RandomHead(int hd, int vd, int len, int seed)
    {
        var rng = new Random(seed);
        float[] Fill(int n, float scale)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)(Half)((rng.NextSingle() * 2 - 1) * scale);
            return a;
        }
        return (Fill(hd, 2f), Fill(len * hd, 2f), Fill(len * vd, 1f));
    }
}
