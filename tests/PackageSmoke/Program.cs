// Package smoke test: greedy generation through the CompactAI package (its own engine, then llama.cpp through
// CompactAI.LLamaSharp), a chat answer through CompactAI.Hosting, then a
// forced-local answer through CompactAI.Hybrid (its OpenAI factory builds a remote client; nothing is sent to it).
//   PackageSmoke MODEL.gguf
using CompactAI;
using CompactAI.Hybrid;
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

using (var model = await CompactModel.LoadAsync(args[0], new CompactModelOptions { Backend = ComputeBackend.LLamaSharp }))
using (var session = model.CreateSession())
{
    var result = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy });
    Console.WriteLine($"llamasharp: {result.Text}");
}

await using var services = new ServiceCollection().AddCompactAI(o => o.ModelPath = args[0]).BuildServiceProvider();
var chat = services.GetRequiredService<IChatClient>();
var answer = await chat.GetResponseAsync("Once upon a time", new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
Console.WriteLine($"chat: {answer.Text.ReplaceLineEndings(" ")} ({answer.Usage?.OutputTokenCount} tokens)");

IChatClient remote = RemoteChatClients.ForOpenAICompatible(new Uri("http://127.0.0.1:9/v1"), "sk-unused", "unused");
var hybrid = new HybridChatClient(chat, remote);
var routed = await hybrid.GetResponseAsync("Once upon a time", new ChatOptions
{
    Temperature = 0,
    MaxOutputTokens = 8,
    AdditionalProperties = new() { [CompactAIPropertyNames.Route] = "local" },
});
var decision = (HybridDecision)routed.AdditionalProperties![CompactAIPropertyNames.HybridDecision]!;
Console.WriteLine($"hybrid: {decision.Route} ({decision.RemoteAttempts} remote attempts)");
return 0;
