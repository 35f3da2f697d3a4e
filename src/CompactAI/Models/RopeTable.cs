namespace CompactAI.Models;

/// <summary>
/// Rotary position embedding: rotates pairs of q/k dimensions by θ_i = pos · scale · base^(−2i/d) (÷ a per-pair
/// frequency factor for Llama 3 / LongRoPE), cos and sin multiplied by the attention factor (LongRoPE's scaling, else 1).
/// Adjacent pairs (x[2i], x[2i+1]) for <see cref="RopeStyle.Interleaved"/>, pairs half a rotation apart (x[i], x[i+d/2]) for <see cref="RopeStyle.NeoX"/>. Mixing them up still gives fluent garbage.
/// cos/sin are prepared once per batch; θ is built by repeated multiplication, as ggml does, so angles match bit for bit.
/// </summary>
internal sealed class RopeTable
{
    private readonly int _half;
    private readonly float _thetaScale, _positionScale, _magnitude;
    private readonly float[]? _factors;
    private readonly float[] _cos, _sin; // [batch × d/2]

    public RopeTable(int ropeDims, float freqBase, float positionScale, float[]? factors, float magnitude, int maxBatch)
    {
        _magnitude = magnitude;
        _half = ropeDims / 2;
        _thetaScale = MathF.Pow(freqBase, -2.0f / ropeDims);
        _positionScale = positionScale;
        _factors = factors;
        _cos = new float[maxBatch * _half];
        _sin = new float[maxBatch * _half];
    }

    /// <summary>Computes the angles of positions startPos … startPos + n − 1.</summary>
    public void Prepare(int startPos, int n) => Prepare(startPos, n, 0);

    /// <summary>Computes the angles of positions startPos … startPos + n − 1 into batch rows <paramref name="firstRow"/>….</summary>
    public void Prepare(int startPos, int n, int firstRow)
    {
        for (int row = firstRow; row < firstRow + n; row++)
        {
            int b = row;
            // As ggml: θ runs from the position by repeated ·base^(−2/d); the scale multiplies θ/factor afterwards.
            float theta = startPos + (row - firstRow);
            for (int i = 0; i < _half; i++)
            {
                float t = _positionScale * (_factors is null ? theta : theta / _factors[i]);
                _cos[b * _half + i] = MathF.Cos(t) * _magnitude;
                _sin[b * _half + i] = MathF.Sin(t) * _magnitude;
                theta *= _thetaScale;
            }
        }
    }

    /// <summary>The cos values of the prepared positions, [position × d/2] (the device backend uploads a whole context's table).</summary>
    public ReadOnlySpan<float> Cos => _cos;

    /// <summary>The sin values of the prepared positions, [position × d/2].</summary>
    public ReadOnlySpan<float> Sin => _sin;

    /// <summary>Rotates the first d dimensions of every head of n tokens ([token][head][headDim]) in place.</summary>
    public void Apply(float[] data, int heads, int headDim, int n, RopeStyle style) => Apply(data, heads, headDim, 0, n, style);

    /// <summary>Rotates batch rows [<paramref name="firstRow"/>, firstRow + n) with the angles prepared for those rows.</summary>
    public void Apply(float[] data, int heads, int headDim, int firstRow, int n, RopeStyle style)
    {
        int half = _half;
        for (int b = firstRow; b < firstRow + n; b++)
        {
            var cos = _cos.AsSpan(b * half, half);
            var sin = _sin.AsSpan(b * half, half);
            for (int h = 0; h < heads; h++)
            {
                var v = data.AsSpan((b * heads + h) * headDim, headDim);
                if (style == RopeStyle.Interleaved)
                {
                    for (int i = 0; i < half; i++)
                    {
                        float x0 = v[2 * i], x1 = v[2 * i + 1];
                        v[2 * i] = x0 * cos[i] - x1 * sin[i];
                        v[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
                    }
                }
                else
                {
                    for (int i = 0; i < half; i++)
                    {
                        float x0 = v[i], x1 = v[i + half];
                        v[i] = x0 * cos[i] - x1 * sin[i];
                        v[i + half] = x0 * sin[i] + x1 * cos[i];
                    }
                }
            }
        }
    }
}
