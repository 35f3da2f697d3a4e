namespace CompactAI.Samples;

/// <summary>Finds the model a sample runs: <c>--model PATH</c>, else <c>shared/models/stories260K.gguf</c> beside the repository.</summary>
internal static class SampleModel
{
    public const string DefaultRelativePath = "../shared/models/stories260K.gguf";

    /// <summary>The value after <paramref name="name"/> in <paramref name="args"/>, or null.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// The model path from <paramref name="option"/> (default <c>--model</c>), or <c>shared/models/<paramref name="defaultFile"/></c>
    /// (default the 260K TinyStories model) searched from here and from the binaries upwards.
    /// </summary>
    public static string Resolve(string[] args, string defaultFile = "stories260K.gguf", string option = "--model")
    {
        if (Option(args, option) is { } explicitPath) return explicitPath;
        string relative = "../shared/models/" + defaultFile;
        if (File.Exists(relative)) return Path.GetFullPath(relative);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "models", defaultFile);
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException($"No model given and '{relative}' was not found; pass {option} PATH.");
    }
}
