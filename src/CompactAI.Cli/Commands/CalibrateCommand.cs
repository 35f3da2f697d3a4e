using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CompactAI.Hybrid;
using CompactAI.Hybrid.Calibration;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai calibrate --model PATH --data labelled.jsonl [--target-escalation R | --target-quality Q] [--out FILE]</c>:
/// measures the confidence of every prompt, maps confidence to P(local answer correct) (Platt below 200 items, isotonic
/// above), fits the threshold to the target, and prints the RouteLLM-style trade-off curve with AUROC, ECE and Brier
/// against random escalation and the oracle. Each JSONL line: <c>{"prompt": "...", "local_correct": true,
/// "remote_correct": true}</c> (<c>in_domain</c> is accepted for <c>local_correct</c>; <c>remote_correct</c> defaults to true).
/// </summary>
internal static class CalibrateCommand
{
    private static readonly Option<string?> Data = CliOption.Text("--data", "Labelled prompts, one JSON object a line.", "FILE", required: true);
    private static readonly Option<int?> MaxTokens = CliOption.Int("--max-tokens", "Tokens of each greedy answer at most (default 24).", 1);
    private static readonly Option<float?> TargetEscalation = CliOption.Float("--target-escalation", "Fit the threshold to this escalation rate.", 0, 1, "R");
    private static readonly Option<float?> TargetQuality = CliOption.Float("--target-quality", "Fit the threshold to this quality (default 0.95).", 0, 1, "Q");
    private static readonly Option<string?> Out = CliOption.Text("--out", "Write the calibration result (JSON) to FILE.", "FILE");

    public static Command Create()
    {
        var command = new Command("calibrate", "Fit the confidence threshold of the hybrid router to labelled prompts and print the trade-off curve.");
        ModelOptions.AddTo(command);
        command.Add(Data);
        command.Add(MaxTokens);
        command.Add(TargetEscalation);
        command.Add(TargetQuality);
        command.Add(Out);
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string modelPath = ModelOptions.PathOf(p);
        string dataPath = p.GetRequiredValue(Data)!;
        int maxTokens = p.GetValue(MaxTokens) ?? 24;
        float? escalation = p.GetValue(TargetEscalation);
        float quality = p.GetValue(TargetQuality) ?? 0.95f;
        string? outPath = p.GetValue(Out);
        var options = ModelOptions.Read(p, new CompactModelOptions());

        var items = ReadData(dataPath);
        bool bars = CliProgress.Enabled(json: false);
        using var model = await CliProgress.LoadAsync(modelPath, options, json: false, ct);
        using var session = model.CreateSession();
        var scores = await CliProgress.RunAsync(bars, $"measuring {items.Count} prompts", async progress =>
        {
            var measured = new List<double>(items.Count);
            for (int i = 0; i < items.Count; i++)
            {
                var report = await ConfidenceProbe.MeasureAsync(session, items[i].Prompt, maxTokens, cancellationToken: ct);
                measured.Add(report.Confidence);
                progress?.Report((i + 1f) / items.Count);
            }
            return measured;
        });
        var local = items.Select(i => i.LocalCorrect).ToList();
        var remote = items.Select(i => i.RemoteCorrect).ToList();
        string fingerprint = Fingerprint(modelPath);
        var result = escalation is { } rate
            ? ConfidenceCalibration.FitForEscalationRate(fingerprint, scores, local, rate)
            : ConfidenceCalibration.FitForQualityTarget(fingerprint, scores, local, remote, quality);
        var curve = CascadeCurve.Compute(scores, local, remote);

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"items: {items.Count} ({local.Count(x => x)} answered correctly by the local model)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"AUROC {result.Auroc:F3}   ECE {result.ExpectedCalibrationError:F3}   Brier {result.BrierScore:F3}   ({result.Method})");
        sb.AppendLine(CultureInfo.InvariantCulture, $"quality: always local {curve.LocalQuality:P1}, always remote {curve.RemoteQuality:P1}");
        sb.AppendLine("escalation  router   random   oracle   (quality; gap recovered)");
        for (int step = 0; step <= 10; step++)
        {
            double r = step / 10.0;
            var pt = Nearest(curve.Router, r);
            var q = Nearest(curve.Random, r);
            var o = Nearest(curve.Oracle, r);
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {r,6:P0}   {pt.Quality,6:P1} {q.Quality,8:P1} {o.Quality,8:P1}   ({pt.GapRecovered:P0}; {q.GapRecovered:P0}; {o.GapRecovered:P0})");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"APGR: router {curve.RouterApgr:F3}, random {curve.RandomApgr:F3}, oracle {curve.OracleApgr:F3}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"remote calls for 50% of the gap: {curve.RouterCallsFor50PercentGap:P0}; for 80%: {curve.RouterCallsFor80PercentGap:P0}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"threshold: {result.Threshold:F4} (calibrated confidence) → escalation rate {result.EscalationRate:P1}");
        Console.Out.Write(sb.ToString());
        if (outPath is not null)
        {
            File.WriteAllText(outPath, result.ToJson());
            Console.Out.WriteLine($"wrote {outPath}");
        }
        return 0;
    }

    private static CascadeCurvePoint Nearest(IReadOnlyList<CascadeCurvePoint> curve, double rate) =>
        curve.MinBy(p => Math.Abs(p.EscalationRate - rate));

    private static List<(string Prompt, bool LocalCorrect, bool RemoteCorrect)> ReadData(string path)
    {
        var items = new List<(string, bool, bool)>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                string prompt = root.GetProperty("prompt").GetString() ?? throw new FormatException("prompt is null");
                bool local = root.TryGetProperty("local_correct", out var l) ? l.GetBoolean() : root.GetProperty("in_domain").GetBoolean();
                bool remote = !root.TryGetProperty("remote_correct", out var r) || r.GetBoolean();
                items.Add((prompt, local, remote));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new FormatException($"{path}:{line}: expected {{\"prompt\": string, \"local_correct\": bool, \"remote_correct\"?: bool}} ({e.Message})");
            }
        }
        if (items.Count < 2) throw new FormatException($"{path}: at least two labelled prompts are needed, found {items.Count}");
        return items;
    }

    /// <summary>Identifies the model file: name, size and a hash of its first MiB (header, metadata, first tensors).</summary>
    internal static string Fingerprint(string modelPath)
    {
        using var fs = File.OpenRead(modelPath);
        var head = new byte[Math.Min(fs.Length, 1 << 20)];
        fs.ReadExactly(head);
        return $"{Path.GetFileName(modelPath)}:{fs.Length}:{Convert.ToHexStringLower(SHA256.HashData(head))[..16]}";
    }
}
