using System.Text.Json;
using CompactAI.Hybrid;
using CompactAI.Hybrid.Calibration;

namespace CompactAI.Tests.Hybrid;

/// <summary>
/// Routing quality on the real stories260K model: the default confidence separates in-domain prompts (children's
/// stories) from out-of-domain ones (code, legal text, other languages, maths, technical prose), and a threshold
/// calibrated on half the set keeps in-domain prompts local on the other half. Data: Hybrid/Data/routing-eval.jsonl.
/// </summary>
public sealed class RoutingQualityTests : IClassFixture<RoutingQualityTests.Measurements>
{
    private readonly Measurements _m;

    public RoutingQualityTests(Measurements m) => _m = m;

    /// <summary>Confidence of every prompt of the evaluation set, measured once.</summary>
    public sealed class Measurements
    {
        public Measurements()
        {
            using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 256 });
            using var session = model.CreateSession();
            foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Hybrid", "Data", "routing-eval.jsonl")))
            {
                using var doc = JsonDocument.Parse(line);
                string prompt = doc.RootElement.GetProperty("prompt").GetString()!;
                var report = ConfidenceProbe.MeasureAsync(session, prompt, 24).GetAwaiter().GetResult();
                Items.Add((prompt, doc.RootElement.GetProperty("in_domain").GetBoolean(), report.Confidence));
            }
        }

        public List<(string Prompt, bool InDomain, double Confidence)> Items { get; } = new();
    }

    [Fact]
    public void TheSetIsBalancedAndLargeEnough()
    {
        Assert.Equal(80, _m.Items.Count);
        Assert.Equal(40, _m.Items.Count(i => i.InDomain));
    }

    [Fact]
    public void ConfidenceSeparatesInDomainFromOutOfDomainWithAurocAtLeast095()
    {
        double auroc = CalibrationMetrics.Auroc(_m.Items.Select(i => i.Confidence).ToList(), _m.Items.Select(i => i.InDomain).ToList());
        Assert.True(auroc >= 0.95, $"AUROC {auroc:F3}");
    }

    [Fact]
    public void AtTheCalibratedThresholdInDomainPromptsStayLocal()
    {
        // Calibrate on the even items, evaluate on the odd ones (both halves hold both kinds).
        var fit = _m.Items.Where((_, i) => i % 2 == 0).ToList();
        var held = _m.Items.Where((_, i) => i % 2 == 1).ToList();
        var calibration = ConfidenceCalibration.FitForQualityTarget("stories260K", fit.Select(i => i.Confidence).ToList(),
            fit.Select(i => i.InDomain).ToList(), fit.Select(_ => true).ToList(), 0.95);
        var map = calibration.CreateMap();
        var inDomain = held.Where(i => i.InDomain).ToList();
        var outOfDomain = held.Where(i => !i.InDomain).ToList();
        double keptLocal = inDomain.Count(i => map.Calibrate(i.Confidence) >= calibration.Threshold) / (double)inDomain.Count;
        double escalated = outOfDomain.Count(i => map.Calibrate(i.Confidence) < calibration.Threshold) / (double)outOfDomain.Count;
        Assert.True(keptLocal >= 0.90, $"in-domain kept local {keptLocal:P0}, threshold {calibration.Threshold:F3}");
        Assert.True(escalated >= 0.80, $"out-of-domain escalated {escalated:P0}");
    }
}
