using CompactAI.Models;
using CompactAI.Threading;

namespace CompactAI.Inference;

/// <summary>
/// Continuous batching for one model: a thread that owns the model's <see cref="WorkerPool"/> and runs one forward pass
/// per step over every active sequence, the next token of each decoding sequence and chunks of new prompts together, so
/// the weights are read once per step for all of them. Sequences join and leave between steps. Decoding sequences come
/// first, served round robin: a sequence that got a row moves behind the ones that did not, so when more sequences decode
/// than a step holds, no sequence is ever more than one token ahead of another. Prompts then take what is left of the
/// step in arrival order; while any sequence decodes they get at most <see cref="PromptRowsWhileDecoding"/> rows of a
/// step, so a long prompt does not stall the others.
/// Every row's arithmetic is independent of the other rows (the kernels sum each product in one fixed order), so a
/// sequence's tokens are the same alone and in any batch. Sequences with their own device pass take their turn in the
/// same steps, one at a time; the CPU pass and its worker pool are made only when a CPU sequence first runs, so a model
/// on a device holds no idle CPU threads or activation buffers.
/// </summary>
internal sealed class BatchScheduler : IDisposable
{
    /// <summary>Most prompt rows in a step while other sequences decode: keeps a decode step short (measured: see docs/performance.md).</summary>
    internal const int PromptRowsWhileDecoding = 32;

    private readonly object _lock = new();
    private readonly List<ScheduledWork> _incoming = new(); // under _lock
    private readonly List<ScheduledWork> _active = new(); // scheduler thread only, in service order
    private readonly List<ScheduledWork> _served = new(); // the decoding works of this step, moved behind the others after it
    private readonly ModelConfig _config;
    private readonly ModelWeights? _weights; // null when every sequence has its own pass (a model llama.cpp runs)
    private readonly int _contextSize;
    private WorkerPool? _pool; // created with the transformer by the first CPU step: a model whose sequences all have their own (device) pass needs neither
    private Transformer? _transformer;
    private readonly Thread _thread;
    private bool _signaled, _disposed;

    // One step's batch, sized once.
    private readonly int[] _tokens;
    private readonly BatchSegment[] _segments;
    private readonly ScheduledWork[] _segmentWork;
    private readonly List<(ScheduledWork Work, int Count)> _own = new();

    // weights: those of the batched CPU pass; null when every sequence has its own IForwardPass (a model llama.cpp runs).
    public BatchScheduler(ModelConfig config, ModelWeights? weights, int threads, int maxBatch, int contextSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        (_config, _weights, _contextSize, Threads) = (config, weights, contextSize, threads);
        MaxBatch = maxBatch;
        _tokens = new int[maxBatch];
        _segments = new BatchSegment[maxBatch];
        _segmentWork = new ScheduledWork[maxBatch];
        _thread = new Thread(Loop) { IsBackground = true, Name = "CompactAI batch scheduler" };
        _thread.Start();
    }

    /// <summary>Most tokens in one step (all sequences together).</summary>
    public int MaxBatch { get; }

    /// <summary>Threads of the model's forward pass, the scheduler's included.</summary>
    public int Threads { get; }

    /// <summary>Steps run so far (read on the scheduler thread, e.g. by <see cref="ScheduledWork.Evaluated"/>).</summary>
    internal long Steps { get; private set; }

    /// <summary>Most tokens one chunk of <paramref name="sequence"/> may hold.</summary>
    public int MaxChunk(Sequence sequence) => sequence.Pass?.MaxBatch ?? MaxBatch;

    /// <summary>Adds work; it joins at the next step.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public void Submit(ScheduledWork work)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _incoming.Add(work);
            _signaled = true;
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Adds several works at once: they all join at the same step.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    internal void Submit(IEnumerable<ScheduledWork> works)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _incoming.AddRange(works);
            _signaled = true;
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Makes the scheduler look at its work again (a consumer caught up, or a token was cancelled).</summary>
    public void Wake()
    {
        lock (_lock)
        {
            _signaled = true;
            Monitor.Pulse(_lock);
        }
    }

    private void Loop()
    {
        while (true)
        {
            lock (_lock)
            {
                _active.AddRange(_incoming);
                _incoming.Clear();
                if (_disposed)
                {
                    foreach (var w in _active) w.Finish(new ObjectDisposedException(nameof(CompactModel), "The model was disposed while this sequence was running."));
                    _active.Clear();
                    return;
                }
                if (!AnythingToDo())
                {
                    while (!_signaled && !_disposed) Monitor.Wait(_lock);
                    _signaled = false;
                    continue;
                }
                _signaled = false;
            }
            Step();
        }
    }

    private bool AnythingToDo()
    {
        foreach (var w in _active)
            if (w.Abandoned || w.CancellationToken.IsCancellationRequested || (!w.Paused && w.Remaining > 0)) return true;
        return false;
    }

    /// <summary>One forward pass over the batch this step takes, then each work's continuation.</summary>
    private void Step()
    {
        // Drop what is no longer wanted.
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            var w = _active[i];
            if (w.Abandoned) Drop(i, null);
            else if (w.CancellationToken.IsCancellationRequested) Drop(i, new OperationCanceledException(w.CancellationToken));
        }
        int count = _active.Count;
        if (count == 0) return;
        Steps++;

        // Decode rows first (one token each, in service order), then prompt chunks in what is left, oldest first.
        int rows = 0, segments = 0;
        _own.Clear();
        _served.Clear();
        for (int k = 0; k < count && rows < MaxBatch; k++)
        {
            var w = _active[k];
            if (w.Paused || w.Remaining != 1) continue;
            _served.Add(w);
            Add(w, 1, ref rows, ref segments);
        }
        int promptRows = _served.Count > 0 ? Math.Min(MaxBatch - rows, PromptRowsWhileDecoding) : MaxBatch - rows;
        for (int k = 0; k < count && promptRows > 0; k++)
        {
            var w = _active[k];
            if (w.Paused || w.Remaining <= 1) continue;
            int n = Math.Min(Math.Min(w.Remaining, promptRows), MaxChunk(w.Sequence));
            promptRows -= n;
            Add(w, n, ref rows, ref segments);
        }
        Rotate();

        if (segments > 0) RunBatch(rows, segments);
        foreach (var (w, n) in _own) RunOwn(w, n);
    }

    /// <summary>Round robin: this step's decoding works move behind the others, keeping their order.</summary>
    private void Rotate()
    {
        if (_served.Count == 0 || _served.Count == _active.Count) return;
        int kept = 0, next = 0;
        for (int i = 0; i < _active.Count; i++)
        {
            var w = _active[i];
            if (next < _served.Count && ReferenceEquals(w, _served[next])) { next++; continue; }
            _active[kept++] = w;
        }
        for (int i = 0; i < _served.Count; i++) _active[kept + i] = _served[i];
        _served.Clear();
    }

    private void Add(ScheduledWork w, int n, ref int rows, ref int segments)
    {
        if (w.Sequence.Pass is not null)
        {
            _own.Add((w, n));
            return;
        }
        var seq = w.Sequence;
        var output = w.OutputFor(n, n == w.Remaining);
        w.Take(n).CopyTo(_tokens.AsSpan(rows));
        _segments[segments] = new BatchSegment(seq.Cache!, seq.Tokens.Count, n, output, w.DestinationFor(output), seq.Adapters);
        _segmentWork[segments++] = w;
        rows += n;
    }

    private void RunBatch(int rows, int segments)
    {
        try
        {
            (_transformer ?? CreateTransformer()).ForwardBatch(_tokens.AsSpan(0, rows), _segments.AsSpan(0, segments));
        }
        catch (Exception e)
        {
            for (int s = 0; s < segments; s++) Drop(_active.IndexOf(_segmentWork[s]), e);
            Array.Clear(_segmentWork, 0, segments);
            return;
        }
        int row = 0;
        for (int s = 0; s < segments; s++)
        {
            var w = _segmentWork[s];
            int n = _segments[s].Count;
            var tokens = w.Sequence.Tokens;
            for (int i = 0; i < n; i++) tokens.Add(_tokens[row + i]);
            w.Sequence.TokensEvaluated += n;
            row += n;
            Continue(w, n);
        }
        Array.Clear(_segmentWork, 0, segments);
        Array.Clear(_segments, 0, segments);
    }

    /// <summary>The CPU forward pass and its worker pool, made by the first CPU step.</summary>
    private Transformer CreateTransformer()
    {
        var pool = new WorkerPool(Threads);
        try
        {
            _transformer = new Transformer(_config, _weights ?? throw new InvalidOperationException("This model has no batched CPU pass."), pool, MaxBatch, _contextSize);
        }
        catch
        {
            pool.Dispose();
            throw;
        }
        _pool = pool;
        return _transformer;
    }

    /// <summary>A sequence with its own (device) pass: its chunk runs on its own.</summary>
    private void RunOwn(ScheduledWork w, int n)
    {
        var seq = w.Sequence;
        var pass = seq.Pass!;
        var output = w.OutputFor(n, n == w.Remaining);
        var tokens = w.Take(n);
        try
        {
            pass.Adapters = seq.Adapters; // a pass that cannot apply adapters refuses a set
            switch (output)
            {
                case SegmentOutput.Hidden: pass.ForwardHidden(tokens, seq.Tokens.Count, w.DestinationFor(output)); break;
                case SegmentOutput.AllLogits: pass.Forward(tokens, seq.Tokens.Count, w.DestinationFor(output), allLogits: true); break;
                case SegmentOutput.LastLogits: pass.Forward(tokens, seq.Tokens.Count, seq.Logits, allLogits: false); break;
                default: pass.Forward(tokens, seq.Tokens.Count, seq.Logits, allLogits: false); break;
            }
        }
        catch (Exception e)
        {
            Drop(_active.IndexOf(w), e);
            return;
        }
        foreach (int t in tokens) seq.Tokens.Add(t);
        seq.TokensEvaluated += n;
        Continue(w, n);
    }

    private void Continue(ScheduledWork w, int n)
    {
        bool more;
        try
        {
            more = w.Evaluated(n);
        }
        catch (Exception e)
        {
            Drop(_active.IndexOf(w), e);
            return;
        }
        if (!more) Drop(_active.IndexOf(w), null);
    }

    private void Drop(int index, Exception? error)
    {
        if (index < 0) return;
        var w = _active[index];
        _active.RemoveAt(index);
        w.Finish(error);
    }

    /// <summary>Ends the scheduler thread (running work fails with <see cref="ObjectDisposedException"/>) and the worker pool.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.Pulse(_lock);
        }
        _thread.Join();
        _pool?.Dispose();
    }
}
