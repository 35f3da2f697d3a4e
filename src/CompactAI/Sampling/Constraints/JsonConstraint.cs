using System.Text.Json;
using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// Constrains generation to a JSON document (RFC 8259), optionally one that a JSON Schema accepts. At each step the
/// sampler masks every token whose bytes would make the output invalid or impossible to complete; end-of-generation is
/// allowed only once the document is complete, and once the top-level value is closed it is the only choice.
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
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset; the message names it.</exception>
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
    /// One generation's position in the document. The mask tries each token on a copy of the automaton: tokens are
    /// grouped by first byte, so one step decides a whole group when the byte is rejected, and inside a plain string any
    /// token of plain text is accepted without stepping through it.
    /// </summary>
    private sealed class State : IGenerationConstraintState
    {
        private readonly TokenByteTable _table;
        private JsonAutomaton _state, _first, _trial;

        public State(JsonSchemaSet schema, TokenByteTable table)
        {
            _table = table;
            _state = new JsonAutomaton(schema);
        }

        public bool IsComplete => _state.IsComplete;

        public bool RequiresEnd => _state.IsClosed;

        public bool ApplyMask(Span<float> logits)
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

            bool closed = _state.IsClosed, freeString = _state.InFreeString;
            var groups = t.GroupStarts;
            var tokens = t.ByFirstByte;
            var plain = t.PlainText;
            for (int b = 0; b < 256; b++)
            {
                int start = groups[b], end = groups[b + 1];
                if (start == end) continue;
                // Once the document is closed only the end may follow (trailing whitespace would be valid JSON, but useless).
                bool open = !closed;
                if (open)
                {
                    _first.CopyFrom(ref _state);
                    open = _first.Step((byte)b);
                }
                if (!open)
                {
                    for (int i = start; i < end; i++) if (tokens[i] < n) logits[tokens[i]] = float.NegativeInfinity;
                    continue;
                }
                for (int i = start; i < end; i++)
                {
                    int id = tokens[i];
                    if (id >= n) continue;
                    if (freeString && plain[id]) { any = true; continue; }
                    var bytes = t.Bytes(id);
                    if (bytes.Length > 1)
                    {
                        _trial.CopyFrom(ref _first);
                        if (!_trial.Feed(bytes[1..])) { logits[id] = float.NegativeInfinity; continue; }
                    }
                    any = true;
                }
            }
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
