using System.Numerics.Tensors;
using CompactAI.Inference;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// The decoder-only transformer forward pass shared by every family, run over a batch of tokens: consecutive tokens of one
/// sequence, or segments of several sequences in one step (<see cref="ForwardBatch"/>:
/// every matmul takes all rows together, so the weights are read once per step; each row attends over its own sequence's
/// cache at its own position, and its arithmetic does not depend on the other rows). Per layer: x += Attn(RMSNorm(x)), x += FFN(RMSNorm(x)); then the output head. The family's
/// <see cref="ModelConfig"/> and optional tensors switch on its differences (biases, Q/K norms, post-norms, fused
/// projections, GELU, soft-caps, sliding windows). One instance per model (the batch scheduler's) or per device session: it owns the activation buffers, sized once
/// for <see cref="MaxBatch"/> tokens, so the decode loop allocates nothing. With a <see cref="FirstLayer"/> above 0 it is the
/// CPU tail of a partly offloaded model: it takes the residual stream after the device's blocks and runs the rest.
/// </summary>
internal sealed class Transformer
{
    private readonly ModelConfig _c;
    private readonly ModelWeights _w;
    private readonly MatMul _matmul;
    private readonly Attention _attention;
    private readonly GatedActivation _gating;
    private readonly LoraStep _lora;
    private readonly int _qDim, _kDim, _vDim;

    // Activations, [batch × width] row-major.
    private readonly float[] _x, _xn, _q, _k, _v, _attn, _proj, _gate, _up;
    private readonly float[]? _fused; // fused QKV or gate-up output before it is split
    private readonly RopeTable _globalRope, _localRope;
    private readonly float[]? _ropeFactors;
    private (RopeTable Global, RopeTable Local)? _otherRope; // a sequence whose context picks the other LongRoPE factors
    private readonly int _contextSize;

    // Per batch row: the sequence's cache and the row's position (attention), and which segment's RoPE tables apply.
    private readonly KvCache?[] _rowCaches;
    private readonly int[] _rowPositions;
    private readonly BatchSegment[] _single = new BatchSegment[1];
    private float[] _logitRows = []; // the last-token logits of a batched step, [segments × vocab], grown to the most segments seen

    public Transformer(ModelConfig config, ModelWeights weights, WorkerPool pool, int maxBatch, int contextSize, int firstLayer = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstLayer);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstLayer, config.BlockCount);
        FirstLayer = firstLayer;
        _c = config;
        _w = weights;
        _matmul = new MatMul(pool);
        _attention = new Attention(config, pool, weights.Formats);
        _gating = new GatedActivation(config.Activation, pool);
        _lora = new LoraStep(_matmul, maxBatch);
        MaxBatch = maxBatch;
        int embd = config.EmbeddingLength, ff = config.FeedForwardLength;
        _qDim = config.HeadCount * config.HeadDim;
        _kDim = config.KvHeadCount * config.HeadDim;
        _vDim = config.KvHeadCount * config.ValueDim;
        _x = new float[maxBatch * embd];
        _xn = new float[maxBatch * embd];
        _q = new float[maxBatch * _qDim];
        _k = new float[maxBatch * _kDim];
        _v = new float[maxBatch * _vDim];
        _attn = new float[maxBatch * config.HeadCount * config.ValueDim];
        _proj = new float[maxBatch * embd];
        _gate = new float[maxBatch * ff];
        _up = new float[maxBatch * ff];
        var l0 = weights.Layers[0];
        if (l0.Qkv is not null || l0.Gate is null) _fused = new float[maxBatch * Math.Max(_qDim + _kDim + _vDim, 2 * ff)];
        _contextSize = contextSize;
        _ropeFactors = weights.RopeFactorsFor(config, contextSize);
        (_globalRope, _localRope) = CreateRope(_ropeFactors);
        _rowCaches = new KvCache?[maxBatch];
        _rowPositions = new int[maxBatch];
    }

    private (RopeTable Global, RopeTable Local) CreateRope(float[]? factors)
    {
        var c = _c;
        var global = new RopeTable(c.RopeDimensions, c.RopeFreqBase, c.RopeFreqScale, factors, c.RopeAttentionFactor, MaxBatch);
        var local = c.SlidingWindowLayers is null ? global
            : new RopeTable(c.RopeDimensions, c.SlidingWindowRopeFreqBase, c.SlidingWindowRopeFreqScale, factors, c.RopeAttentionFactor, MaxBatch);
        return (global, local);
    }

    /// <summary>The RoPE tables for a sequence of <paramref name="contextSize"/> positions (LongRoPE picks its factors by context size).</summary>
    private (RopeTable Global, RopeTable Local) RopeFor(int contextSize)
    {
        if (contextSize == _contextSize) return (_globalRope, _localRope);
        var factors = _w.RopeFactorsFor(_c, contextSize);
        if (ReferenceEquals(factors, _ropeFactors)) return (_globalRope, _localRope);
        return _otherRope ??= CreateRope(factors);
    }

    /// <summary>Most tokens one <see cref="Forward"/> call takes.</summary>
    public int MaxBatch { get; }

    /// <summary>The first block this instance runs (0: the whole model, from the token embeddings).</summary>
    public int FirstLayer { get; }

    /// <summary>
    /// Runs <paramref name="tokens"/> (at positions <paramref name="startPos"/>…) through the model, appending their keys
    /// and values to <paramref name="cache"/>. Writes the logits of every token (<paramref name="allLogits"/>) or of the
    /// last one into <paramref name="logits"/> ([rows × vocab]).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, int startPos, KvCache cache, Span<float> logits, bool allLogits)
    {
        Embed(tokens);
        RunLayers(tokens.Length, Single(cache, startPos, tokens.Length));
        OutputHead(tokens.Length, logits, allLogits);
    }

    /// <summary>
    /// One batched step: <paramref name="tokens"/> are the segments' tokens one after another (segment i's
    /// <see cref="BatchSegment.Count"/> tokens at positions <see cref="BatchSegment.StartPos"/>… of its cache), and each
    /// segment gets the output it asks for. A row's result is the same as if its sequence ran alone.
    /// </summary>
    public void ForwardBatch(ReadOnlySpan<int> tokens, ReadOnlySpan<BatchSegment> segments)
    {
        int n = 0;
        foreach (ref readonly var seg in segments) n += seg.Count;
        if (n != tokens.Length) throw new ArgumentException($"The segments hold {n} tokens but {tokens.Length} were given.", nameof(tokens));
        Embed(tokens);
        EmbedAdapters(tokens, segments);
        RunLayers(n, segments);
        SegmentOutputs(segments);
    }

    /// <summary>x[row] += the token-embedding change of each segment's adapters (segments without adapters pay nothing).</summary>
    private void EmbedAdapters(ReadOnlySpan<int> tokens, ReadOnlySpan<BatchSegment> segments)
    {
        int embd = _c.EmbeddingLength, row = 0;
        foreach (ref readonly var seg in segments)
        {
            if (seg.Adapters is { } set) _lora.ApplyEmbedding(set, tokens.Slice(row, seg.Count), _x.AsSpan(row * embd, seg.Count * embd));
            row += seg.Count;
        }
    }

    /// <summary>
    /// y += the adapters' change of <paramref name="target"/> in <paramref name="layer"/>, for each segment with adapters, on
    /// its own rows only (x is [n × inWidth], y is [n × outWidth]); segments without adapters pay nothing.
    /// </summary>
    private void Adapt(ReadOnlySpan<BatchSegment> segments, int layer, LoraTarget target, float[] x, int inWidth, float[] y, int outWidth)
    {
        int row = 0;
        foreach (ref readonly var seg in segments)
        {
            if (seg.Adapters is { } set)
                _lora.Apply(set, layer, target, x.AsSpan(row * inWidth, seg.Count * inWidth), seg.Count, y.AsSpan(row * outWidth, seg.Count * outWidth));
            row += seg.Count;
        }
    }

    private ReadOnlySpan<BatchSegment> Single(KvCache cache, int startPos, int n)
    {
        _single[0] = new BatchSegment(cache, startPos, n, SegmentOutput.None, null);
        return _single;
    }

    /// <summary>Writes each segment's output: last-token logits through one matmul for all segments, then all-row logits and hidden states.</summary>
    private void SegmentOutputs(ReadOnlySpan<BatchSegment> segments)
    {
        int embd = _c.EmbeddingLength, vocab = _c.VocabularySize;
        int last = 0, row = 0;
        foreach (ref readonly var seg in segments)
        {
            if (seg.Output == SegmentOutput.LastLogits)
            {
                int src = row + seg.Count - 1;
                TensorMath.RmsNorm(_x.AsSpan(src * embd, embd), _w.OutputNorm, _c.RmsNormEpsilon, _xn.AsSpan(last * embd, embd));
                last++;
            }
            row += seg.Count;
        }
        if (last > 0)
        {
            if (_logitRows.Length < last * vocab) _logitRows = new float[last * vocab];
            _matmul.Compute(_w.Output, _xn, last, _logitRows);
            int j = 0;
            foreach (ref readonly var seg in segments)
            {
                if (seg.Output != SegmentOutput.LastLogits) continue;
                if (seg.Adapters is { } set) _lora.ApplyOutput(set, _xn.AsSpan(j * embd, embd), 1, _logitRows.AsSpan(j * vocab, vocab));
                j++;
            }
            if (_c.FinalLogitSoftcap > 0) TensorMath.Softcap(_logitRows.AsSpan(0, last * vocab), _c.FinalLogitSoftcap, _logitRows.AsSpan(0, last * vocab));
            int k = 0;
            foreach (ref readonly var seg in segments)
                if (seg.Output == SegmentOutput.LastLogits) _logitRows.AsSpan(k++ * vocab, vocab).CopyTo(seg.Destination);
        }
        row = 0;
        foreach (ref readonly var seg in segments)
        {
            if (seg.Output == SegmentOutput.AllLogits)
            {
                RmsNorm(_x.AsSpan(row * embd), _w.OutputNorm, _xn, seg.Count);
                var logits = seg.Destination.AsSpan(0, seg.Count * vocab);
                _matmul.Compute(_w.Output, _xn, seg.Count, logits);
                if (seg.Adapters is { } set) _lora.ApplyOutput(set, _xn, seg.Count, logits);
                if (_c.FinalLogitSoftcap > 0) TensorMath.Softcap(logits, _c.FinalLogitSoftcap, logits);
            }
            else if (seg.Output == SegmentOutput.Hidden)
            {
                RmsNorm(_x.AsSpan(row * embd), _w.OutputNorm, seg.Destination, seg.Count);
            }
            row += seg.Count;
        }
    }

    /// <summary>
    /// Runs blocks <see cref="FirstLayer"/>… of <paramref name="n"/> tokens whose residual stream after the earlier blocks is
    /// <paramref name="residual"/> ([n × embd]), then the output head, as <see cref="Forward"/> does.
    /// </summary>
    public void ForwardFrom(ReadOnlySpan<float> residual, int n, int startPos, KvCache cache, Span<float> logits, bool allLogits)
    {
        TakeResidual(residual, n, startPos, cache);
        RunLayers(n, Single(cache, startPos, n));
        OutputHead(n, logits, allLogits);
    }

    /// <summary>Like <see cref="ForwardFrom"/>, but writes the final hidden states, as <see cref="ForwardHidden"/> does.</summary>
    public void ForwardHiddenFrom(ReadOnlySpan<float> residual, int n, int startPos, KvCache cache, Span<float> hidden)
    {
        TakeResidual(residual, n, startPos, cache);
        RunLayers(n, Single(cache, startPos, n));
        RmsNorm(_x, _w.OutputNorm, hidden, n);
    }

    /// <summary>Output head on the rows asked for: logits = RMSNorm(x)·Wout (soft-capped for Gemma 2).</summary>
    private void OutputHead(int n, Span<float> logits, bool allLogits)
    {
        int embd = _c.EmbeddingLength;
        int first = allLogits ? 0 : n - 1, rows = n - first;
        RmsNorm(_x.AsSpan(first * embd), _w.OutputNorm, _xn, rows);
        _matmul.Compute(_w.Output, _xn, rows, logits);
        if (_c.FinalLogitSoftcap > 0)
        {
            var capped = logits[..(rows * _c.VocabularySize)];
            TensorMath.Softcap(capped, _c.FinalLogitSoftcap, capped);
        }
    }

    /// <summary>
    /// Like <see cref="Forward"/>, but writes the final hidden states (after the output norm, before the output head) of
    /// every token into <paramref name="hidden"/> ([tokens × embd]): what embeddings are pooled from.
    /// </summary>
    public void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, KvCache cache, Span<float> hidden)
    {
        Embed(tokens);
        RunLayers(tokens.Length, Single(cache, startPos, tokens.Length));
        RmsNorm(_x, _w.OutputNorm, hidden, tokens.Length);
    }

    private void CheckBatch(int n, int startPos, KvCache cache, string name)
    {
        if (n <= 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(name, n, $"A batch holds 1 to {MaxBatch} tokens.");
        if (startPos < 0 || startPos + n > cache.Capacity) throw new InvalidOperationException($"The context holds {cache.Capacity} tokens; {startPos + n} were needed.");
    }

    private void TakeResidual(ReadOnlySpan<float> residual, int n, int startPos, KvCache cache)
    {
        CheckBatch(n, startPos, cache, nameof(n));
        int width = n * _c.EmbeddingLength;
        if (residual.Length < width) throw new ArgumentException($"The residual holds {residual.Length} values; {n} tokens need {width}.", nameof(residual));
        residual[..width].CopyTo(_x);
    }

    private void Embed(ReadOnlySpan<int> tokens)
    {
        if (FirstLayer != 0) throw new InvalidOperationException($"This transformer starts at block {FirstLayer}: it takes a residual stream, not tokens.");
        int n = tokens.Length, embd = _c.EmbeddingLength;
        if (n <= 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), n, $"A batch holds 1 to {MaxBatch} tokens.");

        // x = E[token] (· √n_embd for Gemma)
        for (int b = 0; b < n; b++)
        {
            int t = tokens[b];
            if ((uint)t >= (uint)_c.VocabularySize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id must be in [0, {_c.VocabularySize}).");
            _w.TokenEmbedding.DequantizeRow(t, _x.AsSpan(b * embd, embd));
        }
        if (_c.EmbeddingScale != 1.0f) TensorPrimitives.Multiply(_x.AsSpan(0, n * embd), _c.EmbeddingScale, _x.AsSpan(0, n * embd));
    }

    private void RunLayers(int n, ReadOnlySpan<BatchSegment> segments)
    {
        int embd = _c.EmbeddingLength;
        int row = 0;
        foreach (ref readonly var seg in segments)
        {
            CheckBatch(seg.Count, seg.StartPos, seg.Cache, nameof(segments));
            var (global, local) = RopeFor(seg.Cache.Capacity);
            global.Prepare(seg.StartPos, seg.Count, row);
            if (!ReferenceEquals(local, global)) local.Prepare(seg.StartPos, seg.Count, row);
            for (int b = 0; b < seg.Count; b++)
            {
                _rowCaches[row + b] = seg.Cache;
                _rowPositions[row + b] = seg.StartPos + b;
            }
            row += seg.Count;
        }

        for (int l = FirstLayer; l < _c.BlockCount; l++)
        {
            var layer = _w.Layers[l];
            bool local = _c.IsSlidingWindowLayer(l);

            // Attention block: q, k, v = RMSNorm(x)·W (+ b); per-head RMSNorm of q and k; RoPE; attend over the cache.
            RmsNorm(_x, layer.AttentionNorm, _xn, n);
            ProjectQkv(layer, n, l, segments);
            if (layer.QueryNorm is { } qn) HeadNorm(_q, qn, n * _c.HeadCount);
            if (layer.KeyNorm is { } kn) HeadNorm(_k, kn, n * _c.KvHeadCount);
            row = 0;
            foreach (ref readonly var seg in segments)
            {
                var tables = RopeFor(seg.Cache.Capacity);
                var rope = local ? tables.Local : tables.Global;
                rope.Apply(_q, _c.HeadCount, _c.HeadDim, row, seg.Count, _c.RopeStyle);
                rope.Apply(_k, _c.KvHeadCount, _c.HeadDim, row, seg.Count, _c.RopeStyle);
                seg.Cache.Store(l, seg.StartPos, seg.Count, _k.AsSpan(row * _kDim), _v.AsSpan(row * _vDim));
                row += seg.Count;
            }
            _attention.Run(_q, _rowCaches, _rowPositions, l, n, _attn, local ? _c.SlidingWindow : 0);
            _matmul.Compute(layer.Output, _attn, n, _proj);
            Adapt(segments, l, LoraTarget.Output, _attn, _c.HeadCount * _c.ValueDim, _proj, embd);
            if (layer.PostAttentionNorm is { } pan) RmsNorm(_proj, pan, _proj, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));

            // FFN block (gated): x += (act(xn·Wgate) ⊙ (xn·Wup))·Wdown, xn = RMSNorm(x).
            RmsNorm(_x, layer.FfnNorm, _xn, n);
            ProjectGateUp(layer, n, l, segments);
            _gating.Run(_gate, _up, n * _c.FeedForwardLength);
            _matmul.Compute(layer.Down, _gate, n, _proj);
            Adapt(segments, l, LoraTarget.Down, _gate, _c.FeedForwardLength, _proj, embd);
            if (layer.PostFfnNorm is { } pfn) RmsNorm(_proj, pfn, _proj, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _proj.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));
        }
    }

    private void ProjectQkv(LayerWeights layer, int n, int l, ReadOnlySpan<BatchSegment> segments)
    {
        if (layer.Qkv is { } qkv)
        {
            // Fused projection: each token's row is [q | k | v].
            int width = _qDim + _kDim + _vDim;
            _matmul.Compute(qkv, _xn, n, _fused);
            Adapt(segments, l, LoraTarget.Qkv, _xn, _c.EmbeddingLength, _fused!, width);
            for (int b = 0; b < n; b++)
            {
                var row = _fused.AsSpan(b * width, width);
                row[.._qDim].CopyTo(_q.AsSpan(b * _qDim, _qDim));
                row.Slice(_qDim, _kDim).CopyTo(_k.AsSpan(b * _kDim, _kDim));
                row.Slice(_qDim + _kDim, _vDim).CopyTo(_v.AsSpan(b * _vDim, _vDim));
            }
        }
        else
        {
            // One input: its quantized rows are reused by k and v when their weights take the same activation format.
            _matmul.Compute(layer.Query!.Value, _xn, n, _q);
            _matmul.Compute(layer.Key!.Value, _xn, n, _k, sameInput: true);
            _matmul.Compute(layer.Value!.Value, _xn, n, _v, sameInput: true);
            // The adapters after the base products, so those keep sharing the quantized input.
            int embd = _c.EmbeddingLength;
            Adapt(segments, l, LoraTarget.Query, _xn, embd, _q, _qDim);
            Adapt(segments, l, LoraTarget.Key, _xn, embd, _k, _kDim);
            Adapt(segments, l, LoraTarget.Value, _xn, embd, _v, _vDim);
        }
        AddBias(_q, layer.QueryBias, n);
        AddBias(_k, layer.KeyBias, n);
        AddBias(_v, layer.ValueBias, n);
    }

    private void ProjectGateUp(LayerWeights layer, int n, int l, ReadOnlySpan<BatchSegment> segments)
    {
        int ff = _c.FeedForwardLength;
        if (layer.Gate is { } gate)
        {
            _matmul.Compute(gate, _xn, n, _gate);
            _matmul.Compute(layer.Up, _xn, n, _up, sameInput: true);
            Adapt(segments, l, LoraTarget.Gate, _xn, _c.EmbeddingLength, _gate, ff);
            Adapt(segments, l, LoraTarget.Up, _xn, _c.EmbeddingLength, _up, ff);
            return;
        }
        // Fused gate-up: each token's row is [gate | up].
        _matmul.Compute(layer.Up, _xn, n, _fused);
        Adapt(segments, l, LoraTarget.Up, _xn, _c.EmbeddingLength, _fused!, 2 * ff);
        for (int b = 0; b < n; b++)
        {
            _fused.AsSpan(b * 2 * ff, ff).CopyTo(_gate.AsSpan(b * ff, ff));
            _fused.AsSpan(b * 2 * ff + ff, ff).CopyTo(_up.AsSpan(b * ff, ff));
        }
    }

    private static void AddBias(float[] rows, float[]? bias, int n)
    {
        if (bias is null) return;
        for (int b = 0; b < n; b++)
        {
            var r = rows.AsSpan(b * bias.Length, bias.Length);
            TensorPrimitives.Add(r, bias, r);
        }
    }

    private void RmsNorm(ReadOnlySpan<float> x, float[] gain, Span<float> dst, int rows)
    {
        int embd = _c.EmbeddingLength;
        for (int b = 0; b < rows; b++) TensorMath.RmsNorm(x.Slice(b * embd, embd), gain, _c.RmsNormEpsilon, dst.Slice(b * embd, embd));
    }

    private void HeadNorm(float[] data, float[] gain, int heads)
    {
        int hd = _c.HeadDim;
        for (int h = 0; h < heads; h++)
        {
            var v = data.AsSpan(h * hd, hd);
            TensorMath.RmsNorm(v, gain, _c.RmsNormEpsilon, v);
        }
    }
}

/// <summary>What a batched step writes for one segment.</summary>
internal enum SegmentOutput
{
    /// <summary>Nothing (a prompt chunk before its last).</summary>
    None,

    /// <summary>The logits of the segment's last token ([vocab]).</summary>
    LastLogits,

    /// <summary>The logits of every token of the segment ([count × vocab]).</summary>
    AllLogits,

    /// <summary>The final hidden state (after the output norm) of every token ([count × embd]).</summary>
    Hidden,
}

/// <summary>
/// One sequence's consecutive tokens in a batched step: <see cref="Count"/> tokens at positions <see cref="StartPos"/>… of
/// <see cref="Cache"/>, where its <see cref="Output"/> goes, and the LoRA <see cref="Adapters"/> its rows run under (null: the base model).
/// </summary>
internal readonly record struct BatchSegment(KvCache Cache, int StartPos, int Count, SegmentOutput Output, float[]? Destination, LoraStack? Adapters = null);
