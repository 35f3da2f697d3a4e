using System.Diagnostics;
using System.Text;
using CompactAI.Models;
using CompactAI.Sampling;

namespace CompactAI.Inference;

/// <summary>
/// One generation, as scheduled work: the prompt (after the cached prefix), then the decode loop on the scheduler
/// thread (sampler, constraint, stop-sequence hold-back, streaming decoder) and the stream of tokens to the consumer.
/// A token reaches the consumer after the step that evaluated it, with the sequence length at that point, so a
/// consumer that stops early can leave the sequence exactly as it saw it.
/// </summary>
internal sealed class Generation : ScheduledWork
{
    /// <summary>Most tokens a streaming consumer may be behind before the sequence waits for it.</summary>
    private const int Lookahead = 2;

    private readonly BatchScheduler _scheduler;
    private readonly IReadOnlyList<int> _prompt;
    private readonly GenerationOptions _o;
    private readonly Sampler _sampler;
    private readonly Sampling.Constraints.IGenerationConstraintState? _constraint;
    private readonly Tokenization.StreamingDecoder _decoder;
    private readonly Tokenization.ModelTokenizer _tokenizer;
    private readonly TokenFeed _out;
    private readonly Queue<GeneratedToken> _ready = new();
    private readonly List<GeneratedToken> _held = new();
    private readonly StringBuilder _heldText = new();
    private readonly StringBuilder _text = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private (GeneratedToken Token, int Length)? _waiting; // a token whose text may still gain a flushed tail
    private readonly bool _bounded;
    private int _generated, _unread, _written;
    private bool _prefilled, _finished;

    public Generation(BatchScheduler scheduler, Sequence sequence, IReadOnlyList<int> prompt, GenerationOptions options,
        Tokenization.ModelTokenizer tokenizer, Sampler.Buffers samplerBuffers, TokenFeed feed, bool streaming, CancellationToken ct)
        : base(sequence, ct)
    {
        _out = feed;
        feed.Reset();
        _scheduler = scheduler;
        _prompt = prompt;
        _o = options;
        _tokenizer = tokenizer;
        _bounded = streaming;
        _constraint = options.Constraint?.CreateState(tokenizer);
        _sampler = new Sampler(options.Sampling, samplerBuffers, _constraint);
        _decoder = tokenizer.CreateStreamingDecoder();
        PromptTokensEvaluated = prompt.Count - sequence.ReusePrefix(prompt);
        SetPending(prompt, prompt.Count - PromptTokensEvaluated);
    }

    /// <summary>Prompt tokens run through the model (the rest came from the cache).</summary>
    public int PromptTokensEvaluated { get; }

    /// <summary>Why the generation ended (max tokens until it ends otherwise).</summary>
    public FinishReason Reason { get; private set; } = FinishReason.MaxTokens;

    /// <summary>True once the decode loop reached its end (not when it was dropped early).</summary>
    public bool Completed => _finished;

    /// <summary>Tokens written to the feed.</summary>
    public int Generated => _written;

    /// <summary>Time to evaluate the prompt.</summary>
    public TimeSpan PromptTime { get; private set; }

    /// <summary>The tokens for the consumer, each with the sequence length after the step that released it.</summary>
    public TokenFeed Reader => _out;

    public override bool Paused => _bounded && Volatile.Read(ref _unread) >= Lookahead;

    /// <summary>The consumer took a token: the sequence may run on.</summary>
    public void Consumed()
    {
        if (Interlocked.Decrement(ref _unread) == Lookahead - 1) _scheduler.Wake();
    }

    public override SegmentOutput OutputFor(int count, bool last) => last ? SegmentOutput.LastLogits : SegmentOutput.None;

    public override float[]? DestinationFor(SegmentOutput output) => output == SegmentOutput.LastLogits ? Sequence.Logits : null;

    public override bool Evaluated(int count)
    {
        if (Remaining > 0) return true;
        if (!_prefilled)
        {
            _prefilled = true;
            PromptTime = _clock.Elapsed;
            _clock.Restart();
        }
        else
        {
            Publish(); // the tokens released by the step whose token just ran
        }
        Step();
        if (!_finished) return true;
        Publish();
        return false;
    }

    protected override void OnFinished(Exception? error)
    {
        _clock.Stop();
        if (_waiting is { } w) Write(w);
        _waiting = null;
        _out.Complete();
    }

    /// <summary>The finished generation's result.</summary>
    public GenerationResult Result(List<GeneratedToken> tokens) =>
        new(_text.ToString(), tokens, _prompt.ToArray(), Reason, PromptTokensEvaluated, PromptTime, _clock.Elapsed);

    /// <summary>Samples the next token from the sequence's logits and either queues it for evaluation or finishes.</summary>
    private void Step()
    {
        if (_generated >= _o.MaxTokens) { Complete(FinishReason.MaxTokens); return; }
        var seq = Sequence;
        var pick = _sampler.Next(seq.Logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seq.Tokens),
            tokensLeft: Math.Min(_o.MaxTokens - _generated, seq.ContextSize - seq.Tokens.Count + 1));
        int id = pick.Id;
        if (id < 0)
        {
            // The constraint allows nothing: either its output is complete and the vocabulary has no end token, or it cannot be continued.
            if (_constraint is { IsComplete: true }) { Complete(FinishReason.EndOfSequence); return; }
            throw new InvalidOperationException(_constraint is null
                ? "A custom sampler step left no candidate token."
                : "The generation constraint allows no token of this vocabulary here; the output cannot be completed.");
        }
        if (_tokenizer.IsEndOfGeneration(id) && (!_o.IgnoreEndOfSequence || _constraint is { IsComplete: true }))
        {
            Complete(FinishReason.EndOfSequence);
            return;
        }
        _sampler.Accept(id); // every step, the constraint included, advances over the token the sequence takes
        _generated++;
        var token = new GeneratedToken(id, _decoder.Add(id), pick.LogProbability, pick.Entropy, pick.Top1Probability, pick.Top2Probability);
        if (_o.TopLogProbabilities > 0)
            token = token with { TopLogProbabilities = Sampler.TopLogProbabilities(seq.Logits, seq.Logits[id] - pick.LogProbability, _o.TopLogProbabilities) };
        if (Offer(token)) return;
        if (_constraint is { RequiresEnd: true }) { Complete(FinishReason.EndOfSequence); return; }
        if (_generated >= _o.MaxTokens) { Complete(FinishReason.MaxTokens); return; }
        if (seq.Tokens.Count >= seq.ContextSize) { Complete(FinishReason.ContextFull); return; }
        SetPending(id);
    }

    /// <summary>
    /// Sends the released tokens to the consumer. While the decoder holds the start of a character, the last one waits,
    /// so the text a flush adds at the end goes to a token the stream still delivers.
    /// </summary>
    private void Publish()
    {
        int length = Sequence.Tokens.Count;
        while (_ready.Count > 0)
        {
            var t = _ready.Dequeue();
            if (_waiting is { } w) Write(w);
            _waiting = (t, length);
        }
        if (_waiting is { } last && (_finished || !_decoder.HasPending))
        {
            Write(last);
            _waiting = null;
        }
    }

    private void Write((GeneratedToken Token, int Length) item)
    {
        _text.Append(item.Token.Text);
        Interlocked.Increment(ref _unread);
        _written++;
        _out.Write(item.Token, item.Length);
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
        Reason = reason;
        if (reason == FinishReason.StopSequence) return;
        foreach (var t in _held) _ready.Enqueue(t);
        _held.Clear();
        string tail = _decoder.Flush();
        if (tail.Length == 0) return;
        // The stream and the text must agree: the flushed tail (an incomplete character as U+FFFD) ends the last token's text.
        if (_ready.Count > 0)
        {
            int n = _ready.Count;
            for (int i = 0; i < n - 1; i++) _ready.Enqueue(_ready.Dequeue());
            var lastToken = _ready.Dequeue();
            _ready.Enqueue(lastToken with { Text = lastToken.Text + tail });
        }
        else if (_waiting is { } w)
        {
            _waiting = (w.Token with { Text = w.Token.Text + tail }, w.Length);
        }
        else
        {
            _text.Append(tail);
        }
    }
}
