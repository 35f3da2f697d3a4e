using CompactAI.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
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
        var config = Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Model:Threads", "1"), ("CompactAI:Model:ContextSize", "256"),
            ("CompactAI:Model:MaxParallelSequences", "2"), ("CompactAI:Chat:ModelId", "tiny"), ("CompactAI:Model:Backend", "Cpu"));
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(config.GetSection("CompactAI"));
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<CompactAIOptions>>().Value;
        Assert.Equal((1, 256, 2, ComputeBackend.Cpu), (options.Model.Threads, options.Model.ContextSize, options.Model.MaxParallelSequences, options.Model.Backend));

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
            o.Model = new() { Threads = 1 };
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
        // The engine's real progress scaled to [0, 0.9], then 1 after the warm-up.
        float[] v = progress.Values;
        Assert.Equal(0f, v[0]);
        Assert.Equal(1f, v[^1]);
        Assert.Equal(0.9f, v[^2], 1e-6f);
        Assert.True(v.Length >= 6, string.Join(", ", v));
        for (int i = 1; i < v.Length; i++) Assert.True(v[i] >= v[i - 1], string.Join(", ", v));
        var models = provider.GetRequiredService<CompactModelProvider>();
        Assert.True(models.IsLoaded);
        Assert.Equal((CompactModelState.Loaded, 1f), (models.State, models.LoadProgress));
    }

    [Theory]
    [InlineData(null, null, "ModelPath")]
    [InlineData("", null, "ModelPath")]
    [InlineData("no/such/model.gguf", null, "ModelPath")]
    [InlineData("<stories>", "-2", "Model:Threads")]
    [InlineData("<stories>", "0", "Model:Threads")]
    public async Task InvalidConfiguration_FailsWithOptionsValidationException_NamingTheField(string? modelPath, string? threads, string field)
    {
        var config = Config(("CompactAI:ModelPath", modelPath == "<stories>" ? TestData.Stories260K : modelPath), ("CompactAI:Model:Threads", threads));
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(config.GetSection("CompactAI"));
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IChatClient>());
        Assert.Contains(error.Failures, f => f.Contains(field, StringComparison.Ordinal));
    }

    [Fact]
    public void Validation_AppliesTheEnginesRules_AllAtOnce_AndAcceptsCuda()
    {
        var config = Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Model:Backend", "Cuda"), ("CompactAI:Model:GpuLayers", "0"),
            ("CompactAI:Model:BatchSize", "0"), ("CompactAI:Chat:DefaultMaxOutputTokens", "-1"));
        using var provider = new ServiceCollection().AddCompactAI(config.GetSection("CompactAI")).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<CompactAIOptions>>().Value);
        // The same messages as CompactModelOptions.Validate throws, one per rule broken.
        Assert.Contains(error.Failures, f => f.Contains("Model:GpuLayers") && f.Contains("Backend = Cuda with GpuLayers = 0"));
        Assert.Contains(error.Failures, f => f.Contains("Model:BatchSize") && f.Contains("BatchSize must be positive."));
        Assert.Contains(error.Failures, f => f.Contains("Chat:DefaultMaxOutputTokens"));

        var cuda = Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Model:Backend", "Cuda"), ("CompactAI:Model:GpuLayers", "3"),
            ("CompactAI:Model:DeviceIndex", "1"), ("CompactAI:Model:CpuKernels", "Managed"));
        using var ok = new ServiceCollection().AddCompactAI(cuda.GetSection("CompactAI")).BuildServiceProvider();
        var model = ok.GetRequiredService<IOptions<CompactAIOptions>>().Value.Model;
        Assert.Equal((ComputeBackend.Cuda, 3, 1, CpuKernels.Managed), (model.Backend, model.GpuLayers, model.DeviceIndex, model.CpuKernels));
    }

    [Fact]
    public async Task TheHostsLoggerFactory_ReceivesTheEnginesBackendDecision()
    {
        var logs = new RecordingLoggerProvider();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(logs));
        services.AddCompactAI(o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1, Backend = ComputeBackend.Cpu }; });
        await using var provider = services.BuildServiceProvider();
        var model = await provider.GetRequiredService<CompactModelProvider>().GetModelAsync();
        Assert.Contains(logs.Messages, m => m.Contains(model.BackendDescription, StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Messages, m => m.Contains("no CUDA backend", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidConfiguration_FailsHostStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCompactAI(Config(("CompactAI:ModelPath", TestData.Stories260K), ("CompactAI:Model:Backend", "Warp")).GetSection("CompactAI"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("Backend", error.ToString());
    }

    [Fact]
    public async Task KeyedRegistrations_GiveEachNameItsOwnModel_ThroughFromKeyedServices()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI("small", o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1, ContextSize = 64 }; o.Chat = new() { ModelId = "small" }; });
        services.AddCompactAI("large", Config(("ModelPath", TestData.Stories260K), ("Model:Threads", "1"), ("Model:ContextSize", "128"), ("Chat:ModelId", "large")));
        services.AddSingleton<TwoModels>();
        await using var provider = services.BuildServiceProvider();

        var two = provider.GetRequiredService<TwoModels>();
        Assert.NotSame(two.Small, two.Large);
        Assert.Equal((64, 128), (two.Small.Sessions.ContextSize, two.Large.Sessions.ContextSize));
        Assert.Equal("small", two.SmallChat.GetService<ChatClientMetadata>()?.DefaultModelId);
        Assert.Equal("large", two.LargeChat.GetService<ChatClientMetadata>()?.DefaultModelId);
        Assert.Same(two.Large, two.LargeChat.GetService<CompactModel>());
        Assert.Same(two.Small, provider.GetRequiredKeyedService<IEmbeddingGenerator<string, Embedding<float>>>("small").GetService<CompactModel>());
        Assert.Equal("small", provider.GetRequiredKeyedService<CompactModelProvider>("small").Name);
        Assert.Null(provider.GetService<CompactModel>()); // no unkeyed registration
        var response = await two.SmallChat.GetResponseAsync("Once upon a time", new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.Equal(4, response.Usage?.OutputTokenCount);
    }

    [Fact]
    public async Task KeyedRegistrations_AreValidatedByName_AndLoadAtHostStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCompactAI("a", o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1 }; });
        builder.Services.AddCompactAI("b", o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1 }; o.LoadOnStart = false; });
        using (var host = builder.Build())
        {
            await host.StartAsync();
            Assert.Equal(CompactModelState.Loaded, host.Services.GetRequiredKeyedService<CompactModelProvider>("a").State);
            Assert.Equal(CompactModelState.NotLoaded, host.Services.GetRequiredKeyedService<CompactModelProvider>("b").State);
            await host.StopAsync();
        }

        var bad = Host.CreateApplicationBuilder();
        bad.Logging.ClearProviders();
        bad.Services.AddCompactAI("good", o => o.ModelPath = TestData.Stories260K);
        bad.Services.AddCompactAI("bad", o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 0 }; });
        using var badHost = bad.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => badHost.StartAsync());
        Assert.Equal("bad", error.OptionsName);
        Assert.Contains(error.Failures, f => f.Contains("Model:Threads"));
    }

    [Fact]
    public async Task HealthCheck_ReportsNotLoaded_Loading_Healthy()
    {
        HealthReport? duringLoad = null;
        HealthCheckService? health = null;
        var progress = new RecordingProgress(v =>
        {
            if (v > 0.2f && duringLoad is null) duringLoad = health!.CheckHealthAsync().GetAwaiter().GetResult();
        });
        var services = new ServiceCollection().AddLogging();
        services.AddCompactAI(o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1 }; o.LoadProgress = progress; });
        services.AddHealthChecks().AddCompactAI(tags: ["ready"]);
        await using var provider = services.BuildServiceProvider();
        health = provider.GetRequiredService<HealthCheckService>();

        var before = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, before.Entries["compactai"].Status);
        Assert.Equal("NotLoaded", before.Entries["compactai"].Data["state"]);
        Assert.Contains("ready", before.Entries["compactai"].Tags);

        await provider.GetRequiredService<CompactModelProvider>().GetModelAsync();
        Assert.NotNull(duringLoad);
        Assert.Equal(HealthStatus.Degraded, duringLoad.Entries["compactai"].Status);
        Assert.Equal("Loading", duringLoad.Entries["compactai"].Data["state"]);
        Assert.StartsWith("loading (", duringLoad.Entries["compactai"].Description);

        var after = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, after.Status);
        Assert.Contains("the CPU", after.Entries["compactai"].Description);
    }

    [Fact]
    public async Task HealthCheck_ReportsAFailedLoad_WithTheError_PerName()
    {
        string bad = Path.Combine(Directory.CreateTempSubdirectory("compactai-health-").FullName, "not-a-model.gguf");
        await File.WriteAllBytesAsync(bad, new byte[64]);
        try
        {
            var services = new ServiceCollection().AddLogging();
            services.AddCompactAI("broken", o => { o.ModelPath = bad; o.LoadOnStart = false; });
            services.AddCompactAI("fine", o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1 }; });
            services.AddHealthChecks().AddCompactAI("broken").AddCompactAI("fine", failureStatus: HealthStatus.Degraded);
            await using var provider = services.BuildServiceProvider();
            var models = provider.GetRequiredKeyedService<CompactModelProvider>("broken");
            await Assert.ThrowsAsync<CompactAI.Gguf.GgufFormatException>(() => models.GetModelAsync());
            await provider.GetRequiredKeyedService<CompactModelProvider>("fine").GetModelAsync();

            var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            var entry = report.Entries["compactai:broken"];
            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.IsType<CompactAI.Gguf.GgufFormatException>(entry.Exception);
            Assert.Equal(CompactModelState.Failed, models.State);
            Assert.Equal(HealthStatus.Healthy, report.Entries["compactai:fine"].Status);
            Assert.Equal(HealthStatus.Unhealthy, report.Status);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(bad)!, recursive: true);
        }
    }

    [Fact]
    public async Task DisposingTheProvider_CancelsALoadInProgress()
    {
        CompactModelProvider? models = null;
        var cancelled = new TaskCompletionSource();
        var services = new ServiceCollection();
        services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Model = new() { Threads = 1 };
            o.LoadProgress = new RecordingProgress(v => { if (v > 0.1f && !cancelled.Task.IsCompleted) { models!.Dispose(); cancelled.SetResult(); } });
        });
        await using var provider = services.BuildServiceProvider();
        models = provider.GetRequiredService<CompactModelProvider>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => models.GetModelAsync());
        Assert.Equal(CompactModelState.Failed, models.State);
        Assert.IsAssignableFrom<OperationCanceledException>(models.LoadError);
    }

    private sealed class TwoModels(
        [FromKeyedServices("small")] CompactModel small, [FromKeyedServices("large")] CompactModel large,
        [FromKeyedServices("small")] IChatClient smallChat, [FromKeyedServices("large")] IChatClient largeChat)
    {
        public CompactModel Small { get; } = small;
        public CompactModel Large { get; } = large;
        public IChatClient SmallChat { get; } = smallChat;
        public IChatClient LargeChat { get; } = largeChat;
    }

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        private readonly List<string> _messages = [];

        public string[] Messages
        {
            get { lock (_messages) return _messages.ToArray(); }
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose() { }

        private sealed class Logger(RecordingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._messages) owner._messages.Add(formatter(state, exception));
            }
        }
    }

    [Fact]
    public async Task ValidConfiguration_LoadsTheModelWhileTheHostStarts()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCompactAI(o => { o.ModelPath = TestData.Stories260K; o.Model = new() { Threads = 1 }; });
        using var host = builder.Build();
        var models = host.Services.GetRequiredService<CompactModelProvider>();
        Assert.False(models.IsLoaded);
        await host.StartAsync();
        Assert.True(models.IsLoaded);
        await host.StopAsync();
    }

    /// <summary>Records progress synchronously (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class RecordingProgress(Action<float>? onReport = null) : IProgress<float>
    {
        private readonly List<float> _values = [];

        public float[] Values
        {
            get { lock (_values) return _values.ToArray(); }
        }

        public void Report(float value)
        {
            lock (_values) _values.Add(value);
            onReport?.Invoke(value);
        }
    }
}
