using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace CompactAI.Hybrid;

/// <summary>
/// Metrics (<c>Meter("CompactAI.Hybrid")</c>) and traces (<c>ActivitySource("CompactAI.Hybrid")</c>) of one hybrid client.
/// Instruments:
/// <list type="bullet">
/// <item><c>compactai.hybrid.requests</c> counter, tag <c>route</c>.</item>
/// <item><c>compactai.hybrid.escalation_rate</c> observable gauge: escalations wanted ÷ requests since start.</item>
/// <item><c>compactai.hybrid.escalation_drift</c> observable gauge: live escalation rate − calibrated rate (only when a calibrated rate is configured).</item>
/// <item><c>compactai.hybrid.local.duration</c> and <c>compactai.hybrid.remote.duration</c> histograms, seconds.</item>
/// <item><c>compactai.hybrid.tokens_kept_local</c> counter: completion tokens of answers served locally.</item>
/// <item><c>compactai.hybrid.cost_saved</c> counter: remote price of answers served locally, from the configured per-1K prices.</item>
/// </list>
/// </summary>
internal sealed class HybridTelemetry : IDisposable
{
    /// <summary>The name of the meter and activity source.</summary>
    public const string Name = "CompactAI.Hybrid";

    /// <summary>Traces of hybrid requests.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _localDuration;
    private readonly Histogram<double> _remoteDuration;
    private readonly Counter<long> _tokensKeptLocal;
    private readonly Counter<double> _costSaved;
    private readonly double _inputPrice;
    private readonly double _outputPrice;
    private long _total;
    private long _escalated;

    public HybridTelemetry(IMeterFactory? meterFactory, HybridOptions options)
    {
        _meter = meterFactory?.Create(new MeterOptions(Name)) ?? new Meter(Name);
        _ownsMeter = meterFactory is null;
        _inputPrice = options.RemoteInputPricePer1KTokens;
        _outputPrice = options.RemoteOutputPricePer1KTokens;
        _requests = _meter.CreateCounter<long>("compactai.hybrid.requests", "{request}", "Hybrid requests by route.");
        _localDuration = _meter.CreateHistogram<double>("compactai.hybrid.local.duration", "s", "Local generation time.");
        _remoteDuration = _meter.CreateHistogram<double>("compactai.hybrid.remote.duration", "s", "Remote call time including retries.");
        _tokensKeptLocal = _meter.CreateCounter<long>("compactai.hybrid.tokens_kept_local", "{token}", "Completion tokens served locally.");
        _costSaved = _meter.CreateCounter<double>("compactai.hybrid.cost_saved", "{currency}", "Estimated remote cost avoided.");
        _meter.CreateObservableGauge("compactai.hybrid.escalation_rate", () => EscalationRate, "1", "Share of requests that wanted escalation.");
        if (options.CalibratedEscalationRate is double calibrated)
        {
            _meter.CreateObservableGauge("compactai.hybrid.escalation_drift", () => EscalationRate - calibrated, "1",
                "Live escalation rate minus the calibrated rate.");
        }
    }

    /// <summary>Escalations wanted ÷ requests, 0 before the first request.</summary>
    public double EscalationRate
    {
        get
        {
            long total = Interlocked.Read(ref _total);
            return total == 0 ? 0 : (double)Interlocked.Read(ref _escalated) / total;
        }
    }

    /// <summary>Records a finished request.</summary>
    /// <param name="decision">The decision.</param>
    /// <param name="localInputTokens">Prompt tokens of the local run, when known (for the cost estimate).</param>
    public void Record(HybridDecision decision, long? localInputTokens)
    {
        Interlocked.Increment(ref _total);
        if (decision.Escalated)
        {
            Interlocked.Increment(ref _escalated);
        }

        _requests.Add(1, new KeyValuePair<string, object?>("route", RouteTag(decision.Route)));
        if (decision.LocalLatency is TimeSpan local)
        {
            _localDuration.Record(local.TotalSeconds);
        }

        if (decision.RemoteLatency is TimeSpan remote)
        {
            _remoteDuration.Record(remote.TotalSeconds);
        }

        bool servedLocally = decision.Route is not (HybridRoute.Remote or HybridRoute.RemoteIncomplete);
        if (servedLocally && decision.LocalOutputTokens is long outputTokens)
        {
            _tokensKeptLocal.Add(outputTokens);
            double saved = ((localInputTokens ?? 0) * _inputPrice / 1000.0) + (outputTokens * _outputPrice / 1000.0);
            if (saved > 0)
            {
                _costSaved.Add(saved);
            }
        }
    }

    /// <summary>The <c>route</c> tag value of a route.</summary>
    public static string RouteTag(HybridRoute route) => route switch
    {
        HybridRoute.Local => "local",
        HybridRoute.Remote => "remote",
        HybridRoute.LocalFallback => "local_fallback",
        HybridRoute.LocalBudget => "local_budget",
        HybridRoute.LocalCircuitOpen => "local_circuit_open",
        HybridRoute.LocalStreamedUnverified => "local_streamed_unverified",
        HybridRoute.RemoteIncomplete => "remote_incomplete",
        _ => "unknown",
    };

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
