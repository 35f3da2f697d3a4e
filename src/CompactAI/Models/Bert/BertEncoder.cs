using System.Numerics.Tensors;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// The BERT encoder forward pass, as llama.cpp's <c>bert</c> graph computes it, over many sequences at once: their tokens
/// are packed into one batch, so every projection is one matrix–matrix product over all of them, and attention runs per
/// sequence and head, in both directions, with no KV cache. Per token: x = E[token] + T[0] + P[position], LayerNorm; per
/// block: x = LN(x + Attn(x)), x = LN(x + W₂·GELU(W₁·x + b₁) + b₂); the output is the last block's x, unnormalised.
/// One instance per concurrent caller: it owns its worker threads and activation buffers, sized once for
/// <see cref="MaxTokens"/> tokens, so a forward pass allocates nothing.
/// </summary>
internal sealed class BertEncoder : IParallelJob, IDisposable
{
    private readonly ModelConfig _c;
    private readonly BertWeights _w;
    private readonly WorkerPool _pool;
    private readonly MatMul _matmul;
    private readonly GeluJob _gelu;
    private readonly float[] _x, _xn, _q, _k, _v, _attn, _proj, _up, _headKeys, _headValues, _scores;
    private readonly int[] _starts, _lengths;
    private int _sequences;

    public BertEncoder(ModelConfig config, BertWeights weights, int threads, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        _c = config;
        _w = weights;
        MaxTokens = maxTokens;
        _pool = new WorkerPool(threads);
        _matmul = new MatMul(_pool);
        _gelu = new GeluJob(_pool);
        int embd = config.EmbeddingLength, width = config.HeadCount * config.HeadDim;
        _x = new float[maxTokens * embd];
        _xn = new float[maxTokens * embd];
        _proj = new float[maxTokens * embd];
        _q = new float[maxTokens * width];
        _k = new float[maxTokens * width];
        _v = new float[maxTokens * width];
        _attn = new float[maxTokens * width];
        _up = new float[maxTokens * config.FeedForwardLength];
        _headKeys = new float[maxTokens * width];
        _headValues = new float[maxTokens * width];
        _scores = new float[config.HeadCount * maxTokens];
        _starts = new int[maxTokens];
        _lengths = new int[maxTokens];
    }

    /// <summary>Most tokens (all sequences together) one <see cref="Forward"/> takes.</summary>
    public int MaxTokens { get; }

    /// <summary>
    /// Encodes the sequences whose tokens are packed one after another in <paramref name="tokens"/>, sequence i having
    /// <paramref name="lengths"/>[i] tokens. Afterwards <see cref="Hidden"/> holds each token's output vector, in the same order.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths do not add up to the tokens, a sequence is empty or longer than the model's context, or there are more than <see cref="MaxTokens"/> tokens.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths)
    {
        int n = tokens.Length, embd = _c.EmbeddingLength;
        if (n == 0 || n > MaxTokens) throw new ArgumentException($"A batch holds 1 to {MaxTokens} tokens; got {n}.", nameof(tokens));
        int total = 0;
        _sequences = lengths.Length;
        for (int s = 0; s < lengths.Length; s++)
        {
            int length = lengths[s];
            if (length < 1 || length > _c.ContextLength)
                throw new ArgumentException($"A sequence holds 1 to {_c.ContextLength} tokens (the model's context); sequence {s} has {length}.", nameof(lengths));
            _starts[s] = total;
            _lengths[s] = length;
            total += length;
        }
        if (total != n) throw new ArgumentException($"The sequence lengths add up to {total}, but there are {n} tokens.", nameof(lengths));

        Embed(tokens);
        for (int l = 0; l < _w.Layers.Length; l++)
        {
            var layer = _w.Layers[l];
            // Attention: q, k, v = x·W + b; softmax(q·kᵀ/√d)·v per sequence and head; then x' = LN(x + attn·Wo + bo).
            _matmul.Compute(layer.Query, _x, n, _q);
            _matmul.Compute(layer.Key, _x, n, _k, sameInput: true);
            _matmul.Compute(layer.Value, _x, n, _v, sameInput: true);
            AddBias(_q, layer.QueryBias, n);
            AddBias(_k, layer.KeyBias, n);
            AddBias(_v, layer.ValueBias, n);
            _pool.Run(this, _sequences * _c.HeadCount);
            _matmul.Compute(layer.Output, _attn, n, _proj);
            AddBias(_proj, layer.OutputBias, n);
            TensorPrimitives.Add(_proj.AsSpan(0, n * embd), _x.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd));
            LayerNorm(_proj, layer.AttentionNorm, layer.AttentionNormBias, _xn, n);

            // FFN: x = LN(x' + GELU(x'·W₁ + b₁)·W₂ + b₂).
            int ff = _c.FeedForwardLength;
            _matmul.Compute(layer.Up, _xn, n, _up);
            AddBias(_up, layer.UpBias, n);
            _gelu.Run(_up, n * ff);
            _matmul.Compute(layer.Down, _up, n, _proj);
            AddBias(_proj, layer.DownBias, n);
            TensorPrimitives.Add(_proj.AsSpan(0, n * embd), _xn.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd));
            LayerNorm(_proj, layer.LayerNorm, layer.LayerNormBias, _x, n);
        }
    }

    /// <summary>The output vectors of the first <paramref name="rows"/> tokens of the last <see cref="Forward"/> ([rows × embd]).</summary>
    public ReadOnlySpan<float> Hidden(int rows) => _x.AsSpan(0, rows * _c.EmbeddingLength);

    /// <summary>
    /// Pools the <paramref name="length"/> token vectors starting at row <paramref name="start"/> of <paramref name="hidden"/>
    /// into <paramref name="destination"/> as llama.cpp does (mean of all rows, first row, or last row), then L2-normalises it
    /// (llama.cpp's <c>--embd-normalize 2</c>: a zero vector stays zero).
    /// </summary>
    public static void Pool(ReadOnlySpan<float> hidden, int embd, int start, int length, PoolingType pooling, Span<float> destination)
    {
        var dst = destination[..embd];
        switch (pooling)
        {
            case PoolingType.Mean:
                dst.Clear();
                for (int t = 0; t < length; t++) TensorPrimitives.Add(dst, hidden.Slice((start + t) * embd, embd), dst);
                TensorPrimitives.Multiply(dst, 1.0f / length, dst);
                break;
            case PoolingType.Cls:
                hidden.Slice(start * embd, embd).CopyTo(dst);
                break;
            case PoolingType.Last:
                hidden.Slice((start + length - 1) * embd, embd).CopyTo(dst);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Pooling None has no single vector per sequence.");
        }
        Normalize(dst);
    }

    /// <summary>Scales <paramref name="v"/> to unit L2 norm, summing the squares in double precision as llama.cpp does.</summary>
    public static void Normalize(Span<float> v)
    {
        double sum = 0;
        foreach (float x in v) sum += (double)x * x;
        double norm = Math.Sqrt(sum);
        TensorPrimitives.Multiply(v, norm > 0 ? (float)(1.0 / norm) : 0f, v);
    }

    /// <summary>x = E[token] + T[0] + P[position in its sequence], then the embedding LayerNorm.</summary>
    private void Embed(ReadOnlySpan<int> tokens)
    {
        int embd = _c.EmbeddingLength;
        var position = _proj.AsSpan(0, embd);
        for (int s = 0; s < _sequences; s++)
        {
            for (int p = 0; p < _lengths[s]; p++)
            {
                int row = _starts[s] + p, t = tokens[row];
                if ((uint)t >= (uint)_c.VocabularySize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id must be in [0, {_c.VocabularySize}).");
                var x = _x.AsSpan(row * embd, embd);
                _w.TokenEmbedding.DequantizeRow(t, x);
                if (_w.TokenType0 is { } type0) TensorPrimitives.Add(x, type0, x);
                _w.PositionEmbedding.DequantizeRow(p, position);
                TensorPrimitives.Add(position, x, x);
            }
        }
        LayerNorm(_x, _w.EmbeddingNorm, _w.EmbeddingNormBias, _x, tokens.Length);
    }

    /// <summary>
    /// Attention of one (sequence, head) pair per item: every token of the sequence attends to all of its tokens. As
    /// llama.cpp runs an encoder with no KV cache, its flash attention casts k and v to half precision; q stays in single
    /// precision and Σ p·v is accumulated in single precision (its tiled CPU kernel; its row-by-row kernel, used below 64
    /// query rows, gives the same embeddings to 1e-6).
    /// </summary>
    public void Execute(int start, int end)
    {
        int heads = _c.HeadCount, hd = _c.HeadDim, width = heads * hd;
        float scale = 1.0f / MathF.Sqrt(hd);
        for (int item = start; item < end; item++)
        {
            int s = item / heads, h = item % heads;
            int first = _starts[s], length = _lengths[s];
            var keys = _headKeys.AsSpan((h * MaxTokens + first) * hd, length * hd);
            var values = _headValues.AsSpan((h * MaxTokens + first) * hd, length * hd);
            for (int j = 0; j < length; j++)
            {
                TensorMath.RoundToHalf(_k.AsSpan((first + j) * width + h * hd, hd), keys.Slice(j * hd, hd));
                TensorMath.RoundToHalf(_v.AsSpan((first + j) * width + h * hd, hd), values.Slice(j * hd, hd));
            }
            var scores = _scores.AsSpan(h * MaxTokens + first, length);
            for (int i = 0; i < length; i++)
            {
                var q = _q.AsSpan((first + i) * width + h * hd, hd);
                for (int j = 0; j < length; j++) scores[j] = TensorPrimitives.Dot(q, keys.Slice(j * hd, hd)) * scale;
                float max = TensorPrimitives.Max(scores);
                TensorPrimitives.Subtract(scores, max, scores);
                TensorPrimitives.Exp(scores, scores);
                float inverse = 1.0f / TensorPrimitives.Sum(scores);
                var output = _attn.AsSpan((first + i) * width + h * hd, hd);
                output.Clear();
                for (int j = 0; j < length; j++) TensorPrimitives.MultiplyAdd(values.Slice(j * hd, hd), scores[j], output, output);
                TensorPrimitives.Multiply(output, inverse, output);
            }
        }
    }

    private static void AddBias(float[] rows, float[] bias, int n)
    {
        for (int b = 0; b < n; b++)
        {
            var r = rows.AsSpan(b * bias.Length, bias.Length);
            TensorPrimitives.Add(r, bias, r);
        }
    }

    /// <summary>
    /// dst = (x − mean)/√(variance + ε)·gain + bias per row, as ggml's <c>norm</c> then <c>mul</c> and <c>add</c>: the mean and
    /// the variance summed in double precision, the centred values in single. <paramref name="dst"/> may be <paramref name="x"/>.
    /// </summary>
    private void LayerNorm(float[] x, float[] gain, float[] bias, float[] dst, int rows)
    {
        int embd = _c.EmbeddingLength;
        float epsilon = _c.LayerNormEpsilon;
        for (int b = 0; b < rows; b++)
        {
            var src = x.AsSpan(b * embd, embd);
            var y = dst.AsSpan(b * embd, embd);
            double sum = 0;
            for (int i = 0; i < embd; i++) sum += src[i];
            float mean = (float)(sum / embd);
            double squares = 0;
            for (int i = 0; i < embd; i++)
            {
                float centred = src[i] - mean;
                y[i] = centred;
                squares += centred * centred;
            }
            float inverse = 1.0f / MathF.Sqrt((float)(squares / embd) + epsilon);
            TensorPrimitives.Multiply(y, inverse, y);
            TensorPrimitives.Multiply(y, gain, y);
            TensorPrimitives.Add(y, bias, y);
        }
    }

    public void Dispose() => _pool.Dispose();

    /// <summary>ggml's GELU (tanh form, half-precision table) in place over the pool, in fixed slices.</summary>
    private sealed class GeluJob(WorkerPool pool) : IParallelJob
    {
        private const int Slice = 4096;
        private float[] _data = [];
        private int _count;

        public void Run(float[] data, int count)
        {
            _data = data;
            _count = count;
            pool.Run(this, (count + Slice - 1) / Slice);
            _data = [];
        }

        public void Execute(int start, int end)
        {
            int from = start * Slice, to = Math.Min(_count, end * Slice);
            TensorMath.GeluTanhAsGgml(_data.AsSpan(from, to - from));
        }
    }
}
