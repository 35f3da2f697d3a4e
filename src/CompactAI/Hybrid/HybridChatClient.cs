using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CompactAI.Hybrid;

/// <summary>
/// Answers with the local model when it is confident and its answer passes the checks, and escalates to a remote
/// model otherwise. Every response carries a <see cref="HybridDecision"/> under
/// <see cref="CompactAIPropertyNames.HybridDecision"/>; no request is lost: when the remote model fails (timeout,
/// error status, malformed or dropped reply, open circuit, spent budget) the local answer is returned, flagged unverified.
/// </summary>
/// <remarks>
/// <para>The inner (delegated-to) client is the local one, so the client composes with
/// <see cref="ChatClientBuilder"/> through <see cref="HybridChatClientBuilderExtensions.UseHybrid"/>.</para>
/// <para>Per request, <c>ChatOptions.AdditionalProperties["compactai.route"]</c> = <c>"local"</c>, <c>"remote"</c>
/// or <c>"auto"</c> overrides the policy; the key is removed before the options reach either model.</para>
/// <para>Thread-safe: concurrent requests share the circuit breaker, budgets and metrics. Disposing disposes the
/// local (inner) client, as every delegating client does; the remote client belongs to the caller.</para>
/// </remarks>
public sealed class HybridChatClient : DelegatingChatClient
{
    private readonly HybridOptions _options;
    private readonly EscalationPolicy _policy;
    private readonly RemoteInvoker _remote;
    private readonly HybridTelemetry _telemetry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the router.</summary>
    /// <param name="local">The local (small, in-process) client.</param>
    /// <param name="remote">The remote (large) client; for OpenAI-compatible services see <see cref="RemoteChatClients"/>.</param>
    /// <param name="options">The policy; copied, so later changes do not affect this client. <see langword="null"/>: defaults.</param>
    /// <param name="logger">Receives one debug line per decision and warnings on remote failures; never credentials.</param>
    /// <param name="meterFactory">Creates the <c>CompactAI.Hybrid</c> meter; <see langword="null"/>: a private meter.</param>
    /// <param name="timeProvider">Clock for budgets, the circuit breaker, timeouts and latencies; default <see cref="TimeProvider.System"/>.</param>
    public HybridChatClient(
        IChatClient local,
        IChatClient remote,
        HybridOptions? options = null,
        ILogger? logger = null,
        IMeterFactory? meterFactory = null,
        TimeProvider? timeProvider = null)
        : base(local)
    {
        ArgumentNullException.ThrowIfNull(remote);
        _options = (options ?? new HybridOptions()).Clone();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _policy = new EscalationPolicy(_options);
        _remote = new RemoteInvoker(remote, _options, _time);
        _telemetry = new HybridTelemetry(meterFactory, _options);
    }

    /// <summary>Share of requests since construction that wanted escalation.</summary>
    public double EscalationRate => _telemetry.EscalationRate;

    /// <inheritdoc />
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        IReadOnlyList<ChatMessage> messageList = [.. messages];
        RouteOverride route = ReadRoute(options, out ChatOptions? forwarded);
        using Activity? activity = HybridTelemetry.ActivitySource.StartActivity("hybrid.chat");
        Routed routed = await RouteAsync(messageList, forwarded, route, streaming: false, cancellationToken).ConfigureAwait(false);
        Finish(routed, activity);
        ChatResponse response = routed.Response;
        response.AdditionalProperties ??= [];
        response.AdditionalProperties[CompactAIPropertyNames.HybridDecision] = routed.Decision;
        return response;
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        IReadOnlyList<ChatMessage> messageList = [.. messages];
        RouteOverride route = ReadRoute(options, out ChatOptions? forwarded);
        using Activity? activity = HybridTelemetry.ActivitySource.StartActivity("hybrid.chat.stream");
        if (_options.StreamingMode == HybridStreamingMode.StreamThenVerify)
        {
            await foreach (ChatResponseUpdate update in StreamThenVerifyAsync(messageList, forwarded, route, activity, cancellationToken).ConfigureAwait(false))
            {
                yield return update;
            }

            yield break;
        }

        Routed routed = await RouteAsync(messageList, forwarded, route, streaming: true, cancellationToken).ConfigureAwait(false);
        Finish(routed, activity);
        foreach (ChatResponseUpdate update in routed.Updates ?? routed.Response.ToChatResponseUpdates())
        {
            yield return update;
        }

        yield return DecisionUpdate(routed.Decision);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _telemetry.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The buffered path shared by non-streaming and <see cref="HybridStreamingMode.Verified"/> streaming.</summary>
    private async Task<Routed> RouteAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, RouteOverride route, bool streaming, CancellationToken cancellationToken)
    {
        LocalOutcome? local = null;
        LocalVerdict? verdict = null;
        TimeSpan promptScoring = TimeSpan.Zero;
        double? promptPerplexity = null;
        EscalationTrigger trigger;
        string reason;

        if (route == RouteOverride.Remote)
        {
            trigger = EscalationTrigger.Forced;
            reason = "remote forced by request";
        }
        else
        {
            (trigger, reason, promptPerplexity, promptScoring) = route == RouteOverride.Auto
                ? await GatePromptAsync(messages, cancellationToken).ConfigureAwait(false)
                : (EscalationTrigger.None, string.Empty, null, TimeSpan.Zero);
            if (trigger == EscalationTrigger.None)
            {
                bool earlyExit = _options.EarlyExit && route == RouteOverride.Auto;
                local = await RunLocalAsync(messages, options, promptPerplexity, streaming || earlyExit, earlyExit, cancellationToken).ConfigureAwait(false);
                verdict = await _policy.EvaluateAsync(local, cancellationToken).ConfigureAwait(false);
                if (route == RouteOverride.Local || verdict.Trigger == EscalationTrigger.None)
                {
                    string localReason = route == RouteOverride.Local
                        ? $"local forced by request ({verdict.Reason})"
                        : verdict.Reason;
                    return LocalRouted(local, verdict, HybridRoute.Local, EscalationTrigger.None, localReason, null, promptScoring, null);
                }

                trigger = verdict.Trigger;
                reason = verdict.Reason;
            }
        }

        RemoteOutcome remote = await _remote.CallAsync(messages, options, streaming, cancellationToken).ConfigureAwait(false);
        if (remote.Succeeded)
        {
            ChatResponse response = remote.Response!;
            HybridDecision decision = new()
            {
                Route = HybridRoute.Remote,
                Trigger = trigger,
                Reason = reason,
                Confidence = verdict?.Confidence,
                Threshold = _options.ConfidenceThreshold,
                Signals = verdict?.Signals,
                ValidatorResults = verdict?.ValidatorResults ?? [],
                LocalLatency = local is null ? NullIfZero(promptScoring) : local.Latency + promptScoring,
                RemoteLatency = remote.Latency,
                LocalOutputTokens = local?.Tokens.Count,
                RemoteInputTokens = response.Usage?.InputTokenCount,
                RemoteOutputTokens = response.Usage?.OutputTokenCount,
                RemoteAttempts = remote.Attempts,
            };
            await DistillAsync(messages, response.Text, local?.Response.Text, verdict?.Confidence, cancellationToken).ConfigureAwait(false);
            return new Routed(decision, response, remote.Updates, null);
        }

        _logger.LogWarning("Hybrid escalation ({Trigger}) failed, answering locally: {Error}", trigger, remote.Error);
        if (local is null || local.EarlyExited)
        {
            // An abandoned (early-exit) local answer is partial; a fallback must be a whole answer, so generate again.
            promptScoring += local?.Latency ?? TimeSpan.Zero;
            local = await RunLocalAsync(messages, options, promptPerplexity, streaming, earlyExit: false, cancellationToken).ConfigureAwait(false);
            LocalVerdict fresh = await _policy.EvaluateAsync(local, cancellationToken).ConfigureAwait(false);
            verdict = fresh with { Trigger = trigger, Reason = reason };
        }

        return LocalRouted(local, verdict!, remote.FailureRoute, trigger, $"{reason}; {remote.Error}", remote, promptScoring, remote.Error);
    }

    /// <summary>Stream-then-verify: forward as it arrives, verify at the end, append the decision.</summary>
    private async IAsyncEnumerable<ChatResponseUpdate> StreamThenVerifyAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, RouteOverride route, Activity? activity,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        (EscalationTrigger trigger, string reason, double? promptPerplexity, TimeSpan promptScoring) = route switch
        {
            RouteOverride.Remote => (EscalationTrigger.Forced, "remote forced by request", null, TimeSpan.Zero),
            RouteOverride.Auto => await GatePromptAsync(messages, cancellationToken).ConfigureAwait(false),
            _ => (EscalationTrigger.None, string.Empty, (double?)null, TimeSpan.Zero),
        };

        RemoteOutcome? refused = trigger != EscalationTrigger.None ? _remote.TryAdmit() : null;
        HybridRoute fallbackRoute = refused?.FailureRoute ?? HybridRoute.LocalFallback;
        string? remoteError = refused?.Error;
        int remoteAttempts = 0;
        if (trigger != EscalationTrigger.None && refused is null)
        {
            var live = new LiveRemoteStream(_remote, _options, _time);
            await foreach (ChatResponseUpdate update in live.StreamAsync(messages, options, cancellationToken).ConfigureAwait(false))
            {
                yield return update;
            }

            if (live.Succeeded || live.ForwardedAny)
            {
                ChatResponse response = live.Updates.ToChatResponse();
                HybridDecision decision = new()
                {
                    Route = live.Succeeded ? HybridRoute.Remote : HybridRoute.RemoteIncomplete,
                    Trigger = trigger,
                    Reason = live.Succeeded ? reason : $"{reason}; {live.Error}",
                    RemoteError = live.Error,
                    Threshold = _options.ConfidenceThreshold,
                    LocalLatency = NullIfZero(promptScoring),
                    RemoteLatency = live.Latency,
                    RemoteInputTokens = response.Usage?.InputTokenCount,
                    RemoteOutputTokens = response.Usage?.OutputTokenCount,
                    RemoteAttempts = live.Attempts,
                };
                Finish(new Routed(decision, response, live.Updates, null), activity);
                if (live.Succeeded)
                {
                    await DistillAsync(messages, response.Text, null, null, cancellationToken).ConfigureAwait(false);
                }

                yield return DecisionUpdate(decision);
                yield break;
            }

            remoteError = live.Error;
            remoteAttempts = live.Attempts;
        }

        // Local, forwarded live. Nothing has reached the caller yet if we got here after a failed escalation.
        bool wanted = trigger != EscalationTrigger.None;
        var collector = new LocalStreamCollector(_options, earlyExit: false, promptPerplexity);
        long started = _time.GetTimestamp();
        await foreach (ChatResponseUpdate update in InnerClient.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            collector.Observe(update);
            yield return update;
        }

        LocalOutcome local = collector.Complete(earlyExited: false, _time.GetElapsedTime(started));
        LocalVerdict verdict = await _policy.EvaluateAsync(local, cancellationToken).ConfigureAwait(false);
        Routed routed;
        if (wanted)
        {
            var failed = new RemoteOutcome { Error = remoteError, Attempts = remoteAttempts, FailureRoute = fallbackRoute };
            routed = LocalRouted(local, verdict, fallbackRoute, trigger, $"{reason}; {remoteError}", failed, promptScoring, remoteError);
        }
        else if (route == RouteOverride.Local || verdict.Trigger == EscalationTrigger.None)
        {
            string localReason = route == RouteOverride.Local ? $"local forced by request ({verdict.Reason})" : verdict.Reason;
            routed = LocalRouted(local, verdict, HybridRoute.Local, EscalationTrigger.None, localReason, null, promptScoring, null);
        }
        else
        {
            routed = LocalRouted(local, verdict, HybridRoute.LocalStreamedUnverified, verdict.Trigger,
                $"{verdict.Reason}; already streamed, so not escalated", null, promptScoring, null);
        }

        Finish(routed, activity);
        yield return DecisionUpdate(routed.Decision);
    }

    private async Task<(EscalationTrigger Trigger, string Reason, double? Perplexity, TimeSpan Elapsed)> GatePromptAsync(
        IReadOnlyList<ChatMessage> messages, CancellationToken cancellationToken)
    {
        if (_options.PromptPerplexityGate is not double gate || InnerClient.GetService<IPromptScorer>() is not IPromptScorer scorer)
        {
            return (EscalationTrigger.None, string.Empty, null, TimeSpan.Zero);
        }

        long started = _time.GetTimestamp();
        PromptScore score = await scorer.ScorePromptAsync(messages, cancellationToken).ConfigureAwait(false);
        TimeSpan elapsed = _time.GetElapsedTime(started);
        return score.Perplexity > gate
            ? (EscalationTrigger.PromptPerplexity, $"prompt perplexity {score.Perplexity:0.##} above gate {gate:0.##}", score.Perplexity, elapsed)
            : (EscalationTrigger.None, string.Empty, score.Perplexity, elapsed);
    }

    private async Task<LocalOutcome> RunLocalAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, double? promptPerplexity, bool stream, bool earlyExit,
        CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        if (!stream)
        {
            ChatResponse response = await InnerClient.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<Inference.GeneratedToken> tokens =
                response.AdditionalProperties?.TryGetValue(CompactAIPropertyNames.Tokens, out object? value) == true
                && value is IReadOnlyList<Inference.GeneratedToken> list ? list : [];
            return new LocalOutcome
            {
                Response = response,
                Tokens = tokens,
                FinishReason = LocalOutcome.ReadFinishReason(response.AdditionalProperties, response.FinishReason),
                PromptPerplexity = promptPerplexity ?? LocalOutcome.ReadPromptPerplexity(response.AdditionalProperties),
                Latency = _time.GetElapsedTime(started),
            };
        }

        var collector = new LocalStreamCollector(_options, earlyExit, promptPerplexity);
        using var localCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bool exited = false;
        IAsyncEnumerator<ChatResponseUpdate> updates = InnerClient
            .GetStreamingResponseAsync(messages, options, localCancellation.Token)
            .GetAsyncEnumerator(localCancellation.Token);
        try
        {
            while (await updates.MoveNextAsync().ConfigureAwait(false))
            {
                if (collector.Observe(updates.Current))
                {
                    // Abandon generation: cancel the local stream so the engine stops decoding, then stop reading.
                    exited = true;
                    await localCancellation.CancelAsync().ConfigureAwait(false);
                    break;
                }
            }
        }
        finally
        {
            try
            {
                await updates.DisposeAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (exited && !cancellationToken.IsCancellationRequested)
            {
                // The local stream reports the cancellation we asked for.
            }
        }

        return collector.Complete(exited, _time.GetElapsedTime(started));
    }

    private Routed LocalRouted(
        LocalOutcome local, LocalVerdict verdict, HybridRoute route, EscalationTrigger trigger, string reason,
        RemoteOutcome? remote, TimeSpan extraLocalTime, string? remoteError)
    {
        HybridDecision decision = new()
        {
            Route = route,
            Trigger = trigger,
            Reason = reason,
            RemoteError = remoteError,
            Confidence = verdict.Confidence,
            Threshold = _options.ConfidenceThreshold,
            Signals = verdict.Signals,
            ValidatorResults = verdict.ValidatorResults,
            LocalLatency = local.Latency + extraLocalTime,
            RemoteLatency = remote is { Attempts: > 0 } ? remote.Latency : null,
            LocalOutputTokens = local.Tokens.Count > 0 ? local.Tokens.Count : local.Response.Usage?.OutputTokenCount,
            RemoteAttempts = remote?.Attempts ?? 0,
        };
        return new Routed(decision, local.Response, local.Updates, local.Response.Usage?.InputTokenCount);
    }

    private void Finish(Routed routed, Activity? activity)
    {
        HybridDecision decision = routed.Decision;
        _telemetry.Record(decision, routed.LocalInputTokens);
        if (activity is not null)
        {
            activity.SetTag("compactai.hybrid.route", HybridTelemetry.RouteTag(decision.Route));
            activity.SetTag("compactai.hybrid.trigger", decision.Trigger.ToString());
            activity.SetTag("compactai.hybrid.confidence", decision.Confidence);
            activity.SetTag("compactai.hybrid.remote_attempts", decision.RemoteAttempts);
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            _logger.LogDebug("Hybrid route {Route} ({Trigger}), confidence {Confidence}: {Reason}",
                decision.Route, decision.Trigger, decision.Confidence, decision.Reason);
        }
    }

    private async Task DistillAsync(
        IReadOnlyList<ChatMessage> messages, string remoteAnswer, string? localAnswer, double? confidence, CancellationToken cancellationToken)
    {
        if (_options.DistillationSink is not IDistillationSink sink)
        {
            return;
        }

        var record = new DistillationRecord(
            [.. messages.Select(m => new DistillationMessage(m.Role.Value, m.Text))],
            remoteAnswer, localAnswer, confidence, _time.GetUtcNow());
        try
        {
            await sink.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogWarning(ex, "Distillation sink failed; the request is unaffected");
        }
    }

    private static ChatResponseUpdate DecisionUpdate(HybridDecision decision) => new()
    {
        Role = ChatRole.Assistant,
        AdditionalProperties = new() { [CompactAIPropertyNames.HybridDecision] = decision },
    };

    private static TimeSpan? NullIfZero(TimeSpan value) => value == TimeSpan.Zero ? null : value;

    private static RouteOverride ReadRoute(ChatOptions? options, out ChatOptions? forwarded)
    {
        forwarded = options;
        if (options?.AdditionalProperties?.TryGetValue(CompactAIPropertyNames.Route, out object? value) != true)
        {
            return RouteOverride.Auto;
        }

        forwarded = options.Clone();
        forwarded.AdditionalProperties!.Remove(CompactAIPropertyNames.Route);
        return (value as string)?.ToLowerInvariant() switch
        {
            "local" => RouteOverride.Local,
            "remote" => RouteOverride.Remote,
            "auto" or null => RouteOverride.Auto,
            string other => throw new ArgumentException(
                $"ChatOptions.AdditionalProperties[\"{CompactAIPropertyNames.Route}\"] must be \"local\", \"remote\" or \"auto\", not \"{other}\".",
                nameof(options)),
        };
    }

    private enum RouteOverride
    {
        Auto,
        Local,
        Remote,
    }

    private sealed record Routed(HybridDecision Decision, ChatResponse Response, IReadOnlyList<ChatResponseUpdate>? Updates, long? LocalInputTokens);
}
