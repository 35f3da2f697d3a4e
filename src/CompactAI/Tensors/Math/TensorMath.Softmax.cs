using System.Numerics.Tensors;

namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>In place: x[i] = exp(x[i] − m) / Σⱼ exp(x[j] − m) with m = maxⱼ x[j]; see <see cref="Softmax(ReadOnlySpan{float}, Span{float})"/>.</summary>
    /// <param name="x">The logits, replaced by probabilities.</param>
    public static void Softmax(Span<float> x) => Softmax(x, x);

    /// <summary>
    /// destination[i] = exp(x[i] − m) / Σⱼ exp(x[j] − m) with m = maxⱼ x[j]: probabilities summing to 1. Subtracting the
    /// maximum keeps exp from overflowing; the sum is accumulated in double.
    /// </summary>
    /// <remarks>
    /// −∞ entries get probability 0 (masking). When some entries are +∞ they share the probability equally and the rest get 0.
    /// A NaN anywhere, or every entry −∞ (an empty distribution), makes every output NaN.
    /// </remarks>
    /// <param name="x">The logits.</param>
    /// <param name="destination">Receives the probabilities; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        if (x.Length == 0) return;
        var dst = destination[..x.Length];
        float max = TensorPrimitives.Max(x);
        if (float.IsPositiveInfinity(max))
        {
            int infinities = 0;
            foreach (float v in x) if (float.IsPositiveInfinity(v)) infinities++;
            for (int i = 0; i < x.Length; i++) dst[i] = float.IsPositiveInfinity(x[i]) ? 1.0f / infinities : 0;
            return;
        }
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            dst[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(dst, (float)(1.0 / sum), dst);
    }

    /// <summary>
    /// destination[i] = x[i] − log Σⱼ exp(x[j]): the natural log of <see cref="Softmax(ReadOnlySpan{float}, Span{float})"/>,
    /// computed without forming the probabilities (so tiny probabilities keep their precision).
    /// </summary>
    /// <remarks>Entries equal to −∞ give −∞. NaN anywhere, any +∞, or every entry −∞ makes every output NaN.</remarks>
    /// <param name="x">The logits.</param>
    /// <param name="destination">Receives the log-probabilities; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partially overlaps it.</exception>
    public static void LogSoftmax(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, nameof(x), nameof(destination));
        if (x.Length == 0) return;
        float lse = LogSumExpCore(x);
        if (float.IsInfinity(lse)) lse = float.NaN; // all −∞, or a +∞: the log-probabilities are undefined
        TensorPrimitives.Subtract(x, lse, destination[..x.Length]);
    }

    /// <summary>
    /// log Σᵢ exp(x[i]), computed stably as m + log Σᵢ exp(x[i] − m) with m = maxᵢ x[i] and the sum in double.
    /// </summary>
    /// <param name="x">The values.</param>
    /// <returns>The log-sum-exp: −∞ for an empty span or when every entry is −∞ (log 0); +∞ when some entry is +∞; NaN when some entry is NaN.</returns>
    public static float LogSumExp(ReadOnlySpan<float> x) => x.Length == 0 ? float.NegativeInfinity : LogSumExpCore(x);

    private static float LogSumExpCore(ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        if (float.IsInfinity(max)) return max;
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        return max + (float)Math.Log(sum);
    }
}
