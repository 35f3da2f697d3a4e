using CompactAI.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CompactAI.Tests.Server;

/// <summary>The DI registration: options binding and validation, the shared model, the chat pipeline and the embedding generator.</summary>
public sealed class AddCompactAITests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public async Task FromConfiguration_ResolvesChatClientAndEmbeddings_OverOneModel()
    {
        var config = Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Threads", "1"), ("CompactAI:ContextSize", "256"),
            ("CompactAI:MaxParallelSequences", "2"), ("CompactAI:ModelId", "tiny"), ("CompactAI:Backend", "Cpu"));
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(config.GetSection("CompactAI"));
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<CompactAIOptions>>().Value;
        Assert.Equal((1, 256, 2, CompactAIBackend.Cpu), (options.Threads, options.ContextSize, options.MaxParallelSequences, options.Backend));

        var chat = provider.GetRequiredService<IChatClient>();
        Assert.Equal("tiny", chat.GetService<ChatClientMetadata>()?.DefaultModelId);
        var response = await chat.GetResponseAsync("Once upon a time", new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        Assert.NotEmpty(response.Text);
        Assert.Equal(8, response.Usage?.OutputTokenCount);

        var embeddings = provider.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
        var vector = (await embeddings.GenerateAsync(["Lily"]))[0];
        Assert.Equal(64, vector.Vector.Length);

        var model = provider.GetRequiredService<CompactModel>();
        Assert.Same(model, chat.GetService<CompactModel>());
        Assert.Same(model, embeddings.GetService<CompactModel>());
        Assert.Equal(256, model.Sessions.ContextSize);
    }

    [Fact]
    public async Task ChatPipeline_RunsTheConfiguredMiddleware_AndReportsLoadProgress()
    {
        int calls = 0;
        var progress = new RecordingProgress();
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Threads = 1;
            o.LoadProgress = progress;
        }, chat => chat.UseLogging().Use(async (messages, options, next, ct) =>
        {
            Interlocked.Increment(ref calls);
            await next(messages, options, ct);
        }));
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<IChatClient>();
        Assert.IsNotType<CompactAI.Chat.CompactChatClient>(client); // wrapped by the pipeline
        Assert.NotNull(client.GetService<CompactAI.Chat.CompactChatClient>());
        await client.GetResponseAsync("Once upon a time", new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.Equal(1, calls);
        Assert.Equal([0f, 0.1f, 0.8f, 1f], progress.Values);
        Assert.True(provider.GetRequiredService<CompactModelProvider>().IsLoaded);
    }

    [Theory]
    [InlineData(null, null, "ModelPath")]
    [InlineData("", null, "ModelPath")]
    [InlineData("no/such/model.gguf", null, "ModelPath")]
    [InlineData("<stories>", "-2", "Threads")]
    [InlineData("<stories>", "0", "Threads")]
    public async Task InvalidConfiguration_FailsWithOptionsValidationException_NamingTheField(string? modelPath, string? threads, string field)
    {
        var config = Config(("CompactAI:ModelPath", modelPath == "<stories>" ? TestData.Stories260K : modelPath), ("CompactAI:Threads", threads));
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(config.GetSection("CompactAI"));
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IChatClient>());
        Assert.Contains(field, error.Message);
        Assert.Contains(error.Failures, f => f.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidConfiguration_FailsHostStart_AndCudaIsReserved()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCompactAI(Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Backend", "Cuda")).GetSection("CompactAI"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Backend", error.Message);
    }

    [Fact]
    public async Task ValidConfiguration_LoadsTheModelWhileTheHostStarts()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCompactAI(o => { o.ModelPath = TestData.Stories260K; o.Threads = 1; });
        using var host = builder.Build();
        var models = host.Services.GetRequiredService<CompactModelProvider>();
        Assert.False(models.IsLoaded);
        await host.StartAsync();
        Assert.True(models.IsLoaded);
        await host.StopAsync();
    }

    /// <summary>Records progress synchronously (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class RecordingProgress : IProgress<float>
    {
        private readonly List<float> _values = [];

        public float[] Values
        {
            get { lock (_values) return _values.ToArray(); }
        }

        public void Report(float value)
        {
            lock (_values) _values.Add(value);
        }
    }
}
