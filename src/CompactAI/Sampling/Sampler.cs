using System.Numerics.Tensors;
using CompactAI.Inference;
using CompactAI.Sampling.Constraints;
using CompactAI.Sampling.Steps;

namespace CompactAI.Sampling;

/// <summary>
/// The sampler chain of one generation: chooses the next token from the logits through a list of <see cref="ISamplerStep"/>s,
/// and reports the model's own distribution (softmax at temperature 1, before any step) for confidence scoring. All
/// buffers are allocated once per vocabulary; <see cref="Next"/> allocates nothing.
/// </summary>
/// <remarks>
/// The chain (llama.cpp's order for the steps both have): logit bias → constraint mask (tokens that would break a
/// <see cref="IGenerationConstraint"/> get −∞) → penalties → the user's <see cref="SamplerStage.AfterPenalties"/> steps →
/// top-k (sorts, softmax at temperature 1) → top-p → min-p → the user's <see cref="SamplerStage.AfterTruncation"/> steps →
/// temperature → seeded draw. Greedy (temperature ≤ 0) ends with the argmax instead, without top-p and min-p, and without
/// top-k too unless there are <see cref="SamplerStage.AfterTruncation"/> steps (it never changes the argmax).
/// The evidence reported for confidence (log-probability, entropy, top-1/top-2) is computed from the raw logits, before the
/// mask: confidence must measure the model, not the grammar. A mask that leaves one allowed token would otherwise report
/// certainty the model never had, and a low raw probability for a forced token is exactly the signal that the model is out
/// of its depth. Not thread-safe: one per generation stream.
/// </remarks>
internal sealed class Sampler
{
    private readonly float[] _logits;       // working copy: the candidates' logits
    private readonly int[] _ids;            // candidate ids
    private readonly float[] _values;       // candidate probabilities (and the evidence's scratch)
    private readonly float[] _expScratch;   // exp(z − max) for the evidence
    private readonly Buffers _buffers;
    private readonly ISamplerStep[] _steps; // the whole chain, the pick last

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

        /// <summary>True while <see cref="Ids"/> hold 0, 1, … (the last token left the candidates in vocabulary order).</summary>
        public bool IdsInOrder;
    }

    public Sampler(SamplingOptions options, int vocabularySize, IGenerationConstraintState? constraint = null)
        : this(options, new Buffers(vocabularySize), constraint)
    {
    }

    /// <summary>A sampler working in <paramref name="buffers"/>, which it owns until the generation ends (one sampler at a time).</summary>
    public Sampler(SamplingOptions options, Buffers buffers, IGenerationConstraintState? constraint = null)
    {
        options.Validate();
        _buffers = buffers;
        _logits = buffers.Logits;
        _ids = buffers.Ids;
        _values = buffers.Values;
        _expScratch = buffers.Exp;
        ulong seed = options.Seed ?? (ulong)Random.Shared.NextInt64();
        _steps = Chain(options, constraint, seed);
        Reset();
    }

    /// <summary>The steps, in order: see the remarks of <see cref="Sampler"/>.</summary>
    private static ISamplerStep[] Chain(SamplingOptions o, IGenerationConstraintState? constraint, ulong seed)
    {
        var steps = new List<ISamplerStep>();
        if (o.LogitBias is { Count: > 0 } bias) steps.Add(new LogitBiasStep(bias));
        if (constraint is not null) steps.Add(new ConstraintMaskStep(constraint));
        if (PenaltiesStep.IsActive(o)) steps.Add(new PenaltiesStep(o));
        AddCustom(steps, o, SamplerStage.AfterPenalties);
        bool greedy = o.Temperature <= 0;
        bool afterTruncation = o.CustomSteps?.Any(s => s.Stage == SamplerStage.AfterTruncation) == true;
        if (!greedy || afterTruncation) steps.Add(new TopKStep(greedy ? 0 : o.TopK));
        if (!greedy)
        {
            steps.Add(new TopPStep(o.TopP));
            steps.Add(new MinPStep(o.MinP));
        }
        AddCustom(steps, o, SamplerStage.AfterTruncation);
        if (greedy)
        {
            steps.Add(new GreedyStep());
        }
        else
        {
            steps.Add(new TemperatureStep(o.Temperature));
            steps.Add(new DrawStep(seed));
        }
        return steps.ToArray();
    }

    private static void AddCustom(List<ISamplerStep> steps, SamplingOptions o, SamplerStage stage)
    {
        if (o.CustomSteps is not { } custom) return;
        foreach (var c in custom)
            if (c.Stage == stage)
                steps.Add(c.Create() ?? throw new InvalidOperationException($"A {nameof(CustomSamplerStep)} factory for {stage} returned null."));
    }

    /// <summary>
    /// Chooses a token. <paramref name="history"/> are the sequence's previous tokens (for the penalties). The chosen id is
    /// −1 when the constraint (or a custom step) leaves no token at all. The steps' state is not advanced here (see
    /// <see cref="Accept"/>). <c>tokensLeft</c> (this one included) lets the constraint steer towards finishing in time.
    /// </summary>
    public SampledToken Next(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, int tokensLeft = int.MaxValue)
    {
        int n = _logits.Length;
        var l = _logits.AsSpan();
        logits[..n].CopyTo(l);
        Evidence(l, out float logSumExp, out float entropy, out float top1, out float top2);

        var candidates = new SamplerCandidates(l, _ids, _values, history, tokensLeft, idsFilled: _buffers.IdsInOrder);
        _buffers.IdsInOrder = false; // until the chain is known to have left them in order
        foreach (var step in _steps)
        {
            step.Apply(ref candidates);
            if (candidates.Count == 0) return new SampledToken(-1, float.NegativeInfinity, entropy, top1, top2);
        }
        _buffers.IdsInOrder = candidates.IsVocabularyOrder;
        int chosen = candidates.Ids[candidates.Selected];
        return new SampledToken(chosen, logits[chosen] - logSumExp, entropy, top1, top2);
    }

    /// <summary>The <see cref="Next"/> of earlier versions, the evidence as out parameters.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, out float logProbability, out float entropy, out float top1, out float top2,
        int tokensLeft = int.MaxValue)
    {
        var t = Next(logits, history, tokensLeft);
        (logProbability, entropy, top1, top2) = (t.LogProbability, t.Entropy, t.Top1Probability, t.Top2Probability);
        return t.Id;
    }

    /// <summary>The sequence took <paramref name="token"/> (the one <see cref="Next"/> chose): every step advances over it (the constraint included).</summary>
    public void Accept(int token)
    {
        foreach (var step in _steps) step.Accept(token);
    }

    /// <summary>Back to the start of a generation: every step forgets its state (the draw restarts its seed's sequence).</summary>
    public void Reset()
    {
        foreach (var step in _steps) step.Reset();
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
}
