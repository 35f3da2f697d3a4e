using System.Diagnostics;
using CompactAI.Chat;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CompactAI.Tests.Chat;

/// <summary>The local clients compose with Microsoft.Extensions.AI's middleware: logging, caching, OpenTelemetry.</summary>
public sealed class MiddlewareTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public MiddlewareTests(Stories260KFixture fixture) => _model = fixture.Model;

    [Fact]
    public async Task ChatClientBuilderPipelineCachesLogsAndTraces()
    {
        var cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "compactai-test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);
        using var inner = new CompactChatClient(_model);
        using IChatClient client = new ChatClientBuilder(inner)
            .UseDistributedCache(cache)
            .UseOpenTelemetry(sourceName: "compactai-test")
            .UseLogging(NullLoggerFactory.Instance)
            .Build();
        var messages = new List<ChatMessage> { new(ChatRole.User, "Once upon a time") };
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        var first = await client.GetResponseAsync(messages, options);
        var second = await client.GetResponseAsync(messages, options);
        Assert.Equal(first.Text, second.Text);
        Assert.NotEmpty(first.Text);
        // The cache sits outside the telemetry layer: only the first request reached it and the model.
        Assert.Single(activities);
        Assert.Contains(activities[0].TagObjects, t => t.Key == "gen_ai.usage.output_tokens" && t.Value?.ToString() == "10");
    }

    [Fact]
    public async Task EmbeddingGeneratorComposesWithTheBuilder()
    {
        using var inner = new CompactEmbeddingGenerator(_model);
        using IEmbeddingGenerator<string, Embedding<float>> generator = new EmbeddingGeneratorBuilder<string, Embedding<float>>(inner)
            .UseLogging(NullLoggerFactory.Instance)
            .Build();
        var result = await generator.GenerateAsync(["Once upon a time"]);
        Assert.Equal(_model.Config.EmbeddingLength, result[0].Vector.Length);
    }
}
