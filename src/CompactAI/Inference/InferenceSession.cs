using System.Runtime.CompilerServices;
using CompactAI.Sampling;

namespace CompactAI.Inference;

/// <summary>
/// One sequence being generated with a <see cref="CompactModel"/>: its KV cache, prompt processing and decode loop.
/// A new prompt reuses the longest cached prefix of the previous one, so a shared system prompt or an earlier chat turn
/// is processed only once; the results are identical to a fresh session's.
/// </summary>
/// <remarks>
/// A session serves one generation at a time (a second concurrent call throws <see cref="InvalidOperationException"/>);
/// create one session per concurrent conversation. On the CPU the sessions of one model are sequences of the model's
/// batch scheduler: one forward pass per step runs the next token of every generating session and chunks of new prompts
/// together on the model's threads (<see cref="CompactModelOptions.Threads"/>), and a session's tokens are exactly the
/// same whether it runs alone or beside others. On a CUDA device they share the model's weights, each has its own
/// device KV cache, and their forward passes take turns on the device.
/// </remarks>
public sealed class InferenceSession : IDisposable
{
    private readonly CompactModel _model;
    private readonly Sequence _sequence;
    private readonly BatchScheduler _scheduler;
    private Sampler.Buffers? _samplerBuffers; // reused by every generation of this session (one runs at a time)
    private readonly TokenFeed _feed = new(); // likewise
    private int _busy;
    private bool _disposed;

    internal InferenceSession(CompactModel model, Sequence sequence, BatchScheduler scheduler)
    {
        _model = model;
        _sequence = sequence;
        _scheduler = scheduler;
    }

    /// <summary>The model.</summary>
    public CompactModel Model => _model;

    /// <summary>Positions this session's context holds.</summary>
    public int ContextSize => _sequence.ContextSize;

    /// <summary>The tokens whose keys and values are in the cache, in order.</summary>
    public IReadOnlyList<int> Tokens => _sequence.Tokens;

    /// <summary>Total tokens run through the model by this session (prompt and generated), for monitoring reuse.</summary>
    public long TokensEvaluated => _sequence.TokensEvaluated;

    /// <summary>Prompt tokens the latest generation actually ran through the model (the rest came from the cache).</summary>
    public int LastPromptTokensEvaluated { get; private set; }

    /// <summary>Why the latest generation ended (null before the first one finishes).</summary>
    public FinishReason? LastFinishReason { get; private set; }

    /// <summary>Bytes held by the KV cache (on the device when the model runs on one).</summary>
    public long KvCacheBytes => _sequence.CacheBytes;

    /// <summary>Forgets the cached tokens.</summary>
    public void Reset() => _sequence.Tokens.Clear();

    /// <summary>The adapter set the cached tokens were computed under (null: the base model); part of the prefix-cache key.</summary>
    internal Models.LoraStack? CacheAdapters => _sequence.Adapters;

    /// <summary>Tokenizes <paramref name="prompt"/> and streams the generated tokens.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between tokens and prompt batches).</exception>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        var tokens = _model.Tokenizer.Encode(prompt, options.AddSpecialTokens, options.ParseSpecialTokens);
        return GenerateAsync(tokens, options, cancellationToken);
    }

    /// <summary>Streams the tokens generated after <paramref name="promptTokens"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between tokens and prompt batches).</exception>
    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(IReadOnlyList<int> promptTokens, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        options ??= new GenerationOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        Enter();
        Generation? run = null;
        int seen = -1; // the sequence length after the last token the consumer took
        try
        {
            run = Start(promptTokens, options, streaming: true, cancellationToken);
            using var wake = cancellationToken.UnsafeRegister(static s => ((BatchScheduler)s!).Wake(), _scheduler);
            var reader = run.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    cancellationToken.ThrowIfCancellationRequested(); // a token computed ahead is not handed out after cancellation
                    run.Consumed();
                    seen = item.Length;
                    yield return item.Token;
                }
            }
            await run.Completion.ConfigureAwait(false);
            End(run);
        }
        finally
        {
            if (run is { IsDone: false })
            {
                // The consumer stopped early: drop the sequence from the batch and leave it as the consumer saw it.
                run.Abandon();
                _scheduler.Wake();
                await run.Completion.ConfigureAwait(false);
                if (!run.Completed && seen >= 0) _sequence.Truncate(seen);
            }
            Exit();
        }
    }

    /// <summary>Generates to completion and returns the text, tokens, timings and finish reason.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<GenerationResult> GenerateTextAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        var tokens = _model.Tokenizer.Encode(prompt, options.AddSpecialTokens, options.ParseSpecialTokens);
        return GenerateTextAsync(tokens, options, cancellationToken);
    }

    /// <summary>Generates to completion after <paramref name="promptTokens"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<GenerationResult> GenerateTextAsync(IReadOnlyList<int> promptTokens, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        options ??= new GenerationOptions();
        options.Validate();
        return GenerateTextCoreAsync(promptTokens, options, cancellationToken);
    }

    private async Task<GenerationResult> GenerateTextCoreAsync(IReadOnlyList<int> promptTokens, GenerationOptions options, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Enter();
        try
        {
            var run = Start(promptTokens, options, streaming: false, ct);
            using var wake = ct.UnsafeRegister(static s => ((BatchScheduler)s!).Wake(), _scheduler);
            await run.Completion.ConfigureAwait(false);
            var tokens = new List<GeneratedToken>(run.Generated);
            while (run.Reader.TryRead(out var item)) tokens.Add(item.Token);
            End(run);
            return run.Result(tokens);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Checks the prompt, reuses the cached prefix and hands the generation to the scheduler.</summary>
    private Generation Start(IReadOnlyList<int> prompt, GenerationOptions options, bool streaming, CancellationToken ct)
    {
        CheckPrompt(prompt);
        UseAdapters(Models.LoraStack.For(_model, options.Adapters));
        // One generation runs at a time per session, so the session's sampler buffers are free here.
        var buffers = _samplerBuffers ??= new Sampler.Buffers(_model.Config.VocabularySize);
        var run = new Generation(_scheduler, _sequence, prompt, options, _model.Tokenizer, buffers, _feed, streaming, ct);
        LastPromptTokensEvaluated = run.PromptTokensEvaluated;
        _scheduler.Submit(run);
        return run;
    }

    /// <summary>After the scheduler dropped the generation: its error, or its finish reason.</summary>
    private void End(Generation run)
    {
        run.ThrowIfFailed();
        if (run.Completed) LastFinishReason = run.Reason;
    }

    /// <summary>Runs <paramref name="tokens"/> (reusing the cached prefix) and returns a copy of the next-token logits.</summary>
    public Task<float[]> GetNextTokenLogitsAsync(IReadOnlyList<int> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        return LogitsCoreAsync(tokens, cancellationToken);
    }

    private async Task<float[]> LogitsCoreAsync(IReadOnlyList<int> tokens, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Enter();
        try
        {
            CheckPrompt(tokens);
            UseAdapters(null);
            var work = new PrefillWork(_sequence, tokens, ct);
            LastPromptTokensEvaluated = work.PromptTokensEvaluated;
            await RunAsync(work).ConfigureAwait(false);
            return (float[])_sequence.Logits.Clone();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Scores <paramref name="tokens"/> under the model: the natural-log probability of each token after the first given
    /// the ones before it (teacher forcing). The mean is a length-normalised fit; exp(−mean) is the perplexity.
    /// Resets the session's cache.
    /// </summary>
    public Task<float[]> ScoreAsync(IReadOnlyList<int> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count > ContextSize) throw new ArgumentException($"{tokens.Count} tokens do not fit the {ContextSize}-token context.", nameof(tokens));
        CheckTokens(tokens);
        return ScoreCoreAsync(tokens, cancellationToken);
    }

    private async Task<float[]> ScoreCoreAsync(IReadOnlyList<int> tokens, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Enter();
        try
        {
            if (tokens.Count == 0)
            {
                _sequence.Tokens.Clear();
                return [];
            }
            UseAdapters(null);
            var work = new ScoreWork(_sequence, tokens, _scheduler.MaxChunk(_sequence), ct);
            await RunAsync(work).ConfigureAwait(false);
            return work.Result;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// The mean of the final hidden states of <paramref name="tokens"/> (after the output norm), L2-normalised:
    /// an embedding of the text. Resets the session's cache.
    /// </summary>
    public Task<float[]> EmbedAsync(IReadOnlyList<int> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        if (tokens.Count > ContextSize) throw new ArgumentException($"{tokens.Count} tokens do not fit the {ContextSize}-token context.", nameof(tokens));
        CheckTokens(tokens);
        return EmbedCoreAsync(tokens, cancellationToken);
    }

    private async Task<float[]> EmbedCoreAsync(IReadOnlyList<int> tokens, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Enter();
        try
        {
            UseAdapters(null);
            var work = new EmbedWork(_sequence, tokens, _model.Config.EmbeddingLength, _scheduler.MaxChunk(_sequence), ct);
            await RunAsync(work).ConfigureAwait(false);
            return work.Embedding;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Hands <paramref name="work"/> to the scheduler and waits until it is dropped; rethrows its error.</summary>
    private async Task RunAsync(ScheduledWork work)
    {
        using var wake = work.CancellationToken.UnsafeRegister(static s => ((BatchScheduler)s!).Wake(), _scheduler);
        _scheduler.Submit(work);
        await work.Completion.ConfigureAwait(false);
        work.ThrowIfFailed();
    }

    /// <summary>
    /// Writes this session's cached tokens and their keys and values to <paramref name="stream"/>, so that
    /// <see cref="LoadState"/> on a session of the same model (this one later, or another) continues without
    /// recomputing them. Only the used positions are written, in half precision (exact: the cache holds half-rounded
    /// values), followed by a SHA-256 checksum.
    /// </summary>
    /// <remarks>
    /// Format (little-endian): magic <c>CAISTATE</c>, version u32 (1), the model fingerprint (architecture, block count,
    /// embedding length, head count, KV head count, head and value dimensions, vocabulary size and tensor count, then a
    /// SHA-256 of the hyper-parameters and every tensor's name, type and shape), token count i32, the tokens, then for each
    /// layer and KV head the keys and the values of the used positions as f16, then the checksum.
    /// </remarks>
    /// <param name="stream">A writable stream; it is flushed, not closed.</param>
    /// <exception cref="InvalidOperationException">The session is generating.</exception>
    public void SaveState(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Enter();
        try
        {
            ThrowIfAdapterCache();
            _sequence.CacheToHost();
            SessionState.SaveAsync(stream, _model.StateFingerprint, _sequence.Tokens, _sequence.HostCache, _model.Config.BlockCount, useAsync: false, CancellationToken.None)
                .AsTask().GetAwaiter().GetResult();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Writes the session state asynchronously; see <see cref="SaveState"/>.</summary>
    /// <param name="stream">A writable stream; it is flushed, not closed.</param>
    /// <param name="cancellationToken">Checked between buffer writes.</param>
    /// <exception cref="InvalidOperationException">The session is generating.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task SaveStateAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Enter();
        try
        {
            ThrowIfAdapterCache();
            _sequence.CacheToHost();
            await SessionState.SaveAsync(stream, _model.StateFingerprint, _sequence.Tokens, _sequence.HostCache, _model.Config.BlockCount, useAsync: true, cancellationToken)
                .ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Replaces this session's cache with a state written by <see cref="SaveState"/>: afterwards <see cref="Tokens"/> are
    /// the saved tokens, and a prompt starting with them evaluates only what follows (the last cached token is never
    /// re-run unless the prompt ends there). Generation continues exactly as it would have in the saved session.
    /// Reads no byte past the state's end, so a state may be followed by other data in the stream.
    /// </summary>
    /// <param name="stream">A readable stream positioned at the state.</param>
    /// <exception cref="SessionStateException">The state is truncated or corrupt (bad magic, version, checksum, token id),
    /// was saved from a different model (architecture, a dimension or the tensor hash differ), or holds more tokens than
    /// <see cref="ContextSize"/>; <see cref="SessionStateException.Field"/> names the field. The session is then empty
    /// (as after <see cref="Reset"/>).</exception>
    /// <exception cref="InvalidOperationException">The session is generating.</exception>
    public void LoadState(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        LoadStateCoreAsync(stream, useAsync: false, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Loads a session state asynchronously; see <see cref="LoadState"/>.</summary>
    /// <param name="stream">A readable stream positioned at the state.</param>
    /// <param name="cancellationToken">Checked between buffer reads; a cancelled load leaves the session empty.</param>
    /// <exception cref="SessionStateException">The state is truncated, corrupt, from another model or too long for the context.</exception>
    /// <exception cref="InvalidOperationException">The session is generating.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task LoadStateAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return LoadStateCoreAsync(stream, useAsync: true, cancellationToken).AsTask();
    }

    private async ValueTask LoadStateCoreAsync(Stream stream, bool useAsync, CancellationToken ct)
    {
        Enter();
        try
        {
            // The cache is overwritten as the stream is read: forget the old tokens first, so a failed load leaves an empty session.
            _sequence.Tokens.Clear();
            UseAdapters(null);
            var c = _model.Config;
            var tokens = await SessionState.LoadAsync(stream, _model.StateFingerprint, _sequence.HostCache, c.BlockCount, ContextSize, c.VocabularySize, useAsync, ct)
                .ConfigureAwait(false);
            _sequence.CacheFromHost(tokens.Length);
            _sequence.Tokens.AddRange(tokens);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Releases the session's KV cache (device memory included).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _sequence.Dispose();
    }

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("This session is already generating; use one session per concurrent conversation.");
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    /// <summary>
    /// For benchmarks (llama-bench's tg): one forward pass per token of <paramref name="tokens"/>, each at the next position
    /// after the cached tokens, with no sampling and no copy of the logits, so the caller times exactly that many decodes.
    /// </summary>
    /// <param name="tokens">The tokens to decode.</param>
    /// <param name="adapters">LoRA adapters to decode under (as <see cref="GenerationOptions.Adapters"/>; a cache computed under another set is forgotten first).</param>
    internal void DecodeEach(ReadOnlySpan<int> tokens, IReadOnlyList<ScaledLoraAdapter>? adapters = null)
    {
        Enter();
        try
        {
            UseAdapters(Models.LoraStack.For(_model, adapters));
            int cached = _sequence.Tokens.Count;
            if (cached + tokens.Length > ContextSize)
                throw new ArgumentException($"{tokens.Length} more tokens do not fit the context of {ContextSize}.", nameof(tokens));
            var all = new int[cached + tokens.Length];
            _sequence.Tokens.CopyTo(all);
            tokens.CopyTo(all.AsSpan(cached));
            CheckTokens(all);
            for (int i = 0; i < tokens.Length; i++)
            {
                // The cached prefix is the whole of all[..cached+i], so each work runs exactly one token.
                var work = new PrefillWork(_sequence, new ArraySegment<int>(all, 0, cached + i + 1), CancellationToken.None);
                RunAsync(work).GetAwaiter().GetResult();
            }
        }
        finally
        {
            Exit();
        }
    }

    // ---- LoRA adapters: the cache is keyed on the adapter set as well as the tokens.

    /// <summary>Makes the sequence run under <paramref name="adapters"/>; a cache computed under another set is forgotten first.</summary>
    private void UseAdapters(Models.LoraStack? adapters)
    {
        if (Models.LoraStack.Same(adapters, _sequence.Adapters)) return;
        _sequence.Tokens.Clear();
        _sequence.Adapters = adapters;
    }

    private void ThrowIfAdapterCache()
    {
        if (_sequence.Adapters is not null && _sequence.Tokens.Count > 0)
            throw new InvalidOperationException("The cache was computed with LoRA adapters; a saved state records only the base model. Save a session that ran without adapters, or Reset first.");
    }

    private void CheckPrompt(IReadOnlyList<int> prompt)
    {
        if (prompt.Count == 0) throw new ArgumentException("The prompt has no tokens (an empty text with no BOS); give at least one token.", nameof(prompt));
        if (prompt.Count > ContextSize) throw new ArgumentException($"The prompt has {prompt.Count} tokens but the context holds {ContextSize}.", nameof(prompt));
        CheckTokens(prompt);
    }

    private void CheckTokens(IReadOnlyList<int> tokens)
    {
        int vocab = _model.Config.VocabularySize;
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token ids must be in [0, {vocab}).");
    }
}
