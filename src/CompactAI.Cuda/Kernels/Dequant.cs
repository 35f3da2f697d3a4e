using CompactAI.Tensors;
using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Device-side GGUF block decoding: the value of one weight, read straight from the block layout the file stores
/// (weights are uploaded unchanged as bytes). Each formula is the CPU engine's <c>Formats/*Format.Dequantize</c>, element by
/// element and with the same operation order, so a dequantized value is the same float on both sides.
/// </summary>
internal static class Dequant
{
    /// <summary>The float of the IEEE half whose bits are <paramref name="h"/> (exact, subnormals included).</summary>
    public static float HalfToFloat(uint h)
    {
        uint sign = (h & 0x8000u) << 16;
        uint exp = (h >> 10) & 0x1Fu;
        uint mant = h & 0x3FFu;
        if (exp == 0)
        {
            float v = mant * 5.9604644775390625E-8f; // mant · 2^-24
            return sign != 0 ? -v : v;
        }
        if (exp == 31) return Interop.IntAsFloat(sign | 0x7F800000u | (mant << 13));
        return Interop.IntAsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
    }

    /// <summary>
    /// <paramref name="f"/> rounded to the nearest half-precision value (ties to even, overflow to ∞), as a float: what
    /// <c>(float)(System.Half)f</c> gives on the CPU. Written with integer operations because ILGPU's own Half conversion
    /// truncates on its CPU accelerator.
    /// </summary>
    public static float RoundToHalf(float f)
    {
        uint x = Interop.FloatAsInt(f);
        uint sign = x & 0x80000000u, abs = x & 0x7FFFFFFFu;
        if (abs >= 0x7F800000u) return f; // ∞ and NaN
        if (abs >= 0x477FF000u) return Interop.IntAsFloat(sign | 0x7F800000u); // ≥ 65520 rounds past the largest half
        if (abs < 0x38800000u)
        {
            // Below 2^-14 halves are subnormal, multiples of 2^-24: adding 0.5 (whose ulp is 2^-24) rounds to one, ties to even.
            float r = (Interop.IntAsFloat(abs) + 0.5f) - 0.5f;
            return sign != 0 ? -r : r;
        }
        uint rounded = (abs + 0xFFFu + ((abs >> 13) & 1u)) & ~0x1FFFu; // keep 10 mantissa bits, ties to even
        return Interop.IntAsFloat(sign | rounded);
    }

    /// <summary>The little-endian half at byte <paramref name="i"/>.</summary>
    public static float Half(ArrayView<byte> w, long i) => HalfToFloat((uint)(w[i] | (w[i + 1] << 8)));

    /// <summary>Element <paramref name="c"/> of the row starting at byte <paramref name="row"/>, in format <paramref name="type"/> (a <see cref="GgmlType"/> id).</summary>
    public static float Element(ArrayView<byte> w, long row, int c, int type)
    {
        switch (type)
        {
            case (int)GgmlType.F32:
            {
                long i = row + 4L * c;
                return Interop.IntAsFloat((uint)(w[i] | (w[i + 1] << 8) | (w[i + 2] << 16) | (w[i + 3] << 24)));
            }
            case (int)GgmlType.F16:
                return Half(w, row + 2L * c);
            case (int)GgmlType.Q8_0:
            {
                long b = row + (c / 32) * 34L;
                return (sbyte)w[b + 2 + c % 32] * Half(w, b);
            }
            case (int)GgmlType.Q4_0:
            {
                long b = row + (c / 32) * 18L;
                int j = c % 32;
                int q = j < 16 ? w[b + 2 + j] & 0x0F : w[b + 2 + j - 16] >> 4;
                return (q - 8) * Half(w, b);
            }
            case (int)GgmlType.Q4_K:
            {
                long b = row + (c / 256) * 144L;
                int j = c % 256, chunk = j / 64, within = j % 64, sub = j / 32;
                int qb = w[b + 16 + 32 * chunk + within % 32];
                int q = within < 32 ? qb & 0xF : qb >> 4;
                ScaleMinK4(w, b + 4, sub, out int sc, out int m);
                float dl = Half(w, b) * sc, ml = Half(w, b + 2) * m;
                return dl * q - ml;
            }
            case (int)GgmlType.Q5_K:
            {
                long b = row + (c / 256) * 176L;
                int j = c % 256, chunk = j / 64, within = j % 64, l = within % 32, sub = j / 32;
                int qb = w[b + 48 + 32 * chunk + l];
                int lo = within < 32 ? qb & 0xF : qb >> 4;
                int hi = (w[b + 16 + l] >> sub) & 1; // sub = 2·chunk + (within ≥ 32)
                ScaleMinK4(w, b + 4, sub, out int sc, out int m);
                float dl = Half(w, b) * sc, ml = Half(w, b + 2) * m;
                return dl * (lo | (hi << 4)) - ml;
            }
            case (int)GgmlType.Q6_K:
            {
                long b = row + (c / 256) * 210L;
                int i = c % 256, half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
                long ql = b + 64 * half, qh = b + 128 + 32 * half;
                int lowByte = w[ql + l + (quarter & 1) * 32];
                int low = quarter < 2 ? lowByte & 0xF : lowByte >> 4;
                int high = (w[qh + l] >> (2 * quarter)) & 3;
                float d = Half(w, b + 208);
                return d * (sbyte)w[b + 192 + i / 16] * ((low | (high << 4)) - 32);
            }
            default:
                return float.NaN; // unreachable: the host only uploads supported formats
        }
    }

    /// <summary>Q4_K/Q5_K's 6-bit scale and min of sub-block <paramref name="j"/> (KQuantMath.GetScaleMinK4).</summary>
    private static void ScaleMinK4(ArrayView<byte> w, long q, int j, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = w[q + j] & 63;
            min = w[q + j + 4] & 63;
        }
        else
        {
            scale = (w[q + j + 4] & 0xF) | ((w[q + j - 4] >> 6) << 4);
            min = (w[q + j + 4] >> 4) | ((w[q + j] >> 6) << 4);
        }
    }

    /// <summary>The formats these kernels decode.</summary>
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0
        or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;
}
