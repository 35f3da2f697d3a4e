using System.Net;
using CompactAI.Chat;
using CompactAI.Hybrid;
using CompactAI.Server;
using CompactAI.Tensors.Quantization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Hybrid;

/// <summary>
/// Escalation end to end over real HTTP: the local model is stories260K in-process; the remote is CompactAI's own
/// OpenAI-compatible server on loopback serving another model (stories260K quantized to Q8_0 by our quantizer), reached
/// through the official OpenAI .NET client (<see cref="RemoteChatClients.ForOpenAICompatible"/>).
/// </summary>
public sealed class HybridEndToEndTests : IClassFixture<HybridEndToEndTests.Servers>
{
    private readonly Servers _s;

    public HybridEndToEndTests(Servers servers) => _s = servers;

    public sealed class Servers : IAsyncLifetime
    {
        private WebApplication? _app;
        private string? _remoteModelPath;

        public CompactModel LocalModel { get; private set; } = null!;
        public CompactChatClient Local { get; private set; } = null!;
        public IChatClient Remote { get; private set; } = null!;
        public Uri Endpoint { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _remoteModelPath = Path.Combine(Path.GetTempPath(), $"compactai-remote-{Guid.NewGuid():N}.gguf");
            ModelQuantizer.Quantize(TestData.Stories260K, _remoteModelPath, QuantizationPreset.Q8_0);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Services.AddCompactAI(o => { o.ModelPath = _remoteModelPath; o.Chat = new() { ModelId = "remote-q8" }; o.Model = new() { Threads = 1 }; });
            builder.Services.Configure<OpenAIServerOptions>(o => o.ApiKey = "remote-key");
            _app = builder.Build();
            OpenAIEndpoints.Map(_app);
            await _app.StartAsync();
            string address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            Endpoint = new Uri(address.TrimEnd('/') + "/v1");
            Remote = RemoteChatClients.ForOpenAICompatible(Endpoint, "remote-key", "remote-q8");

            LocalModel = await CompactModel.LoadAsync(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 256 });
            Local = new CompactChatClient(LocalModel, new CompactChatClientOptions { ScorePrompts = true });
        }

        public async Task DisposeAsync()
        {
            Remote.Dispose();
            if (_app is not null)
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
            }
            LocalModel.Dispose();
            if (_remoteModelPath is not null) File.Delete(_remoteModelPath);
        }
    }

    private const string InDomain = "Once upon a time, there was a little girl named Lily.";
    private const string OutOfDomain = "SELECT customer_id, SUM(amount) FROM orders GROUP BY customer_id;";

    private HybridChatClient Hybrid(Action<HybridOptions>? configure = null)
    {
        var options = new HybridOptions { ConfidenceThreshold = 0.02, PromptPerplexityGate = 100, MaxRemoteRetries = 0 };
        configure?.Invoke(options);
        return new HybridChatClient(_s.Local, _s.Remote, options);
    }

    // A stop sequence ends answers naturally: an answer cut by the token limit always escalates (a hard failure).
    private static ChatOptions Greedy(int tokens = 48) => new() { Temperature = 0, MaxOutputTokens = tokens, StopSequences = ["."] };

    private static HybridDecision DecisionOf(ChatResponse r) => (HybridDecision)r.AdditionalProperties![CompactAIPropertyNames.HybridDecision]!;

    [Fact]
    public async Task InDomainPromptsStayLocalAndOutOfDomainOnesAreAnsweredByTheRemoteServer()
    {
        using var hybrid = Hybrid();
        var local = await hybrid.GetResponseAsync([new(ChatRole.User, InDomain)], Greedy());
        Assert.Equal(HybridRoute.Local, DecisionOf(local).Route);
        Assert.Equal((await _s.Local.GetResponseAsync([new(ChatRole.User, InDomain)], Greedy())).Text, local.Text);

        var escalated = await hybrid.GetResponseAsync([new(ChatRole.User, OutOfDomain)], Greedy());
        var decision = DecisionOf(escalated);
        Assert.Equal(HybridRoute.Remote, decision.Route);
        Assert.Equal(EscalationTrigger.PromptPerplexity, decision.Trigger);
        Assert.Equal(1, decision.RemoteAttempts);
        // The answer is the remote server's: the same greedy text its model gives when asked directly.
        var direct = await _s.Remote.GetResponseAsync([new(ChatRole.User, OutOfDomain)], Greedy());
        Assert.Equal(direct.Text, escalated.Text);
        Assert.NotEmpty(escalated.Text);
    }

    [Fact]
    public async Task LowConfidenceEscalatesAfterGeneratingLocally()
    {
        using var hybrid = Hybrid(o => { o.PromptPerplexityGate = null; o.ConfidenceThreshold = 0.999; });
        var r = await hybrid.GetResponseAsync([new(ChatRole.User, InDomain)], Greedy());
        var d = DecisionOf(r);
        Assert.Equal(HybridRoute.Remote, d.Route);
        Assert.NotNull(d.Confidence);
        Assert.True(d.Confidence < 0.999);
        Assert.NotNull(d.Signals!.PromptPerplexity);
        Assert.True(d.LocalOutputTokens > 0);
        Assert.True(d.RemoteOutputTokens > 0);
    }

    [Fact]
    public async Task EscalatedStreamsComeFromTheRemoteServer()
    {
        using var hybrid = Hybrid();
        var parts = new List<string>();
        await foreach (var u in hybrid.GetStreamingResponseAsync([new(ChatRole.User, OutOfDomain)], Greedy())) parts.Add(u.Text);
        var direct = await _s.Remote.GetResponseAsync([new(ChatRole.User, OutOfDomain)], Greedy());
        Assert.Equal(direct.Text, string.Concat(parts));
    }

    [Fact]
    public async Task ARemoteThatIsDownLeavesTheLocalAnswerFlagged()
    {
        var down = RemoteChatClients.ForOpenAICompatible(new Uri("http://127.0.0.1:9/v1"), "k", "m");
        using var hybrid = new HybridChatClient(_s.Local, down, new HybridOptions { PromptPerplexityGate = 100, MaxRemoteRetries = 0, RemoteTimeout = TimeSpan.FromSeconds(5) });
        var r = await hybrid.GetResponseAsync([new(ChatRole.User, OutOfDomain)], Greedy());
        var d = DecisionOf(r);
        Assert.Equal(HybridRoute.LocalFallback, d.Route);
        Assert.True(d.IsUnverified);
        Assert.NotEmpty(r.Text);
    }
}
