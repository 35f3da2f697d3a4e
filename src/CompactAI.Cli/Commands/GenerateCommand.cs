using System.CommandLine;
using System.Text.Json;
using CompactAI.Inference;

namespace CompactAI.Cli.Commands;

/// <summary><c>compactai generate</c>: stream a continuation; with <c>--json</c> the last line is the machine-readable result.</summary>
internal static class GenerateCommand
{
    private static readonly Option<string?> Prompt = CliOption.Text("--prompt", "The prompt text.", "TEXT", required: true);
    private static readonly Option<int?> MaxTokens = CliOption.Int("--max-tokens", "Tokens to generate at most (default 128).", 0);
    private static readonly Option<string?> Stop = CliOption.Text("--stop", "Stop when the output contains TEXT.", "TEXT");
    private static readonly Option<bool> ChatFlag = CliOption.Flag("--chat", "Render the prompt as one user turn of the model's chat template.");

    public static Command Create()
    {
        var command = new Command("generate", "Stream a continuation of a prompt; with --json the last line is the machine-readable result.");
        ModelOptions.AddTo(command);
        command.Add(Prompt);
        command.Add(MaxTokens);
        SamplingArguments.AddTo(command);
        command.Add(Stop);
        command.Add(ChatFlag);
        command.Add(LoraArguments.Lora);
        command.Add(CommonOptions.Json);
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string modelPath = ModelOptions.PathOf(p);
        string prompt = p.GetRequiredValue(Prompt)!;
        string? stop = p.GetValue(Stop);
        var options = new GenerationOptions
        {
            MaxTokens = p.GetValue(MaxTokens) ?? 128,
            Sampling = SamplingArguments.Read(p),
            StopSequences = stop is null ? [] : [stop],
        };
        var lora = LoraArguments.Read(p);
        var modelOptions = LoraArguments.PreferCpu(lora, ModelOptions.Read(p, new CompactModelOptions()));
        bool json = p.GetValue(CommonOptions.Json);
        bool chat = p.GetValue(ChatFlag);

        using var model = await CliProgress.LoadAsync(modelPath, modelOptions, json, ct);
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
