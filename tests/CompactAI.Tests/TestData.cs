namespace CompactAI.Tests;

/// <summary>
/// Locates the shared test data (models, tokenizer vectors) that lives beside the project root as <c>../shared</c>.
/// Set the environment variable <c>COMPACTAI_SHARED</c> to use another directory.
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> s_sharedDir = new(FindSharedDir);

    /// <summary>The shared data directory (the one holding <c>models/</c> and <c>tokenizer-vectors/</c>).</summary>
    public static string SharedDir => s_sharedDir.Value;

    /// <summary>The real 260K-parameter TinyStories Llama model (F32, 5 layers, dim 64, 512-token SentencePiece vocab).</summary>
    public static string Stories260K => Path.Combine(SharedDir, "models", "stories260K.gguf");

    /// <summary>A file in <c>tokenizer-vectors/</c>, e.g. <c>TokenizerVectors("ggml-vocab-gpt-2.gguf")</c>.</summary>
    public static string TokenizerVectors(string name) => Path.Combine(SharedDir, "tokenizer-vectors", name);

    private static string FindSharedDir()
    {
        var fromEnv = Environment.GetEnvironmentVariable("COMPACTAI_SHARED");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (!Directory.Exists(fromEnv)) throw new DirectoryNotFoundException($"COMPACTAI_SHARED='{fromEnv}' does not exist.");
            return Path.GetFullPath(fromEnv);
        }
        // Walk up from the test assembly (…/tests/CompactAI.Tests/bin/Debug/net10.0) to a directory holding shared/models.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "models"))) return candidate;
        }
        throw new DirectoryNotFoundException(
            $"No 'shared/models' directory above '{AppContext.BaseDirectory}'; set COMPACTAI_SHARED to the shared data directory.");
    }
}
