using System.ClientModel;
using System.Globalization;
using System.Threading.RateLimiting;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Retry;
using Polly.Timeout;

namespace CompactAI.Hybrid;

/// <summary>
/// Builds the Polly pipeline that every remote call of a <see cref="HybridChatClient"/> goes through, from the
/// <see cref="HybridOptions"/>: outermost the per-minute/per-day budgets (one unit per escalation, sliding windows of
/// System.Threading.RateLimiting), then retries (exponential back-off with equal jitter, or the server's
/// <c>Retry-After</c>), then the circuit breaker (it judges every attempt), then the timeout of one attempt.
/// </summary>
internal sealed class RemotePipeline
{
    /// <summary>Which budget window refused the call, set by the rate limiter for the error message.</summary>
    internal static readonly ResiliencePropertyKey<string> BudgetRefusal = new("compactai.hybrid.budget");

    private const int MaxErrorLength = 300;

    private readonly HybridOptions _options;
    private readonly TimeProvider _time;
    private readonly SlidingWindowBudget? _budget;
    private readonly CircuitBreakerStateProvider? _breakerState;
    private readonly object _breakerGate = new();
    private DateTimeOffset? _openUntil;

    public RemotePipeline(HybridOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        if (options.RemotePipeline is ResiliencePipeline custom)
        {
            Pipeline = custom;
            return;
        }

        var builder = new ResiliencePipelineBuilder { TimeProvider = time, Name = "CompactAI.Hybrid.Remote" };
        if (options.MaxRemoteCallsPerMinute is not null || options.MaxRemoteCallsPerDay is not null)
        {
            _budget = new SlidingWindowBudget(options.MaxRemoteCallsPerMinute, options.MaxRemoteCallsPerDay, time);
            builder.AddRateLimiter(new RateLimiterStrategyOptions { RateLimiter = args => _budget.Acquire(args.Context) });
        }

        if (options.MaxRemoteRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRemoteRetries,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome.Exception, args.Context.CancellationToken)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    RetryAfter(args.Outcome.Exception) ?? BackoffDelay(options, args.AttemptNumber + 1)),
            });
        }

        _breakerState = new CircuitBreakerStateProvider();
        TimeSpan breakDuration = Max(options.CircuitBreakerCoolDown, MinimumPollyDuration);
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = 1.0,
            MinimumThroughput = Math.Max(2, options.CircuitBreakerFailureThreshold),
            SamplingDuration = SamplingDuration(options),
            BreakDuration = breakDuration,
            StateProvider = _breakerState,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && !IsCallerCancellation(ex, args.Context.CancellationToken)),
            OnOpened = args =>
            {
                lock (_breakerGate)
                {
                    _openUntil = _time.GetUtcNow() + args.BreakDuration;
                }

                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                lock (_breakerGate)
                {
                    _openUntil = null;
                }

                return ValueTask.CompletedTask;
            },
        });
        builder.AddTimeout(options.RemoteTimeout);
        Pipeline = builder.Build();
    }

    /// <summary>The pipeline: built from the options, or the caller's own (<see cref="HybridOptions.RemotePipeline"/>).</summary>
    public ResiliencePipeline Pipeline { get; }

    /// <summary>Polly's shortest break and sampling duration.</summary>
    private static TimeSpan MinimumPollyDuration => TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Whether the breaker refuses calls now. Checked before the budgets are touched, so a refused escalation costs
    /// no budget; once the cool-down has passed the call goes on and Polly lets one trial through (half-open).
    /// </summary>
    public bool IsOpen()
    {
        if (_breakerState is null)
        {
            return false;
        }

        CircuitState state = _breakerState.CircuitState;
        if (state is CircuitState.HalfOpen or CircuitState.Isolated)
        {
            return true;
        }

        lock (_breakerGate)
        {
            return state == CircuitState.Open && _openUntil is DateTimeOffset until && _time.GetUtcNow() < until;
        }
    }

    /// <summary>Equal jitter: <c>min(max, base · 2^(attempt−1)) · U[0.5, 1)</c>; <paramref name="attempt"/> counts from 1.</summary>
    public static TimeSpan BackoffDelay(HybridOptions options, int attempt)
    {
        double exponential = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        double capped = Math.Min(exponential, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    /// <summary>
    /// The wait a 429/503 asked for (<c>retry-after-ms</c> or <c>Retry-After</c> in seconds or as an HTTP date), or
    /// <see langword="null"/> when the failure carries none.
    /// </summary>
    public static TimeSpan? ServerRetryAfter(Exception? exception, TimeProvider time)
    {
        if (Find<ClientResultException>(exception)?.GetRawResponse() is not { } response)
        {
            return null;
        }

        if (response.Headers.TryGetValue("retry-after-ms", out string? ms)
            && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out double milliseconds) && milliseconds >= 0)
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }

        if (!response.Headers.TryGetValue("Retry-After", out string? value) || string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset at)
            ? Max(at - time.GetUtcNow(), TimeSpan.Zero)
            : null;
    }

    /// <summary>A short description of a remote failure: kind and HTTP status, never headers or credentials.</summary>
    public string Describe(Exception exception)
    {
        if (exception is TimeoutRejectedException || IsTimeout(exception))
        {
            return $"remote timed out after {_options.RemoteTimeout.TotalMilliseconds:0} ms";
        }

        string description = DescribeKind(exception);
        if (ServerRetryAfter(exception, _time) is TimeSpan wait)
        {
            description += wait > _options.RetryMaxDelay
                ? $"; Retry-After {wait.TotalSeconds:0.###} s exceeds RetryMaxDelay, not retried"
                : $"; Retry-After {wait.TotalSeconds:0.###} s";
        }

        return description;
    }

    /// <summary>
    /// Whether a failure is a timeout: ours fired, or the transport's own network timeout did (it surfaces as a
    /// cancellation or <see cref="TimeoutException"/> wrapped in transport exceptions, while the caller's token is not set).
    /// </summary>
    public static bool IsTimeout(Exception exception) =>
        Find<TimeoutException>(exception) is not null || Find<OperationCanceledException>(exception) is not null;

    /// <summary>Kind and HTTP status of a transport failure.</summary>
    private static string DescribeKind(Exception exception)
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
            System.Text.Json.JsonException or FormatException or InvalidDataException => $"malformed remote reply: {exception.Message}",
            _ when dropped is not null => $"remote reply dropped mid-way: {socket?.Message ?? dropped.Message}",
            _ when socket is not null => $"remote connection failed: {socket.Message}",
            ClientResultException or HttpRequestException => $"remote connection failed: {exception.Message}",
            _ => $"remote call failed ({exception.GetType().Name}): {exception.Message}",
        };
        return description.Length <= MaxErrorLength ? description : description[..MaxErrorLength];
    }

    internal static T? Find<T>(Exception? exception)
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

    private bool ShouldRetry(Exception? exception, CancellationToken cancellationToken) =>
        exception is not null
        && exception is not BrokenCircuitException and not RateLimiterRejectedException
        && !IsCallerCancellation(exception, cancellationToken)
        && !(ServerRetryAfter(exception, _time) > _options.RetryMaxDelay);

    private TimeSpan? RetryAfter(Exception? exception) => ServerRetryAfter(exception, _time);

    private static bool IsCallerCancellation(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException && cancellationToken.IsCancellationRequested;

    /// <summary>Long enough that the threshold of consecutive failed attempts fits in one window even when each times out.</summary>
    private static TimeSpan SamplingDuration(HybridOptions options)
    {
        double perAttempt = (options.RemoteTimeout + options.RetryMaxDelay).TotalMilliseconds;
        double window = Math.Min(perAttempt * Math.Max(2, options.CircuitBreakerFailureThreshold), TimeSpan.FromDays(1).TotalMilliseconds);
        return Max(TimeSpan.FromMilliseconds(window), TimeSpan.FromMinutes(1));
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// The per-minute and per-day budgets: exact sliding windows that keep the times of the calls they admitted (at
    /// most their limit), read from the <see cref="TimeProvider"/> so tests can move the clock. A call is admitted only
    /// when both windows have room, so a refusal by one window costs the other nothing. (System.Threading.RateLimiting's
    /// <see cref="SlidingWindowRateLimiter"/> cannot be used here: it measures segments with <c>Stopwatch</c>, even when
    /// replenished by hand, so it cannot follow an injected clock.)
    /// </summary>
    private sealed class SlidingWindowBudget
    {
        private readonly object _gate = new();
        private readonly TimeProvider _time;
        private readonly Window? _minute;
        private readonly Window? _day;

        public SlidingWindowBudget(int? perMinute, int? perDay, TimeProvider time)
        {
            _time = time;
            _minute = perMinute is int m ? new Window(m, TimeSpan.FromMinutes(1), "per-minute") : null;
            _day = perDay is int d ? new Window(d, TimeSpan.FromDays(1), "per-day") : null;
        }

        public ValueTask<RateLimitLease> Acquire(ResilienceContext context)
        {
            lock (_gate)
            {
                DateTimeOffset now = _time.GetUtcNow();
                foreach (Window? window in (ReadOnlySpan<Window?>)[_minute, _day])
                {
                    if (window is not null && !window.HasRoom(now))
                    {
                        context.Properties.Set(BudgetRefusal, $"{window.Name} budget of {window.Limit} remote calls spent");
                        return ValueTask.FromResult<RateLimitLease>(Lease.Refused);
                    }
                }

                _minute?.Take(now);
                _day?.Take(now);
                return ValueTask.FromResult<RateLimitLease>(Lease.Granted);
            }
        }

        private sealed class Window(int limit, TimeSpan length, string name)
        {
            private readonly Queue<DateTimeOffset> _calls = new();

            public int Limit { get; } = limit;

            public string Name { get; } = name;

            public bool HasRoom(DateTimeOffset now)
            {
                while (_calls.Count > 0 && _calls.Peek() <= now - length)
                {
                    _calls.Dequeue();
                }

                return _calls.Count < Limit;
            }

            public void Take(DateTimeOffset now) => _calls.Enqueue(now);
        }

        private sealed class Lease(bool acquired) : RateLimitLease
        {
            public static readonly Lease Granted = new(true);

            public static readonly Lease Refused = new(false);

            public override bool IsAcquired { get; } = acquired;

            public override IEnumerable<string> MetadataNames => [];

            public override bool TryGetMetadata(string metadataName, out object? metadata)
            {
                metadata = null;
                return false;
            }
        }
    }
}
