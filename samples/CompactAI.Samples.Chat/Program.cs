// Interactive streaming chat over a local GGUF model.
//   dotnet run --project samples/CompactAI.Samples.Chat -- [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]
// With --prompt it answers once and exits (what the smoke test runs); otherwise it reads lines until an empty line or EOF.
using System.Globalization;
using CompactAI;
using CompactAI.Chat;
using CompactAI.Hosting;
using CompactAI.Samples;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

string modelPath = SampleModel.Resolve(args);
string? oneShot = SampleModel.Option(args, "--prompt");
int maxTokens = int.Parse(SampleModel.Option(args, "--max-tokens") ?? "128", CultureInfo.InvariantCulture);
float temperature = float.Parse(SampleModel.Option(args, "--temperature") ?? "0.8", CultureInfo.InvariantCulture);

// The progress bar goes to stderr so that stdout carries only the conversation.
var status = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
ServiceProvider services = null!;
CompactModel model = null!;
await status.Progress()
    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
    .StartAsync(async ctx =>
    {
        var task = ctx.AddTask($"Loading {Path.GetFileName(modelPath)}", maxValue: 1.0);
        services = new ServiceCollection()
            .AddCompactAI(o =>
            {
                o.ModelPath = modelPath;
                o.Chat = new() { ContextOverflow = ContextOverflowPolicy.DropOldestMessages }; // a long chat slides over its oldest turns
                o.LoadProgress = new Progress<float>(p => task.Value = Math.Max(task.Value, p));
            })
            .BuildServiceProvider();
        model = await services.GetRequiredService<CompactModelProvider>().GetModelAsync();
        task.Value = 1.0;
    });
await using var disposeServices = services;
status.MarkupLineInterpolated($"[grey]{model.Config.Architecture}, {model.Config.BlockCount} layers, {model.Sessions.ContextSize}-token context[/]");

var chat = services.GetRequiredService<IChatClient>();
var options = new ChatOptions { MaxOutputTokens = maxTokens, Temperature = temperature };
var history = new List<ChatMessage>();

if (oneShot is not null)
{
    await AnswerAsync(oneShot);
    return;
}

Console.Error.WriteLine("Type a message (empty line to quit).");
while (true)
{
    Console.Error.Write("> ");
    string? line = Console.ReadLine();
    if (string.IsNullOrWhiteSpace(line)) break;
    await AnswerAsync(line);
}

async Task AnswerAsync(string text)
{
    history.Add(new ChatMessage(ChatRole.User, text));
    var updates = new List<ChatResponseUpdate>();
    await foreach (var update in chat.GetStreamingResponseAsync(history, options))
    {
        Console.Write(update.Text);
        updates.Add(update);
    }
    Console.WriteLine();
    history.AddMessages(updates);
}
