namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>
    /// The <paramref name="k"/> largest entries of <paramref name="values"/>, in descending order: indices[j] is the index
    /// of the j-th largest value and topValues[j] that value. Ties go to the lower index; NaN ranks below every number
    /// (−∞ included); −0 and +0 are equal. O(n log k) time with a k-entry heap kept in the destinations.
    /// </summary>
    /// <param name="values">The values to rank.</param>
    /// <param name="k">How many to return, 0 … <c>values.Length</c>.</param>
    /// <param name="indices">Receives the k indices (its first k elements are written).</param>
    /// <param name="topValues">Receives the k values (its first k elements are written).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative or larger than <c>values.Length</c>.</exception>
    /// <exception cref="ArgumentException"><paramref name="indices"/> or <paramref name="topValues"/> is shorter than <paramref name="k"/>.</exception>
    public static void TopK(ReadOnlySpan<float> values, int k, Span<int> indices, Span<float> topValues)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(k, values.Length);
        if (indices.Length < k) ThrowDestinationTooShort(k, indices.Length, nameof(indices));
        if (topValues.Length < k) ThrowDestinationTooShort(k, topValues.Length, nameof(topValues));
        if (k == 0) return;
        var heapIdx = indices[..k];
        var heapVal = topValues[..k];
        // A min-heap of the best k so far: the root is the worst of them, replaced when a better entry arrives.
        for (int i = 0; i < k; i++)
        {
            heapIdx[i] = i;
            heapVal[i] = values[i];
            SiftUp(heapVal, heapIdx, i);
        }
        for (int i = k; i < values.Length; i++)
        {
            float v = values[i];
            if (!Better(v, i, heapVal[0], heapIdx[0])) continue;
            heapVal[0] = v;
            heapIdx[0] = i;
            SiftDown(heapVal, heapIdx, 0, k);
        }
        // Heap sort: moving the worst to the end each time leaves the entries in descending order.
        for (int n = k - 1; n > 0; n--)
        {
            (heapVal[0], heapVal[n]) = (heapVal[n], heapVal[0]);
            (heapIdx[0], heapIdx[n]) = (heapIdx[n], heapIdx[0]);
            SiftDown(heapVal, heapIdx, 0, n);
        }
    }

    /// <summary>True when (va, ia) ranks before (vb, ib): larger value, NaN last, ties to the lower index.</summary>
    private static bool Better(float va, int ia, float vb, int ib)
    {
        if (float.IsNaN(va)) return float.IsNaN(vb) && ia < ib;
        if (float.IsNaN(vb)) return true;
        return va > vb || (va == vb && ia < ib);
    }

    private static void SiftUp(Span<float> val, Span<int> idx, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Better(val[parent], idx[parent], val[i], idx[i])) break; // parent already worse: heap holds
            (val[parent], val[i]) = (val[i], val[parent]);
            (idx[parent], idx[i]) = (idx[i], idx[parent]);
            i = parent;
        }
    }

    private static void SiftDown(Span<float> val, Span<int> idx, int i, int n)
    {
        while (true)
        {
            int worst = i, l = 2 * i + 1, r = l + 1;
            if (l < n && Better(val[worst], idx[worst], val[l], idx[l])) worst = l;
            if (r < n && Better(val[worst], idx[worst], val[r], idx[r])) worst = r;
            if (worst == i) return;
            (val[worst], val[i]) = (val[i], val[worst]);
            (idx[worst], idx[i]) = (idx[i], idx[worst]);
            i = worst;
        }
    }
}
