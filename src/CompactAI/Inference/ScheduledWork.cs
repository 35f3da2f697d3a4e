using System.Runtime.ExceptionServices;
using CompactAI.Models;

namespace CompactAI.Inference;

/// <summary>
/// Work for one sequence that the <see cref="BatchScheduler"/> runs: tokens to evaluate (a prompt, then one generated
/// token at a time) and what to do with each chunk's output. The scheduler takes the tokens in chunks that fit its
/// steps, appends them to the sequence, and calls <see cref="Evaluated"/> on its own thread after each chunk.
/// </summary>
internal abstract class ScheduledWork
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int[] _pending = [];
    private int _pendingCount, _pendingNext;
    private volatile bool _abandoned;
    private Exception? _error;

    protected ScheduledWork(Sequence sequence, CancellationToken cancellationToken)
    {
        Sequence = sequence;
        CancellationToken = cancellationToken;
    }

    /// <summary>The sequence this work runs on.</summary>
    public Sequence Sequence { get; }

    /// <summary>Checked by the scheduler before each step; a cancelled work ends with <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Tokens still to evaluate before the next output.</summary>
    public int Remaining => _pendingCount - _pendingNext;

    /// <summary>True while the work waits for its consumer (it is skipped, not removed).</summary>
    public virtual bool Paused => false;

    /// <summary>True once the consumer no longer wants the work: the scheduler drops it at its next step.</summary>
    public bool Abandoned => _abandoned;

    /// <summary>Completes when the scheduler has dropped the work (finished, failed, cancelled or abandoned).</summary>
    public Task Completion => _done.Task;

    /// <summary>True once the scheduler has dropped the work.</summary>
    public bool IsDone => _done.Task.IsCompleted;

    /// <summary>What the chunk of <paramref name="count"/> tokens writes; <paramref name="last"/>: it ends the pending tokens.</summary>
    public abstract SegmentOutput OutputFor(int count, bool last);

    /// <summary>Where that output goes (<see cref="Sequence.Logits"/> for the last-token logits).</summary>
    public abstract float[]? DestinationFor(SegmentOutput output);

    /// <summary>
    /// Called on the scheduler thread after a chunk of <paramref name="count"/> tokens ran (the sequence already holds
    /// them). Returns false when the work is finished; true to stay scheduled, with tokens pending.
    /// </summary>
    public abstract bool Evaluated(int count);

    /// <summary>Asks the scheduler to drop the work (the consumer stopped listening).</summary>
    public void Abandon() => _abandoned = true;

    /// <summary>Makes <paramref name="tokens"/>[<paramref name="start"/>…] the tokens to evaluate.</summary>
    protected void SetPending(IReadOnlyList<int> tokens, int start)
    {
        int n = tokens.Count - start;
        if (_pending.Length < n) _pending = new int[n];
        for (int i = 0; i < n; i++) _pending[i] = tokens[start + i];
        (_pendingCount, _pendingNext) = (n, 0);
    }

    /// <summary>Makes one token the token to evaluate.</summary>
    protected void SetPending(int token)
    {
        if (_pending.Length == 0) _pending = new int[1];
        _pending[0] = token;
        (_pendingCount, _pendingNext) = (1, 0);
    }

    /// <summary>The next <paramref name="count"/> pending tokens; they count as taken.</summary>
    internal ReadOnlySpan<int> Take(int count)
    {
        var span = _pending.AsSpan(_pendingNext, count);
        _pendingNext += count;
        return span;
    }

    /// <summary>Called by the scheduler when it drops the work.</summary>
    internal void Finish(Exception? error)
    {
        _error = error;
        OnFinished(error);
        _done.TrySetResult();
    }

    /// <summary>Lets a work tell its consumer it ended (before <see cref="Completion"/> completes).</summary>
    protected virtual void OnFinished(Exception? error)
    {
    }

    /// <summary>Rethrows the exception the work failed with, if any.</summary>
    public void ThrowIfFailed()
    {
        if (_error is { } e) ExceptionDispatchInfo.Capture(e).Throw();
    }
}
