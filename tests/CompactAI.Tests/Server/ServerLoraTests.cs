using System.Net;
using System.Text;
using System.Text.Json;
using CompactAI.Server;
using CompactAI.Tests.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Server;

/// <summary>The server's <c>--lora</c> adapters and llama-server's per-request <c>"lora": [{"id", "scale"}]</c> field, over real HTTP.</summary>
public sealed class ServerLoraTests : IAsyncLifetime
{
    private WebApplication? _app;
    private readonly HttpClient _http = new();
    private Uri _base = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Model = new() { Threads = 1, MaxParallelSequences = 1, Backend = ComputeBackend.Cpu };
        });
        builder.Services.Configure<OpenAIServerOptions>(o => o.Lora = LoraAdapterTests.AdapterPath);
        _app = builder.Build();
        OpenAIEndpoints.Map(_app);
        await _app.StartAsync();
        _base = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string route, string json)
    {
        using var response = await _http.PostAsync(new Uri(_base, route), new StringContent(json, Encoding.UTF8, "application/json"));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private async Task<string> CompleteAsync(string lora)
    {
        var (status, body) = await PostAsync("v1/completions",
            $$"""{"prompt": "Once upon a time", "max_tokens": 20, "temperature": 0{{lora}}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        return body.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    [Fact]
    public async Task Completions_ApplyTheAdapterPerRequest()
    {
        Assert.Contains("little dragon named Spark", await CompleteAsync(""));                                   // loaded adapters apply at scale 1
        Assert.Contains("little girl named Lily", await CompleteAsync(""", "lora": [{"id": 0, "scale": 0}]"""));  // turned off for this request
        Assert.Contains("little dragon named Spark", await CompleteAsync(""", "lora": [{"id": 0, "scale": 1.0}]"""));
        Assert.Contains("Spark was very happy", await CompleteAsync(""", "lora": [{"id": 0, "scale": 0.5}]"""));  // llama.cpp's half-scale story
    }

    [Fact]
    public async Task ChatCompletions_TakeTheLoraField()
    {
        string Chat(string lora) => $$"""{"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 16, "temperature": 0{{lora}}}""";
        var (s1, on) = await PostAsync("v1/chat/completions", Chat(""));
        var (s0, off) = await PostAsync("v1/chat/completions", Chat(""", "lora": [{"id": 0, "scale": 0}]"""));
        Assert.Equal(HttpStatusCode.OK, s1);
        Assert.Equal(HttpStatusCode.OK, s0);
        Assert.NotEqual(on.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            off.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task LoraAdapters_ListsTheLoadedFiles()
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri(_base, "lora-adapters")));
        var only = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(0, only.GetProperty("id").GetInt32());
        Assert.EndsWith("stories260K-spark-dragon-lora-r64-f32.gguf", only.GetProperty("path").GetString());
    }

    [Theory]
    [InlineData("""[{"id": 3, "scale": 1}]""")]
    [InlineData("""{"id": 0}""")]
    [InlineData("""[{"scale": 1}]""")]
    public async Task BadLoraField_Is400NamingIt(string lora)
    {
        var (status, body) = await PostAsync("v1/completions", $$"""{"prompt": "Once", "max_tokens": 2, "lora": {{lora}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("lora", body.GetProperty("error").GetProperty("param").GetString());
    }
}
