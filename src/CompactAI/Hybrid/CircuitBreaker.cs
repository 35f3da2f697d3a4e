namespace CompactAI.Hybrid;

/// <summary>
/// Consecutive-failure circuit breaker. Closed: calls pass. After <c>threshold</c> consecutive failed attempts it
/// opens for the cool-down; then one trial call is let through (half-open): success closes it, failure reopens it.
/// Time comes from a <see cref="TimeProvider"/> so tests can move the clock. Thread-safe.
/// </summary>
internal sealed class CircuitBreaker
{
    private readonly object _gate = new();
    private readonly int _threshold;
    private readonly TimeSpan _coolDown;
    private readonly TimeProvider _time;
    private int _consecutiveFailures;
    private DateTimeOffset? _openedAt;
    private bool _trialInFlight;

    public CircuitBreaker(int threshold, TimeSpan coolDown, TimeProvider time)
    {
        _threshold = threshold;
        _coolDown = coolDown;
        _time = time;
    }

    /// <summary>Whether a call may go out now; in half-open state only the first caller gets <see langword="true"/>.</summary>
    public bool TryAcquire()
    {
        lock (_gate)
        {
            if (_openedAt is not DateTimeOffset openedAt)
            {
                return true;
            }

            if (_time.GetUtcNow() - openedAt < _coolDown || _trialInFlight)
            {
                return false;
            }

            _trialInFlight = true;
            return true;
        }
    }

    /// <summary>Records a successful call: closes the breaker.</summary>
    public void RecordSuccess()
    {
        lock (_gate)
        {
            _consecutiveFailures = 0;
            _openedAt = null;
            _trialInFlight = false;
        }
    }

    /// <summary>Records a failed call: opens the breaker at the threshold, or reopens it after a failed trial.</summary>
    public void RecordFailure()
    {
        lock (_gate)
        {
            _consecutiveFailures++;
            if (_trialInFlight || _consecutiveFailures >= _threshold)
            {
                _openedAt = _time.GetUtcNow();
                _trialInFlight = false;
            }
        }
    }

    /// <summary>Releases a half-open trial that ended without a verdict (the caller cancelled).</summary>
    public void RecordAbandoned()
    {
        lock (_gate)
        {
            _trialInFlight = false;
        }
    }
}
