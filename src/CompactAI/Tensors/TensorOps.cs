using System.Numerics.Tensors;

namespace CompactAI.Tensors;

/// <summary>The element-wise and row operations of the forward pass, stated once and shared by every architecture.</summary>
internal static class TensorOps
{
    /// <summary>dst = x / √(mean(x²) + ε) ⊙ gain. The sum of squares is accumulated in double, as ggml does.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, float epsilon, Span<float> dst)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += x[i] * x[i];
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + epsilon);
        TensorPrimitives.Multiply(x, scale, dst[..x.Length]);
        TensorPrimitives.Multiply(dst[..x.Length], gain[..x.Length], dst[..x.Length]);
    }

    /// <summary>In-place softmax: p = exp(x − max) / Σ exp(x − max). Subtracting the max keeps exp from overflowing.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = TensorPrimitives.Max(x);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(x, (float)(1.0 / sum), x);
    }

    /// <summary>dst = (float)(Half)src: rounds to the nearest half-precision value (vectorised conversions, in chunks).</summary>
    public static void RoundToHalf(ReadOnlySpan<float> src, Span<float> dst)
    {
        Span<Half> tmp = stackalloc Half[256];
        for (int i = 0; i < src.Length; i += 256)
        {
            int n = Math.Min(256, src.Length - i);
            TensorPrimitives.ConvertToHalf(src.Slice(i, n), tmp[..n]);
            TensorPrimitives.ConvertToSingle(tmp[..n], dst.Slice(i, n));
        }
    }

    /// <summary>x = x·σ(x) (SiLU).</summary>
    public static void Silu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1.0f + MathF.Exp(-x[i]));
    }

    /// <summary>
    /// x = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (GELU, tanh approximation), with ggml's CPU arithmetic: x is rounded to
    /// half precision and looked up in a table of half-precision results (x ≤ −10 gives 0, x ≥ 10 gives x). The table's
    /// rounding (relative 2⁻¹¹) is visible at a 1e-4 logit tolerance, so it is reproduced rather than computed in float.
    /// </summary>
    public static void GeluTanh(Span<float> x)
    {
        var table = s_geluTable.Value;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            if (v <= -10.0f) x[i] = 0.0f;
            else if (v < 10.0f) x[i] = table[BitConverter.HalfToUInt16Bits((Half)v)];
        }
    }

    private static float GeluTanhF32(float v)
    {
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        return 0.5f * v * (1.0f + MathF.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
    }

    /// <summary>GELU of every half-precision value, rounded to half: ggml's <c>ggml_table_gelu_f16</c>, indexed by the bits.</summary>
    private static readonly Lazy<float[]> s_geluTable = new(() =>
    {
        var table = new float[65536];
        for (int i = 0; i < table.Length; i++) table[i] = (float)(Half)GeluTanhF32((float)BitConverter.UInt16BitsToHalf((ushort)i));
        return table;
    });

    /// <summary>x = c·tanh(x·(1/c)): Gemma 2's soft-capping of logits, multiplying by 1/c as llama.cpp's graph does.</summary>
    public static void Softcap(Span<float> x, float cap)
    {
        float inverse = 1.0f / cap;
        for (int i = 0; i < x.Length; i++) x[i] = cap * MathF.Tanh(x[i] * inverse);
    }

    /// <summary>log Σ exp(x), computed stably as max + log Σ exp(x − max).</summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        return max + (float)Math.Log(sum);
    }
}
