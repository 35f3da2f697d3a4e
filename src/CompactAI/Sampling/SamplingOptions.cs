namespace CompactAI.Sampling;

/// <summary>
/// How the next token is chosen. Defaults are llama.cpp's: the chain logit bias → (constraint mask) → penalties → top-k 40 →
/// top-p 0.95 → min-p 0.05 → temperature 0.8 → seeded draw. A temperature of 0 or less means greedy (argmax).
/// <see cref="CustomSteps"/> adds the user's own steps at two points of that chain.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Greedy decoding: always the most probable token.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Softmax temperature; 0 or less selects the argmax.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep the K most probable tokens (0 or less: all).</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set whose probability reaches P (1: all).</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens less probable than MinP × the most probable one (0: none).</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Repetition penalty over the last <see cref="PenaltyLastN"/> tokens: positive logits are divided by it, negative ones multiplied (1: off).</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>Subtracted from a logit once per previous occurrence (0: off).</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Subtracted from a logit of any token that occurred (0: off).</summary>
    public float PresencePenalty { get; init; }

    /// <summary>How many recent tokens the penalties look at.</summary>
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>Seed of the random draw; null picks one at random.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Added to the logits of the given tokens before anything else (use <see cref="float.NegativeInfinity"/> to ban a token).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>
    /// The user's own sampler steps (e.g. DRY, XTC), each inserted at its <see cref="CustomSamplerStep.Stage"/>:
    /// <see cref="SamplerStage.AfterPenalties"/> runs after the penalties and before top-k, <see cref="SamplerStage.AfterTruncation"/>
    /// after min-p and before temperature; steps of one stage run in list order. Each generation calls every factory once,
    /// so each sequence has its own instances (options may be shared by concurrent generations). Null or empty: the default chain.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.Experimental(SamplingDiagnosticIds.SamplerSteps)]
    public IReadOnlyList<CustomSamplerStep>? CustomSteps { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for values outside their ranges.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a number.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "MinP must be in [0, 1].");
        if (!(RepeatPenalty > 0)) throw new ArgumentOutOfRangeException(nameof(RepeatPenalty), RepeatPenalty, "RepeatPenalty must be positive (1 disables it).");
        if (PenaltyLastN < 0) throw new ArgumentOutOfRangeException(nameof(PenaltyLastN), PenaltyLastN, "PenaltyLastN must not be negative.");
        if (CustomSteps is { } steps)
            for (int i = 0; i < steps.Count; i++)
                if (steps[i] is null || steps[i].Create is null)
                    throw new ArgumentException($"CustomSteps[{i}] is null or has no factory.", nameof(CustomSteps));
    }
}
