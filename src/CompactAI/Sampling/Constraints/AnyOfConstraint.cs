using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// Output that satisfies at least one of several constraints (a top-level <c>anyOf</c>): every alternative runs side by
/// side, a token is allowed when some still-live alternative allows it, and an alternative that would not have allowed the
/// chosen token drops out. Used for a required tool call among several functions: each alternative is one function's call
/// schema, its name a <c>const</c>, so once the name is written a single alternative remains and its arguments schema rules.
/// </summary>
/// <remarks>Immutable and thread-safe. Each state keeps one vocabulary-sized scratch array per alternative, allocated once.</remarks>
internal sealed class AnyOfConstraint : IGenerationConstraint
{
    private readonly IGenerationConstraint[] _alternatives;

    public AnyOfConstraint(IReadOnlyList<IGenerationConstraint> alternatives)
    {
        ArgumentNullException.ThrowIfNull(alternatives);
        if (alternatives.Count == 0) throw new ArgumentException("At least one alternative is needed.", nameof(alternatives));
        _alternatives = [.. alternatives];
    }

    public IGenerationConstraintState CreateState(ModelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new State(_alternatives.Select(a => a.CreateState(tokenizer)).ToArray(), tokenizer.VocabularySize);
    }

    private sealed class State(IGenerationConstraintState[] states, int vocabularySize) : IGenerationConstraintState
    {
        private readonly float[][] _masks = states.Select(_ => new float[vocabularySize]).ToArray(); // each alternative's last mask
        private readonly bool[] _live = states.Select(_ => true).ToArray();
        private readonly bool[] _masked = new bool[states.Length]; // whether _masks[i] belongs to the current position

        public bool IsComplete
        {
            get
            {
                for (int i = 0; i < states.Length; i++) if (_live[i] && states[i].IsComplete) return true;
                return false;
            }
        }

        public bool RequiresEnd
        {
            get
            {
                // The end is forced only when no live alternative could go on.
                bool any = false;
                for (int i = 0; i < states.Length; i++)
                {
                    if (!_live[i]) continue;
                    if (!states[i].RequiresEnd) return false;
                    any = true;
                }
                return any;
            }
        }

        public bool ApplyMask(Span<float> logits, int tokensLeft)
        {
            bool any = false;
            int n = Math.Min(logits.Length, vocabularySize);
            for (int s = 0; s < states.Length; s++)
            {
                _masked[s] = false;
                if (!_live[s]) continue;
                var mask = _masks[s].AsSpan(0, n);
                logits[..n].CopyTo(mask);
                _masked[s] = true;
                if (!states[s].ApplyMask(mask, tokensLeft)) { _live[s] = false; _masked[s] = false; continue; }
                any = true;
            }
            for (int i = 0; i < n; i++)
            {
                bool allowed = false;
                for (int s = 0; s < states.Length && !allowed; s++) allowed = _masked[s] && !float.IsNegativeInfinity(_masks[s][i]);
                if (!allowed) logits[i] = float.NegativeInfinity;
            }
            if (logits.Length > n) logits[n..].Fill(float.NegativeInfinity);
            return any;
        }

        public void Accept(int tokenId)
        {
            if ((uint)tokenId >= (uint)vocabularySize) throw new ArgumentOutOfRangeException(nameof(tokenId), tokenId, "Not a token of this vocabulary.");
            bool any = false;
            for (int s = 0; s < states.Length; s++)
            {
                if (!_live[s]) continue;
                if (_masked[s] && float.IsNegativeInfinity(_masks[s][tokenId])) { _live[s] = false; continue; }
                states[s].Accept(tokenId);
                any = true;
            }
            if (!any) throw new InvalidOperationException($"Token {tokenId} is allowed by no alternative; it should have been masked.");
        }
    }
}
