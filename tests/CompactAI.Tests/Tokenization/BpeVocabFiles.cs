using CompactAI.Gguf;

namespace CompactAI.Tests.Tokenization;

/// <summary>
/// Writes vocabulary-only GGUFs for the BPE pre-tokenizer goldens: the GPT-2 vocabulary of
/// <c>ggml-vocab-gpt-2.gguf</c> (every metadata key copied) with <c>tokenizer.ggml.pre</c> set to a given value, or
/// removed. The same files are fed to llama.cpp by <c>Goldens/reference/make-bpe-goldens.mjs</c> (see Goldens/README-bpe.md).
/// </summary>
public static class BpeVocabFiles
{
    /// <summary>The key llama.cpp reads the pre-tokenizer name from.</summary>
    public const string PreKey = "tokenizer.ggml.pre";

    /// <summary>Name used in the goldens for a vocabulary without <see cref="PreKey"/>.</summary>
    public const string MissingPre = "(missing)";

    /// <summary>
    /// Where the test writes the files: <c>$COMPACTAI_BPE_VOCAB_DIR</c> when set (the files are kept, to regenerate the
    /// goldens from), otherwise a fresh temporary directory.
    /// </summary>
    public static string CreateDirectory()
    {
        string? dir = Environment.GetEnvironmentVariable("COMPACTAI_BPE_VOCAB_DIR");
        if (string.IsNullOrEmpty(dir))
            dir = Path.Combine(Path.GetTempPath(), "compactai-bpe-vocabs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Suffix of the vocabulary names (in the goldens) of the <see cref="Write"/> files made with <c>extended: true</c>.</summary>
    public const string ExtendedSuffix = "+extended";

    /// <summary>
    /// The tokens (text, <c>token_type</c>) appended to the GPT-2 vocabulary by <c>extended: true</c>: normal tokens that
    /// no merge sequence reaches (llama.cpp's <c>ignore_merges</c> then decides), a user-defined token (split off even
    /// without parse_special) and two control tokens (<c>&lt;|im_end|&gt;</c> ends generation by its text).
    /// </summary>
    public static readonly (string Text, int Type)[] ExtraTokens =
    [
        ("HelloWorld", 1), ("\u0120camelCase", 1), ("\u0120XMLHttpRequest", 1), ("\u00d0\u0141\u00d1\u0122\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u0124", 1),
        ("<tool_call>", 4), ("<|im_start|>", 3), ("<|im_end|>", 3),
    ];

    /// <summary>Writes <c>gpt-2-pre-&lt;pre&gt;[-extended].gguf</c> into <paramref name="directory"/> and returns its path.</summary>
    /// <param name="directory">Target directory.</param>
    /// <param name="pre">The <c>tokenizer.ggml.pre</c> value, or <see cref="MissingPre"/> to leave the key out.</param>
    /// <param name="extended">Append <see cref="ExtraTokens"/> and name the vocabulary <c>gpt-2-extended</c> (<c>general.name</c>).</param>
    public static string Write(string directory, string pre, bool extended = false)
    {
        string path = Path.Combine(directory, $"gpt-2-pre-{(pre == MissingPre ? "missing" : pre)}{(extended ? "-extended" : "")}.gguf");
        var writer = new GgufWriter();
        using (var source = GgufFile.Open(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf")))
        {
            foreach (var (key, value) in source.Metadata)
            {
                switch (key)
                {
                    case GgufFile.AlignmentKey:
                        continue;
                    case PreKey:
                        if (pre != MissingPre) writer.Add(PreKey, pre);
                        continue;
                    case "general.name" when extended:
                        writer.Add(key, "gpt-2-extended");
                        continue;
                    case "tokenizer.ggml.tokens" when extended:
                        writer.Add(key, [.. source.Metadata.GetArray<string>(key), .. ExtraTokens.Select(t => t.Text)]);
                        continue;
                    case "tokenizer.ggml.token_type" when extended:
                        writer.Add(key, [.. source.Metadata.GetArray<int>(key), .. ExtraTokens.Select(t => t.Type)]);
                        continue;
                    default:
                        writer.Add(key, value);
                        continue;
                }
            }
        }
        writer.WriteTo(path);
        return path;
    }
}
