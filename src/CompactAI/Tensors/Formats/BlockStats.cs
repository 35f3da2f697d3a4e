namespace CompactAI.Tensors.Formats;

/// <summary>The statistics of a block of values that the reference quantizers start from.</summary>
internal static class BlockStats
{
    /// <summary>The element of largest magnitude, with its sign (the first one on ties; 0 for an all-zero block).</summary>
    public static float SignedAbsMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        return max;
    }

    /// <summary>The smallest and largest element.</summary>
    public static void MinMax(ReadOnlySpan<float> x, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        for (int j = 0; j < x.Length; j++)
        {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
    }
}
