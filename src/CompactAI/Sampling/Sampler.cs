using System.Numerics.Tensors;
using CompactAI.Inference;
using CompactAI.Sampling.Constraints;

namespace CompactAI.Sampling;

/// <summary>
/// Chooses the next token from the logits, and reports the model's own distribution (softmax at temperature 1, before
/// any truncation) for confidence scoring. All buffers are allocated once per vocabulary; <see cref="Sample"/> allocates nothing.
/// </summary>
/// <remarks>
/// The chain: logit bias → constraint mask (tokens that would break a <see cref="IGenerationConstraint"/> get −∞) →
/// penalties → greedy or top-k/top-p/min-p/temperature/draw. The evidence reported for confidence (log-probability,
/// entropy, top-1/top-2) is computed from the raw logits, before the mask: confidence must measure the model, not the
/// grammar. A mask that leaves one allowed token would otherwise report certainty the model never had, and a low raw
/// probability for a forced token is exactly the signal that the model is out of its depth.
/// Not thread-safe: one per generation stream.
/// </remarks>
internal sealed class Sampler
{
    private readonly SamplingOptions _o;
    private readonly float[] _logits;       // working copy
    private readonly int[] _ids;            // candidate ids
    private readonly float[] _values;       // candidate logits, then probabilities
    private readonly float[] _expScratch;   // exp(z − max) for the evidence
    private readonly Dictionary<int, int> _counts = new();
    private readonly IGenerationConstraintState? _constraint;
    private ulong _rng;

    /// <summary>
    /// The vocabulary-sized working arrays of a sampler: four large-object-heap arrays (2 MB for a 128K vocabulary), which a
    /// session keeps and hands to each generation's sampler rather than allocating them per request.
    /// </summary>
    internal sealed class Buffers(int vocabularySize)
    {
        public readonly float[] Logits = new float[vocabularySize];
        public readonly int[] Ids = new int[vocabularySize];
        public readonly float[] Values = new float[vocabularySize];
        public readonly float[] Exp = new float[vocabularySize];
    }

    public Sampler(SamplingOptions options, int vocabularySize, IGenerationConstraintState? constraint = null)
        : this(options, new Buffers(vocabularySize), constraint)
    {
    }

    /// <summary>A sampler working in <paramref name="buffers"/>, which it owns until the generation ends (one sampler at a time).</summary>
    public Sampler(SamplingOptions options, Buffers buffers, IGenerationConstraintState? constraint = null)
    {
        _constraint = constraint;
        options.Validate();
        _o = options;
        _logits = buffers.Logits;
        _ids = buffers.Ids;
        _values = buffers.Values;
        _expScratch = buffers.Exp;
        ulong seed = options.Seed ?? (ulong)Random.Shared.NextInt64();
        _rng = seed ^ 0x9E3779B97F4A7C15UL;
        if (_rng == 0) _rng = 1;
    }

    /// <summary>
    /// Chooses a token. <paramref name="history"/> are the sequence's previous tokens (for the penalties). Returns −1
    /// when the constraint allows no token at all. The constraint's state is not advanced here (see <see cref="IGenerationConstraintState.Accept"/>).
    /// <c>tokensLeft</c> (this one included) lets the constraint steer towards finishing in time.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, out float logProbability, out float entropy, out float top1, out float top2,
        int tokensLeft = int.MaxValue)
    {
        int n = _logits.Length;
        var l = _logits.AsSpan();
        logits[..n].CopyTo(l);
        Evidence(l, out float logSumExp, out entropy, out top1, out top2);

        if (_o.LogitBias is { } bias)
            foreach (var (id, b) in bias)
                if ((uint)id < (uint)n) l[id] += b;
        if (_constraint is not null && !_constraint.ApplyMask(l, tokensLeft))
        {
            logProbability = float.NegativeInfinity;
            return -1;
        }
        ApplyPenalties(l, history);

        int chosen;
        if (_o.Temperature <= 0)
        {
            chosen = TensorPrimitives.IndexOfMax(l);
        }
        else
        {
            int count = TopK(l);
            // Banned tokens (−∞ from the bias or the constraint) sort last: never let them be candidates.
            while (count > 1 && float.IsNegativeInfinity(_values[count - 1])) count--;
            SoftmaxCandidates(count, 1.0f);
            count = TopP(count);
            count = MinP(count);
            SoftmaxFromLogits(l, count, _o.Temperature);
            chosen = Draw(count);
        }
        logProbability = logits[chosen] - logSumExp;
        return chosen;
    }

    /// <summary>
    /// The <paramref name="count"/> most likely tokens of the raw distribution, most likely first (ties: lower id first), as
    /// log-probabilities <c>z − log Z</c>. <paramref name="logSumExp"/> is log Z (the chosen token's logit minus its
    /// log-probability). One pass over the vocabulary keeping a sorted list of <paramref name="count"/>; only the result is allocated.
    /// </summary>
    public static TokenLogProbability[] TopLogProbabilities(ReadOnlySpan<float> logits, float logSumExp, int count)
    {
        count = Math.Min(count, logits.Length);
        var top = new TokenLogProbability[count];
        if (count == 0) return top;
        int filled = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float z = logits[i];
            if (filled == count && !(z > top[count - 1].LogProbability)) continue;
            if (float.IsNaN(z)) continue;
            int j = filled < count ? filled++ : count - 1;
            while (j > 0 && z > top[j - 1].LogProbability) { top[j] = top[j - 1]; j--; }
            top[j] = new TokenLogProbability(i, z);
        }
        for (int i = 0; i < filled; i++) top[i] = top[i] with { LogProbability = top[i].LogProbability - logSumExp };
        return filled == count ? top : top[..filled];
    }

    /// <summary>
    /// The raw distribution's log-normaliser, entropy and two largest probabilities, vectorised over the vocabulary:
    /// with e = exp(z − max), log Z = max + log Σe and H = log Σe − Σ e·(z − max) / Σe.
    /// </summary>
    private void Evidence(ReadOnlySpan<float> logits, out float logSumExp, out float entropy, out float top1, out float top2)
    {
        var shifted = _values.AsSpan(0, logits.Length); // scratch: overwritten by the truncation steps afterwards
        int best = TensorPrimitives.IndexOfMax(logits);
        float max = logits[best];
        TensorPrimitives.Subtract(logits, max, shifted);
        // Σ e·(z − max) needs e and (z − max) together: e goes to a second buffer.
        var exp = _expScratch.AsSpan(0, logits.Length);
        TensorPrimitives.Exp(shifted, exp);
        double sum = TensorPrimitives.Sum(exp);
        float weighted = TensorPrimitives.Dot(exp, shifted);
        float second = float.NegativeInfinity;
        for (int i = 0; i < logits.Length; i++)
            if (i != best && logits[i] > second) second = logits[i];
        double logSum = Math.Log(sum);
        logSumExp = max + (float)logSum;
        entropy = (float)(logSum - weighted / sum);
        top1 = MathF.Exp(max - logSumExp);
        top2 = float.IsNegativeInfinity(second) ? 0 : MathF.Exp(second - logSumExp);
    }

    private void ApplyPenalties(Span<float> l, ReadOnlySpan<int> history)
    {
        if (_o.RepeatPenalty == 1.0f && _o.FrequencyPenalty == 0 && _o.PresencePenalty == 0) return;
        if (_o.PenaltyLastN == 0 || history.IsEmpty) return;
        var recent = history[Math.Max(0, history.Length - _o.PenaltyLastN)..];
        _counts.Clear();
        foreach (int t in recent) _counts[t] = _counts.GetValueOrDefault(t) + 1;
        foreach (var (t, c) in _counts)
        {
            if ((uint)t >= (uint)l.Length) continue;
            if (l[t] <= 0) l[t] *= _o.RepeatPenalty;
            else l[t] /= _o.RepeatPenalty;
            l[t] -= c * _o.FrequencyPenalty + _o.PresencePenalty;
        }
    }

    /// <summary>Keeps the K largest logits in _ids/_values, sorted descending; returns how many.</summary>
    private int TopK(ReadOnlySpan<float> l)
    {
        int n = l.Length;
        int k = _o.TopK <= 0 || _o.TopK > n ? n : _o.TopK;
        for (int i = 0; i < n; i++) { _ids[i] = i; _values[i] = l[i]; }
        if (k < n)
        {
            // Partial selection: the k best end up first (any order), then sort just those.
            QuickSelect(_values, _ids, 0, n - 1, k);
        }
        Array.Sort(_values, _ids, 0, k, DescendingComparer.Instance);
        return k;
    }

    private void SoftmaxCandidates(int count, float temperature)
    {
        var v = _values.AsSpan(0, count);
        float max = v[0];
        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            float e = MathF.Exp((v[i] - max) / temperature);
            v[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(v, (float)(1 / sum), v);
    }

    private int TopP(int count)
    {
        if (_o.TopP >= 1.0f) return count;
        double cum = 0;
        for (int i = 0; i < count; i++)
        {
            cum += _values[i];
            if (cum >= _o.TopP) return i + 1;
        }
        return count;
    }

    private int MinP(int count)
    {
        if (_o.MinP <= 0) return count;
        float threshold = _values[0] * _o.MinP;
        int keep = 1;
        while (keep < count && _values[keep] >= threshold) keep++;
        return keep;
    }

    private void SoftmaxFromLogits(ReadOnlySpan<float> l, int count, float temperature)
    {
        for (int i = 0; i < count; i++) _values[i] = l[_ids[i]];
        SoftmaxCandidates(count, temperature);
    }

    private int Draw(int count)
    {
        // xorshift64*: fast, seedable, good enough for sampling.
        _rng ^= _rng >> 12; _rng ^= _rng << 25; _rng ^= _rng >> 27;
        double u = ((_rng * 0x2545F4914F6CDD1DUL) >> 11) * (1.0 / (1UL << 53));
        double cum = 0;
        for (int i = 0; i < count; i++)
        {
            cum += _values[i];
            if (u < cum) return _ids[i];
        }
        return _ids[count - 1];
    }

    private static void QuickSelect(float[] v, int[] ids, int lo, int hi, int k)
    {
        // Moves the k largest values to [0, k).
        while (lo < hi)
        {
            float pivot = v[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (v[i] > pivot) i++;
                while (v[j] < pivot) j--;
                if (i <= j)
                {
                    (v[i], v[j]) = (v[j], v[i]);
                    (ids[i], ids[j]) = (ids[j], ids[i]);
                    i++; j--;
                }
            }
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else return;
        }
    }

    private sealed class DescendingComparer : IComparer<float>
    {
        public static readonly DescendingComparer Instance = new();
        public int Compare(float x, float y) => y.CompareTo(x);
    }
}
