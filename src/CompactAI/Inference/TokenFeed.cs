using System.Threading.Tasks.Sources;

namespace CompactAI.Inference;

/// <summary>
/// The tokens of a generation on their way from the scheduler thread to the session's consumer: a queue and a reusable
/// awaitable signal, owned by the session and reused by each of its generations, so a warm session allocates nothing
/// per token here. One writer (the scheduler) and one reader (the session) at a time.
/// </summary>
internal sealed class TokenFeed : IValueTaskSource<bool>
{
    private readonly object _lock = new();
    private readonly Queue<(GeneratedToken Token, int Length)> _items = new();
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };
    private bool _waiting, _completed;

    /// <summary>Empties the feed for a new generation.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _items.Clear();
            _completed = _waiting = false;
        }
    }

    /// <summary>Adds a token with the sequence length after the step that released it.</summary>
    public void Write(GeneratedToken token, int length)
    {
        bool wake;
        lock (_lock)
        {
            _items.Enqueue((token, length));
            wake = _waiting;
            _waiting = false;
        }
        if (wake) _signal.SetResult(true);
    }

    /// <summary>No more tokens will come.</summary>
    public void Complete()
    {
        bool wake;
        lock (_lock)
        {
            _completed = true;
            wake = _waiting;
            _waiting = false;
        }
        if (wake) _signal.SetResult(false);
    }

    /// <summary>Takes the next token if there is one.</summary>
    public bool TryRead(out (GeneratedToken Token, int Length) item)
    {
        lock (_lock) return _items.TryDequeue(out item);
    }

    /// <summary>Completes with true when a token can be read, false when the feed completed and is empty.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_lock)
        {
            if (_items.Count > 0) return new ValueTask<bool>(true);
            if (_completed) return new ValueTask<bool>(false);
            _signal.Reset();
            _waiting = true;
            return new ValueTask<bool>(this, _signal.Version);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
