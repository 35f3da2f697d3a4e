using System.Numerics.Tensors;

namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>Σᵢ x[i]·y[i], the dot product (0 for empty spans).</summary>
    /// <param name="x">The first vector.</param>
    /// <param name="y">The second vector, as long as <paramref name="x"/>.</param>
    /// <returns>The dot product, accumulated in float by SIMD lanes (the order of additions differs from a scalar loop).</returns>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(x), nameof(y));
        return TensorPrimitives.Dot(x, y);
    }

    /// <summary>(Σᵢ x[i]·y[i]) / (√(Σᵢ x[i]²)·√(Σᵢ y[i]²)), the cosine of the angle between two vectors, in [−1, 1].</summary>
    /// <param name="x">The first vector.</param>
    /// <param name="y">The second vector, as long as <paramref name="x"/>.</param>
    /// <returns>The cosine similarity; <see cref="float.NaN"/> when either vector is all zeros or the spans are empty (the angle is undefined).</returns>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static float CosineSimilarity(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(x), nameof(y));
        if (x.Length == 0) return float.NaN;
        return TensorPrimitives.CosineSimilarity(x, y);
    }
}
