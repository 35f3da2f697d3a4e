namespace CompactAI.Threading;

/// <summary>A unit of parallel work over an index range; implementations are preallocated so dispatch allocates nothing.</summary>
internal interface IParallelJob
{
    /// <summary>Processes items [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Execute(int start, int end);
}

/// <summary>
/// A persistent pool of worker threads for the decode loop: one dispatch per matmul, no task or delegate allocation.
/// The calling thread takes part; work is handed out in chunks through an atomic counter so faster threads take more.
/// </summary>
/// <remarks>One dispatch at a time: <see cref="Run"/> is not reentrant and must be called from one thread at a time
/// (each inference session owns its pool, or serializes use of a shared one).</remarks>
internal sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);
    private IParallelJob? _job;
    private int _items, _chunk, _nextChunk, _pending;
    private volatile bool _disposed;
    private Exception? _error;

    /// <summary>Creates a pool that runs work on <paramref name="threadCount"/> threads, the caller's included.</summary>
    public WorkerPool(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        ThreadCount = threadCount;
        _threads = new Thread[threadCount - 1];
        _start = new ManualResetEventSlim[threadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _start[i] = new ManualResetEventSlim(false, spinCount: 2000);
            int index = i;
            _threads[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"CompactAI worker {i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads that run work, the caller's included.</summary>
    public int ThreadCount { get; }

    /// <summary>Runs <paramref name="job"/> over [0, <paramref name="items"/>) and returns when every item is done.</summary>
    /// <param name="job">The work.</param>
    /// <param name="items">Number of items.</param>
    /// <param name="minItemsPerChunk">Smallest chunk worth handing to a thread.</param>
    public void Run(IParallelJob job, int items, int minItemsPerChunk = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (items <= 0) return;
        int workers = _threads.Length;
        if (workers == 0 || items <= minItemsPerChunk)
        {
            job.Execute(0, items);
            return;
        }
        // About four chunks per thread balances uneven speed without much contention.
        _chunk = Math.Max(minItemsPerChunk, (items + ThreadCount * 4 - 1) / (ThreadCount * 4));
        _items = items;
        _job = job;
        _nextChunk = 0;
        _error = null;
        _done.Reset();
        _pending = workers;
        for (int i = 0; i < workers; i++) _start[i].Set();
        Work();
        _done.Wait();
        _job = null;
        if (_error is { } e) throw new AggregateException("A worker thread failed.", e);
    }

    private void Work()
    {
        var job = _job!;
        int chunk = _chunk, items = _items;
        while (true)
        {
            int c = Interlocked.Increment(ref _nextChunk) - 1;
            int start = c * chunk;
            if (start >= items) return;
            job.Execute(start, Math.Min(items, start + chunk));
        }
    }

    private void WorkerLoop(int index)
    {
        var start = _start[index];
        while (true)
        {
            start.Wait();
            start.Reset();
            if (_disposed) return;
            try
            {
                Work();
            }
            catch (Exception e)
            {
                _error = e;
            }
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _start) s.Set();
        foreach (var t in _threads) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
    }
}
