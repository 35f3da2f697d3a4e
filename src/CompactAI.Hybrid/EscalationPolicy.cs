using System.Text.RegularExpressions;

namespace CompactAI.Hybrid;

/// <summary>
/// Judges a local answer. Hard failures come first and escalate whatever the confidence: early exit, truncation at the
/// token limit, empty output, a refusal, a validator failure; then the confidence is compared with the threshold.
/// The confidence is computed in every case, so the decision always records it.
/// </summary>
internal sealed class EscalationPolicy
{
    private readonly HybridOptions _options;

    public EscalationPolicy(HybridOptions options) => _options = options;

    public async Task<LocalVerdict> EvaluateAsync(LocalOutcome local, CancellationToken cancellationToken)
    {
        ConfidenceSignals signals = ConfidenceSignals.FromTokens(local.Tokens, local.PromptPerplexity);
        double confidence = _options.Scorer.Score(signals);
        string text = local.Response.Text;
        if (local.EarlyExited)
        {
            return new(EscalationTrigger.EarlyExit,
                $"early exit: running confidence {confidence:0.###} fell below {_options.ConfidenceThreshold:0.###} after {local.Tokens.Count} tokens",
                confidence, signals, []);
        }

        if (local.FinishReason == CompactAIPropertyNames.FinishLength)
        {
            return new(EscalationTrigger.Truncated, "local answer was cut at the token limit", confidence, signals, []);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            return new(EscalationTrigger.EmptyOutput, "local answer was empty", confidence, signals, []);
        }

        foreach (Regex pattern in _options.RefusalPatterns)
        {
            if (IsMatch(pattern, text))
            {
                return new(EscalationTrigger.Refusal, $"local answer is a refusal (/{pattern}/)", confidence, signals, []);
            }
        }

        var results = new List<ResponseValidationResult>(_options.Validators.Count);
        ResponseValidationResult? firstFailure = null;
        foreach (IResponseValidator validator in _options.Validators)
        {
            ResponseValidationResult result = await validator.ValidateAsync(local.Response, cancellationToken).ConfigureAwait(false);
            results.Add(result);
            firstFailure ??= result.IsValid ? null : result;
        }

        if (firstFailure is not null)
        {
            return new(EscalationTrigger.ValidatorFailed, $"validator '{firstFailure.Validator}' failed: {firstFailure.Error}",
                confidence, signals, results);
        }

        if (confidence < _options.ConfidenceThreshold)
        {
            return new(EscalationTrigger.LowConfidence,
                $"confidence {confidence:0.###} below threshold {_options.ConfidenceThreshold:0.###}", confidence, signals, results);
        }

        return new(EscalationTrigger.None,
            $"confidence {confidence:0.###} at or above threshold {_options.ConfidenceThreshold:0.###}", confidence, signals, results);
    }

    private static bool IsMatch(Regex pattern, string text)
    {
        try
        {
            return pattern.IsMatch(text);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }
}
