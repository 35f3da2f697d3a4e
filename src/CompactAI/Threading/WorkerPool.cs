using System.Diagnostics;

namespace CompactAI.Threading;

/// <summary>A unit of parallel work over an index range; implementations are preallocated so dispatch allocates nothing.</summary>
internal interface IParallelJob
{
    /// <summary>Processes items [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Execute(int start, int end);
}

/// <summary>
/// A persistent pool of worker threads for the forward pass: a decode step makes a few hundred dispatches (one per
/// matmul and attention), so a dispatch must cost well under a microsecond. Workers spin on a generation counter for a
/// short while after each job (as llama.cpp's threads do), then sleep on a monitor; the caller takes part in the work and
/// spins until the last chunk is done. Work is handed out in chunks through an atomic counter so faster threads take more.
/// No allocation per dispatch.
/// </summary>
/// <remarks>One dispatch at a time: <see cref="Run"/> is not reentrant and must be called from one thread at a time
/// (each inference session owns its pool).</remarks>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker spins before it sleeps: long enough to bridge the gaps inside a decode step.</summary>
    private static readonly long s_spinTicks = Stopwatch.Frequency / 5000; // 200 µs

    private readonly Thread[] _threads;
    private readonly object _sleepLock = new();
    private IParallelJob? _job;
    private int _items, _chunk, _nextChunk, _pending, _sleeping, _generation;
    private volatile bool _disposed;
    private Exception? _error;

    /// <summary>Creates a pool that runs work on <paramref name="threadCount"/> threads, the caller's included.</summary>
    public WorkerPool(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        ThreadCount = threadCount;
        _threads = new Thread[threadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"CompactAI worker {i + 1}" };
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
        // About four chunks per thread balances uneven speed without much contention (sixteen measured 15% slower decode
        // on SmolLM2-135M: each chunk of a matmul is one native call). Chunks of more than four items are rounded to a
        // multiple of four, the row count of a matmul register tile.
        int chunk = Math.Max(minItemsPerChunk, (items + ThreadCount * 4 - 1) / (ThreadCount * 4));
        _chunk = chunk > 4 ? (chunk + 3) & ~3 : chunk;
        _items = items;
        _job = job;
        _nextChunk = 0;
        _error = null;
        Volatile.Write(ref _pending, workers);
        Interlocked.Increment(ref _generation); // full fence: publishes the job before workers see the new generation
        if (Volatile.Read(ref _sleeping) > 0)
        {
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        }
        Work();
        var spin = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
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

    private void WorkerLoop()
    {
        int seen = 0;
        while (true)
        {
            WaitForWork(seen);
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            try
            {
                Work();
            }
            catch (Exception e)
            {
                _error = e;
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>Spins until the generation moves past <paramref name="seen"/>, then sleeps if it does not soon.</summary>
    private void WaitForWork(int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
        int i = 0;
        while (Volatile.Read(ref _generation) == seen && !_disposed)
        {
            Thread.SpinWait(8);
            if ((++i & 63) == 0 && Stopwatch.GetTimestamp() > deadline)
            {
                lock (_sleepLock)
                {
                    Interlocked.Increment(ref _sleeping); // full fence, paired with the one in Run (Dekker-style)
                    while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_sleepLock);
                    Interlocked.Decrement(ref _sleeping);
                }
                return;
            }
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        foreach (var t in _threads) t.Join();
    }
}
