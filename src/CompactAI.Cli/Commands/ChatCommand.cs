using System.CommandLine;
using CompactAI.Chat;
using Microsoft.Extensions.AI;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai chat --model PATH [--system TEXT] [--max-tokens N] [sampling and load options]</c>: an interactive,
/// streaming chat using the model's chat template; each turn reuses the KV cache of the conversation so far.
/// Lines from standard input are the user's turns (<c>/reset</c> starts over, <c>/exit</c> or end of input quits).
/// </summary>
internal static class ChatCommand
{
    private static readonly Option<string?> SystemPrompt = CliOption.Text("--system", "The system message.", "TEXT");
    private static readonly Option<int?> MaxTokens = CliOption.Int("--max-tokens", "Tokens per answer at most (default 256).", 1);

    public static Command Create()
    {
        var command = new Command("chat", "Interactive streaming chat with the model's chat template; lines of stdin are the user's turns (/reset, /exit).");
        ModelOptions.AddTo(command);
        command.Add(SystemPrompt);
        command.Add(MaxTokens);
        command.Add(LoraArguments.Lora);
        SamplingArguments.AddTo(command);
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string modelPath = ModelOptions.PathOf(p);
        string? system = p.GetValue(SystemPrompt);
        var sampling = SamplingArguments.Read(p);
        var chatOptions = new ChatOptions
        {
            MaxOutputTokens = p.GetValue(MaxTokens) ?? 256,
            Temperature = sampling.Temperature,
            TopK = sampling.TopK,
            TopP = sampling.TopP,
            FrequencyPenalty = sampling.FrequencyPenalty,
            PresencePenalty = sampling.PresencePenalty,
            Seed = sampling.Seed is { } seed ? unchecked((long)seed) : null,
            AdditionalProperties = new() { ["min_p"] = sampling.MinP, ["repeat_penalty"] = sampling.RepeatPenalty },
        };
        var lora = LoraArguments.Read(p);
        var modelOptions = LoraArguments.PreferCpu(lora, ModelOptions.Read(p, new CompactModelOptions { MaxParallelSequences = 1 }));

        using var model = await CliProgress.LoadAsync(modelPath, modelOptions, json: false, ct);
        if (lora.Count > 0) chatOptions.WithLoraAdapters(LoraArguments.Load(model, lora));
        using var client = new CompactChatClient(model, new CompactChatClientOptions { ContextOverflow = ContextOverflowPolicy.DropOldestMessages });
        var history = new List<ChatMessage>();
        if (system is not null) history.Add(new ChatMessage(ChatRole.System, system));
        bool interactive = !Console.IsInputRedirected;
        if (interactive) Console.Error.WriteLine($"{Path.GetFileName(modelPath)} ({model.Config.Architecture}); /reset to start over, /exit to quit");
        while (true)
        {
            if (interactive) Console.Error.Write("> ");
            string? line = Console.In.ReadLine();
            if (line is null || line.Trim() == "/exit") break;
            if (line.Trim() == "/reset")
            {
                history.RemoveAll(m => m.Role != ChatRole.System);
                continue;
            }
            if (line.Length == 0) continue;
            history.Add(new ChatMessage(ChatRole.User, line));
            var reply = new System.Text.StringBuilder();
            await foreach (var update in client.GetStreamingResponseAsync(history, chatOptions, ct))
            {
                Console.Out.Write(update.Text);
                reply.Append(update.Text);
            }
            Console.Out.WriteLine();
            history.Add(new ChatMessage(ChatRole.Assistant, reply.ToString()));
        }
        return 0;
    }
}
