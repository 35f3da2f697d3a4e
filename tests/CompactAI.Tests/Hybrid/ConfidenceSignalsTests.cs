using CompactAI.Hybrid;
using CompactAI.Inference;

namespace CompactAI.Tests.Hybrid;

public class ConfidenceSignalsTests
{
    // Four tokens with probabilities 1/2, 1/4, 1, 1/8 (log-probabilities −ln2, −2ln2, 0, −3ln2), entropies 1, 2, 0, 3
    // and top-1/top-2 pairs giving margins 0.2, 0.15, 1.0, 0.175.
    private static readonly GeneratedToken[] HandTokens =
    [
        new(1, "a", (float)Math.Log(0.5), 1f, 0.5f, 0.3f),
        new(2, "b", (float)Math.Log(0.25), 2f, 0.4f, 0.25f),
        new(3, "c", 0f, 0f, 1f, 0f),
        new(4, "d", (float)Math.Log(0.125), 3f, 0.3f, 0.125f),
    ];

    [Fact]
    public void Signals_of_a_hand_computed_token_list()
    {
        ConfidenceSignals signals = ConfidenceSignals.FromTokens(HandTokens, promptPerplexity: 7.5);

        Assert.Equal(4, signals.TokenCount);
        Assert.Equal(-1.5 * Math.Log(2), signals.MeanLogProbability, 6); // (−1 −2 −0 −3)·ln2 / 4
        Assert.Equal(0.125, signals.MinTokenProbability, 6);
        Assert.Equal(1.5, signals.MeanEntropy, 6);
        Assert.Equal(0.38125, signals.MeanMargin, 6); // (0.2 + 0.15 + 1 + 0.175) / 4
        // Sorted p = 0.125, 0.25, 0.5, 1; h = 3q: q=0.1 → 0.125 + 0.3·0.125; q=0.25 → 0.125 + 0.75·0.125.
        Assert.Equal(0.1625, signals.P10TokenProbability, 6);
        Assert.Equal(0.21875, signals.P25TokenProbability, 6);
        Assert.Equal(7.5, signals.PromptPerplexity);
    }

    [Fact]
    public void Signals_do_not_depend_on_token_order()
    {
        ConfidenceSignals forward = ConfidenceSignals.FromTokens(HandTokens);
        ConfidenceSignals reversed = ConfidenceSignals.FromTokens([.. HandTokens.Reverse()]);

        Assert.Equal(forward.P10TokenProbability, reversed.P10TokenProbability, 12);
        Assert.Equal(forward.P25TokenProbability, reversed.P25TokenProbability, 12);
        Assert.Equal(forward.MeanLogProbability, reversed.MeanLogProbability, 12);
    }

    [Fact]
    public void Single_token_quantiles_equal_its_probability()
    {
        ConfidenceSignals signals = ConfidenceSignals.FromTokens([Tok.Make("x", 0.3)]);

        Assert.Equal(0.3, signals.P10TokenProbability, 6);
        Assert.Equal(0.3, signals.P25TokenProbability, 6);
        Assert.Equal(0.3, signals.MinTokenProbability, 6);
    }

    [Fact]
    public void Empty_list_gives_zero_tokens_and_the_scorer_gives_zero()
    {
        ConfidenceSignals signals = ConfidenceSignals.FromTokens([]);

        Assert.Equal(0, signals.TokenCount);
        Assert.Equal(0, DefaultConfidenceScorer.Instance.Score(signals));
    }

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(0.1, 1.9)]
    [InlineData(0.25, 3.25)]
    [InlineData(0.5, 5.5)]
    [InlineData(0.9, 9.1)]
    [InlineData(1.0, 10.0)]
    public void Quantile_interpolates_linearly_between_order_statistics(double level, double expected)
    {
        // Values 1..10: h = 9q, so the quantile is 1 + 9q.
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

        Assert.Equal(expected, ConfidenceSignals.Quantile(sorted, level), 12);
    }

    [Fact]
    public void Prompt_score_from_log_probabilities()
    {
        PromptScore score = PromptScore.FromLogProbabilities([-1f, -2f, -3f]);

        Assert.Equal(3, score.TokenCount);
        Assert.Equal(-2, score.MeanLogProbability, 6);
        Assert.Equal(Math.Exp(2), score.Perplexity, 5);
        Assert.Equal(1, PromptScore.FromLogProbabilities([]).Perplexity);
    }
}
