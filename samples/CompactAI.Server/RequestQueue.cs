namespace CompactAI.Server;

/// <summary>
/// Counts the generation and embedding requests in the server (running or waiting for a session), so that the wait
/// is bounded: past the capacity a request is refused at once (429) instead of queueing without end.
/// </summary>
internal sealed class RequestQueue
{
    private int _inFlight;

    /// <summary>Admits a request when fewer than <paramref name="capacity"/> are in the server; pair with <see cref="Exit"/>.</summary>
    public bool TryEnter(int capacity)
    {
        if (Interlocked.Increment(ref _inFlight) <= capacity) return true;
        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    /// <summary>Counts an admitted request out.</summary>
    public void Exit() => Interlocked.Decrement(ref _inFlight);
}
