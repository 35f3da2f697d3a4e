using System.Numerics.Tensors;
using CompactAI.Inference;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// The decoder-only transformer forward pass (Llama: RMSNorm → GQA attention with RoPE → residual → RMSNorm →
/// SwiGLU FFN → residual; final RMSNorm → output head), run over a batch of consecutive tokens of one sequence.
/// One instance per session: it owns the activation buffers, sized once for <see cref="MaxBatch"/> tokens, so the
/// decode loop allocates nothing.
/// </summary>
internal sealed class Transformer
{
    private readonly ModelConfig _c;
    private readonly ModelWeights _w;
    private readonly WorkerPool _pool;
    private readonly MatMul _matmul;
    private readonly Attention _attention;

    // Activations, [batch × width] row-major.
    private readonly float[] _x, _xn, _q, _k, _v, _attn, _proj, _gate, _up;
    private readonly float[] _ropeCos, _ropeSin; // [batch × ropeDims/2]
    private readonly float _ropeThetaScale;

    public Transformer(ModelConfig config, ModelWeights weights, WorkerPool pool, int maxBatch)
    {
        _c = config;
        _w = weights;
        _pool = pool;
        _matmul = new MatMul(pool);
        _attention = new Attention(config, pool);
        MaxBatch = maxBatch;
        int embd = config.EmbeddingLength;
        _x = new float[maxBatch * embd];
        _xn = new float[maxBatch * embd];
        _q = new float[maxBatch * config.HeadCount * config.HeadDim];
        _k = new float[maxBatch * config.KvHeadCount * config.HeadDim];
        _v = new float[maxBatch * config.KvHeadCount * config.ValueDim];
        _attn = new float[maxBatch * config.HeadCount * config.ValueDim];
        _proj = new float[maxBatch * embd];
        _gate = new float[maxBatch * config.FeedForwardLength];
        _up = new float[maxBatch * config.FeedForwardLength];
        _ropeCos = new float[maxBatch * config.RopeDimensions / 2];
        _ropeSin = new float[maxBatch * config.RopeDimensions / 2];
        _ropeThetaScale = MathF.Pow(config.RopeFreqBase, -2.0f / config.RopeDimensions);
    }

    /// <summary>Most tokens one <see cref="Forward"/> call takes.</summary>
    public int MaxBatch { get; }

    /// <summary>
    /// Runs <paramref name="tokens"/> (at positions <paramref name="startPos"/>…) through the model, appending their keys
    /// and values to <paramref name="cache"/>. Writes the logits of every token (<paramref name="allLogits"/>) or of the
    /// last one into <paramref name="logits"/> ([rows × vocab]).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, int startPos, KvCache cache, Span<float> logits, bool allLogits)
    {
        int n = tokens.Length, embd = _c.EmbeddingLength;
        if (n == 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), n, $"A batch holds 1 to {MaxBatch} tokens.");
        if (startPos + n > cache.Capacity) throw new InvalidOperationException($"The context holds {cache.Capacity} tokens; {startPos + n} were needed.");

        // Token embedding: x = E[token].
        for (int b = 0; b < n; b++)
        {
            int t = tokens[b];
            if ((uint)t >= (uint)_c.VocabularySize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id must be in [0, {_c.VocabularySize}).");
            _w.TokenEmbedding.DequantizeRow(t, _x.AsSpan(b * embd, embd));
        }
        PrepareRope(startPos, n);

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = _w.Layers[l];

            // Attention: xn = RMSNorm(x)·g; q, k, v = xn·Wq, xn·Wk, xn·Wv; rotate q and k; attend over the cache.
            RmsNorm(_x, layer.AttentionNorm, _xn, n);
            _matmul.Compute(layer.Query, _xn, n, _q);
            _matmul.Compute(layer.Key, _xn, n, _k);
            _matmul.Compute(layer.Value, _xn, n, _v);
            ApplyRope(_q, _c.HeadCount, n);
            ApplyRope(_k, _c.KvHeadCount, n);
            cache.Store(l, startPos, n, _k, _v);
            _attention.Run(_q, cache, l, startPos, n, _attn);

            // x = x + attn·Wo
            _matmul.Compute(layer.Output, _attn, n, _proj);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));

            // FFN (SwiGLU): x = x + (silu(xn·Wgate) ⊙ (xn·Wup))·Wdown, with xn = RMSNorm(x)·g.
            RmsNorm(_x, layer.FfnNorm, _xn, n);
            _matmul.Compute(layer.Gate, _xn, n, _gate);
            _matmul.Compute(layer.Up, _xn, n, _up);
            int ffn = n * _c.FeedForwardLength;
            Silu(_gate.AsSpan(0, ffn));
            TensorPrimitives.Multiply(_gate.AsSpan(0, ffn), _up.AsSpan(0, ffn), _gate.AsSpan(0, ffn));
            _matmul.Compute(layer.Down, _gate, n, _proj);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));
        }

        // Output head on the rows asked for.
        int first = allLogits ? 0 : n - 1, rows = n - first;
        RmsNorm(_x.AsSpan(first * embd), _w.OutputNorm, _xn, rows);
        _matmul.Compute(_w.Output, _xn, rows, logits);
    }

    private void RmsNorm(ReadOnlySpan<float> x, float[] gain, Span<float> dst, int rows)
    {
        int embd = _c.EmbeddingLength;
        for (int b = 0; b < rows; b++)
        {
            var src = x.Slice(b * embd, embd);
            var d = dst.Slice(b * embd, embd);
            TensorOps.RmsNorm(src, gain, _c.RmsNormEpsilon, d);
        }
    }

    /// <summary>cos/sin of θ_i = pos · base^(−2i/d) (÷ the Llama 3 frequency factor), built by repeated multiplication as ggml does.</summary>
    private void PrepareRope(int startPos, int n)
    {
        int half = _c.RopeDimensions / 2;
        var factors = _w.RopeFrequencyFactors;
        for (int b = 0; b < n; b++)
        {
            float theta = startPos + b;
            for (int i = 0; i < half; i++)
            {
                float t = factors is null ? theta : theta / factors[i];
                _ropeCos[b * half + i] = MathF.Cos(t);
                _ropeSin[b * half + i] = MathF.Sin(t);
                theta *= _ropeThetaScale;
            }
        }
    }

    private void ApplyRope(float[] data, int heads, int n)
    {
        int hd = _c.HeadDim, half = _c.RopeDimensions / 2;
        for (int b = 0; b < n; b++)
        {
            var cos = _ropeCos.AsSpan(b * half, half);
            var sin = _ropeSin.AsSpan(b * half, half);
            for (int h = 0; h < heads; h++)
            {
                var v = data.AsSpan((b * heads + h) * hd, hd);
                if (_c.RopeStyle == RopeStyle.Interleaved)
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

    private static void Silu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1.0f + MathF.Exp(-x[i]));
    }
}
