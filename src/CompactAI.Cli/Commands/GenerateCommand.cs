using System.Text.Json;
using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Cli.Commands;

/// <summary><c>compactai generate</c>: stream a continuation; with <c>--json</c> the last line is the machine-readable result.</summary>
internal static class GenerateCommand
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string> { "json", "chat" });
        string modelPath = a.Required("model");
        string prompt = a.Required("prompt");
        var sampling = new SamplingOptions
        {
            Temperature = a.Float("temperature", 0.8f, 0, 100),
            TopK = a.Int("top-k", 40, 0),
            TopP = a.Float("top-p", 0.95f, 0, 1),
            MinP = a.Float("min-p", 0.05f, 0, 1),
            RepeatPenalty = a.Float("repeat-penalty", 1.0f, 0.01f, 100),
            Seed = a.OptionalULong("seed"),
        };
        string? stop = a.String("stop");
        var options = new GenerationOptions
        {
            MaxTokens = a.Int("max-tokens", 128, 0),
            Sampling = sampling,
            StopSequences = stop is null ? [] : [stop],
        };
        var lora = LoraArguments.Read(a);
        var modelOptions = LoraArguments.PreferCpu(lora, BackendArguments.Apply(a, new CompactModelOptions { Threads = a.OptionalInt("threads", 1, 1024), ContextSize = a.OptionalInt("ctx", 1) }));
        bool json = a.Flag("json");
        bool chat = a.Flag("chat");
        a.RejectUnknown("generate");

        using var model = await CompactModel.LoadAsync(modelPath, modelOptions, ct);
        using var session = model.CreateSession();
        options = options with { Adapters = LoraArguments.Load(model, lora) };
        // --chat: the prompt is one user turn rendered with the model's chat template (as `compactai chat` does).
        var promptIds = chat ? ChatPrompt(model, prompt) : model.Tokenizer.Encode(prompt, addSpecial: true);
        var output = new List<int>();
        var text = new System.Text.StringBuilder();
        await foreach (var token in session.GenerateAsync(promptIds, options, ct))
        {
            output.Add(token.Id);
            text.Append(token.Text);
            if (!json) Console.Out.Write(token.Text);
        }
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new GenerateJson(promptIds, output, text.ToString()), CliJson.Default.GenerateJson));
        }
        else
        {
            Console.Out.WriteLine();
        }
        return 0;
    }

    private static IReadOnlyList<int> ChatPrompt(CompactModel model, string prompt)
    {
        var template = Chat.ChatTemplate.FromModelMetadata(model.Metadata);
        string text = template.Render([new Chat.ChatTurn("user", prompt)], addGenerationPrompt: true);
        var tok = model.Tokenizer;
        bool hasBos = tok.BosToken >= 0 && text.StartsWith(tok.GetTokenText(tok.BosToken), StringComparison.Ordinal);
        return tok.Encode(text, addSpecial: !hasBos, parseSpecial: true);
    }
}

internal sealed record GenerateJson(
    [property: System.Text.Json.Serialization.JsonPropertyName("prompt_ids")] IReadOnlyList<int> PromptIds,
    [property: System.Text.Json.Serialization.JsonPropertyName("output_ids")] IReadOnlyList<int> OutputIds,
    [property: System.Text.Json.Serialization.JsonPropertyName("text")] string Text);
