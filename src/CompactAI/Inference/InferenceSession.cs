using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using CompactAI.Backends;
using CompactAI.Sampling;

namespace CompactAI.Inference;

/// <summary>
/// One sequence being generated with a <see cref="CompactModel"/>: its KV cache, prompt processing and decode loop.
/// A new prompt reuses the longest cached prefix of the previous one, so a shared system prompt or an earlier chat turn
/// is processed only once; the results are identical to a fresh session's.
/// </summary>
/// <remarks>
/// A session serves one generation at a time (a second concurrent call throws <see cref="InvalidOperationException"/>);
/// create one session per concurrent conversation. Sessions of one model run independently; on a CUDA device they share the
/// model's weights, each has its own device KV cache, and their forward passes take turns on the device.
/// </remarks>
public sealed class InferenceSession : IDisposable
{
    private readonly CompactModel _model;
    private readonly IForwardPass _pass;
    private readonly float[] _logits;
    private Sampler.Buffers? _samplerBuffers; // reused by every generation of this session (one runs at a time)
    private readonly List<int> _tokens = new();
    private int _busy;
    private bool _disposed;

    internal InferenceSession(CompactModel model, IForwardPass pass, int contextSize)
    {
        _model = model;
        _pass = pass;
        ContextSize = contextSize;
        _logits = new float[model.Config.VocabularySize];
    }

    /// <summary>The model.</summary>
    public CompactModel Model => _model;

    /// <summary>Positions this session's context holds.</summary>
    public int ContextSize { get; }

    /// <summary>The tokens whose keys and values are in the cache, in order.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>Total tokens run through the model by this session (prompt and generated), for monitoring reuse.</summary>
    public long TokensEvaluated { get; private set; }

    /// <summary>Prompt tokens the latest generation actually ran through the model (the rest came from the cache).</summary>
    public int LastPromptTokensEvaluated { get; private set; }

    /// <summary>Why the latest generation ended (null before the first one finishes).</summary>
    public FinishReason? LastFinishReason { get; private set; }

    /// <summary>Bytes held by the KV cache (on the device when the model runs on one).</summary>
    public long KvCacheBytes => _pass.CacheBytes;

    /// <summary>Forgets the cached tokens.</summary>
    public void Reset() => _tokens.Clear();

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
        await Task.Yield(); // the loop below is CPU-bound: run it off the caller's thread
        var run = new Run(this, promptTokens, options);
        try
        {
            run.Begin(cancellationToken);
            while (run.TryNext(cancellationToken, out var token)) yield return token;
        }
        finally
        {
            run.End();
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
        return Task.Run(() =>
        {
            var run = new Run(this, promptTokens, options);
            try
            {
                run.Begin(cancellationToken);
                var tokens = new List<GeneratedToken>();
                while (run.TryNext(cancellationToken, out var token)) tokens.Add(token);
                return run.Result(tokens);
            }
            finally
            {
                run.End();
            }
        }, cancellationToken);
    }

    /// <summary>Runs <paramref name="tokens"/> (reusing the cached prefix) and returns a copy of the next-token logits.</summary>
    public Task<float[]> GetNextTokenLogitsAsync(IReadOnlyList<int> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        return Task.Run(() =>
        {
            Enter();
            try
            {
                Prefill(tokens, cancellationToken);
                return (float[])_logits.Clone();
            }
            finally
            {
                Exit();
            }
        }, cancellationToken);
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
        return Task.Run(() =>
        {
            Enter();
            try
            {
                _tokens.Clear();
                var result = new float[Math.Max(0, tokens.Count - 1)];
                int batch = _pass.MaxBatch, vocab = _model.Config.VocabularySize;
                var ids = new int[Math.Min(batch, tokens.Count)];
                var logits = new float[ids.Length * vocab];
                for (int start = 0; start < tokens.Count; start += batch)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int n = Math.Min(batch, tokens.Count - start);
                    for (int i = 0; i < n; i++) ids[i] = tokens[start + i];
                    _pass.Forward(ids.AsSpan(0, n), _tokens.Count, logits, allLogits: true);
                    for (int i = 0; i < n; i++) _tokens.Add(ids[i]);
                    TokensEvaluated += n;
                    // Row i predicts token start + i + 1.
                    for (int i = 0; i < n && start + i + 1 < tokens.Count; i++)
                    {
                        var row = logits.AsSpan(i * vocab, vocab);
                        result[start + i] = row[tokens[start + i + 1]] - Tensors.TensorMath.LogSumExp(row);
                    }
                }
                // The cache now holds every token; only the next-token logits were not kept.
                _tokens.RemoveAt(_tokens.Count - 1);
                return result;
            }
            finally
            {
                Exit();
            }
        }, cancellationToken);
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
        return Task.Run(() =>
        {
            Enter();
            try
            {
                _tokens.Clear();
                int batch = _pass.MaxBatch, embd = _model.Config.EmbeddingLength;
                var ids = new int[Math.Min(batch, tokens.Count)];
                var hidden = new float[ids.Length * embd];
                var sum = new double[embd];
                for (int start = 0; start < tokens.Count; start += batch)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int n = Math.Min(batch, tokens.Count - start);
                    for (int i = 0; i < n; i++) ids[i] = tokens[start + i];
                    _pass.ForwardHidden(ids.AsSpan(0, n), _tokens.Count, hidden);
                    for (int i = 0; i < n; i++) _tokens.Add(ids[i]);
                    TokensEvaluated += n;
                    for (int i = 0; i < n; i++)
                        for (int d = 0; d < embd; d++) sum[d] += hidden[i * embd + d];
                }
                _tokens.Clear(); // the logits of the last token were not computed: do not offer this cache for reuse
                var embedding = new float[embd];
                for (int d = 0; d < embd; d++) embedding[d] = (float)(sum[d] / tokens.Count);
                float norm = System.Numerics.Tensors.TensorPrimitives.Norm(embedding);
                if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(embedding, norm, embedding);
                return embedding;
            }
            finally
            {
                Exit();
            }
        }, cancellationToken);
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
            _pass.CacheToHost(_tokens.Count);
            SessionState.SaveAsync(stream, _model.StateFingerprint, _tokens, _pass.HostCache, _model.Config.BlockCount, useAsync: false, CancellationToken.None)
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
            _pass.CacheToHost(_tokens.Count);
            await SessionState.SaveAsync(stream, _model.StateFingerprint, _tokens, _pass.HostCache, _model.Config.BlockCount, useAsync: true, cancellationToken)
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
            _tokens.Clear();
            var c = _model.Config;
            var tokens = await SessionState.LoadAsync(stream, _model.StateFingerprint, _pass.HostCache, c.BlockCount, ContextSize, c.VocabularySize, useAsync, ct)
                .ConfigureAwait(false);
            _pass.CacheFromHost(tokens.Length);
            _tokens.AddRange(tokens);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Releases the worker threads and buffers (device memory included).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pass.Dispose();
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
    internal void DecodeEach(ReadOnlySpan<int> tokens)
    {
        Enter();
        try
        {
            if (_tokens.Count + tokens.Length > ContextSize)
                throw new ArgumentException($"{tokens.Length} more tokens do not fit the context of {ContextSize}.", nameof(tokens));
            for (int i = 0; i < tokens.Length; i++)
            {
                if ((uint)tokens[i] >= (uint)_model.Config.VocabularySize) throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i], "Not a token id.");
                Evaluate(tokens.Slice(i, 1));
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Brings the cache to <paramref name="prompt"/>, evaluating only what is not cached; leaves the last token's logits in _logits.</summary>
    /// <returns>The number of tokens evaluated.</returns>
    private int Prefill(IReadOnlyList<int> prompt, CancellationToken ct)
    {
        if (prompt.Count == 0) throw new ArgumentException("The prompt has no tokens (an empty text with no BOS); give at least one token.", nameof(prompt));
        if (prompt.Count > ContextSize) throw new ArgumentException($"The prompt has {prompt.Count} tokens but the context holds {ContextSize}.", nameof(prompt));
        CheckTokens(prompt);
        int reuse = 0;
        while (reuse < _tokens.Count && reuse < prompt.Count && _tokens[reuse] == prompt[reuse]) reuse++;
        if (reuse == prompt.Count) reuse--; // the last token must run again to produce its logits
        _tokens.RemoveRange(reuse, _tokens.Count - reuse);
        int batch = _pass.MaxBatch;
        var buffer = new int[Math.Min(batch, prompt.Count - reuse)];
        for (int start = reuse; start < prompt.Count; start += batch)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(batch, prompt.Count - start);
            for (int i = 0; i < n; i++) buffer[i] = prompt[start + i];
            Evaluate(buffer.AsSpan(0, n));
        }
        LastPromptTokensEvaluated = prompt.Count - reuse;
        return prompt.Count - reuse;
    }

    private void CheckTokens(IReadOnlyList<int> tokens)
    {
        int vocab = _model.Config.VocabularySize;
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token ids must be in [0, {vocab}).");
    }

    private void Evaluate(ReadOnlySpan<int> tokens)
    {
        _pass.Forward(tokens, _tokens.Count, _logits, allLogits: false);
        foreach (int t in tokens) _tokens.Add(t);
        TokensEvaluated += tokens.Length;
    }

    /// <summary>The state of one generation: prompt, sampler, stop-sequence hold-back, timing.</summary>
    private sealed class Run
    {
        private readonly InferenceSession _s;
        private readonly IReadOnlyList<int> _prompt;
        private readonly GenerationOptions _o;
        private readonly Sampler _sampler;
        private readonly Sampling.Constraints.IGenerationConstraintState? _constraint;
        private readonly Tokenization.StreamingDecoder _decoder;
        private readonly Queue<GeneratedToken> _ready = new();
        private readonly List<GeneratedToken> _held = new();
        private readonly StringBuilder _heldText = new();
        private readonly StringBuilder _text = new();
        private readonly Stopwatch _clock = new();
        private int _generated, _promptEvaluated;
        private bool _entered, _finished;
        private TimeSpan _promptTime;

        public Run(InferenceSession session, IReadOnlyList<int> prompt, GenerationOptions options)
        {
            _s = session;
            _prompt = prompt;
            _o = options;
            _constraint = options.Constraint?.CreateState(session._model.Tokenizer);
            // One generation runs at a time per session, so the session's sampler buffers are free here.
            _sampler = new Sampler(options.Sampling, session._samplerBuffers ??= new Sampler.Buffers(session._model.Config.VocabularySize), _constraint);
            _decoder = session._model.Tokenizer.CreateStreamingDecoder();
        }

        public FinishReason Finish { get; private set; } = FinishReason.MaxTokens;

        public void Begin(CancellationToken ct)
        {
            _s.Enter();
            _entered = true;
            _clock.Start();
            _promptEvaluated = _s.Prefill(_prompt, ct);
            _promptTime = _clock.Elapsed;
            _clock.Restart();
        }

        public void End()
        {
            if (_entered) _s.Exit();
            _entered = false;
        }

        public bool TryNext(CancellationToken ct, out GeneratedToken token)
        {
            while (_ready.Count == 0)
            {
                if (_finished) { token = default; return false; }
                ct.ThrowIfCancellationRequested();
                Step();
            }
            token = _ready.Dequeue();
            _text.Append(token.Text);
            return true;
        }

        private void Step()
        {
            if (_generated >= _o.MaxTokens) { Complete(FinishReason.MaxTokens); return; }
            var tokenizer = _s._model.Tokenizer;
            int id = _sampler.Sample(_s._logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_s._tokens),
                out float logProb, out float entropy, out float top1, out float top2,
                tokensLeft: Math.Min(_o.MaxTokens - _generated, _s.ContextSize - _s._tokens.Count + 1));
            if (id < 0)
            {
                // The constraint allows nothing: either its output is complete and the vocabulary has no end token, or it cannot be continued.
                if (_constraint!.IsComplete) { Complete(FinishReason.EndOfSequence); return; }
                throw new InvalidOperationException("The generation constraint allows no token of this vocabulary here; the output cannot be completed.");
            }
            if (tokenizer.IsEndOfGeneration(id) && (!_o.IgnoreEndOfSequence || _constraint is { IsComplete: true }))
            {
                Complete(FinishReason.EndOfSequence);
                return;
            }
            _constraint?.Accept(id);
            _generated++;
            var token = new GeneratedToken(id, _decoder.Add(id), logProb, entropy, top1, top2);
            if (_o.TopLogProbabilities > 0)
                token = token with { TopLogProbabilities = Sampler.TopLogProbabilities(_s._logits, _s._logits[id] - logProb, _o.TopLogProbabilities) };
            if (Offer(token)) return;
            if (_constraint is { RequiresEnd: true }) { Complete(FinishReason.EndOfSequence); return; }
            if (_generated >= _o.MaxTokens) { Complete(FinishReason.MaxTokens); return; }
            if (_s._tokens.Count >= _s.ContextSize) { Complete(FinishReason.ContextFull); return; }
            Span<int> one = [id];
            _s.Evaluate(one);
        }

        /// <summary>Passes a token on, holding back any text that may be the start of a stop sequence. True when a stop sequence matched.</summary>
        private bool Offer(GeneratedToken token)
        {
            var stops = _o.StopSequences;
            if (stops.Count == 0) { _ready.Enqueue(token); return false; }
            _held.Add(token);
            _heldText.Append(token.Text);
            string text = _heldText.ToString();
            int match = -1;
            foreach (var stop in stops)
            {
                int i = text.IndexOf(stop, StringComparison.Ordinal);
                if (i >= 0 && (match < 0 || i < match)) match = i;
            }
            if (match >= 0)
            {
                Release(match, truncate: true);
                Complete(FinishReason.StopSequence);
                return true;
            }
            int keep = 0;
            foreach (var stop in stops)
                for (int len = Math.Min(stop.Length - 1, text.Length); len > keep; len--)
                    if (string.CompareOrdinal(text, text.Length - len, stop, 0, len) == 0) { keep = len; break; }
            Release(text.Length - keep, truncate: false);
            return false;
        }

        /// <summary>Releases held tokens whose text ends at or before <paramref name="upTo"/> characters; with truncate, also the straddling one, cut.</summary>
        private void Release(int upTo, bool truncate)
        {
            int pos = 0, released = 0;
            foreach (var t in _held)
            {
                int end = pos + t.Text.Length;
                if (end <= upTo) { _ready.Enqueue(t); released++; pos = end; continue; }
                if (truncate && pos < upTo) _ready.Enqueue(t with { Text = t.Text[..(upTo - pos)] });
                break;
            }
            _held.RemoveRange(0, released);
            _heldText.Remove(0, pos);
            if (truncate) { _held.Clear(); _heldText.Clear(); }
        }

        private void Complete(FinishReason reason)
        {
            if (_finished) return;
            _finished = true;
            Finish = reason;
            _s.LastFinishReason = reason;
            if (reason != FinishReason.StopSequence)
            {
                foreach (var t in _held) _ready.Enqueue(t);
                _held.Clear();
                string tail = _decoder.Flush();
                if (tail.Length > 0) _text.Append(tail);
            }
            _clock.Stop();
        }

        public GenerationResult Result(List<GeneratedToken> tokens) =>
            new(_text.ToString(), tokens, _prompt.ToArray(), Finish, _promptEvaluated, _promptTime, _clock.Elapsed);
    }
}
