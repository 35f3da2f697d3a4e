// Package smoke test: greedy generation through the CompactAI package, then a chat answer through CompactAI.Hosting.
//   PackageSmoke MODEL.gguf
using CompactAI;
using CompactAI.Inference;
using CompactAI.Sampling;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: PackageSmoke MODEL.gguf");
    return 2;
}

using (var model = await CompactModel.LoadAsync(args[0]))
using (var session = model.CreateSession())
{
    var result = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy });
    Console.WriteLine($"generate: {result.Text}");
}

await using var services = new ServiceCollection().AddCompactAI(o => o.ModelPath = args[0]).BuildServiceProvider();
var chat = services.GetRequiredService<IChatClient>();
var answer = await chat.GetResponseAsync("Once upon a time", new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
Console.WriteLine($"chat: {answer.Text.ReplaceLineEndings(" ")} ({answer.Usage?.OutputTokenCount} tokens)");
return 0;
