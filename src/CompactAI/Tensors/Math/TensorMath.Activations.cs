using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>destination[i] = x[i]·σ(x[i]) = x[i] / (1 + exp(−x[i])), SiLU (swish): the gate of SwiGLU feed-forward blocks.</summary>
    /// <remarks>Computed in that quotient form, as ggml does: −∞ gives NaN (−∞/∞), +∞ gives +∞, NaN stays NaN, −0 stays −0.</remarks>
    /// <param name="x">The input.</param>
    /// <param name="destination">Receives the result; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    public static void Silu(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        // Scalar MathF.Exp on purpose: the forward pass's numerics are pinned by the llama.cpp goldens.
        for (int i = 0; i < x.Length; i++) destination[i] = x[i] / (1.0f + MathF.Exp(-x[i]));
    }

    /// <summary>
    /// destination[i] = ½x(1 + tanh(√(2/π)·(x + 0.044715x³))) with x = x[i], GELU in ggml's tanh approximation: the gate of
    /// GeGLU feed-forward blocks (Gemma).
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="destination">Receives the result; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            destination[i] = 0.5f * v * (1.0f + MathF.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
        }
    }

    /// <summary>
    /// The engine's GELU: ggml's CPU arithmetic, where x is rounded to half precision and looked up in a table of
    /// half-precision results (x ≤ −10 gives 0, x ≥ 10 gives x). The table's rounding (relative 2⁻¹¹) is visible at the
    /// 1e-4 logit tolerance of the llama.cpp conformance tests, so the forward pass reproduces it; <see cref="GeluTanh"/>
    /// is the exact function.
    /// </summary>
    internal static void GeluTanhAsGgml(Span<float> x)
    {
        var table = s_geluTable.Value;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            if (v <= -10.0f) x[i] = 0.0f;
            else if (v < 10.0f) x[i] = table[BitConverter.HalfToUInt16Bits((Half)v)];
        }
    }

    /// <summary>GELU of every half-precision value, rounded to half: ggml's <c>ggml_table_gelu_f16</c>, indexed by the bits.</summary>
    private static readonly Lazy<float[]> s_geluTable = new(() =>
    {
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        var table = new float[65536];
        for (int i = 0; i < table.Length; i++)
        {
            float v = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            table[i] = (float)(Half)(0.5f * v * (1.0f + MathF.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v))));
        }
        return table;
    });

    /// <summary>destination[i] = c·tanh(x[i]·(1/c)), soft-capping into (−c, c): Gemma 2's treatment of logits (multiplying by 1/c, as llama.cpp's graph does).</summary>
    /// <param name="x">The input.</param>
    /// <param name="cap">c, positive and finite.</param>
    /// <param name="destination">Receives the result; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cap"/> is not positive and finite.</exception>
    public static void Softcap(ReadOnlySpan<float> x, float cap, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        if (!(cap > 0) || float.IsPositiveInfinity(cap)) throw new ArgumentOutOfRangeException(nameof(cap), cap, "The cap must be positive and finite.");
        float inverse = 1.0f / cap;
        for (int i = 0; i < x.Length; i++) destination[i] = cap * MathF.Tanh(x[i] * inverse);
    }

    /// <summary>
    /// destination[i] = (float)(Half)x[i]: rounds to the nearest half-precision value (ties to even; overflow gives ±∞,
    /// NaN stays NaN, −0 stays −0). The KV cache holds keys and values rounded so, as llama.cpp's F16 cache does.
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="destination">Receives the result; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    public static void RoundToHalf(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        RoundToHalfUnchecked(x, destination);
    }

    /// <summary>
    /// Rounding to half precision in registers: where every lane is zero or a normal half (2⁻¹⁴ ≤ |x| &lt; 65520),
    /// rounding to nearest-even at mantissa bit 13 is u + 0xFFF + ((u &gt;&gt; 13) &amp; 1), then clearing the low 13 bits
    /// (a carry into the exponent is the correct result). Other lanes (half subnormals, overflow, NaN) go through
    /// <see cref="Half"/>. The attention kernel calls this once per cached position, so it must not cost a library call.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static void RoundToHalfUnchecked(ReadOnlySpan<float> x, Span<float> destination)
    {
        int n = x.Length, i = 0;
        ref float src = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float dst = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(destination);
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            var absMask = System.Runtime.Intrinsics.Vector256.Create(0x7FFFFFFFu);
            var minNormal = System.Runtime.Intrinsics.Vector256.Create(0x38800000u);
            var overflow = System.Runtime.Intrinsics.Vector256.Create(0x477FF000u);
            var bias = System.Runtime.Intrinsics.Vector256.Create(0x00000FFFu);
            var one = System.Runtime.Intrinsics.Vector256.Create(1u);
            var keep = System.Runtime.Intrinsics.Vector256.Create(0xFFFFE000u);
            for (; i + 8 <= n; i += 8)
            {
                var u = System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref src, (nuint)i).AsUInt32();
                var a = u & absMask;
                var outside = (System.Runtime.Intrinsics.Vector256.LessThan(a, minNormal) & ~System.Runtime.Intrinsics.Vector256.Equals(a, System.Runtime.Intrinsics.Vector256<uint>.Zero))
                              | System.Runtime.Intrinsics.Vector256.GreaterThanOrEqual(a, overflow);
                if (outside != System.Runtime.Intrinsics.Vector256<uint>.Zero)
                {
                    for (int j = i; j < i + 8; j++)
                        System.Runtime.CompilerServices.Unsafe.Add(ref dst, j) = (float)(Half)System.Runtime.CompilerServices.Unsafe.Add(ref src, j);
                    continue;
                }
                var r = (u + bias + ((u >> 13) & one)) & keep;
                r.AsSingle().StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < n; i++) System.Runtime.CompilerServices.Unsafe.Add(ref dst, i) = (float)(Half)System.Runtime.CompilerServices.Unsafe.Add(ref src, i);
    }
}
