using System.Numerics.Tensors;

namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>
    /// destination[i] = x[i] / √(Σⱼ x[j]² / n + ε) · gain[i], RMS normalisation over the n = <c>x.Length</c> elements.
    /// The sum of squares is accumulated in double, as ggml does; the forward pass of every architecture uses this method.
    /// </summary>
    /// <param name="x">The vector to normalise.</param>
    /// <param name="gain">Per-element weights, as long as <paramref name="x"/>.</param>
    /// <param name="epsilon">ε, added to the mean square (e.g. 1e-5 or 1e-6); must not be negative.</param>
    /// <param name="destination">Receives the result; may be <paramref name="x"/> itself.</param>
    /// <exception cref="ArgumentException">The lengths of <paramref name="x"/> and <paramref name="gain"/> differ, or
    /// <paramref name="destination"/> is shorter than <paramref name="x"/>, partially overlaps <paramref name="x"/>, or overlaps <paramref name="gain"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative or NaN.</exception>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, float epsilon, Span<float> destination)
    {
        CheckSameLength(x.Length, gain.Length, nameof(x), nameof(gain));
        CheckDestination(x, destination, nameof(x), nameof(destination));
        if (x.Length > 0 && gain.Overlaps(destination[..Math.Min(destination.Length, x.Length)])) ThrowPartialOverlap(nameof(gain), nameof(destination));
        if (!(epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "ε must be zero or positive.");
        if (x.Length == 0) return;
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += x[i] * x[i];
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + epsilon);
        var dst = destination[..x.Length];
        TensorPrimitives.Multiply(x, scale, dst);
        TensorPrimitives.Multiply(dst, gain, dst);
    }
}
