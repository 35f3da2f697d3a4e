using CompactAI.Hybrid;
using CompactAI.Hybrid.Calibration;

namespace CompactAI.Tests.Hybrid;

public class CalibrationTests
{
    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    [Fact]
    public void Isotonic_equals_the_hand_computed_PAV_fit()
    {
        // Targets 1, 3, 2, 4, 3.5: (3, 2) pool to 2.5 and (4, 3.5) pool to 3.75.
        IsotonicCalibration fit = IsotonicCalibration.Fit([1.0, 2, 3, 4, 5], [1.0, 3, 2, 4, 3.5]);

        Assert.Equal(
            [new IsotonicBlock(1, 1, 1, 1), new IsotonicBlock(2, 3, 2.5, 2), new IsotonicBlock(4, 5, 3.75, 2)],
            fit.Blocks);
        Assert.Equal([1, 2.5, 2.5, 3.75, 3.75], new[] { 1.0, 2, 3, 4, 5 }.Select(fit.Calibrate));
    }

    [Fact]
    public void Isotonic_on_labels_pools_violators_and_interpolates_between_blocks()
    {
        // Labels 0, 1, 0, 0, 1, 1: the 1 at 0.2 pools with the two 0s after it to 1/3.
        IsotonicCalibration fit = IsotonicCalibration.Fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [false, true, false, false, true, true]);

        Assert.Equal(3, fit.Blocks.Count);
        Assert.Equal(0, fit.Calibrate(0.1), 12);
        Assert.Equal(1.0 / 3, fit.Calibrate(0.3), 12);
        Assert.Equal(1, fit.Calibrate(0.55), 12);
        Assert.Equal(1.0 / 6, fit.Calibrate(0.15), 12); // halfway from 0 (at 0.1) to 1/3 (at 0.2)
        Assert.Equal(0, fit.Calibrate(-5), 12);
        Assert.Equal(1, fit.Calibrate(5), 12);
    }

    [Fact]
    public void Isotonic_gives_tied_scores_one_value()
    {
        IsotonicCalibration fit = IsotonicCalibration.Fit([1.0, 1, 2], [0.0, 1, 1]);

        Assert.Equal([new IsotonicBlock(1, 1, 0.5, 2), new IsotonicBlock(2, 2, 1, 1)], fit.Blocks);
    }

    [Fact]
    public void Isotonic_output_is_monotone_on_noisy_data()
    {
        var random = new Random(7);
        double[] scores = [.. Enumerable.Range(0, 500).Select(_ => random.NextDouble())];
        bool[] labels = [.. scores.Select(s => random.NextDouble() < s)];

        IsotonicCalibration fit = IsotonicCalibration.Fit(scores, labels);

        double previous = double.NegativeInfinity;
        for (double x = -0.1; x <= 1.1; x += 0.001)
        {
            double y = fit.Calibrate(x);
            Assert.InRange(y, 0, 1);
            Assert.True(y >= previous, $"decreased at {x}");
            previous = y;
        }
    }

    [Fact]
    public void Platt_recovers_known_logistic_parameters()
    {
        var random = new Random(42);
        const double a = 2.0, b = -0.5;
        double[] scores = [.. Enumerable.Range(0, 20_000).Select(_ => (random.NextDouble() * 6) - 3)];
        bool[] labels = [.. scores.Select(s => random.NextDouble() < Sigmoid((a * s) + b))];

        PlattScaling fit = PlattScaling.Fit(scores, labels);

        Assert.InRange(fit.A, a - 0.1, a + 0.1);
        Assert.InRange(fit.B, b - 0.1, b + 0.1);
        Assert.Equal(Sigmoid((fit.A * 0.3) + fit.B), fit.Calibrate(0.3), 12);
    }

    [Fact]
    public void Platt_stays_finite_and_increasing_on_separated_data()
    {
        PlattScaling fit = PlattScaling.Fit([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [false, false, false, true, true, true]);

        Assert.True(double.IsFinite(fit.A) && double.IsFinite(fit.B));
        Assert.True(fit.A > 0);
        Assert.True(fit.Calibrate(0.9) > 0.5 && fit.Calibrate(0.1) < 0.5);
        // Platt's smoothed targets (N+1)/(N+2) = 0.8 and 1/(N+2) = 0.2 bound how far the fit may go.
        Assert.InRange(fit.Calibrate(0.9), 0.5, 0.95);
    }

    [Fact]
    public void Auroc_of_separated_reversed_and_tied_scores()
    {
        double[] scores = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        bool[] labels = [false, false, false, true, true, true];

        Assert.Equal(1, CalibrationMetrics.Auroc(scores, labels));
        Assert.Equal(0, CalibrationMetrics.Auroc([.. scores.Select(s => -s)], labels));
        Assert.Equal(0.5, CalibrationMetrics.Auroc([0.5, 0.5, 0.5, 0.5], [true, false, true, false]));
        Assert.True(double.IsNaN(CalibrationMetrics.Auroc([0.1, 0.2], [true, true])));
    }

    [Fact]
    public void Auroc_of_a_hand_case_counts_ties_as_half()
    {
        // Positives 0.35, 0.8 against negatives 0.1, 0.4: wins 0.35>0.1, 0.8>0.1, 0.8>0.4 → 3/4.
        Assert.Equal(0.75, CalibrationMetrics.Auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 12);
        // Positive 0.4 ties negative 0.4 (½) and beats 0.1 (1): (1 + ½) / 2.
        Assert.Equal(0.75, CalibrationMetrics.Auroc([0.1, 0.4, 0.4], [false, false, true]), 12);
    }

    [Fact]
    public void Ece_and_brier_of_a_hand_case()
    {
        double[] p = [0.15, 0.15, 0.85, 0.85];
        bool[] y = [false, true, true, true];

        // Bin 1: mean p 0.15, accuracy 0.5 → ½·0.35; bin 8: 0.85 vs 1 → ½·0.15.
        Assert.Equal(0.25, CalibrationMetrics.ExpectedCalibrationError(p, y), 12);
        // (0.15² + 0.85² + 0.15² + 0.15²) / 4
        Assert.Equal(0.1975, CalibrationMetrics.BrierScore(p, y), 12);
        Assert.Equal(0, CalibrationMetrics.ExpectedCalibrationError([1.0, 0.0], [true, false]), 12);
        Assert.Equal(0, CalibrationMetrics.BrierScore([1.0, 0.0], [true, false]), 12);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void Threshold_for_a_target_escalation_rate_hits_the_rate(double rate)
    {
        var random = new Random(3);
        double[] confidences = [.. Enumerable.Range(0, 1000).Select(_ => random.NextDouble())];

        ThresholdChoice choice = ThresholdFitting.ForEscalationRate(confidences, rate);

        Assert.Equal(rate, choice.EscalationRate, 12);
        Assert.Equal(rate, confidences.Count(c => c < choice.Threshold) / 1000.0, 12);
    }

    [Fact]
    public void Threshold_for_a_quality_target_is_the_smallest_sufficient_escalation()
    {
        double[] confidences = [0.1, 0.2, 0.3, 0.4, 0.5];
        bool[] local = [false, false, true, true, true];
        bool[] remote = [true, true, true, true, false];

        // Always-remote quality 0.8; escalating item 0 alone reaches it.
        ThresholdChoice full = ThresholdFitting.ForQualityTarget(confidences, local, remote, 1.0);
        Assert.Equal(0.15, full.Threshold, 12);
        Assert.Equal((0.2, 0.8), (full.EscalationRate, full.Quality));

        // 75% of 0.8 = 0.6 is what the local model already reaches.
        ThresholdChoice none = ThresholdFitting.ForQualityTarget(confidences, local, remote, 0.75);
        Assert.Equal((0.1, 0.0, 0.6), (none.Threshold, none.EscalationRate, none.Quality));
    }

    [Fact]
    public void Cascade_curve_of_random_oracle_and_router()
    {
        // 1000 items: 600 both correct, 100 only remote correct (g = 0.1), 300 both wrong.
        var random = new Random(11);
        int n = 1000;
        bool[] local = [.. Enumerable.Range(0, n).Select(i => i < 600)];
        bool[] remote = [.. Enumerable.Range(0, n).Select(i => i < 700)];
        double[] randomConfidences = [.. Enumerable.Range(0, n).Select(_ => random.NextDouble())];

        CascadeCurve curve = CascadeCurve.Compute(randomConfidences, local, remote);

        Assert.Equal((0.6, 0.7), (curve.LocalQuality, curve.RemoteQuality));
        Assert.Equal(n + 1, curve.Router.Count);
        Assert.Equal(0.5, curve.RandomApgr, 12);
        Assert.Equal(1 - (0.1 / 2), curve.OracleApgr, 12);
        Assert.InRange(curve.RouterApgr, 0.45, 0.55);
        Assert.Equal(0.05, CascadeCurve.CallsFor(curve.Oracle, 0.5), 12);
        Assert.Equal(0.08, CascadeCurve.CallsFor(curve.Oracle, 0.8), 12);
        Assert.Equal(0.5, CascadeCurve.CallsFor(curve.Random, 0.5), 12);
    }

    [Fact]
    public void Oracle_apgr_tends_to_one_and_a_perfect_router_matches_the_oracle()
    {
        int n = 10_000;
        bool[] local = [.. Enumerable.Range(0, n).Select(i => i >= 10)];
        bool[] remote = [.. Enumerable.Range(0, n).Select(_ => true)];
        double[] perfect = [.. Enumerable.Range(0, n).Select(i => local[i] ? 1.0 : 0.0)];

        CascadeCurve curve = CascadeCurve.Compute(perfect, local, remote);

        Assert.Equal(1, curve.OracleApgr, 3);
        Assert.Equal(curve.OracleApgr, curve.RouterApgr, 12);
        Assert.Equal(0.0005, curve.RouterCallsFor50PercentGap, 12);
        Assert.Equal(0.0008, curve.RouterCallsFor80PercentGap, 12);
    }

    [Theory]
    [InlineData(10, CalibrationMethod.Platt)]
    [InlineData(199, CalibrationMethod.Platt)]
    [InlineData(200, CalibrationMethod.Isotonic)]
    [InlineData(5000, CalibrationMethod.Isotonic)]
    public void Method_is_chosen_by_set_size(int count, CalibrationMethod expected) =>
        Assert.Equal(expected, ConfidenceCalibration.ChooseMethod(count));

    [Theory]
    [InlineData(150)]
    [InlineData(400)]
    public void Calibration_result_round_trips_through_json(int count)
    {
        var random = new Random(count);
        double[] scores = [.. Enumerable.Range(0, count).Select(_ => random.NextDouble())];
        bool[] correct = [.. scores.Select(s => random.NextDouble() < s)];

        CalibrationResult result = ConfidenceCalibration.FitForEscalationRate("sha256:abc123", scores, correct, 0.2);
        CalibrationResult restored = CalibrationResult.FromJson(result.ToJson());

        Assert.Equal(count < 200 ? CalibrationMethod.Platt : CalibrationMethod.Isotonic, restored.Method);
        Assert.Equal(result.ModelFingerprint, restored.ModelFingerprint);
        Assert.Equal(result.Threshold, restored.Threshold);
        Assert.Equal(result.Auroc, restored.Auroc);
        Assert.Equal(result.SampleCount, restored.SampleCount);
        ICalibrationMap original = result.CreateMap(), copy = restored.CreateMap();
        foreach (double s in scores)
        {
            Assert.Equal(original.Calibrate(s), copy.Calibrate(s));
        }

        Assert.Contains("\"modelFingerprint\": \"sha256:abc123\"", result.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_for_escalation_rate_reports_the_rate_and_metrics()
    {
        var random = new Random(5);
        double[] scores = [.. Enumerable.Range(0, 100).Select(_ => random.NextDouble())];
        bool[] correct = [.. scores.Select(s => s > 0.4)];

        CalibrationResult result = ConfidenceCalibration.FitForEscalationRate("m", scores, correct, 0.3);

        Assert.Equal(CalibrationMethod.Platt, result.Method);
        Assert.Equal(0.3, result.EscalationRate, 12);
        Assert.Equal(1, result.Auroc);
        Assert.InRange(result.BrierScore, 0, 0.25);
        double[] calibrated = [.. scores.Select(result.CreateMap().Calibrate)];
        Assert.Equal(0.3, calibrated.Count(c => c < result.Threshold) / 100.0, 12);
    }

    [Fact]
    public void Calibrated_scorer_applies_the_map_to_the_raw_score()
    {
        var map = new PlattScaling(4, -2);
        var scorer = new CalibratedConfidenceScorer(DefaultConfidenceScorer.Instance, map);
        ConfidenceSignals signals = ConfidenceSignals.FromTokens(Tok.Confident());

        Assert.Equal(Sigmoid((4 * DefaultConfidenceScorer.Instance.Score(signals)) - 2), scorer.Score(signals), 12);
    }
}
