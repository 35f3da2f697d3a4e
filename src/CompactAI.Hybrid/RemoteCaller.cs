using Microsoft.Extensions.AI;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;

namespace CompactAI.Hybrid;

/// <summary>How a remote answer is wanted.</summary>
internal enum RemoteDelivery
{
    /// <summary>One <see cref="IChatClient.GetResponseAsync"/> call.</summary>
    Response,

    /// <summary>A stream read to its end before anything reaches the caller.</summary>
    BufferedStream,

    /// <summary>A stream read inside the pipeline only up to its first update with content; the rest is the caller's.</summary>
    LiveStream,
}

/// <summary>
/// Makes one escalation: every attempt runs inside the <see cref="RemotePipeline"/>, which owns retries, back-off,
/// the breaker, budgets and the per-attempt timeout. This class only counts attempts and turns the outcome into a
/// <see cref="RemoteOutcome"/> with a reason; only the caller's own cancellation propagates.
/// </summary>
internal sealed class RemoteCaller
{
    private readonly IChatClient _remote;
    private readonly HybridOptions _options;
    private readonly TimeProvider _time;
    private readonly RemotePipeline _pipeline;

    public RemoteCaller(IChatClient remote, HybridOptions options, TimeProvider time)
    {
        _remote = remote;
        _options = options;
        _time = time;
        _pipeline = new RemotePipeline(options, time);
    }

    public async Task<RemoteOutcome> CallAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, RemoteDelivery delivery, CancellationToken cancellationToken)
    {
        if (_pipeline.IsOpen())
        {
            return new RemoteOutcome { FailureRoute = HybridRoute.LocalCircuitOpen, Error = "circuit breaker open" };
        }

        var attempt = new Attempt(this, messages, options, delivery, cancellationToken);
        long started = _time.GetTimestamp();
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            RemoteOutcome outcome = await _pipeline.Pipeline.ExecuteAsync(
                static (ctx, state) => state.Caller.AttemptAsync(ctx, state), context, attempt).ConfigureAwait(false);
            return outcome with { Attempts = attempt.Count, Latency = _time.GetElapsedTime(started) };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (BrokenCircuitException) when (attempt.Count == 0)
        {
            return new RemoteOutcome { FailureRoute = HybridRoute.LocalCircuitOpen, Error = "circuit breaker open" };
        }
        catch (RateLimiterRejectedException) when (attempt.Count == 0)
        {
            string why = context.Properties.TryGetValue(RemotePipeline.BudgetRefusal, out string? refusal)
                ? refusal : "remote rate limiter refused the call";
            return new RemoteOutcome { FailureRoute = HybridRoute.LocalBudget, Error = why };
        }
        catch (Exception ex)
        {
            string error = ex is BrokenCircuitException && attempt.LastError is Exception last
                ? $"{_pipeline.Describe(last)}; circuit breaker opened"
                : _pipeline.Describe(ex);
            string attempts = attempt.Count == 1 ? "1 attempt" : $"{attempt.Count} attempts";
            return new RemoteOutcome { Error = $"{error} ({attempts})", Attempts = attempt.Count, Latency = _time.GetElapsedTime(started) };
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Whether an update carries something the caller would see (text, a tool call, …) rather than a role or usage only.</summary>
    public static bool HasContent(ChatResponseUpdate update)
    {
        foreach (AIContent content in update.Contents)
        {
            bool visible = content switch
            {
                UsageContent => false,
                TextContent text => !string.IsNullOrEmpty(text.Text),
                TextReasoningContent reasoning => !string.IsNullOrEmpty(reasoning.Text),
                _ => true,
            };
            if (visible)
            {
                return true;
            }
        }

        return false;
    }

    private async ValueTask<RemoteOutcome> AttemptAsync(ResilienceContext context, Attempt attempt)
    {
        attempt.Count++;
        try
        {
            switch (attempt.Delivery)
            {
                case RemoteDelivery.Response:
                    ChatResponse response = await _remote.GetResponseAsync(attempt.Messages, attempt.Options, context.CancellationToken).ConfigureAwait(false);
                    EnsureAnswer(response);
                    return new RemoteOutcome { Response = response };
                case RemoteDelivery.BufferedStream:
                    var updates = new List<ChatResponseUpdate>();
                    await foreach (ChatResponseUpdate update in _remote.GetStreamingResponseAsync(attempt.Messages, attempt.Options, context.CancellationToken).ConfigureAwait(false))
                    {
                        updates.Add(update);
                    }

                    ChatResponse streamed = updates.ToChatResponse();
                    EnsureAnswer(streamed);
                    return new RemoteOutcome { Response = streamed, Updates = updates };
                default:
                    return await OpenLiveAsync(context, attempt).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !attempt.CancellationToken.IsCancellationRequested)
        {
            attempt.LastError = ex;
            throw;
        }
    }

    /// <summary>
    /// Opens the stream and reads it until the first update with content. Until then a failure is an ordinary failed
    /// attempt (retried, or answered locally); after it the stream belongs to the caller. The stream runs on its own
    /// token with the attempt's deadline, because the pipeline's timeout token ends when this attempt returns.
    /// </summary>
    private async ValueTask<RemoteOutcome> OpenLiveAsync(ResilienceContext context, Attempt attempt)
    {
        var deadline = new CancellationTokenSource(_options.RemoteTimeout, _time);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(attempt.CancellationToken, deadline.Token);
        CancellationTokenRegistration pipelineCancel = context.CancellationToken.UnsafeRegister(
            static source => ((CancellationTokenSource)source!).Cancel(), linked);
        IAsyncEnumerator<ChatResponseUpdate>? updates = null;
        bool handedOver = false;
        try
        {
            updates = _remote.GetStreamingResponseAsync(attempt.Messages, attempt.Options, linked.Token).GetAsyncEnumerator(linked.Token);
            var head = new List<ChatResponseUpdate>();
            while (await updates.MoveNextAsync().ConfigureAwait(false))
            {
                head.Add(updates.Current);
                if (HasContent(updates.Current))
                {
                    await pipelineCancel.DisposeAsync().ConfigureAwait(false);
                    handedOver = true;
                    return new RemoteOutcome
                    {
                        Updates = head,
                        Tail = new RemoteStreamTail(updates, deadline, linked, _pipeline, attempt.CancellationToken),
                    };
                }
            }

            throw new InvalidDataException("the remote stream held no answer");
        }
        finally
        {
            if (!handedOver)
            {
                await pipelineCancel.DisposeAsync().ConfigureAwait(false);
                if (updates is not null)
                {
                    try
                    {
                        await updates.DisposeAsync().ConfigureAwait(false);
                    }
                    catch (Exception) when (!attempt.CancellationToken.IsCancellationRequested)
                    {
                        // The attempt already failed or is failing; its first error is the one reported.
                    }
                }

                linked.Dispose();
                deadline.Dispose();
            }
        }
    }

    private static void EnsureAnswer(ChatResponse response)
    {
        bool empty = response.Messages.Count == 0
            || response.Messages.All(m => m.Contents.Count == 0 || (m.Contents.All(c => c is TextContent) && string.IsNullOrWhiteSpace(m.Text)));
        if (empty)
        {
            throw new InvalidDataException("the remote reply held no answer");
        }
    }

    private sealed class Attempt(
        RemoteCaller caller, IReadOnlyList<ChatMessage> messages, ChatOptions? options, RemoteDelivery delivery, CancellationToken cancellationToken)
    {
        public RemoteCaller Caller { get; } = caller;

        public IReadOnlyList<ChatMessage> Messages { get; } = messages;

        public ChatOptions? Options { get; } = options;

        public RemoteDelivery Delivery { get; } = delivery;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public int Count { get; set; }

        public Exception? LastError { get; set; }
    }
}
