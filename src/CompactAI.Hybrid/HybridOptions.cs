using System.Text.RegularExpressions;

namespace CompactAI.Hybrid;

/// <summary>
/// Policy of a <see cref="HybridChatClient"/>: when to escalate, how to call the remote model, and what it costs.
/// The client copies the values it needs at construction; later changes to this object do not affect it.
/// </summary>
public sealed class HybridOptions
{
    /// <summary>Local answers with confidence below this value escalate. Default 0.5; fit it with <see cref="Calibration.ThresholdFitting"/>.</summary>
    public double ConfidenceThreshold { get; set; } = 0.5;

    /// <summary>Turns signals into confidence. Default <see cref="DefaultConfidenceScorer.Instance"/>.</summary>
    [System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
    public IConfidenceScorer Scorer { get; set; } = DefaultConfidenceScorer.Instance;

    /// <summary>
    /// When set and the local client exposes an <see cref="IPromptScorer"/>, prompts whose perplexity exceeds this value
    /// escalate before any local generation. <see langword="null"/> (default) disables the gate.
    /// </summary>
    public double? PromptPerplexityGate { get; set; }

    /// <summary>
    /// Early exit: abandon local generation (cancel the local stream) as soon as the running confidence falls below the
    /// threshold, once at least <see cref="EarlyExitMinTokens"/> tokens were generated. Default off.
    /// </summary>
    public bool EarlyExit { get; set; }

    /// <summary>Tokens to generate before early exit may trigger. Default 8.</summary>
    public int EarlyExitMinTokens { get; set; } = 8;

    /// <summary>Validators run on every local answer; any failure escalates.</summary>
    public IList<IResponseValidator> Validators { get; } = new List<IResponseValidator>();

    /// <summary>Patterns that mark a local answer as a refusal (hard failure). Defaults cover common English refusals.</summary>
    public IList<Regex> RefusalPatterns { get; } = new List<Regex>
    {
        new(@"^\s*(I'm sorry|I am sorry|Sorry),? (but )?I (can't|cannot|am unable to|won't)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)),
        new(@"^\s*I (can't|cannot|am unable to|won't) (help|assist|answer|provide|comply)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)),
        new(@"^\s*As an AI( language model)?,? I", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)),
    };

    /// <summary>How streaming requests are delivered. Default <see cref="HybridStreamingMode.Verified"/>.</summary>
    public HybridStreamingMode StreamingMode { get; set; } = HybridStreamingMode.Verified;

    /// <summary>Time allowed for one remote attempt (for a stream: until it completes). Default 30 s.</summary>
    public TimeSpan RemoteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after a failed remote attempt (so attempts = retries + 1). Default 2.</summary>
    public int MaxRemoteRetries { get; set; } = 2;

    /// <summary>First back-off delay; retry <c>n</c> (from 1) waits <c>base · 2ⁿ⁻¹</c> capped at <see cref="RetryMaxDelay"/>, times a jitter factor in [0.5, 1). Default 200 ms.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Cap on one back-off delay. A 429/503 whose <c>Retry-After</c> (or <c>retry-after-ms</c>) asks for at most this
    /// long is retried after the wait it asked for; one that asks for longer is not retried (the request falls back). Default 5 s.
    /// </summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Failed remote attempts that open the circuit breaker: it opens when at least this many attempts were made in its
    /// sampling window (one minute, or long enough for this many timed-out attempts) and none succeeded. Polly needs at
    /// least 2, so 1 acts as 2. Default 5.
    /// </summary>
    public int CircuitBreakerFailureThreshold { get; set; } = 5;

    /// <summary>How long the breaker stays open before one trial call is let through (at least 0.5 s, Polly's floor). Default 30 s.</summary>
    public TimeSpan CircuitBreakerCoolDown { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most escalations per sliding minute; beyond it requests stay local, flagged <see cref="HybridRoute.LocalBudget"/>. <see langword="null"/>: unlimited.</summary>
    public int? MaxRemoteCallsPerMinute { get; set; }

    /// <summary>Most escalations per sliding 24 hours; beyond it requests stay local, flagged <see cref="HybridRoute.LocalBudget"/>. <see langword="null"/>: unlimited.</summary>
    public int? MaxRemoteCallsPerDay { get; set; }

    /// <summary>
    /// Your own Polly pipeline for remote calls, used instead of the one built from <see cref="RemoteTimeout"/>, the
    /// retry, breaker and budget options (which are then ignored). Each execution is one remote attempt; a
    /// <see cref="Polly.CircuitBreaker.BrokenCircuitException"/> before any attempt is reported as
    /// <see cref="HybridRoute.LocalCircuitOpen"/>, a <see cref="Polly.RateLimiting.RateLimiterRejectedException"/> as
    /// <see cref="HybridRoute.LocalBudget"/>. <see langword="null"/> (default): built from the options.
    /// </summary>
    public Polly.ResiliencePipeline? RemotePipeline { get; set; }

    /// <summary>Remote price per 1,000 prompt tokens, for the cost-saved metric. Default 0.</summary>
    public double RemoteInputPricePer1KTokens { get; set; }

    /// <summary>Remote price per 1,000 completion tokens, for the cost-saved metric. Default 0.</summary>
    public double RemoteOutputPricePer1KTokens { get; set; }

    /// <summary>The escalation rate calibration predicted at the chosen threshold; enables the drift gauge.</summary>
    public double? CalibratedEscalationRate { get; set; }

    /// <summary>Opt-in log of escalated requests (prompt, both answers, confidence) for distillation.</summary>
    public IDistillationSink? DistillationSink { get; set; }

    /// <summary>A copy, so a client is not affected by later changes to the caller's object.</summary>
    internal HybridOptions Clone()
    {
        var validators = new List<IResponseValidator>(Validators);
        var refusals = new List<Regex>(RefusalPatterns);
        var copy = new HybridOptions
        {
            ConfidenceThreshold = ConfidenceThreshold,
            Scorer = Scorer,
            PromptPerplexityGate = PromptPerplexityGate,
            EarlyExit = EarlyExit,
            EarlyExitMinTokens = EarlyExitMinTokens,
            StreamingMode = StreamingMode,
            RemoteTimeout = RemoteTimeout,
            MaxRemoteRetries = MaxRemoteRetries,
            RetryBaseDelay = RetryBaseDelay,
            RetryMaxDelay = RetryMaxDelay,
            CircuitBreakerFailureThreshold = CircuitBreakerFailureThreshold,
            CircuitBreakerCoolDown = CircuitBreakerCoolDown,
            MaxRemoteCallsPerMinute = MaxRemoteCallsPerMinute,
            MaxRemoteCallsPerDay = MaxRemoteCallsPerDay,
            RemotePipeline = RemotePipeline,
            RemoteInputPricePer1KTokens = RemoteInputPricePer1KTokens,
            RemoteOutputPricePer1KTokens = RemoteOutputPricePer1KTokens,
            CalibratedEscalationRate = CalibratedEscalationRate,
            DistillationSink = DistillationSink,
        };
        copy.RefusalPatterns.Clear();
        foreach (Regex pattern in refusals)
        {
            copy.RefusalPatterns.Add(pattern);
        }

        foreach (IResponseValidator validator in validators)
        {
            copy.Validators.Add(validator);
        }

        return copy;
    }

    /// <summary>Checks the values, throwing on the first invalid one.</summary>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ConfidenceThreshold, 0.0, nameof(ConfidenceThreshold));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ConfidenceThreshold, 1.0, nameof(ConfidenceThreshold));
        ArgumentNullException.ThrowIfNull(Scorer, nameof(Scorer));
        ArgumentOutOfRangeException.ThrowIfNegative(EarlyExitMinTokens, nameof(EarlyExitMinTokens));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RemoteTimeout, TimeSpan.Zero, nameof(RemoteTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRemoteRetries, nameof(MaxRemoteRetries));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBaseDelay, TimeSpan.Zero, nameof(RetryBaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaxDelay, TimeSpan.Zero, nameof(RetryMaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(CircuitBreakerFailureThreshold, 1, nameof(CircuitBreakerFailureThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThan(CircuitBreakerCoolDown, TimeSpan.Zero, nameof(CircuitBreakerCoolDown));
        if (MaxRemoteCallsPerMinute is int perMinute)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(perMinute, nameof(MaxRemoteCallsPerMinute));
        }

        if (MaxRemoteCallsPerDay is int perDay)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(perDay, nameof(MaxRemoteCallsPerDay));
        }
    }
}
