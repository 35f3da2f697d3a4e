namespace CompactAI.Tokenization;

/// <summary>Encodes one piece of plain text (no special tokens in it) for <see cref="TokenTable.Encode{TPlain}"/>.</summary>
internal interface IPlainTextEncoder
{
    /// <summary>
    /// Appends the ids of <paramref name="text"/>; <paramref name="atStartOrAfterSpecial"/> tells whether the piece starts the
    /// text or directly follows a special token.
    /// </summary>
    void Encode(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output);
}

/// <summary>
/// The vocabulary every tokenizer model keeps — token texts and types, the text → id map, the end-of-generation marks, the
/// bytes each token renders as, the special-token splitter — with the id checks, rendering rules and encode skeleton
/// (BOS, special-token split, EOS) they share. The models add how plain text becomes tokens.
/// </summary>
internal sealed class TokenTable
{
    private readonly string[] _texts;
    private readonly TokenType[] _types;
    private readonly bool[] _endOfGeneration;
    private readonly byte[] _pieceBytes;
    private readonly int[] _pieceOffsets;
    private readonly SpecialTokenSplitter _splitter;

    /// <param name="texts">Token texts.</param>
    /// <param name="types">Token types; well-known end-of-turn tokens are made control tokens in place.</param>
    /// <param name="endOfGenerationIds">EOS, EOT, EOM (-1: none).</param>
    /// <param name="buildPieces">The bytes each token renders as, packed: token i is <c>bytes[offsets[i]..offsets[i + 1]]</c>.</param>
    public TokenTable(string[] texts, TokenType[] types, ReadOnlySpan<int> endOfGenerationIds,
        Func<string[], TokenType[], (byte[] Bytes, int[] Offsets)> buildPieces)
    {
        _texts = texts;
        _types = types;
        Ids = VocabularyReader.BuildIds(texts);
        Lookup = Ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _endOfGeneration = VocabularyReader.MarkEndOfGeneration(Ids, types, endOfGenerationIds);
        (_pieceBytes, _pieceOffsets) = buildPieces(texts, types);
        _splitter = new SpecialTokenSplitter(texts, types);
    }

    /// <summary>Number of tokens.</summary>
    public int Count => _texts.Length;

    /// <summary>Text → id (later duplicates win).</summary>
    public Dictionary<string, int> Ids { get; }

    /// <summary><see cref="Ids"/> looked up by span.</summary>
    public Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }

    /// <summary>Returns <paramref name="id"/> if it is a token id.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id.</exception>
    public int CheckId(int id)
    {
        if ((uint)id >= (uint)_texts.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids are 0 to {_texts.Length - 1}.");
        return id;
    }

    /// <summary>The type of token <paramref name="id"/>.</summary>
    public TokenType GetTokenType(int id) => _types[CheckId(id)];

    /// <summary>The stored text of token <paramref name="id"/>.</summary>
    public string GetTokenText(int id) => _texts[CheckId(id)];

    /// <summary>Whether <paramref name="id"/> is a token that ends generation (false for a non-id).</summary>
    public bool IsEndOfGeneration(int id) => (uint)id < (uint)_texts.Length && _endOfGeneration[id];

    /// <summary>
    /// Appends token <paramref name="id"/>'s bytes: normal, byte and user-defined tokens always, control and unknown tokens
    /// with <paramref name="renderSpecial"/>, unused and undefined ones never.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id.</exception>
    public void AppendTokenBytes(int id, List<byte> destination, bool renderSpecial)
    {
        CheckId(id);
        bool render = _types[id] switch
        {
            TokenType.Normal or TokenType.Byte or TokenType.UserDefined => true,
            TokenType.Control or TokenType.Unknown => renderSpecial,
            _ => false,
        };
        if (render) destination.AddRange(_pieceBytes.AsSpan(_pieceOffsets[id], _pieceOffsets[id + 1] - _pieceOffsets[id]));
    }

    /// <summary>
    /// <paramref name="bos"/> (when ≥ 0), the tokens of <paramref name="text"/> (lone surrogates replaced; special-token texts
    /// split off as <see cref="SpecialTokenSplitter"/> does, the rest given to <paramref name="plain"/>), then
    /// <paramref name="eos"/> (when ≥ 0).
    /// </summary>
    public List<int> Encode<TPlain>(string text, bool parseSpecial, int bos, int eos, TPlain plain)
        where TPlain : struct, IPlainTextEncoder
    {
        var output = new List<int>(text.Length / 3 + 4);
        if (bos >= 0) output.Add(bos);
        if (text.Length > 0)
        {
            text = VocabularyReader.ReplaceLoneSurrogates(text);
            if (_splitter.IsNeeded(parseSpecial))
            {
                bool afterSpecial = true;
                foreach (var f in _splitter.Split(text, parseSpecial))
                {
                    if (f.Token >= 0)
                    {
                        output.Add(f.Token);
                        afterSpecial = true;
                    }
                    else
                    {
                        plain.Encode(text.AsSpan(f.Start, f.Length), afterSpecial, output);
                        afterSpecial = false;
                    }
                }
            }
            else
            {
                plain.Encode(text, true, output);
            }
        }
        if (eos >= 0) output.Add(eos);
        return output;
    }
}
