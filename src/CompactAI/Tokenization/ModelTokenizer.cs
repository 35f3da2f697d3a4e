using CompactAI.Gguf;

namespace CompactAI.Tokenization;

/// <summary>The kind of a vocabulary entry (GGUF <c>tokenizer.ggml.token_type</c>).</summary>
public enum TokenType
{
    /// <summary>Not set.</summary>
    Undefined = 0,
    /// <summary>An ordinary piece of text.</summary>
    Normal = 1,
    /// <summary>The unknown token.</summary>
    Unknown = 2,
    /// <summary>A control token such as BOS or EOS; it has no text.</summary>
    Control = 3,
    /// <summary>A token added by the user or model author, matched verbatim.</summary>
    UserDefined = 4,
    /// <summary>An unused slot.</summary>
    Unused = 5,
    /// <summary>A byte-fallback token <c>&lt;0xNN&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>
/// A model's tokenizer, built from its GGUF vocabulary: text to token ids and back, including a streaming decoder
/// that never splits a UTF-8 character.
/// </summary>
/// <remarks>Instances are immutable and thread-safe.</remarks>
public abstract class ModelTokenizer
{
    /// <summary>Number of tokens in the vocabulary.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>Beginning-of-sequence token id, or -1.</summary>
    public int BosToken { get; protected init; } = -1;

    /// <summary>End-of-sequence token id, or -1.</summary>
    public int EosToken { get; protected init; } = -1;

    /// <summary>Whether <see cref="Encode"/> prepends <see cref="BosToken"/> when asked to add special tokens.</summary>
    public bool AddBos { get; protected init; }

    /// <summary>Whether <see cref="Encode"/> appends <see cref="EosToken"/> when asked to add special tokens.</summary>
    public bool AddEos { get; protected init; }

    /// <summary>The type of token <paramref name="id"/>.</summary>
    public abstract TokenType GetTokenType(int id);

    /// <summary>The vocabulary string of token <paramref name="id"/> as stored in the model (e.g. <c>▁there</c>, <c>&lt;0x0A&gt;</c>).</summary>
    public abstract string GetTokenText(int id);

    /// <summary>Token ids that end generation (EOS, EOT and the like).</summary>
    public abstract bool IsEndOfGeneration(int id);

    /// <summary>Converts text to token ids.</summary>
    /// <param name="text">The text.</param>
    /// <param name="addSpecial">Add BOS/EOS as the model's metadata says (<see cref="AddBos"/>, <see cref="AddEos"/>).</param>
    /// <param name="parseSpecial">Recognise control-token texts such as <c>&lt;|im_start|&gt;</c> inside <paramref name="text"/>.</param>
    public abstract IReadOnlyList<int> Encode(string text, bool addSpecial = true, bool parseSpecial = false);

    /// <summary>Appends the bytes token <paramref name="id"/> stands for (control tokens add nothing unless <paramref name="renderSpecial"/>).</summary>
    public abstract void AppendTokenBytes(int id, List<byte> destination, bool renderSpecial = false);

    /// <summary>Converts token ids back to text (invalid UTF-8 becomes U+FFFD).</summary>
    /// <param name="ids">The tokens.</param>
    /// <param name="renderSpecial">Write control tokens' texts instead of skipping them.</param>
    public virtual string Decode(IEnumerable<int> ids, bool renderSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids) AppendTokenBytes(id, bytes, renderSpecial);
        return System.Text.Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>
    /// This tokenizer as a <see cref="Microsoft.ML.Tokenizers.Tokenizer"/>, so .NET chunkers and token counters (Semantic
    /// Kernel's text chunker, Microsoft.Extensions.DataIngestion, your own) count and split with the model's own vocabulary:
    /// its ids are exactly <see cref="Encode"/>'s. Offsets of each token into the text are exact where a token's text is
    /// the input itself (SentencePiece, byte-level BPE); where the tokenizer normalises (WordPiece lowercases and strips
    /// accents) a token whose text is not found from the current position gets an empty range there.
    /// </summary>
    /// <param name="addSpecialTokens">Count and encode with the model's special tokens ([CLS]/[SEP], BOS), as <see cref="Encode"/>'s <c>addSpecial</c>.</param>
    /// <example><code>
    /// var tokenizer = model.Tokenizer.AsTokenizer();
    /// int count = tokenizer.CountTokens("How many tokens is this?");
    /// </code></example>
    public Microsoft.ML.Tokenizers.Tokenizer AsTokenizer(bool addSpecialTokens = false) => new MLTokenizerAdapter(this, addSpecialTokens);

    /// <summary>Creates a decoder that turns a stream of tokens into text pieces without splitting UTF-8 characters.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool renderSpecial = false) => new(this, renderSpecial);

    /// <summary>Builds the tokenizer a GGUF file describes (<c>tokenizer.ggml.*</c>).</summary>
    /// <exception cref="GgufFormatException">The tokenizer metadata is missing or inconsistent.</exception>
    /// <exception cref="NotSupportedException">The tokenizer model is not supported; the message names it.</exception>
    public static ModelTokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string model = file.Metadata.GetString("tokenizer.ggml.model");
        return model switch
        {
            "llama" => SentencePieceTokenizer.FromGguf(file),
            "gpt2" => BpeTokenizer.FromGguf(file),
            "bert" => WordPieceTokenizer.FromGguf(file),
            _ => throw new NotSupportedException($"Tokenizer model '{model}' (tokenizer.ggml.model) is not supported. Supported: llama (SentencePiece), gpt2 (byte-level BPE), bert (WordPiece)."),
        };
    }
}
