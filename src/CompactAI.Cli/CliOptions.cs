using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using CompactAI.Sampling;

namespace CompactAI.Cli;

/// <summary>Thrown for bad command-line arguments found after parsing; Program prints the message and exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Typed options whose parse errors name the option, the value and what is allowed (<c>option --top-k must be an integer in
/// [0, 2147483647], not 'many'</c>); Program prints the first error as one line and exits with code 2.
/// </summary>
internal static class CliOption
{
    /// <summary>An integer option in [min, max]; null when not given.</summary>
    public static Option<int?> Int(string name, string description, int min = int.MinValue, int max = int.MaxValue, string helpName = "N") =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => Single<int>(r, name, s =>
                int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v : (int?)null,
                $"an integer in [{min}, {max}]"),
        };

    /// <summary>A number option in [min, max]; null when not given.</summary>
    public static Option<float?> Float(string name, string description, float min, float max, string helpName = "X") =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => Single<float>(r, name, s =>
                float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && v >= min && v <= max ? v : (float?)null,
                $"a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]"),
        };

    /// <summary>A non-negative 64-bit integer option; null when not given.</summary>
    public static Option<ulong?> ULong(string name, string description, string helpName = "N") =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => Single<ulong>(r, name, s =>
                ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v) ? v : (ulong?)null,
                "a non-negative integer"),
        };

    /// <summary>One of <paramref name="values"/> (case-insensitive), mapped to <typeparamref name="T"/>; completion offers the values.</summary>
    public static Option<T?> Choice<T>(string name, string description, IReadOnlyDictionary<string, T> values) where T : struct
    {
        var option = new Option<T?>(name)
        {
            Description = description,
            HelpName = string.Join("|", values.Keys),
            CustomParser = r => Single<T>(r, name, s => values.TryGetValue(s.ToLowerInvariant(), out var v) ? v : (T?)null,
                Alternatives(values.Keys)),
        };
        option.CompletionSources.Clear();
        option.CompletionSources.Add(values.Keys.ToArray());
        return option;
    }

    /// <summary>A text option; null when not given.</summary>
    public static Option<string?> Text(string name, string description, string helpName, bool required = false) =>
        new(name) { Description = description, HelpName = helpName, Required = required };

    /// <summary>A switch (<c>--json</c>): true when given.</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>"cpu, cuda or auto".</summary>
    public static string Alternatives(IEnumerable<string> values)
    {
        var list = values.ToList();
        return list.Count == 1 ? list[0] : $"{string.Join(", ", list[..^1])} or {list[^1]}";
    }

    private static T? Single<T>(ArgumentResult r, string name, Func<string, T?> parse, string allowed) where T : struct
    {
        if (r.Tokens.Count != 1)
        {
            r.AddError($"option {name} needs one value");
            return null;
        }
        string s = r.Tokens[0].Value;
        var value = parse(s);
        if (value is null) r.AddError($"option {name} must be {allowed}, not '{s}'");
        return value;
    }
}

/// <summary>
/// The options of every command that loads a model (generate, chat, bench, confidence, calibrate), declared once:
/// <c>--model</c>, <c>--threads</c>, <c>--ctx</c>, <c>--backend</c>, <c>--gpu-layers</c>, <c>--device</c>, <c>--kernels</c>.
/// A new load option goes into <see cref="All"/> and <see cref="Read"/>, and every model command has it.
/// </summary>
internal static class ModelOptions
{
    public static readonly Option<string?> Model = CliOption.Text("--model", "The GGUF model file.", "PATH", required: true);

    public static readonly Option<int?> Threads = CliOption.Int("--threads", "CPU threads (default: one per core).", 1, 1024);

    public static readonly Option<int?> Context = CliOption.Int("--ctx", "Context size in tokens (default: the model's, capped).", 1);

    public static readonly Option<ComputeBackend?> Backend = CliOption.Choice("--backend", "Where the layers run (default auto).",
        new Dictionary<string, ComputeBackend> { ["cpu"] = ComputeBackend.Cpu, ["cuda"] = ComputeBackend.Cuda, ["auto"] = ComputeBackend.Auto });

    public static readonly Option<int?> GpuLayers = CliOption.Int("--gpu-layers", "Blocks on the device (default: all).", 0, 100_000);

    public static readonly Option<int?> Device = CliOption.Int("--device", "CUDA device index (default 0).", 0, 1024);

    public static readonly Option<CpuKernels?> Kernels = CliOption.Choice("--kernels", "The CPU kernels (default auto; managed when COMPACTAI_NATIVE=0 is set).",
        new Dictionary<string, CpuKernels> { ["auto"] = CpuKernels.Auto, ["managed"] = CpuKernels.Managed, ["native"] = CpuKernels.Native });

    /// <summary>Every option of the group, in help order.</summary>
    public static IReadOnlyList<Option> All { get; } = [Model, Threads, Context, Backend, GpuLayers, Device, Kernels];

    /// <summary>Adds the group to a command.</summary>
    public static Command AddTo(Command command)
    {
        foreach (var o in All) command.Add(o);
        return command;
    }

    /// <summary>The model path.</summary>
    public static string PathOf(ParseResult p) => p.GetRequiredValue(Model)!;

    /// <summary>The load options given, over the command's own <paramref name="baseline"/> (its context size, batch size...).</summary>
    public static CompactModelOptions Read(ParseResult p, CompactModelOptions baseline) => baseline with
    {
        Threads = p.GetValue(Threads) ?? baseline.Threads,
        ContextSize = p.GetValue(Context) ?? baseline.ContextSize,
        Backend = p.GetValue(Backend) ?? baseline.Backend,
        GpuLayers = p.GetValue(GpuLayers) ?? baseline.GpuLayers,
        DeviceIndex = p.GetValue(Device) ?? baseline.DeviceIndex,
        CpuKernels = p.GetValue(Kernels) ?? baseline.CpuKernels,
    };
}

/// <summary>
/// The sampling options of the commands that sample (generate, chat), declared once; defaults are <see cref="SamplingOptions"/>'s.
/// </summary>
internal static class SamplingArguments
{
    private static readonly SamplingOptions s_defaults = new();

    public static readonly Option<float?> Temperature = Alias(CliOption.Float("--temperature",
        $"Sampling temperature; 0 is greedy (default {s_defaults.Temperature}).", 0, 100, "T"), "--temp");

    public static readonly Option<int?> TopK = CliOption.Int("--top-k", $"Keep the K most likely tokens; 0 keeps all (default {s_defaults.TopK}).", 0, helpName: "K");

    public static readonly Option<float?> TopP = CliOption.Float("--top-p", $"Nucleus sampling mass (default {s_defaults.TopP}).", 0, 1, "P");

    public static readonly Option<float?> MinP = CliOption.Float("--min-p", $"Drop tokens below P × the top probability (default {s_defaults.MinP}).", 0, 1, "P");

    public static readonly Option<float?> RepeatPenalty = CliOption.Float("--repeat-penalty", $"Penalty on recent tokens (default {s_defaults.RepeatPenalty}).", 0.01f, 100, "R");

    public static readonly Option<float?> FrequencyPenalty = CliOption.Float("--frequency-penalty", "Penalty per occurrence of a recent token (default 0).", -2, 2, "F");

    public static readonly Option<float?> PresencePenalty = CliOption.Float("--presence-penalty", "Penalty on any recent token (default 0).", -2, 2, "F");

    public static readonly Option<ulong?> Seed = CliOption.ULong("--seed", "Random seed (default: random).", "S");

    /// <summary>Every option of the group, in help order.</summary>
    public static IReadOnlyList<Option> All { get; } = [Temperature, TopK, TopP, MinP, RepeatPenalty, FrequencyPenalty, PresencePenalty, Seed];

    /// <summary>Adds the group to a command.</summary>
    public static Command AddTo(Command command)
    {
        foreach (var o in All) command.Add(o);
        return command;
    }

    /// <summary>The sampling options given, the defaults for the rest.</summary>
    public static SamplingOptions Read(ParseResult p) => new()
    {
        Temperature = p.GetValue(Temperature) ?? s_defaults.Temperature,
        TopK = p.GetValue(TopK) ?? s_defaults.TopK,
        TopP = p.GetValue(TopP) ?? s_defaults.TopP,
        MinP = p.GetValue(MinP) ?? s_defaults.MinP,
        RepeatPenalty = p.GetValue(RepeatPenalty) ?? s_defaults.RepeatPenalty,
        FrequencyPenalty = p.GetValue(FrequencyPenalty) ?? s_defaults.FrequencyPenalty,
        PresencePenalty = p.GetValue(PresencePenalty) ?? s_defaults.PresencePenalty,
        Seed = p.GetValue(Seed),
    };

    private static Option<T> Alias<T>(Option<T> option, string alias)
    {
        option.Aliases.Add(alias);
        return option;
    }
}

/// <summary>Options more than one command has.</summary>
internal static class CommonOptions
{
    public static readonly Option<bool> Json = CliOption.Flag("--json", "Print a machine-readable JSON line last (no progress bar).");
}
