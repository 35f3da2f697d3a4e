using System.CommandLine;
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
    private static readonly Option<string?> Prompt = CliOption.Text("--prompt", "The prompt text.", "TEXT", required: true);
    private static readonly Option<int?> MaxTokens = CliOption.Int("--max-tokens", "Tokens of the greedy answer at most (default 32).", 1);

    public static Command Create()
    {
        var command = new Command("confidence", "The local model's confidence in its greedy answer, with every signal.");
        ModelOptions.AddTo(command);
        command.Add(Prompt);
        command.Add(MaxTokens);
        command.Add(CommonOptions.Json);
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string modelPath = ModelOptions.PathOf(p);
        string prompt = p.GetRequiredValue(Prompt)!;
        int maxTokens = p.GetValue(MaxTokens) ?? 32;
        var options = ModelOptions.Read(p, new CompactModelOptions());
        bool json = p.GetValue(CommonOptions.Json);

        using var model = await CliProgress.LoadAsync(modelPath, options, json, ct);
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
