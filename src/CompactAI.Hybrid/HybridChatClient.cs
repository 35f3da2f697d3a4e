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
    private readonly RemoteCaller _remote;
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
        _remote = new RemoteCaller(remote, _options, _time);
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
        var request = new Request(messageList, forwarded, route, Delivery.Response);
        await foreach (ChatResponseUpdate _ in InvokeAsync(request, activity, cancellationToken).ConfigureAwait(false))
        {
            // A buffered request forwards nothing while it runs.
        }

        ChatResponse response = request.Result!.Response;
        response.AdditionalProperties ??= [];
        response.AdditionalProperties[CompactAIPropertyNames.HybridDecision] = request.Result.Decision;
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
        Delivery delivery = _options.StreamingMode == HybridStreamingMode.StreamThenVerify ? Delivery.Live : Delivery.Verified;
        var request = new Request(messageList, forwarded, route, delivery);
        await foreach (ChatResponseUpdate update in InvokeAsync(request, activity, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }

        Routed routed = request.Result!;
        if (delivery == Delivery.Verified)
        {
            foreach (ChatResponseUpdate update in routed.Updates ?? routed.Response.ToChatResponseUpdates())
            {
                yield return update;
            }
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

    /// <summary>
    /// The one path of every request. The policy picks the first client (local, or remote when forced or the prompt
    /// gate fires) and, after each attempt, the next one or the end; this loop calls them and owns one rule: clients are
    /// switched only before the first update with content reached the caller. In <see cref="Delivery.Live"/> mode updates
    /// with content are yielded as they arrive (updates without content are held back until then, so a switch drops them);
    /// the other modes yield nothing and leave the answer in <see cref="Request.Result"/>.
    /// </summary>
    private async IAsyncEnumerable<ChatResponseUpdate> InvokeAsync(
        Request request, Activity? activity, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        (request.Trigger, request.Reason, request.PromptPerplexity, request.PromptScoring) = request.Route switch
        {
            RouteOverride.Remote => (EscalationTrigger.Forced, "remote forced by request", null, TimeSpan.Zero),
            RouteOverride.Auto => await GatePromptAsync(request.Messages, cancellationToken).ConfigureAwait(false),
            _ => (EscalationTrigger.None, string.Empty, (double?)null, TimeSpan.Zero),
        };

        Routed? routed = null;
        List<ChatResponseUpdate> held = [];
        bool useRemote = request.Trigger != EscalationTrigger.None;
        while (routed is null)
        {
            if (!useRemote)
            {
                if (request.Delivery == Delivery.Live)
                {
                    var collector = new LocalStreamCollector(_options, earlyExit: false, request.PromptPerplexity);
                    held.Clear();
                    long started = _time.GetTimestamp();
                    await foreach (ChatResponseUpdate update in InnerClient.GetStreamingResponseAsync(request.Messages, request.Options, cancellationToken).ConfigureAwait(false))
                    {
                        collector.Observe(update);
                        held.Add(update);
                        if (request.ForwardedContent || RemoteCaller.HasContent(update))
                        {
                            request.ForwardedContent = true;
                            foreach (ChatResponseUpdate pending in held)
                            {
                                yield return pending;
                            }

                            held.Clear();
                        }
                    }

                    request.Local = collector.Complete(earlyExited: false, _time.GetElapsedTime(started));
                }
                else
                {
                    bool earlyExit = _options.EarlyExit && request.Route == RouteOverride.Auto && request.Remote is null;
                    request.Local = await RunLocalAsync(request, request.Delivery == Delivery.Verified || earlyExit, earlyExit, cancellationToken).ConfigureAwait(false);
                }

                request.Verdict = await _policy.EvaluateAsync(request.Local, cancellationToken).ConfigureAwait(false);
                routed = NextAfterLocal(request);
                if (routed is null)
                {
                    useRemote = true;
                }
                else
                {
                    // A kept local answer without content still delivers its updates (role, finish reason, usage).
                    foreach (ChatResponseUpdate pending in held)
                    {
                        yield return pending;
                    }
                }

                continue;
            }

            long remoteStarted = _time.GetTimestamp();
            RemoteOutcome remote = await _remote.CallAsync(request.Messages, request.Options, request.Delivery switch
            {
                Delivery.Response => RemoteDelivery.Response,
                Delivery.Verified => RemoteDelivery.BufferedStream,
                _ => RemoteDelivery.LiveStream,
            }, cancellationToken).ConfigureAwait(false);
            if (remote.Tail is RemoteStreamTail tail)
            {
                // Content is here: from now on this request is the remote's, whatever happens to the stream.
                request.ForwardedContent = true;
                var forwarded = new List<ChatResponseUpdate>(remote.Updates!);
                try
                {
                    foreach (ChatResponseUpdate update in remote.Updates!)
                    {
                        yield return update;
                    }

                    while (await tail.MoveNextAsync().ConfigureAwait(false))
                    {
                        forwarded.Add(tail.Current);
                        yield return tail.Current;
                    }
                }
                finally
                {
                    await tail.DisposeAsync().ConfigureAwait(false);
                }

                remote = remote with
                {
                    Response = tail.Error is null ? forwarded.ToChatResponse() : null,
                    Updates = forwarded,
                    Tail = null,
                    Error = tail.Error,
                    Latency = _time.GetElapsedTime(remoteStarted),
                };
            }

            request.Remote = remote;
            if (!remote.Succeeded && !request.ForwardedContent)
            {
                _logger.LogWarning("Hybrid escalation ({Trigger}) failed, answering locally: {Error}", request.Trigger, remote.Error);
            }

            routed = NextAfterRemote(request);
            useRemote = false;
        }

        Finish(routed, activity);
        if (routed.Decision.Route == HybridRoute.Remote)
        {
            await DistillAsync(request.Messages, routed.Response.Text, request.Local?.Response.Text, request.Verdict?.Confidence, cancellationToken).ConfigureAwait(false);
        }

        request.Result = routed;
    }

    /// <summary>The policy after a local answer: keep it, or escalate (<see langword="null"/>).</summary>
    private Routed? NextAfterLocal(Request request)
    {
        LocalVerdict verdict = request.Verdict!;
        if (request.Remote is RemoteOutcome failed)
        {
            // The fallback of a failed escalation.
            return Decide(request, failed.FailureRoute, request.Trigger, $"{request.Reason}; {failed.Error}");
        }

        if (request.Route == RouteOverride.Local)
        {
            return Decide(request, HybridRoute.Local, EscalationTrigger.None, $"local forced by request ({verdict.Reason})");
        }

        if (verdict.Trigger == EscalationTrigger.None)
        {
            return Decide(request, HybridRoute.Local, EscalationTrigger.None, verdict.Reason);
        }

        if (request.ForwardedContent)
        {
            return Decide(request, HybridRoute.LocalStreamedUnverified, verdict.Trigger, $"{verdict.Reason}; already streamed, so not escalated");
        }

        request.Trigger = verdict.Trigger;
        request.Reason = verdict.Reason;
        return null;
    }

    /// <summary>The policy after an escalation: the remote answer, or the local one (<see langword="null"/>: generate it).</summary>
    private Routed? NextAfterRemote(Request request)
    {
        RemoteOutcome remote = request.Remote!;
        if (remote.Succeeded)
        {
            return Decide(request, HybridRoute.Remote, request.Trigger, request.Reason);
        }

        if (request.ForwardedContent)
        {
            return Decide(request, HybridRoute.RemoteIncomplete, request.Trigger, $"{request.Reason}; {remote.Error}");
        }

        if (request.Local is LocalOutcome { EarlyExited: false })
        {
            return Decide(request, remote.FailureRoute, request.Trigger, $"{request.Reason}; {remote.Error}");
        }

        // No local answer yet, or only an abandoned (early-exit) one: a fallback must be whole, so generate again.
        request.PromptScoring += request.Local?.Latency ?? TimeSpan.Zero;
        request.Local = null;
        return null;
    }

    /// <summary>The one place a <see cref="HybridDecision"/> is built.</summary>
    private Routed Decide(Request request, HybridRoute route, EscalationTrigger trigger, string reason)
    {
        LocalOutcome? local = request.Local;
        LocalVerdict? verdict = request.Verdict;
        RemoteOutcome? remote = request.Remote;
        bool remoteAnswer = route is HybridRoute.Remote or HybridRoute.RemoteIncomplete;
        ChatResponse response = remoteAnswer ? remote!.Response ?? remote.Updates!.ToChatResponse() : local!.Response;
        var decision = new HybridDecision
        {
            Route = route,
            Trigger = trigger,
            Reason = reason,
            RemoteError = remote?.Error,
            Confidence = verdict?.Confidence,
            Threshold = _options.ConfidenceThreshold,
            Signals = verdict?.Signals,
            ValidatorResults = verdict?.ValidatorResults ?? [],
            LocalLatency = local is null ? NullIfZero(request.PromptScoring) : local.Latency + request.PromptScoring,
            RemoteLatency = remote is { Attempts: > 0 } ? remote.Latency : null,
            LocalOutputTokens = local is null ? null
                : remoteAnswer || local.Tokens.Count > 0 ? local.Tokens.Count : local.Response.Usage?.OutputTokenCount,
            RemoteInputTokens = remoteAnswer ? response.Usage?.InputTokenCount : null,
            RemoteOutputTokens = remoteAnswer ? response.Usage?.OutputTokenCount : null,
            RemoteAttempts = remote?.Attempts ?? 0,
        };
        return remoteAnswer
            ? new Routed(decision, response, remote!.Updates, null)
            : new Routed(decision, response, local!.Updates, local.Response.Usage?.InputTokenCount);
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

    private async Task<LocalOutcome> RunLocalAsync(Request request, bool stream, bool earlyExit, CancellationToken cancellationToken)
    {
        IReadOnlyList<ChatMessage> messages = request.Messages;
        ChatOptions? options = request.Options;
        double? promptPerplexity = request.PromptPerplexity;
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

    private enum Delivery
    {
        /// <summary>Non-streaming: one buffered answer.</summary>
        Response,

        /// <summary>Streaming, <see cref="HybridStreamingMode.Verified"/>: buffered, replayed once committed.</summary>
        Verified,

        /// <summary>Streaming, <see cref="HybridStreamingMode.StreamThenVerify"/>: forwarded as it arrives.</summary>
        Live,
    }

    /// <summary>The state of one request as it moves between clients.</summary>
    private sealed class Request(IReadOnlyList<ChatMessage> messages, ChatOptions? options, RouteOverride route, Delivery delivery)
    {
        public IReadOnlyList<ChatMessage> Messages { get; } = messages;

        public ChatOptions? Options { get; } = options;

        public RouteOverride Route { get; } = route;

        public Delivery Delivery { get; } = delivery;

        public EscalationTrigger Trigger { get; set; }

        public string Reason { get; set; } = string.Empty;

        public double? PromptPerplexity { get; set; }

        /// <summary>Local time that is not the kept local answer's own: prompt scoring, an abandoned early-exit run.</summary>
        public TimeSpan PromptScoring { get; set; }

        public LocalOutcome? Local { get; set; }

        public LocalVerdict? Verdict { get; set; }

        public RemoteOutcome? Remote { get; set; }

        /// <summary>Whether an update with content reached the caller; from then on no other client may answer.</summary>
        public bool ForwardedContent { get; set; }

        public Routed? Result { get; set; }
    }

    private sealed record Routed(HybridDecision Decision, ChatResponse Response, IReadOnlyList<ChatResponseUpdate>? Updates, long? LocalInputTokens);
}
