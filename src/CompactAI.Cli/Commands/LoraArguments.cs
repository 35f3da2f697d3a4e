using System.CommandLine;
using System.Globalization;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>--lora PATH[:SCALE][,PATH[:SCALE]…]</c> for the commands that generate: LoRA adapters applied at run time, in order,
/// each at its scale (default 1). A model with adapters runs on the CPU unless <c>--backend</c> says otherwise.
/// </summary>
internal static class LoraArguments
{
    /// <summary>The <c>--lora</c> option (generate, chat, bench).</summary>
    public static readonly Option<string?> Lora = CliOption.Text("--lora",
        "LoRA adapters applied at run time, in order, each at its scale (default 1); runs on the CPU unless --backend says otherwise.", "PATH[:SCALE][,…]");

    /// <summary>The adapter files and scales of <c>--lora</c> (empty when absent).</summary>
    public static IReadOnlyList<(string Path, float Scale)> Read(ParseResult p)
    {
        string? value = p.GetValue(Lora);
        if (value is null) return [];
        var result = new List<(string, float)>();
        foreach (string item in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            result.Add(Parse(item));
        if (result.Count == 0) throw new UsageException("option --lora needs PATH[:SCALE]");
        return result;
    }

    /// <summary>PATH or PATH:SCALE; a colon not followed by a number belongs to the path.</summary>
    public static (string Path, float Scale) Parse(string item)
    {
        int colon = item.LastIndexOf(':');
        if (colon > 0 && float.TryParse(item.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float scale))
        {
            if (!float.IsFinite(scale)) throw new UsageException($"option --lora: scale '{item[(colon + 1)..]}' is not a finite number");
            return (item[..colon], scale);
        }
        return (item, 1f);
    }

    /// <summary>Load options with the CPU chosen when adapters are asked for and the backend was left on auto.</summary>
    public static CompactModelOptions PreferCpu(IReadOnlyList<(string Path, float Scale)> adapters, CompactModelOptions options) =>
        adapters.Count > 0 && options.Backend == ComputeBackend.Auto ? options with { Backend = ComputeBackend.Cpu } : options;

    /// <summary>Loads the adapters for <paramref name="model"/>.</summary>
    public static ScaledLoraAdapter[] Load(CompactModel model, IReadOnlyList<(string Path, float Scale)> adapters) =>
        adapters.Select(x => model.LoadAdapter(x.Path).WithScale(x.Scale)).ToArray();
}
