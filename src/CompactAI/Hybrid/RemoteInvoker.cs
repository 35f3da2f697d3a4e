using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// Calls the remote client under the policy: circuit breaker, budgets, a timeout per attempt, and retries with
/// exponential back-off and jitter. Every failure is turned into a <see cref="RemoteOutcome"/> with a reason;
/// only the caller's own cancellation propagates.
/// </summary>
internal sealed class RemoteInvoker
{
    private const int MaxErrorLength = 300;

    private readonly IChatClient _remote;
    private readonly HybridOptions _options;
    private readonly TimeProvider _time;
    private readonly CircuitBreaker _breaker;
    private readonly RemoteCallBudget _budget;

    public RemoteInvoker(IChatClient remote, HybridOptions options, TimeProvider time)
    {
        _remote = remote;
        _options = options;
        _time = time;
        _breaker = new CircuitBreaker(options.CircuitBreakerFailureThreshold, options.CircuitBreakerCoolDown, time);
        _budget = new RemoteCallBudget(options.MaxRemoteCallsPerMinute, options.MaxRemoteCallsPerDay, time);
    }

    /// <summary>The remote client, for live forwarding.</summary>
    public IChatClient Client => _remote;

    /// <summary>Checks the breaker and takes a budget unit; a refusal comes back as a failed outcome.</summary>
    public RemoteOutcome? TryAdmit()
    {
        if (!_breaker.TryAcquire())
        {
            return new RemoteOutcome { FailureRoute = HybridRoute.LocalCircuitOpen, Error = "circuit breaker open" };
        }

        if (!_budget.TryConsume(out string? exhausted))
        {
            _breaker.RecordAbandoned();
            return new RemoteOutcome { FailureRoute = HybridRoute.LocalBudget, Error = exhausted };
        }

        return null;
    }

    /// <summary>Admits and calls the remote model, buffering a stream when <paramref name="streaming"/> is set.</summary>
    public async Task<RemoteOutcome> CallAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, bool streaming, CancellationToken cancellationToken)
    {
        if (TryAdmit() is RemoteOutcome refused)
        {
            return refused;
        }

        long started = _time.GetTimestamp();
        string? error = null;
        int attempt = 0;
        while (true)
        {
            attempt++;
            using var timeout = new CancellationTokenSource(_options.RemoteTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                ChatResponse response;
                List<ChatResponseUpdate>? updates = null;
                if (streaming)
                {
                    updates = [];
                    await foreach (ChatResponseUpdate update in _remote.GetStreamingResponseAsync(messages, options, linked.Token).ConfigureAwait(false))
                    {
                        updates.Add(update);
                    }

                    response = updates.ToChatResponse();
                }
                else
                {
                    response = await _remote.GetResponseAsync(messages, options, linked.Token).ConfigureAwait(false);
                }

                if (IsEmpty(response))
                {
                    throw new InvalidDataException("the remote reply held no answer");
                }

                _breaker.RecordSuccess();
                return new RemoteOutcome { Response = response, Updates = updates, Attempts = attempt, Latency = _time.GetElapsedTime(started) };
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                _breaker.RecordAbandoned();
                throw;
            }
            catch (Exception ex)
            {
                _breaker.RecordFailure();
                error = timeout.IsCancellationRequested || IsTimeout(ex)
                    ? $"remote timed out after {_options.RemoteTimeout.TotalMilliseconds:0} ms"
                    : Describe(ex);
            }

            if (attempt > _options.MaxRemoteRetries)
            {
                break;
            }

            if (!_breaker.TryAcquire())
            {
                error += "; circuit breaker opened";
                break;
            }

            await Task.Delay(BackoffDelay(attempt), _time, cancellationToken).ConfigureAwait(false);
        }

        string attempts = attempt == 1 ? "1 attempt" : $"{attempt} attempts";
        return new RemoteOutcome { Error = $"{error} ({attempts})", Attempts = attempt, Latency = _time.GetElapsedTime(started) };
    }

    /// <summary>Asks the breaker for a retry of a live-forwarded call.</summary>
    public bool TryAcquireBreaker() => _breaker.TryAcquire();

    /// <summary>Releases the breaker after the caller cancelled a live-forwarded call.</summary>
    public void RecordAbandoned() => _breaker.RecordAbandoned();

    /// <summary>Records the verdict of a live-forwarded remote call.</summary>
    public void RecordLiveResult(bool success)
    {
        if (success)
        {
            _breaker.RecordSuccess();
        }
        else
        {
            _breaker.RecordFailure();
        }
    }

    /// <summary>Equal jitter: <c>min(max, base · 2^(attempt−1)) · U[0.5, 1)</c>.</summary>
    public TimeSpan BackoffDelay(int attempt)
    {
        double exponential = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        double capped = Math.Min(exponential, _options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    /// <summary>A short description of a remote failure: kind and HTTP status, never headers or credentials.</summary>
    public static string Describe(Exception exception)
    {
        // Transport failures arrive wrapped (ClientResultException → HttpRequestException → IOException/SocketException),
        // so the innermost cause names what happened: an I/O error while reading is a drop, a bare socket error a refusal.
        Exception? dropped = Find<IOException>(exception);
        Exception? socket = Find<System.Net.Sockets.SocketException>(exception);
        string description = exception switch
        {
            ClientResultException { Status: 429 } => "remote rate-limited (HTTP 429)",
            ClientResultException { Status: > 0 } result => $"remote returned HTTP {result.Status}",
            HttpRequestException { StatusCode: not null } http => $"remote returned HTTP {(int)http.StatusCode}",
            JsonException or FormatException or InvalidDataException => $"malformed remote reply: {exception.Message}",
            _ when dropped is not null => $"remote reply dropped mid-way: {socket?.Message ?? dropped.Message}",
            _ when socket is not null => $"remote connection failed: {socket.Message}",
            ClientResultException or HttpRequestException => $"remote connection failed: {exception.Message}",
            _ => $"remote call failed ({exception.GetType().Name}): {exception.Message}",
        };
        return description.Length <= MaxErrorLength ? description : description[..MaxErrorLength];
    }

    /// <summary>
    /// Whether a failure is a timeout: ours fired, or the transport's own network timeout did (it surfaces as a
    /// cancellation or <see cref="TimeoutException"/> wrapped in transport exceptions, while the caller's token is not set).
    /// </summary>
    public static bool IsTimeout(Exception exception) =>
        Find<TimeoutException>(exception) is not null || Find<OperationCanceledException>(exception) is not null;

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }

    private static bool IsEmpty(ChatResponse response) =>
        response.Messages.Count == 0 || response.Messages.All(m => m.Contents.Count == 0 || (m.Contents.All(c => c is TextContent) && string.IsNullOrWhiteSpace(m.Text)));
}
