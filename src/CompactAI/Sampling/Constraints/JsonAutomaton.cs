using System.Runtime.CompilerServices;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// A pushdown automaton over RFC 8259 JSON, fed one byte at a time, optionally restricted by a <see cref="JsonSchemaSet"/>.
/// <see cref="Step"/> rejects a byte as soon as no valid (schema-conforming) document can start with the bytes so far,
/// so a masked sampler can never walk into a dead end. A value type: copying it is how a token is tried without
/// committing (<see cref="CopyFrom"/> copies only the frames in use, which keeps a check cheap and allocation-free).
/// </summary>
/// <remarks>
/// Deviations from a plain JSON parser, all deliberate: nesting is limited to <see cref="MaxNesting"/> levels; a run of
/// whitespace between tokens is limited to <see cref="MaxWhitespaceRun"/> bytes (so a model cannot loop on spaces);
/// strings must be valid UTF-8 (RFC 3629: no overlongs, no encoded surrogates).
/// </remarks>
internal struct JsonAutomaton
{
    /// <summary>Most nested objects/arrays.</summary>
    public const int MaxNesting = 32;

    /// <summary>Most consecutive whitespace bytes between tokens.</summary>
    public const int MaxWhitespaceRun = 16;

    private const byte NoProperty = 255;

    private JsonSchemaNode[] _nodes;
    private Cursor _c;
    private FrameStack _frames;

    public JsonAutomaton(JsonSchemaSet schema)
    {
        _nodes = schema.Nodes;
        _c = new Cursor { Depth = 1 };
        _frames[0] = new Frame { Phase = Phase.RootValue, Node = (ushort)schema.Root, Pending = NoProperty };
    }

    /// <summary>The bytes so far are a complete document (which more bytes may still extend, e.g. a number's digits).</summary>
    public readonly bool IsComplete
    {
        get
        {
            if (_c.Depth != 1) return false;
            if (_frames[0].Phase == Phase.RootDone) return true;
            return _c.Lex switch
            {
                Lex.Number => NumberCanEnd(),
                Lex.Enum => EnumMatched(),
                _ => false,
            };
        }
    }

    /// <summary>The top-level value is closed: only trailing whitespace could follow.</summary>
    public readonly bool IsClosed => _c.Depth == 1 && _frames[0].Phase == Phase.RootDone;

    /// <summary>
    /// Inside a string value with no escape or UTF-8 sequence pending: how many more characters it may take (any plain
    /// text up to that many is accepted); −1 anywhere else.
    /// </summary>
    public readonly int StringRoom =>
        _c.Lex == Lex.String && _c.Sub == Sub.Normal && !_c.IsKey ? _nodes[_c.ValueNode].MaxLength - _c.Length : -1;

    /// <summary>
    /// The fewest bytes that complete the document from here (closing strings and containers, writing the shortest
    /// values for what the schema still requires). The mask uses it to steer towards completion when few tokens are
    /// left: a byte-level vocabulary can always write it one byte per token.
    /// </summary>
    public readonly int MinClosingBytes()
    {
        int top = _c.Depth - 1;
        long total = 0;
        for (int i = 0; i < top; i++) total += FrameRest(in _frames[i], valueInProgress: true);
        switch (_c.Lex)
        {
            case Lex.String when _c.IsKey:
                total += KeyRest(in _frames[top]);
                break;
            case Lex.String:
                total += SubRest() + Math.Max(0, _nodes[_c.ValueNode].MinLength - _c.Length) + 1 + FrameRest(in _frames[top], valueInProgress: true);
                break;
            case Lex.Number:
                total += NumberRest() + FrameRest(in _frames[top], valueInProgress: true);
                break;
            case Lex.Literal:
                total += Literal((int)_c.Candidates).Length - _c.Length + FrameRest(in _frames[top], valueInProgress: true);
                break;
            case Lex.Enum:
            {
                var values = _nodes[_c.ValueNode].Enum!;
                int best = int.MaxValue;
                for (ulong c = _c.Candidates; c != 0; c &= c - 1)
                    best = Math.Min(best, values[System.Numerics.BitOperations.TrailingZeroCount(c)].Length - _c.Length);
                total += best + FrameRest(in _frames[top], valueInProgress: true);
                break;
            }
            default:
                total += FrameRest(in _frames[top], valueInProgress: false);
                break;
        }
        return (int)Math.Min(total, int.MaxValue);
    }

    /// <summary>Bytes still owed by a pending escape or UTF-8 sequence.</summary>
    private readonly int SubRest() => _c.Sub switch { Sub.Escape => 1, Sub.Hex or Sub.Utf8 => _c.Pending, _ => 0 };

    /// <summary>What closing a container costs from its phase (with <paramref name="valueInProgress"/>: once the value being written inside it ends).</summary>
    private readonly long FrameRest(ref readonly Frame f, bool valueInProgress)
    {
        var node = _nodes[f.Node];
        if (valueInProgress)
        {
            return f.Phase switch
            {
                Phase.ArrValueOrEnd or Phase.ArrValue => ArrayRest(node, f.Count + 1),
                Phase.ObjValue => ObjectRest(node, f.Seen),
                _ => 0,
            };
        }
        long v = f.Phase is >= Phase.ArrValueOrEnd and <= Phase.ArrCommaOrEnd ? _nodes[node.ItemsNode].MinBytes : 0;
        switch (f.Phase)
        {
            case Phase.RootValue:
                return node.MinBytes;
            case Phase.ArrValueOrEnd:
            {
                long need = Math.Max(0, node.MinItems - f.Count);
                return need == 0 ? 1 : need * v + need;
            }
            case Phase.ArrValue:
            {
                long need = Math.Max(1, node.MinItems - f.Count);
                return need * v + need;
            }
            case Phase.ArrCommaOrEnd:
                return ArrayRest(node, f.Count);
            case Phase.ObjKeyOrEnd:
            {
                ulong rest = node.Required & ~f.Seen;
                return rest == 0 ? 1 : ObjectRest(node, f.Seen) - 1; // the first property needs no comma
            }
            case Phase.ObjKey:
            {
                ulong rest = node.Required & ~f.Seen;
                if (rest != 0) return ObjectRest(node, f.Seen) - 1;
                return CheapestProperty(node, f.Seen) + 1;
            }
            case Phase.ObjColon:
                return 1 + PendingMinBytes(node, f) + ObjectRest(node, f.Seen);
            case Phase.ObjValue:
                return PendingMinBytes(node, f) + ObjectRest(node, f.Seen);
            case Phase.ObjCommaOrEnd:
                return ObjectRest(node, f.Seen);
            default:
                return 0;
        }
    }

    private readonly long PendingMinBytes(JsonSchemaNode node, in Frame f) =>
        _nodes[f.Pending == NoProperty ? node.AdditionalNode : node.PropertyNodes[f.Pending]].MinBytes;

    /// <summary>After an item: the items still required (each with its comma), then <c>]</c>.</summary>
    private readonly long ArrayRest(JsonSchemaNode node, int count) =>
        Math.Max(0, node.MinItems - count) * (1L + _nodes[node.ItemsNode].MinBytes) + 1;

    /// <summary>After a member: the required properties not written yet (each <c>,"name":value</c>), then <c>}</c>.</summary>
    private readonly long ObjectRest(JsonSchemaNode node, ulong seen)
    {
        long total = 1;
        for (ulong r = node.Required & ~seen; r != 0; r &= r - 1)
            total += 1 + PropertyBytes(node, System.Numerics.BitOperations.TrailingZeroCount(r));
        return total;
    }

    /// <summary><c>"name":value</c> at its shortest.</summary>
    private readonly long PropertyBytes(JsonSchemaNode node, int i) => node.PropertyNames[i].Length + 3L + _nodes[node.PropertyNodes[i]].MinBytes;

    /// <summary>The shortest member that may still be written after a comma (a property not written yet, or <c>"":value</c> when extra keys are allowed).</summary>
    private readonly long CheapestProperty(JsonSchemaNode node, ulong seen)
    {
        long best = node.AdditionalNode >= 0 ? 3L + _nodes[node.AdditionalNode].MinBytes : int.MaxValue;
        for (ulong r = node.AllProperties & ~seen; r != 0; r &= r - 1)
            best = Math.Min(best, PropertyBytes(node, System.Numerics.BitOperations.TrailingZeroCount(r)));
        return best;
    }

    /// <summary>Finishing the key being written, its value, and the object.</summary>
    private readonly long KeyRest(ref readonly Frame f)
    {
        var node = _nodes[f.Node];
        long best = int.MaxValue;
        bool exact = false;
        for (ulong c = _c.Candidates; c != 0; c &= c - 1)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(c);
            int left = node.PropertyNames[i].Length - _c.Length;
            exact |= left == 0;
            best = Math.Min(best, left + 2L + _nodes[node.PropertyNodes[i]].MinBytes + ObjectRest(node, f.Seen | (1UL << i)));
        }
        if (node.AdditionalNode >= 0)
        {
            // Closing now makes an extra key (one more byte if the text so far is exactly a property's name).
            best = Math.Min(best, SubRest() + (exact ? 1 : 0) + 2L + _nodes[node.AdditionalNode].MinBytes + ObjectRest(node, f.Seen));
        }
        return best;
    }

    /// <summary>Digits (or the like) a number still needs before it may end.</summary>
    private readonly int NumberRest()
    {
        switch (_c.Sub)
        {
            case Sub.NumDot or Sub.NumExp or Sub.NumExpSign:
                return 1;
            case Sub.NumFrac or Sub.NumExpDigits:
                return 0;
        }
        var node = _nodes[_c.ValueNode];
        if (!node.HasRange) return _c.Sub == Sub.NumMinus ? 1 : 0;
        if (NumberCanEnd()) return 0;
        // The fewest more digits k for which the prefix's k-digit extensions meet [minimum, maximum].
        for (int k = 1; k + _c.Length <= 18; k++)
        {
            long span = 1;
            for (int j = 0; j < k; j++) span *= 10;
            long lo = _c.Length == 0 ? (k == 1 ? 0 : span / 10) : _c.Magnitude * span;
            long hi = _c.Length == 0 ? span - 1 : lo + span - 1;
            long a = _c.Negative ? -hi : lo, z = _c.Negative ? -lo : hi;
            if (a <= node.Maximum && z >= node.Minimum) return k;
        }
        return 18;
    }

    /// <summary>Copies <paramref name="other"/> (only its frames in use).</summary>
    public void CopyFrom(ref readonly JsonAutomaton other)
    {
        _nodes = other._nodes;
        _c = other._c;
        ReadOnlySpan<Frame> source = other._frames;
        source[..other._c.Depth].CopyTo(_frames);
    }

    /// <summary>Advances over <paramref name="bytes"/>; false (with the state undefined) when one is rejected.</summary>
    public bool Feed(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            if (!Step(b)) return false;
        return true;
    }

    /// <summary>Advances over one byte; false (with the state undefined) when it is rejected.</summary>
    public bool Step(byte b)
    {
        switch (_c.Lex)
        {
            case Lex.String:
                return StringByte(b);
            case Lex.Literal:
                return LiteralByte(b);
            case Lex.Number:
            {
                var r = NumberByte(b);
                if (r != Outcome.Ended) return r == Outcome.Accepted;
                if (!NumberCanEnd()) return false;
                ValueDone();
                return StructuralByte(b);
            }
            case Lex.Enum:
            {
                var r = EnumByte(b);
                if (r != Outcome.Ended) return r == Outcome.Accepted;
                ValueDone();
                return StructuralByte(b);
            }
            default:
                return StructuralByte(b);
        }
    }

    private bool StructuralByte(byte b)
    {
        if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            if (_c.Whitespace >= MaxWhitespaceRun) return false;
            _c.Whitespace++;
            return true;
        }
        _c.Whitespace = 0;
        ref Frame f = ref _frames[_c.Depth - 1];
        var node = _nodes[f.Node];
        switch (f.Phase)
        {
            case Phase.RootValue:
                return BeginValue(b, f.Node);
            case Phase.ArrValueOrEnd:
                if (b == ']') return CloseContainer(f.Count >= node.MinItems);
                return f.Count < node.MaxItems && BeginValue(b, node.ItemsNode);
            case Phase.ArrValue:
                return BeginValue(b, node.ItemsNode);
            case Phase.ArrCommaOrEnd:
                if (b == ']') return CloseContainer(f.Count >= node.MinItems);
                if (b != ',' || f.Count >= node.MaxItems) return false;
                f.Phase = Phase.ArrValue;
                return true;
            case Phase.ObjKeyOrEnd:
                if (b == '}') return CloseContainer((f.Seen & node.Required) == node.Required);
                return b == '"' && BeginKey(node, f.Seen);
            case Phase.ObjKey:
                return b == '"' && BeginKey(node, f.Seen);
            case Phase.ObjColon:
                if (b != ':') return false;
                f.Phase = Phase.ObjValue;
                return true;
            case Phase.ObjValue:
                return BeginValue(b, f.Pending == NoProperty ? node.AdditionalNode : node.PropertyNodes[f.Pending]);
            case Phase.ObjCommaOrEnd:
                if (b == '}') return CloseContainer((f.Seen & node.Required) == node.Required);
                // With additionalProperties false, a comma needs a property left to write.
                if (b != ',' || (node.AdditionalNode < 0 && (f.Seen & node.AllProperties) == node.AllProperties)) return false;
                f.Phase = Phase.ObjKey;
                return true;
            default:
                return false; // RootDone: nothing but whitespace
        }
    }

    private bool BeginValue(byte b, int nodeIndex)
    {
        var node = _nodes[nodeIndex];
        _c.ValueNode = (ushort)nodeIndex;
        if (node.Enum is { } values)
        {
            _c.Lex = Lex.Enum;
            _c.Candidates = values.Length == 64 ? ulong.MaxValue : (1UL << values.Length) - 1;
            _c.Length = 0;
            return EnumByte(b) == Outcome.Accepted;
        }
        var t = node.Types;
        switch (b)
        {
            case (byte)'{':
                return (t & JsonTypes.Object) != 0 && Push(Phase.ObjKeyOrEnd, nodeIndex);
            case (byte)'[':
                return (t & JsonTypes.Array) != 0 && Push(Phase.ArrValueOrEnd, nodeIndex);
            case (byte)'"':
                if ((t & JsonTypes.String) == 0) return false;
                _c.Lex = Lex.String;
                _c.Sub = Sub.Normal;
                _c.IsKey = false;
                _c.Length = 0;
                return true;
            case (byte)'t':
                return (t & JsonTypes.Boolean) != 0 && BeginLiteral(0);
            case (byte)'f':
                return (t & JsonTypes.Boolean) != 0 && BeginLiteral(1);
            case (byte)'n':
                return (t & JsonTypes.Null) != 0 && BeginLiteral(2);
            case (byte)'-' or >= (byte)'0' and <= (byte)'9':
                if ((t & (JsonTypes.Integer | JsonTypes.Number)) == 0) return false;
                _c.Lex = Lex.Number;
                _c.Sub = Sub.NumStart;
                _c.IntegerOnly = (t & JsonTypes.Number) == 0;
                _c.Negative = false;
                _c.Magnitude = 0;
                _c.Length = 0;
                return NumberByte(b) == Outcome.Accepted;
            default:
                return false;
        }
    }

    private bool Push(Phase phase, int nodeIndex)
    {
        if (_c.Depth > MaxNesting) return false;
        _frames[_c.Depth++] = new Frame { Phase = phase, Node = (ushort)nodeIndex, Pending = NoProperty };
        _c.Lex = Lex.Structural;
        return true;
    }

    private bool CloseContainer(bool satisfied)
    {
        if (!satisfied) return false;
        _c.Depth--;
        ValueDone();
        return true;
    }

    /// <summary>A value ended: the enclosing container moves on.</summary>
    private void ValueDone()
    {
        _c.Lex = Lex.Structural;
        _c.Whitespace = 0;
        ref Frame f = ref _frames[_c.Depth - 1];
        switch (f.Phase)
        {
            case Phase.RootValue:
                f.Phase = Phase.RootDone;
                break;
            case Phase.ArrValueOrEnd or Phase.ArrValue:
                if (f.Count < ushort.MaxValue) f.Count++;
                f.Phase = Phase.ArrCommaOrEnd;
                break;
            case Phase.ObjValue:
                f.Phase = Phase.ObjCommaOrEnd;
                break;
        }
    }

    // ---- strings -------------------------------------------------------------------------------------------------

    private bool BeginKey(JsonSchemaNode node, ulong seen)
    {
        _c.Lex = Lex.String;
        _c.Sub = Sub.Normal;
        _c.IsKey = true;
        _c.Length = 0;
        _c.Candidates = node.AllProperties & ~seen;
        // Keys of an object without additional properties are matched byte for byte against the names left.
        return node.AdditionalNode >= 0 || _c.Candidates != 0;
    }

    private bool StringByte(byte b)
    {
        if (_c.IsKey)
        {
            ref Frame f = ref _frames[_c.Depth - 1];
            var node = _nodes[f.Node];
            if (b == '"' && _c.Sub == Sub.Normal) return EndKey(ref f, node);
            if (node.PropertyNames.Length > 0)
            {
                ulong next = 0;
                for (ulong c = _c.Candidates; c != 0; c &= c - 1)
                {
                    int i = System.Numerics.BitOperations.TrailingZeroCount(c);
                    var name = node.PropertyNames[i];
                    if (_c.Length < name.Length && name[_c.Length] == b) next |= 1UL << i;
                }
                _c.Candidates = next;
                _c.Length++;
                if (node.AdditionalNode < 0) return next != 0; // names hold no quotes, escapes or control bytes
            }
            return StringContent(b, countChars: false, int.MaxValue);
        }
        var value = _nodes[_c.ValueNode];
        if (b == '"' && _c.Sub == Sub.Normal)
        {
            if (_c.Length < value.MinLength) return false;
            ValueDone();
            return true;
        }
        return StringContent(b, countChars: true, value.MaxLength);
    }

    private bool EndKey(ref Frame f, JsonSchemaNode node)
    {
        byte match = NoProperty;
        for (ulong c = _c.Candidates; c != 0; c &= c - 1)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(c);
            if (node.PropertyNames[i].Length == _c.Length) { match = (byte)i; break; }
        }
        if (match == NoProperty && node.AdditionalNode < 0) return false;
        if (match != NoProperty) f.Seen |= 1UL << match;
        f.Pending = match;
        f.Phase = Phase.ObjColon;
        _c.Lex = Lex.Structural;
        _c.Whitespace = 0;
        return true;
    }

    /// <summary>One byte of string content (not the closing quote), validating escapes and UTF-8.</summary>
    private bool StringContent(byte b, bool countChars, int maxLength)
    {
        switch (_c.Sub)
        {
            case Sub.Normal:
                if (b < 0x20 || b == '"') return false;
                if (countChars && _c.Length >= maxLength) return false;
                if (countChars) _c.Length++;
                if (b == '\\') { _c.Sub = Sub.Escape; return true; }
                if (b < 0x80) return true;
                // A UTF-8 lead byte: how many continuation bytes follow, and the range of the first (RFC 3629 table).
                (int need, byte lo, byte hi) = b switch
                {
                    >= 0xC2 and <= 0xDF => (1, (byte)0x80, (byte)0xBF),
                    0xE0 => (2, (byte)0xA0, (byte)0xBF),
                    >= 0xE1 and <= 0xEC or 0xEE or 0xEF => (2, (byte)0x80, (byte)0xBF),
                    0xED => (2, (byte)0x80, (byte)0x9F),
                    0xF0 => (3, (byte)0x90, (byte)0xBF),
                    >= 0xF1 and <= 0xF3 => (3, (byte)0x80, (byte)0xBF),
                    0xF4 => (3, (byte)0x80, (byte)0x8F),
                    _ => (0, (byte)0, (byte)0),
                };
                if (need == 0) return false;
                _c.Sub = Sub.Utf8;
                _c.Pending = (byte)need;
                _c.Low = lo;
                _c.High = hi;
                return true;
            case Sub.Utf8:
                if (b < _c.Low || b > _c.High) return false;
                _c.Low = 0x80;
                _c.High = 0xBF;
                if (--_c.Pending == 0) _c.Sub = Sub.Normal;
                return true;
            case Sub.Escape:
                if (b == 'u') { _c.Sub = Sub.Hex; _c.Pending = 4; return true; }
                if (b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                {
                    _c.Sub = Sub.Normal;
                    return true;
                }
                return false;
            case Sub.Hex:
                if (!char.IsAsciiHexDigit((char)b)) return false;
                if (--_c.Pending == 0) _c.Sub = Sub.Normal;
                return true;
            default:
                return false;
        }
    }

    // ---- literals and enums --------------------------------------------------------------------------------------

    private static ReadOnlySpan<byte> Literal(int which) => which switch { 0 => "true"u8, 1 => "false"u8, _ => "null"u8 };

    private bool BeginLiteral(int which)
    {
        _c.Lex = Lex.Literal;
        _c.Candidates = (ulong)which;
        _c.Length = 1;
        return true;
    }

    private bool LiteralByte(byte b)
    {
        var literal = Literal((int)_c.Candidates);
        if (literal[_c.Length] != b) return false;
        if (++_c.Length == literal.Length) ValueDone();
        return true;
    }

    private Outcome EnumByte(byte b)
    {
        var values = _nodes[_c.ValueNode].Enum!;
        ulong next = 0;
        for (ulong c = _c.Candidates; c != 0; c &= c - 1)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(c);
            if (_c.Length < values[i].Length && values[i][_c.Length] == b) next |= 1UL << i;
        }
        if (next != 0)
        {
            _c.Candidates = next;
            _c.Length++;
            return Outcome.Accepted;
        }
        return EnumMatched() ? Outcome.Ended : Outcome.Rejected;
    }

    private readonly bool EnumMatched()
    {
        var values = _nodes[_c.ValueNode].Enum!;
        for (ulong c = _c.Candidates; c != 0; c &= c - 1)
            if (values[System.Numerics.BitOperations.TrailingZeroCount(c)].Length == _c.Length) return true;
        return false;
    }

    // ---- numbers -------------------------------------------------------------------------------------------------

    private Outcome NumberByte(byte b)
    {
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        switch (_c.Sub)
        {
            case Sub.NumStart:
                if (b == '-') { _c.Negative = true; _c.Sub = Sub.NumMinus; return RangeFeasible() ? Outcome.Accepted : Outcome.Rejected; }
                return IntegerDigit(b);
            case Sub.NumMinus:
                return digit ? IntegerDigit(b) : Outcome.Rejected;
            case Sub.NumZero or Sub.NumInt:
                if (digit) return _c.Sub == Sub.NumInt ? IntegerDigit(b) : Outcome.Rejected;
                if (!_c.IntegerOnly && b == '.') { _c.Sub = Sub.NumDot; return Outcome.Accepted; }
                if (!_c.IntegerOnly && b is (byte)'e' or (byte)'E') { _c.Sub = Sub.NumExp; return Outcome.Accepted; }
                return Outcome.Ended;
            case Sub.NumDot:
                if (!digit) return Outcome.Rejected;
                _c.Sub = Sub.NumFrac;
                return Outcome.Accepted;
            case Sub.NumFrac:
                if (digit) return Outcome.Accepted;
                if (b is (byte)'e' or (byte)'E') { _c.Sub = Sub.NumExp; return Outcome.Accepted; }
                return Outcome.Ended;
            case Sub.NumExp:
                if (b is (byte)'+' or (byte)'-') { _c.Sub = Sub.NumExpSign; return Outcome.Accepted; }
                if (!digit) return Outcome.Rejected;
                _c.Sub = Sub.NumExpDigits;
                return Outcome.Accepted;
            case Sub.NumExpSign:
                if (!digit) return Outcome.Rejected;
                _c.Sub = Sub.NumExpDigits;
                return Outcome.Accepted;
            case Sub.NumExpDigits:
                return digit ? Outcome.Accepted : Outcome.Ended;
            default:
                return Outcome.Rejected;
        }
    }

    private Outcome IntegerDigit(byte b)
    {
        if (b is < (byte)'0' or > (byte)'9') return Outcome.Rejected;
        _c.Sub = b == '0' && _c.Length == 0 ? Sub.NumZero : Sub.NumInt;
        if (_nodes[_c.ValueNode].HasRange)
        {
            if (_c.Length >= 18) return Outcome.Rejected;
            _c.Magnitude = _c.Magnitude * 10 + (b - '0');
        }
        _c.Length++;
        return RangeFeasible() ? Outcome.Accepted : Outcome.Rejected;
    }

    /// <summary>Whether some integer written with the digits so far (and possibly more) lies in the schema's range.</summary>
    private readonly bool RangeFeasible()
    {
        var node = _nodes[_c.ValueNode];
        if (!node.HasRange) return true;
        long min = node.Minimum, max = node.Maximum;
        if (_c.Length == 0) return _c.Negative ? min <= 0 : true; // "-" can still become any value ≤ 0
        if (_c.Sub == Sub.NumZero) return min <= 0 && max >= 0;
        // The completions of prefix p are p, then [p·10, p·10+9], [p·100, p·100+99], … up to 18 digits.
        long lo = _c.Magnitude, span = 1;
        for (int digits = _c.Length; digits <= 18; digits++)
        {
            long hi = lo + span - 1;
            long a = _c.Negative ? -hi : lo, z = _c.Negative ? -lo : hi;
            if (a <= max && z >= min) return true;
            if (digits == 18) break;
            lo *= 10;
            span *= 10;
        }
        return false;
    }

    private readonly bool NumberCanEnd()
    {
        if (_c.Sub is not (Sub.NumZero or Sub.NumInt or Sub.NumFrac or Sub.NumExpDigits)) return false;
        var node = _nodes[_c.ValueNode];
        if (!node.HasRange) return true;
        long value = _c.Negative ? -_c.Magnitude : _c.Magnitude;
        return value >= node.Minimum && value <= node.Maximum;
    }

    // ---- state ---------------------------------------------------------------------------------------------------

    private enum Lex : byte { Structural, String, Number, Literal, Enum }

    private enum Sub : byte { Normal, Escape, Hex, Utf8, NumStart, NumMinus, NumZero, NumInt, NumDot, NumFrac, NumExp, NumExpSign, NumExpDigits }

    private enum Outcome : byte { Rejected, Accepted, Ended }

    private enum Phase : byte { RootValue, RootDone, ArrValueOrEnd, ArrValue, ArrCommaOrEnd, ObjKeyOrEnd, ObjKey, ObjColon, ObjValue, ObjCommaOrEnd }

    /// <summary>An open container (or the document root).</summary>
    private struct Frame
    {
        public ulong Seen;      // object: properties written so far
        public ushort Node;     // schema node of the container
        public ushort Count;    // array: items so far (saturating)
        public Phase Phase;
        public byte Pending;    // object: the property whose value comes next (NoProperty: an additional one)
    }

    /// <summary>The scalar part of the state: what the innermost value is doing.</summary>
    private struct Cursor
    {
        public ulong Candidates;  // key or enum: the names/values still matching; literal: which literal
        public long Magnitude;    // ranged integer: the digits so far
        public int Depth;         // frames in use (the root is one)
        public int Length;        // string: characters; key/enum: bytes; literal: bytes; number: integer digits
        public ushort ValueNode;
        public Lex Lex;
        public Sub Sub;
        public byte Whitespace;
        public byte Pending;      // UTF-8 continuation bytes or hex digits still to come
        public byte Low, High;    // allowed range of the next UTF-8 continuation byte
        public bool IsKey, IntegerOnly, Negative;
    }

    [InlineArray(MaxNesting + 1)]
    private struct FrameStack
    {
        private Frame _element;
    }
}
