using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// exp and tanh in plain float arithmetic (Cephes' single-precision algorithms, ≈1–2 ulp). ILGPU's PTX backend has no exp
/// intrinsic without ILGPU.Algorithms and maps tanh to <c>tanh.approx.f32</c> (≈2⁻¹¹ relative error); writing them out gives
/// the same accurate result on every backend, so the CPU-accelerator tests check the very arithmetic a GPU runs.
/// </summary>
internal static class DeviceMath
{
    /// <summary>e^x.</summary>
    public static float Exp(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x > 88.72284f) return float.PositiveInfinity;
        if (x < -103.97208f) return 0f;
        // x = k·ln2 + r, |r| ≤ ln2/2, with ln2 split in two so k·ln2 is subtracted exactly.
        float t = x * 1.44269504088896341f;
        int k = (int)(t >= 0 ? t + 0.5f : t - 0.5f);
        float r = x - k * 0.693359375f;
        r -= k * -2.12194440e-4f;
        float z = r * r;
        float p = (((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r
                    + 1.6666665459E-1f) * r + 5.0000001201E-1f) * z + r + 1.0f;
        // p·2^k, in two steps so k ∈ [−150, 128] never leaves the normal exponent range of one factor.
        int k1 = k / 2, k2 = k - k1;
        return p * Pow2(k1) * Pow2(k2);
    }

    /// <summary>tanh x.</summary>
    public static float Tanh(float x)
    {
        float a = MathF.Abs(x);
        if (a < 0.625f)
        {
            float z = x * x;
            return ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z + 1.33314422036E-1f) * z
                    - 3.33332819422E-1f) * z * x + x;
        }
        if (a > 10f) return x > 0 ? 1f : -1f;
        float y = 1.0f - 2.0f / (Exp(2 * a) + 1.0f);
        return x > 0 ? y : -y;
    }

    /// <summary>2^e for e ∈ [−126, 127].</summary>
    private static float Pow2(int e) => Interop.IntAsFloat((uint)(e + 127) << 23);
}
