using System.Text.Json;
using System.Text.Json.Serialization;
using CompactAI.Hybrid;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai confidence --model PATH --prompt TEXT [--max-tokens N] [--json]</c>: the local model's confidence in its
/// greedy answer, with every signal; with <c>--json</c> the last line is <c>{"confidence":..,"signals":{...},"text":".."}</c>.
/// </summary>
internal static class ConfidenceCommand
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string> { "json" });
        string modelPath = a.Required("model");
        string prompt = a.Required("prompt");
        int maxTokens = a.Int("max-tokens", 32, 1);
        var options = new CompactModelOptions { Threads = a.OptionalInt("threads", 1, 1024), ContextSize = a.OptionalInt("ctx", 1) };
        bool json = a.Flag("json");
        a.RejectUnknown("confidence");

        using var model = await CompactModel.LoadAsync(modelPath, options, ct);
        using var session = model.CreateSession();
        var report = await ConfidenceProbe.MeasureAsync(session, prompt, maxTokens, cancellationToken: ct);
        var s = report.Signals;
        var signals = new SignalsJson(s.TokenCount, s.MeanLogProbability, s.MinTokenProbability, s.MeanEntropy, s.MeanMargin,
            s.P10TokenProbability, s.P25TokenProbability, s.PromptPerplexity);
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new ConfidenceJson(report.Confidence, signals, report.Text), CliJson.Default.ConfidenceJson));
        }
        else
        {
            Console.Out.WriteLine($"confidence: {report.Confidence:F4}");
            Console.Out.WriteLine($"signals:    {signals}");
            Console.Out.WriteLine($"answer:     {report.Text}");
        }
        return 0;
    }
}

internal sealed record SignalsJson(
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("mean_logprob")] double MeanLogProbability,
    [property: JsonPropertyName("min_prob")] double MinProbability,
    [property: JsonPropertyName("mean_entropy")] double MeanEntropy,
    [property: JsonPropertyName("mean_margin")] double MeanMargin,
    [property: JsonPropertyName("p10_prob")] double P10Probability,
    [property: JsonPropertyName("p25_prob")] double P25Probability,
    [property: JsonPropertyName("prompt_perplexity")] double? PromptPerplexity);

internal sealed record ConfidenceJson(
    [property: JsonPropertyName("confidence")] double Confidence,
    [property: JsonPropertyName("signals")] SignalsJson Signals,
    [property: JsonPropertyName("text")] string Text);
