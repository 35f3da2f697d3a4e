namespace CompactAI.Inference;

/// <summary>
/// A bounded set of <see cref="InferenceSession"/>s that one model lends to concurrent requests. At most
/// <see cref="Capacity"/> sequences run at once (the rest wait, in order), which bounds KV-cache memory; a returned
/// session keeps its cache, and the next request gets the idle session sharing the longest prefix with its prompt.
/// </summary>
/// <remarks>
/// <para>
/// Prefix caching: <see cref="RentAsync(IReadOnlyList{int}, CancellationToken)"/> compares the prompt with the <see cref="InferenceSession.Tokens"/> of every
/// idle session and lends the one with the longest common prefix (the first such one on a tie). The session then runs only
/// the prompt tokens after that prefix (<see cref="InferenceSession.LastPromptTokensEvaluated"/> counts them), so a long
/// system prompt shared by many conversations, or the earlier turns of a conversation, is processed once per session and
/// reused by every later request that starts with it; the results are identical to a fresh session's. When no idle session
/// shares even one token and fewer than <see cref="Capacity"/> sessions exist, a new session is created instead, so that an
/// unrelated request does not overwrite another conversation's cache; otherwise the best idle session is reused and its
/// cache is cut back to the common prefix.
/// </para>
/// <para>
/// A cache can also be carried across processes or pools with <see cref="InferenceSession.SaveState"/> and
/// <see cref="InferenceSession.LoadState"/>.
/// </para>
/// <para>Thread-safe. Disposing a lease returns its session, also when the request was cancelled.</para>
/// </remarks>
public sealed class SessionPool : IDisposable
{
    private readonly CompactModel _model;
    private readonly SemaphoreSlim _slots;
    private readonly List<InferenceSession> _idle = new();
    private readonly Lock _lock = new();
    private int _created;
    private bool _disposed;

    internal SessionPool(CompactModel model, int capacity, int contextSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _model = model;
        Capacity = capacity;
        ContextSize = contextSize;
        _slots = new SemaphoreSlim(capacity, capacity);
    }

    /// <summary>Most sessions running at once.</summary>
    public int Capacity { get; }

    /// <summary>Context size of the pooled sessions.</summary>
    public int ContextSize { get; }

    /// <summary>Sessions created so far (never more than <see cref="Capacity"/>).</summary>
    public int SessionsCreated => Volatile.Read(ref _created);

    /// <summary>Requests holding a session right now.</summary>
    public int InUse => Capacity - _slots.CurrentCount;

    /// <summary>
    /// Waits for a free slot and lends the idle session whose cached tokens share the longest prefix with
    /// <paramref name="prompt"/> (see the class remarks), or a new session when none shares a token and the pool is not full.
    /// </summary>
    /// <param name="prompt">The tokens the request will run; only used to choose the session.</param>
    /// <param name="cancellationToken">Cancels the wait for a slot.</param>
    /// <returns>A lease; dispose it to return the session with its cache.</returns>
    public ValueTask<Lease> RentAsync(IReadOnlyList<int> prompt, CancellationToken cancellationToken = default) =>
        RentAsync(prompt, null, cancellationToken);

    /// <summary>
    /// As <see cref="RentAsync(IReadOnlyList{int}, CancellationToken)"/>, for a request that runs with LoRA
    /// <paramref name="adapters"/>: the prefix cache is keyed on the adapter set too, so only a session whose cache was
    /// computed under the same set (same adapters, scales and order) counts as sharing a prefix.
    /// </summary>
    /// <param name="prompt">The tokens the request will run; only used to choose the session.</param>
    /// <param name="adapters">The request's <see cref="GenerationOptions.Adapters"/> (null or empty: the base model).</param>
    /// <param name="cancellationToken">Cancels the wait for a slot.</param>
    /// <returns>A lease; dispose it to return the session with its cache.</returns>
    /// <exception cref="ArgumentException">An adapter was loaded for another model.</exception>
    public async ValueTask<Lease> RentAsync(IReadOnlyList<int> prompt, IReadOnlyList<ScaledLoraAdapter>? adapters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var key = Models.LoraStack.For(_model, adapters);
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                InferenceSession? best = null;
                int bestLength = -1;
                foreach (var s in _idle)
                {
                    int common = Models.LoraStack.Same(s.CacheAdapters, key) ? CommonPrefix(s.Tokens, prompt) : 0;
                    if (common > bestLength) { best = s; bestLength = common; }
                }
                if (best is null || (bestLength == 0 && _created < Capacity))
                {
                    best = _model.CreateSession(ContextSize);
                    _created++;
                }
                else
                {
                    _idle.Remove(best);
                }
                return new Lease(this, best);
            }
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    private void Return(InferenceSession session)
    {
        lock (_lock)
        {
            if (_disposed) session.Dispose();
            else _idle.Add(session);
        }
        _slots.Release();
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    /// <summary>Disposes the idle sessions; sessions still lent are disposed when returned.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var s in _idle) s.Dispose();
            _idle.Clear();
        }
    }

    /// <summary>A lent session; dispose to give it back.</summary>
    public sealed class Lease : IDisposable
    {
        private SessionPool? _pool;

        internal Lease(SessionPool pool, InferenceSession session)
        {
            _pool = pool;
            Session = session;
        }

        /// <summary>The session, for this request only.</summary>
        public InferenceSession Session { get; }

        /// <summary>Returns the session to the pool.</summary>
        public void Dispose() => Interlocked.Exchange(ref _pool, null)?.Return(Session);
    }
}
