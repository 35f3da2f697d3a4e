using System.Text.Json;
using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// Constrains generation to a JSON document (RFC 8259), optionally one that a JSON Schema accepts. At each step the
/// sampler masks every token whose bytes would make the output invalid or impossible to complete; end-of-generation is
/// allowed only once the document is complete, and once the top-level value is closed it is the only choice. When
/// few tokens are left, only tokens after which the shortest completion (closing strings and containers, writing the
/// shortest values still required) fits the remaining tokens are allowed, so a document is finished rather than cut
/// whenever the token limit allows it at all.
/// </summary>
/// <remarks>
/// <para><b>Schema subset.</b> <c>type</c> (a name or a list), <c>properties</c> (any order; at most 64 names, written
/// without escapes), <c>required</c>, <c>additionalProperties</c> (true, false or a schema), <c>items</c> (one schema),
/// <c>minItems</c>/<c>maxItems</c>, <c>minLength</c>/<c>maxLength</c> (Unicode characters; an escape counts as one),
/// <c>minimum</c>/<c>maximum</c> (only with <c>"type": "integer"</c>; integers are then written without fraction or
/// exponent), <c>enum</c>/<c>const</c> (the value is written exactly as the compact JSON of one of the values, at most
/// 64). Annotations (<c>title</c>, <c>description</c>, <c>$schema</c>, <c>$id</c>, <c>$comment</c>, <c>default</c>,
/// <c>examples</c>, <c>format</c>) are ignored; any other keyword (<c>pattern</c>, <c>oneOf</c>, <c>$ref</c>, …) throws
/// <see cref="NotSupportedException"/> naming it rather than being silently ignored.</para>
/// <para><b>Limits.</b> At most 32 nested objects/arrays; at most 16 consecutive whitespace bytes between tokens (so a
/// model cannot loop on spaces); strings are valid UTF-8. A key written with escapes (<c>"n\u0061me"</c>) is not
/// recognised as a schema property.</para>
/// <para>Immutable and thread-safe; the token-byte table is built once per tokenizer and cached.</para>
/// </remarks>
public sealed class JsonConstraint : IGenerationConstraint
{
    private readonly JsonSchemaSet _schema;

    private JsonConstraint(JsonSchemaSet schema) => _schema = schema;

    /// <summary>Any JSON value (object, array, string, number, true, false or null).</summary>
    public static JsonConstraint AnyValue { get; } = new(JsonSchemaSet.AnyValue());

    /// <summary>Any JSON object: "JSON mode" as OpenAI-style APIs define it.</summary>
    public static JsonConstraint AnyObject { get; } = new(JsonSchemaSet.AnyObject());

    /// <summary>A document that <paramref name="schema"/> accepts (see the remarks for the supported subset).</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset (the message names it), or nests subschemas more than 64 levels deep.</exception>
    /// <exception cref="ArgumentException">The schema is malformed or matches nothing.</exception>
    public static JsonConstraint FromSchema(JsonElement schema) => new(JsonSchemaSet.Compile(schema));

    /// <summary>A document that the JSON Schema text <paramref name="schema"/> accepts.</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset; the message names it.</exception>
    /// <exception cref="ArgumentException">The schema is malformed or matches nothing.</exception>
    /// <exception cref="JsonException"><paramref name="schema"/> is not JSON.</exception>
    public static JsonConstraint FromSchema(string schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var doc = JsonDocument.Parse(schema);
        return FromSchema(doc.RootElement);
    }

    /// <inheritdoc />
    public IGenerationConstraintState CreateState(ModelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new State(_schema, TokenByteTable.For(tokenizer));
    }

    /// <summary>A validator over raw bytes (for tests and tools): the same automaton the mask uses.</summary>
    internal JsonAutomaton CreateAutomaton() => new(_schema);

    /// <summary>
    /// One generation's position in the document. The mask walks the vocabulary in byte order as a trie: the automaton
    /// state after each prefix is kept on a stack and reused by the tokens sharing it, and a rejected prefix rejects every
    /// token under it without stepping (a rejected first byte rejects its whole group). Inside a string value, a token of
    /// plain text is decided by its character count alone (it either fits the string's maxLength or it does not).
    /// </summary>
    private sealed class State : IGenerationConstraintState
    {
        private readonly TokenByteTable _table;
        private readonly JsonAutomaton[] _prefixes; // _prefixes[k]: the state after the first k bytes of the token in hand
        private readonly int[] _overBudget;         // tokens that are valid but would leave too little room to finish
        private JsonAutomaton _state, _trial;

        public State(JsonSchemaSet schema, TokenByteTable table)
        {
            _table = table;
            _state = new JsonAutomaton(schema);
            _prefixes = new JsonAutomaton[table.MaxTokenLength + 1];
            _overBudget = new int[table.VocabularySize];
        }

        public bool IsComplete => _state.IsComplete;

        public bool RequiresEnd => _state.IsClosed;

        public bool ApplyMask(Span<float> logits, int tokensLeft)
        {
            var t = _table;
            int n = Math.Min(logits.Length, t.VocabularySize);
            logits[n..].Fill(float.NegativeInfinity);
            bool complete = _state.IsComplete, any = false;
            foreach (int id in t.Silent) if (id < n) logits[id] = float.NegativeInfinity;
            foreach (int id in t.EndOfGeneration)
                if (id < n)
                {
                    if (!complete) logits[id] = float.NegativeInfinity;
                    else any = true;
                }

            var sorted = t.Sorted;
            // Once the document is closed only the end may follow (trailing whitespace would be valid JSON, but useless).
            if (_state.IsClosed)
            {
                foreach (int id in sorted) if (id < n) logits[id] = float.NegativeInfinity;
                return any;
            }

            // Steering: while the document can still be finished one byte per token within the tokens left, keep it so
            // (a token is allowed only if what it leaves to write fits the tokens after it). Plain text inside a string
            // leaves that distance as it is, so it needs no check unless the budget is already exactly spent.
            int budget = tokensLeft - 1, distance = _state.MinClosingBytes(), overBudget = 0;
            bool steer = distance <= tokensLeft;
            bool withinBudget = any;
            var common = t.CommonPrefix;
            var plainChars = t.PlainChars;
            var prefixes = _prefixes;
            int room = steer && distance > budget ? -1 : _state.StringRoom;
            prefixes[0].CopyFrom(ref _state);
            int valid = 0;                  // prefixes[0..valid] hold the states of the current token's first bytes
            int rejected = int.MaxValue;    // the previous token's first `rejected` bytes were rejected
            for (int i = 0; i < sorted.Length; i++)
            {
                int id = sorted[i], shared = common[i];
                if (shared >= rejected)
                {
                    if (id < n) logits[id] = float.NegativeInfinity;
                    continue;
                }
                rejected = int.MaxValue;
                if (valid > shared) valid = shared;
                int chars = plainChars[id];
                if (chars >= 0 && room >= 0)
                {
                    // Plain text inside a string value: it fits or it does not (it cannot close the string).
                    if (id >= n) continue;
                    if (chars <= room) any = withinBudget = true;
                    else logits[id] = float.NegativeInfinity;
                    continue;
                }
                var bytes = t.Bytes(id);
                for (int k = valid; k < bytes.Length; k++)
                {
                    prefixes[k + 1].CopyFrom(ref prefixes[k]);
                    if (!prefixes[k + 1].Step(bytes[k])) { rejected = k + 1; break; }
                    valid = k + 1;
                }
                if (id >= n) continue;
                if (rejected != int.MaxValue) logits[id] = float.NegativeInfinity;
                else if (steer && prefixes[bytes.Length].MinClosingBytes() > budget) { _overBudget[overBudget++] = id; any = true; }
                else any = withinBudget = true;
            }
            // Should no token fit (a vocabulary without single-byte tokens), the valid ones stay allowed: the cut will be reported.
            if (withinBudget)
                for (int i = 0; i < overBudget; i++) logits[_overBudget[i]] = float.NegativeInfinity;
            return any;
        }

        public void Accept(int tokenId)
        {
            if ((uint)tokenId >= (uint)_table.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(tokenId), tokenId, "Not a token of this vocabulary.");
            var bytes = _table.Bytes(tokenId);
            if (bytes.IsEmpty) return;
            _trial.CopyFrom(ref _state);
            if (_state.IsClosed || !_trial.Feed(bytes))
                throw new InvalidOperationException($"Token {tokenId} would break the JSON document; it should have been masked.");
            _state.CopyFrom(ref _trial);
        }
    }
}
