using CompactAI.Chat;
using Microsoft.Extensions.AI;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai chat --model PATH [--system TEXT] [--max-tokens N] [--temperature T] [--seed S] [--lora PATH[:SCALE]]</c>: an interactive,
/// streaming chat using the model's chat template; each turn reuses the KV cache of the conversation so far.
/// Lines from standard input are the user's turns (<c>/reset</c> starts over, <c>/exit</c> or end of input quits).
/// </summary>
internal static class ChatCommand
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string>());
        string modelPath = a.Required("model");
        string? system = a.String("system");
        var chatOptions = new ChatOptions
        {
            MaxOutputTokens = a.Int("max-tokens", 256, 1),
            Temperature = a.Float("temperature", 0.8f, 0, 100),
            Seed = (long?)a.OptionalULong("seed"),
        };
        var lora = LoraArguments.Read(a);
        var modelOptions = LoraArguments.PreferCpu(lora, new CompactModelOptions { Threads = a.OptionalInt("threads", 1, 1024), ContextSize = a.OptionalInt("ctx", 1), MaxParallelSequences = 1 });
        a.RejectUnknown("chat");

        using var model = await CompactModel.LoadAsync(modelPath, modelOptions, ct);
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
