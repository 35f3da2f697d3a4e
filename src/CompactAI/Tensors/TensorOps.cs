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

    /// <summary>x = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (GELU, tanh approximation, as ggml).</summary>
    public static void GeluTanh(Span<float> x)
    {
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + MathF.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
        }
    }

    /// <summary>x = c·tanh(x / c): Gemma 2's soft-capping of logits.</summary>
    public static void Softcap(Span<float> x, float cap)
    {
        for (int i = 0; i < x.Length; i++) x[i] = cap * MathF.Tanh(x[i] / cap);
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
