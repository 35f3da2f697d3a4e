using CompactAI.Models;

namespace CompactAI.Inference;

/// <summary>Brings a sequence to a prompt (reusing the cached prefix) and keeps the last token's logits in <see cref="Sequence.Logits"/>.</summary>
internal sealed class PrefillWork : ScheduledWork
{
    public PrefillWork(Sequence sequence, IReadOnlyList<int> prompt, CancellationToken ct) : base(sequence, ct)
    {
        PromptTokensEvaluated = prompt.Count - sequence.ReusePrefix(prompt);
        SetPending(prompt, prompt.Count - PromptTokensEvaluated);
    }

    /// <summary>Prompt tokens run through the model.</summary>
    public int PromptTokensEvaluated { get; }

    public override SegmentOutput OutputFor(int count, bool last) => last ? SegmentOutput.LastLogits : SegmentOutput.None;

    public override float[]? DestinationFor(SegmentOutput output) => output == SegmentOutput.LastLogits ? Sequence.Logits : null;

    public override bool Evaluated(int count) => Remaining > 0;
}

/// <summary>
/// Teacher-forced scoring: every chunk's logits, and for each token after the first the natural-log probability given
/// the ones before it. Runs on an emptied sequence; the cache afterwards holds every token but the last.
/// </summary>
internal sealed class ScoreWork : ScheduledWork
{
    private readonly IReadOnlyList<int> _tokens;
    private readonly float[] _logits;
    private readonly int _vocab;
    private int _start;

    public ScoreWork(Sequence sequence, IReadOnlyList<int> tokens, int maxChunk, CancellationToken ct) : base(sequence, ct)
    {
        _tokens = tokens;
        _vocab = sequence.Logits.Length;
        Result = new float[Math.Max(0, tokens.Count - 1)];
        _logits = new float[Math.Min(maxChunk, tokens.Count) * _vocab];
        sequence.Tokens.Clear();
        SetPending(tokens, 0);
    }

    /// <summary>log p(token i + 1 | tokens ≤ i).</summary>
    public float[] Result { get; }

    public override SegmentOutput OutputFor(int count, bool last) => SegmentOutput.AllLogits;

    public override float[]? DestinationFor(SegmentOutput output) => _logits;

    public override bool Evaluated(int count)
    {
        // Row i predicts token start + i + 1.
        for (int i = 0; i < count && _start + i + 1 < _tokens.Count; i++)
        {
            var row = _logits.AsSpan(i * _vocab, _vocab);
            Result[_start + i] = row[_tokens[_start + i + 1]] - Tensors.TensorMath.LogSumExp(row);
        }
        _start += count;
        if (Remaining > 0) return true;
        // The cache now holds every token; only the next-token logits were not kept.
        Sequence.Tokens.RemoveAt(Sequence.Tokens.Count - 1);
        return false;
    }
}

/// <summary>The mean of the final hidden states of the tokens, L2-normalised. Runs on an emptied sequence and leaves it empty.</summary>
internal sealed class EmbedWork : ScheduledWork
{
    private readonly float[] _hidden;
    private readonly double[] _sum;
    private readonly int _embd, _count;

    public EmbedWork(Sequence sequence, IReadOnlyList<int> tokens, int embeddingLength, int maxChunk, CancellationToken ct) : base(sequence, ct)
    {
        _embd = embeddingLength;
        _count = tokens.Count;
        _hidden = new float[Math.Min(maxChunk, tokens.Count) * embeddingLength];
        _sum = new double[embeddingLength];
        sequence.Tokens.Clear();
        SetPending(tokens, 0);
    }

    private float[]? _result;

    /// <summary>The embedding, once the work is done.</summary>
    public float[] Embedding => _result!;

    public override SegmentOutput OutputFor(int count, bool last) => SegmentOutput.Hidden;

    public override float[]? DestinationFor(SegmentOutput output) => _hidden;

    public override bool Evaluated(int count)
    {
        for (int i = 0; i < count; i++)
            for (int d = 0; d < _embd; d++) _sum[d] += _hidden[i * _embd + d];
        if (Remaining > 0) return true;
        Sequence.Tokens.Clear(); // the logits of the last token were not computed: do not offer this cache for reuse
        var embedding = new float[_embd];
        for (int d = 0; d < _embd; d++) embedding[d] = (float)(_sum[d] / _count);
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm(embedding);
        if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(embedding, norm, embedding);
        _result = embedding;
        return false;
    }
}
