using CompactAI.Sampling;
using CompactAI.Sampling.Constraints;

namespace CompactAI.Inference;

/// <summary>Options for one generation.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (the context size also bounds it).</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>How tokens are chosen (default: llama.cpp's defaults; <see cref="SamplingOptions.Greedy"/> for argmax).</summary>
    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Generation stops when the text contains one of these; the stop string is not part of the output.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = Array.Empty<string>();

    /// <summary>Keep generating past end-of-generation tokens (for benchmarks).</summary>
    public bool IgnoreEndOfSequence { get; init; }

    /// <summary>Add the model's BOS token in front of a text prompt, as its metadata says (default true).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Recognise control-token texts (e.g. <c>&lt;|im_start|&gt;</c>) in a text prompt.</summary>
    public bool ParseSpecialTokens { get; init; }

    /// <summary>
    /// Restricts the output (e.g. <see cref="JsonConstraint.AnyObject"/> or <see cref="JsonConstraint.FromSchema(string)"/>):
    /// the sampler masks every token that would break it, and generation ends once it is complete. The constraint is told
    /// how many tokens are left and steers towards finishing within them (a JSON document is closed in time when
    /// <see cref="MaxTokens"/> allows its shortest completion). A document cut by the token limit ends with
    /// <see cref="FinishReason.MaxTokens"/>, never as if it were complete. Null: no constraint.
    /// </summary>
    public IGenerationConstraint? Constraint { get; init; }

    /// <summary>
    /// How many of the most likely alternatives each <see cref="GeneratedToken"/> reports in
    /// <see cref="GeneratedToken.TopLogProbabilities"/> (0 to <see cref="MaxTopLogProbabilities"/>; default 0: none, and nothing is
    /// computed or allocated for them).
    /// </summary>
    public int TopLogProbabilities { get; init; }

    /// <summary>The largest <see cref="TopLogProbabilities"/> accepted.</summary>
    public const int MaxTopLogProbabilities = 20;

    /// <summary>
    /// LoRA adapters applied during this generation, each with its scale (<see cref="LoraAdapter.WithScale"/>; a bare
    /// <see cref="LoraAdapter"/> converts at scale 1). Several stack: their changes add up, in order. The adapters must be
    /// loaded for the session's model (<see cref="CompactModel.LoadAdapter"/>). Keys and values computed under one set are
    /// never reused under another (a different set or scale re-runs the prompt); entries at scale 0 are ignored, so they
    /// share the base model's cache. Empty (default): the base model.
    /// </summary>
    public IReadOnlyList<ScaledLoraAdapter> Adapters { get; init; } = Array.Empty<ScaledLoraAdapter>();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for invalid values.</summary>
    public void Validate()
    {
        if (MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "MaxTokens must not be negative.");
        if (TopLogProbabilities is < 0 or > MaxTopLogProbabilities)
            throw new ArgumentOutOfRangeException(nameof(TopLogProbabilities), TopLogProbabilities, $"TopLogProbabilities must be between 0 and {MaxTopLogProbabilities}.");
        ArgumentNullException.ThrowIfNull(Sampling);
        ArgumentNullException.ThrowIfNull(StopSequences);
        ArgumentNullException.ThrowIfNull(Adapters);
        Sampling.Validate();
        foreach (var s in StopSequences)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("Stop sequences must be non-empty.", nameof(StopSequences));
    }
}

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced an end-of-generation token, or the <see cref="GenerationOptions.Constraint"/>'s output is complete and nothing else may follow.</summary>
    EndOfSequence,
    /// <summary><see cref="GenerationOptions.MaxTokens"/> was reached.</summary>
    MaxTokens,
    /// <summary>A stop sequence appeared.</summary>
    StopSequence,
    /// <summary>The context window is full.</summary>
    ContextFull,
}

/// <summary>The outcome of a completed generation.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(string text, IReadOnlyList<GeneratedToken> tokens, IReadOnlyList<int> promptTokens, FinishReason finishReason,
        int promptTokensEvaluated, TimeSpan promptTime, TimeSpan generationTime)
    {
        Text = text;
        Tokens = tokens;
        PromptTokens = promptTokens;
        FinishReason = finishReason;
        PromptTokensEvaluated = promptTokensEvaluated;
        PromptTime = promptTime;
        GenerationTime = generationTime;
    }

    /// <summary>The generated text (without a matched stop sequence).</summary>
    public string Text { get; }

    /// <summary>The generated tokens with their probabilities.</summary>
    public IReadOnlyList<GeneratedToken> Tokens { get; }

    /// <summary>The prompt's tokens (with BOS when the model adds one).</summary>
    public IReadOnlyList<int> PromptTokens { get; }

    /// <summary>Why generation ended.</summary>
    public FinishReason FinishReason { get; }

    /// <summary>Prompt tokens actually run through the model (fewer than the prompt when a cached prefix was reused).</summary>
    public int PromptTokensEvaluated { get; }

    /// <summary>Time spent processing the prompt.</summary>
    public TimeSpan PromptTime { get; }

    /// <summary>Time spent generating.</summary>
    public TimeSpan GenerationTime { get; }
}
