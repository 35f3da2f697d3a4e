// Support desk: a small local model answers the routine questions it knows (here: children's stories, the domain of
// the default stories260K model) and escalates the rest to a remote OpenAI-compatible model, printing every decision.
//
//   dotnet run --project samples/CompactAI.Samples.SupportDesk -- [--model PATH] [--remote-url URL] [--remote-key KEY]
//       [--remote-model NAME] [--prompt TEXT]
//
// Without --remote-url it calls http://127.0.0.1:8080/v1, where `dotnet run --project samples/CompactAI.Server --
// --model PATH --urls http://127.0.0.1:8080` serves one. If nothing answers there, escalated requests still get the local
// answer, flagged LocalFallback: no request is lost.
using CompactAI;
using CompactAI.Chat;
using CompactAI.Hybrid;
using CompactAI.Samples;
using Microsoft.Extensions.AI;

string modelPath = SampleModel.Resolve(args);
var remoteUrl = new Uri(SampleModel.Option(args, "--remote-url") ?? "http://127.0.0.1:8080/v1");
string remoteKey = SampleModel.Option(args, "--remote-key") ?? Environment.GetEnvironmentVariable("COMPACTAI_REMOTE_KEY") ?? "none";
string remoteModel = SampleModel.Option(args, "--remote-model") ?? "remote";
string[] questions = SampleModel.Option(args, "--prompt") is { } one
    ? [one]
    : [
        "Once upon a time, there was a little girl named Lily.",
        "Tom had a small boat. He put it in the water and watched it float.",
        "SELECT customer_id, SUM(amount) FROM orders GROUP BY customer_id;",
        "Der Vertrag tritt mit der Unterzeichnung durch beide Parteien in Kraft.",
        "The puppy was hungry. He barked at his bowl.",
        "Compute 3847 * 2919 - 7731 / 3 and round to four decimals.",
    ];

using var model = await CompactModel.LoadAsync(modelPath);
// stories260K is a base model without a chat template: let it continue the customer's text as it was trained to.
// (A chat model keeps its own template: leave ChatTemplate unset.)
using var local = new CompactChatClient(model, new CompactChatClientOptions
{
    ScorePrompts = true,
    ChatTemplate = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
});
using var remote = RemoteChatClients.ForOpenAICompatible(remoteUrl, remoteKey, remoteModel);
using var desk = new HybridChatClient(local, remote, new HybridOptions
{
    PromptPerplexityGate = 100,       // a question the local model finds this surprising is outside its domain
    ConfidenceThreshold = 0.001,      // uncalibrated: only near-certain failures; fit it with `compactai calibrate`
    RemoteTimeout = TimeSpan.FromSeconds(10),
    MaxRemoteRetries = 1,
});

Console.WriteLine($"local model: {Path.GetFileName(modelPath)}; remote: {remoteUrl} ({remoteModel})");
foreach (var question in questions)
{
    var response = await desk.GetResponseAsync([new ChatMessage(ChatRole.User, question)],
        new ChatOptions { Temperature = 0, MaxOutputTokens = 48, StopSequences = ["."] });
    var d = (HybridDecision)response.AdditionalProperties![CompactAIPropertyNames.HybridDecision]!;
    Console.WriteLine();
    Console.WriteLine($"Q: {question}");
    Console.WriteLine($"   route {d.Route}{(d.IsUnverified ? " (unverified)" : "")}, trigger {d.Trigger}, confidence {d.Confidence?.ToString("F3") ?? "-"}");
    Console.WriteLine($"   reason: {d.Reason}{(d.RemoteError is { } e ? $"; remote error: {e}" : "")}");
    Console.WriteLine($"A: {response.Text.Trim()}");
}
