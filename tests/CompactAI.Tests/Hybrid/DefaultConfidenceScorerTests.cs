using CompactAI.Hybrid;

namespace CompactAI.Tests.Hybrid;

public class DefaultConfidenceScorerTests
{
    private static readonly ConfidenceSignals Middle = new()
    {
        TokenCount = 20,
        MeanLogProbability = -0.8,
        MinTokenProbability = 0.05,
        MeanEntropy = 1.2,
        MeanMargin = 0.4,
        P10TokenProbability = 0.2,
        P25TokenProbability = 0.4,
        PromptPerplexity = 12,
    };

    // Every weight non-zero, so strict monotonicity can be checked for every signal.
    private static readonly DefaultConfidenceScorer AllWeights = new() { MinProbabilityWeight = 0.25 };

    public static TheoryData<string, Func<ConfidenceSignals, double, ConfidenceSignals>, int> Signals => new()
    {
        { "p10", (s, v) => s with { P10TokenProbability = v / 10 }, +1 },
        { "mean log-prob", (s, v) => s with { MeanLogProbability = -3 + (v * 0.3) }, +1 },
        { "min prob", (s, v) => s with { MinTokenProbability = v / 20 }, +1 },
        { "margin", (s, v) => s with { MeanMargin = v / 10 }, +1 },
        { "entropy", (s, v) => s with { MeanEntropy = v * 0.4 }, -1 },
        { "prompt perplexity", (s, v) => s with { PromptPerplexity = 1 + (v * 10) }, -1 },
    };

    [Theory]
    [MemberData(nameof(Signals))]
    public void Score_is_strictly_monotone_in_each_signal(string name, Func<ConfidenceSignals, double, ConfidenceSignals> vary, int direction)
    {
        double previous = AllWeights.Score(vary(Middle, 0.5));
        for (int step = 1; step <= 9; step++)
        {
            double current = AllWeights.Score(vary(Middle, 0.5 + step));
            Assert.True(direction * (current - previous) > 0, $"{name}: step {step} moved the score from {previous} to {current}");
            previous = current;
        }
    }

    [Theory]
    [MemberData(nameof(Signals))]
    public void Default_weights_are_monotone_too(string name, Func<ConfidenceSignals, double, ConfidenceSignals> vary, int direction)
    {
        double previous = DefaultConfidenceScorer.Instance.Score(vary(Middle, 0.5));
        for (int step = 1; step <= 9; step++)
        {
            double current = DefaultConfidenceScorer.Instance.Score(vary(Middle, 0.5 + step));
            Assert.True(direction * (current - previous) >= 0, $"{name}: step {step} moved the score from {previous} to {current}");
            previous = current;
        }
    }

    [Fact]
    public void Formula_matches_the_documented_combination()
    {
        // z = 1 + 1·logit(0.2) + 1.5·(−0.8) − 0.75·1.2 + 1·0.4 + 0·logit(0.05) − 1·ln 12
        double z = 1 + Math.Log(0.2 / 0.8) + (1.5 * -0.8) - (0.75 * 1.2) + 0.4 - (1.0 * Math.Log(12));

        Assert.Equal(1 / (1 + Math.Exp(-z)), DefaultConfidenceScorer.Instance.Score(Middle), 12);
    }

    [Fact]
    public void Confident_answers_score_above_unsure_ones_and_stay_in_range()
    {
        double confident = DefaultConfidenceScorer.Instance.Score(ConfidenceSignals.FromTokens(Tok.Confident()));
        double unsure = DefaultConfidenceScorer.Instance.Score(ConfidenceSignals.FromTokens(Tok.Unsure()));

        Assert.InRange(confident, 0.5, 1);
        Assert.InRange(unsure, 0, 0.5);
    }
}
