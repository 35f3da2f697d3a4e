using System.Numerics.Tensors;
using CompactAI.Sampling.Constraints;

namespace CompactAI.Sampling.Steps;

// The steps of the default chain (see Sampler): each is one llama.cpp sampler's rule, over the public candidate type.

/// <summary>Adds <see cref="SamplingOptions.LogitBias"/> to the logits of its tokens (vocabulary order).</summary>
internal sealed class LogitBiasStep : ISamplerStep
{
    private readonly int[] _ids;
    private readonly float[] _bias;

    public LogitBiasStep(IReadOnlyDictionary<int, float> bias)
    {
        _ids = new int[bias.Count];
        _bias = new float[bias.Count];
        int i = 0;
        foreach (var (id, b) in bias) { _ids[i] = id; _bias[i] = b; i++; }
    }

    public void Apply(ref SamplerCandidates candidates)
    {
        var l = candidates.Logits;
        for (int i = 0; i < _ids.Length; i++)
            if ((uint)_ids[i] < (uint)l.Length) l[_ids[i]] += _bias[i];
    }

    public void Accept(int token) { }

    public void Reset() { }
}

/// <summary>
/// Sets to −∞ every token a <see cref="IGenerationConstraintState"/> forbids (vocabulary order); no candidate remains when it
/// allows none. Accepting a token advances the constraint.
/// </summary>
internal sealed class ConstraintMaskStep(IGenerationConstraintState state) : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates)
    {
        if (!state.ApplyMask(candidates.Logits, candidates.TokensLeft)) candidates.Keep(0, 0);
    }

    public void Accept(int token) => state.Accept(token);

    public void Reset() { }
}

/// <summary>
/// Repetition, frequency and presence penalties over the last <see cref="SamplingOptions.PenaltyLastN"/> tokens of the
/// sequence (vocabulary order): a repeated token's positive logit is divided by the repeat penalty, a negative one
/// multiplied, then count × frequency + presence is subtracted.
/// </summary>
internal sealed class PenaltiesStep(SamplingOptions o) : ISamplerStep
{
    private readonly Dictionary<int, int> _counts = new();

    public static bool IsActive(SamplingOptions o) =>
        (o.RepeatPenalty != 1.0f || o.FrequencyPenalty != 0 || o.PresencePenalty != 0) && o.PenaltyLastN != 0;

    public void Apply(ref SamplerCandidates candidates)
    {
        var history = candidates.History;
        if (history.IsEmpty) return;
        var l = candidates.Logits;
        var recent = history[Math.Max(0, history.Length - o.PenaltyLastN)..];
        _counts.Clear();
        foreach (int t in recent) _counts[t] = _counts.GetValueOrDefault(t) + 1;
        foreach (var (t, c) in _counts)
        {
            if ((uint)t >= (uint)l.Length) continue;
            if (l[t] <= 0) l[t] *= o.RepeatPenalty;
            else l[t] /= o.RepeatPenalty;
            l[t] -= c * o.FrequencyPenalty + o.PresencePenalty;
        }
    }

    public void Accept(int token) { }

    public void Reset() { }
}

/// <summary>
/// Keeps the K largest logits (0 or less: all), sorted largest first (ties in no set order), drops banned (−∞) ones but
/// the last, and computes the probabilities at temperature 1 over those kept.
/// </summary>
internal sealed class TopKStep(int k) : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates)
    {
        int n = candidates.Count;
        int keep = k <= 0 || k > n ? n : k;
        var v = candidates.Logits;
        var ids = candidates.WritableIds;
        // Partial selection: the k best end up first (any order), then sort just those.
        if (keep < n) QuickSelect(v, ids, 0, n - 1, keep);
        v[..keep].Sort(ids[..keep], SamplerCandidates.DescendingComparer.Instance);
        candidates.Keep(0, keep);
        candidates.MarkSorted();
        // Banned tokens (−∞ from the bias or the constraint) sort last: never let them be candidates.
        int count = keep;
        while (count > 1 && float.IsNegativeInfinity(v[count - 1])) count--;
        candidates.Keep(0, count);
        candidates.Softmax(1.0f);
    }

    public void Accept(int token) { }

    public void Reset() { }

    /// <summary>Moves the k largest values (with their ids) to [0, k).</summary>
    private static void QuickSelect(Span<float> v, Span<int> ids, int lo, int hi, int k)
    {
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
}

/// <summary>Keeps the smallest prefix of the sorted candidates whose probability reaches P (no renormalisation).</summary>
internal sealed class TopPStep(float p) : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates)
    {
        if (p >= 1.0f) return;
        var probabilities = candidates.Probabilities;
        double cum = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cum += probabilities[i];
            if (cum >= p) { candidates.Keep(0, i + 1); return; }
        }
    }

    public void Accept(int token) { }

    public void Reset() { }
}

/// <summary>Drops the sorted candidates less probable than MinP × the most probable one (the first always stays).</summary>
internal sealed class MinPStep(float minP) : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates)
    {
        if (minP <= 0) return;
        var probabilities = candidates.Probabilities;
        float threshold = probabilities[0] * minP;
        int keep = 1;
        while (keep < probabilities.Length && probabilities[keep] >= threshold) keep++;
        candidates.Keep(0, keep);
    }

    public void Accept(int token) { }

    public void Reset() { }
}

/// <summary>The probabilities at the sampling temperature, over the remaining candidates' logits.</summary>
internal sealed class TemperatureStep(float temperature) : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates) => candidates.Softmax(temperature);

    public void Accept(int token) { }

    public void Reset() { }
}

/// <summary>The seeded draw from the remaining candidates' probabilities (xorshift64*; <see cref="Reset"/> restarts the seed's sequence).</summary>
internal sealed class DrawStep : ISamplerStep
{
    private readonly ulong _seed;
    private ulong _rng;

    public DrawStep(ulong seed)
    {
        _seed = seed;
        Reset();
    }

    public void Apply(ref SamplerCandidates candidates)
    {
        _rng ^= _rng >> 12; _rng ^= _rng << 25; _rng ^= _rng >> 27;
        double u = ((_rng * 0x2545F4914F6CDD1DUL) >> 11) * (1.0 / (1UL << 53));
        var probabilities = candidates.Probabilities;
        double cum = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cum += probabilities[i];
            if (u < cum) { candidates.Selected = i; return; }
        }
        candidates.Selected = probabilities.Length - 1;
    }

    public void Accept(int token) { }

    public void Reset()
    {
        _rng = _seed ^ 0x9E3779B97F4A7C15UL;
        if (_rng == 0) _rng = 1;
    }
}

/// <summary>The greedy pick: the largest remaining logit (ties: the lower id).</summary>
internal sealed class GreedyStep : ISamplerStep
{
    public void Apply(ref SamplerCandidates candidates)
    {
        var l = candidates.Logits;
        if (candidates.IsVocabularyOrder)
        {
            candidates.Selected = TensorPrimitives.IndexOfMax(l); // the first of equal maxima: the lowest id
            return;
        }
        var ids = candidates.Ids;
        int best = 0;
        for (int i = 1; i < l.Length; i++)
            if (l[i] > l[best] || (l[i] == l[best] && ids[i] < ids[best])) best = i;
        candidates.Selected = best;
    }

    public void Accept(int token) { }

    public void Reset() { }
}
