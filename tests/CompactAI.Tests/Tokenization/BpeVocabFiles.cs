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

    /// <summary>Writes <c>gpt-2-pre-&lt;pre&gt;.gguf</c> into <paramref name="directory"/> and returns its path.</summary>
    /// <param name="directory">Target directory.</param>
    /// <param name="pre">The <c>tokenizer.ggml.pre</c> value, or <see cref="MissingPre"/> to leave the key out.</param>
    public static string Write(string directory, string pre)
    {
        string path = Path.Combine(directory, $"gpt-2-pre-{(pre == MissingPre ? "missing" : pre)}.gguf");
        var writer = new GgufWriter();
        using (var source = GgufFile.Open(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf")))
        {
            foreach (var (key, value) in source.Metadata)
            {
                if (key == GgufFile.AlignmentKey) continue;
                if (key == PreKey)
                {
                    if (pre != MissingPre) writer.Add(PreKey, pre);
                    continue;
                }
                writer.Add(key, value);
            }
        }
        writer.WriteTo(path);
        return path;
    }
}
