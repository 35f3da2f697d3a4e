namespace CompactAI.Hybrid;

/// <summary>
/// Sliding-window limits on escalations per minute and per 24 hours. Each window keeps the timestamps of the calls
/// it admitted (at most its limit), so memory is bounded by the limits. Thread-safe.
/// </summary>
internal sealed class RemoteCallBudget
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    private readonly object _gate = new();
    private readonly int? _perMinute;
    private readonly int? _perDay;
    private readonly TimeProvider _time;
    private readonly Queue<DateTimeOffset> _minuteWindow = new();
    private readonly Queue<DateTimeOffset> _dayWindow = new();

    public RemoteCallBudget(int? perMinute, int? perDay, TimeProvider time)
    {
        _perMinute = perMinute;
        _perDay = perDay;
        _time = time;
    }

    /// <summary>Takes one call from both windows, or explains which window is spent.</summary>
    /// <param name="exhausted">The spent window, when the call is refused.</param>
    /// <returns>Whether the call may go out.</returns>
    public bool TryConsume(out string? exhausted)
    {
        lock (_gate)
        {
            DateTimeOffset now = _time.GetUtcNow();
            Expire(_minuteWindow, now - Minute);
            Expire(_dayWindow, now - Day);
            if (_perMinute is int perMinute && _minuteWindow.Count >= perMinute)
            {
                exhausted = $"per-minute budget of {perMinute} remote calls spent";
                return false;
            }

            if (_perDay is int perDay && _dayWindow.Count >= perDay)
            {
                exhausted = $"per-day budget of {perDay} remote calls spent";
                return false;
            }

            if (_perMinute is not null)
            {
                _minuteWindow.Enqueue(now);
            }

            if (_perDay is not null)
            {
                _dayWindow.Enqueue(now);
            }

            exhausted = null;
            return true;
        }
    }

    private static void Expire(Queue<DateTimeOffset> window, DateTimeOffset cutoff)
    {
        while (window.Count > 0 && window.Peek() <= cutoff)
        {
            window.Dequeue();
        }
    }
}
