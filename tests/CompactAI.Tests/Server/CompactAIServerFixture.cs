using System.ClientModel;
using System.Net;
using CompactAI.Chat;
using CompactAI.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace CompactAI.Tests.Server;

/// <summary>
/// The OpenAI-compatible endpoints hosted in-process on a real Kestrel port (127.0.0.1, ephemeral) over stories260K,
/// wired exactly as the server sample wires them (AddCompactAI + <see cref="OpenAIEndpoints.Map"/>), plus an independent
/// in-process <see cref="CompactChatClient"/> over its own copy of the model to compare answers with.
/// </summary>
public sealed class CompactAIServerFixture : IAsyncLifetime
{
    public const string ApiKey = "test-key-123";
    public const string ModelId = "stories260K";
    public const long MaxBodyBytes = 64 * 1024;

    private WebApplication? _app;
    private CompactModel? _localModel;

    /// <summary>Base address, e.g. http://127.0.0.1:54321/.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The OpenAI client's endpoint (base address + v1).</summary>
    public Uri OpenAIEndpoint => new(BaseAddress, "v1");

    /// <summary>A chat client over a separately loaded copy of the model (not the server's).</summary>
    public CompactChatClient LocalChat { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public OpenAIClientOptions ClientOptions => new() { Endpoint = OpenAIEndpoint };

    public ApiKeyCredential Credential => new(ApiKey);

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Chat = new() { ModelId = ModelId };
            o.Model = new() { Threads = 1, MaxParallelSequences = 2 };
        });
        builder.Services.Configure<OpenAIServerOptions>(o =>
        {
            o.ApiKey = ApiKey;
            o.MaxRequestBodyBytes = MaxBodyBytes;
        });
        _app = builder.Build();
        BaseAddress = await LoopbackServer.StartAsync(_app);

        _localModel = await CompactModel.LoadAsync(TestData.Stories260K, new CompactModelOptions { Threads = 1, MaxParallelSequences = 1 });
        LocalChat = new CompactChatClient(_localModel, new CompactChatClientOptions { ModelId = ModelId });
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await LoopbackServer.StopAsync(_app);
        _localModel?.Dispose();
    }
}
