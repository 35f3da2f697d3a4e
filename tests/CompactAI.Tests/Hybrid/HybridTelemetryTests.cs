using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using CompactAI.Hybrid;
using Microsoft.Extensions.AI;
using static CompactAI.Tests.Hybrid.HybridAssert;

namespace CompactAI.Tests.Hybrid;

public class HybridTelemetryTests
{
    [Fact]
    public async Task Metrics_count_routes_rates_latencies_tokens_and_savings()
    {
        using var factory = new TestMeterFactory();
        var measurements = new ConcurrentBag<(string Name, double Value, string? Route)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (factory.Meters.Contains(instrument.Meter))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, v, RouteOf(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, v, RouteOf(tags))));
        listener.Start();

        var options = new HybridOptions
        {
            MaxRemoteRetries = 0,
            RemoteInputPricePer1KTokens = 1.0,
            RemoteOutputPricePer1KTokens = 2.0,
            CalibratedEscalationRate = 0.25,
        };
        int remoteCalls = 0;
        var remote = new DelegateRemoteClient((_, _) => Interlocked.Increment(ref remoteCalls) == 1
            ? Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "remote")))
            : throw new HttpRequestException("down"));
        var confident = new ScriptedLocalClient(Tok.Confident());
        var unsure = new ScriptedLocalClient(Tok.Unsure());
        using var localClient = new HybridChatClient(confident, remote, options, meterFactory: factory);
        using var escalating = new HybridChatClient(unsure, remote, options, meterFactory: factory);

        Assert.Equal(HybridRoute.Local, Decision(await localClient.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.Remote, Decision(await escalating.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.LocalFallback, Decision(await escalating.GetResponseAsync(Question)).Route);
        listener.RecordObservableInstruments();

        Assert.Equal(1, measurements.Count(m => m is { Name: "compactai.hybrid.requests", Route: "local" }));
        Assert.Equal(1, measurements.Count(m => m is { Name: "compactai.hybrid.requests", Route: "remote" }));
        Assert.Equal(1, measurements.Count(m => m is { Name: "compactai.hybrid.requests", Route: "local_fallback" }));
        Assert.Equal(3, measurements.Count(m => m.Name == "compactai.hybrid.local.duration"));
        Assert.Equal(2, measurements.Count(m => m.Name == "compactai.hybrid.remote.duration"));

        // Served locally: the confident answer and the fallback.
        int keptTokens = Tok.Confident().Length + Tok.Unsure().Length;
        Assert.Equal(keptTokens, measurements.Where(m => m.Name == "compactai.hybrid.tokens_kept_local").Sum(m => m.Value));
        // Each local answer: 12 prompt tokens at 1.0/1K plus its completion tokens at 2.0/1K.
        double saved = (2 * 12 * 1.0 / 1000) + (keptTokens * 2.0 / 1000);
        Assert.Equal(saved, measurements.Where(m => m.Name == "compactai.hybrid.cost_saved").Sum(m => m.Value), 12);

        // Gauges per client: the local-only client never escalated, the other escalated both times.
        double[] rates = [.. measurements.Where(m => m.Name == "compactai.hybrid.escalation_rate").Select(m => m.Value).Order()];
        Assert.Equal([0.0, 1.0], rates);
        double[] drifts = [.. measurements.Where(m => m.Name == "compactai.hybrid.escalation_drift").Select(m => m.Value).Order()];
        Assert.Equal([-0.25, 0.75], drifts);
        Assert.Equal(1.0, escalating.EscalationRate);
    }

    [Fact]
    public async Task Each_request_is_traced_with_its_route()
    {
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "CompactAI.Hybrid",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);
        using var parent = new Activity("test-parent").Start();
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), DelegateRemoteClient.Answering("remote"));

        await client.GetResponseAsync(Question);
        parent.Stop();

        Activity traced = Assert.Single(activities, a => a.ParentId == parent.Id);
        Assert.Equal("hybrid.chat", traced.OperationName);
        Assert.Equal("remote", traced.GetTagItem("compactai.hybrid.route"));
        Assert.Equal("LowConfidence", traced.GetTagItem("compactai.hybrid.trigger"));
    }

    private static string? RouteOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == "route")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
