using System.Globalization;

namespace CompactAI.Cli;

/// <summary>Thrown for bad command-line arguments; Program prints the message and exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict parser for <c>--name value</c> options and <c>--flag</c> switches. Unknown options, missing values
/// and malformed numbers are usage errors that name the option.
/// </summary>
internal sealed class CliArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public CliArguments(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        foreach (var (name, value) in Tokenize(args, flags))
        {
            if (name is null) { Positionals.Add(value!); continue; }
            if (!_options.TryAdd(name, value)) throw new UsageException($"option --{name} was given twice");
        }
    }

    public List<string> Positionals { get; } = new();

    private static IEnumerable<(string? Name, string? Value)> Tokenize(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--") { yield return (null, a); continue; }
            string name = a[2..];
            int eq = name.IndexOf('=');
            if (eq >= 0) { yield return (name[..eq], name[(eq + 1)..]); continue; }
            if (flags.Contains(name)) { yield return (name, null); continue; }
            if (!e.MoveNext()) throw new UsageException($"option --{name} needs a value");
            yield return (name, e.Current);
        }
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        return _options.ContainsKey(name);
    }

    public string? String(string name)
    {
        _used.Add(name);
        return _options.GetValueOrDefault(name);
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"option --{name} is required");

    public int Int(string name, int defaultValue, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = String(name);
        if (s is null) return defaultValue;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new UsageException($"option --{name} must be an integer in [{min}, {max}], not '{s}'");
        return v;
    }

    public int? OptionalInt(string name, int min = int.MinValue, int max = int.MaxValue) =>
        String(name) is null ? null : Int(name, 0, min, max);

    public float Float(string name, float defaultValue, float min = float.MinValue, float max = float.MaxValue)
    {
        string? s = String(name);
        if (s is null) return defaultValue;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !(v >= min && v <= max))
            throw new UsageException($"option --{name} must be a number in [{min}, {max}], not '{s}'");
        return v;
    }

    public ulong? OptionalULong(string name)
    {
        string? s = String(name);
        if (s is null) return null;
        if (!ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v))
            throw new UsageException($"option --{name} must be a non-negative integer, not '{s}'");
        return v;
    }

    /// <summary>Fails on options the command did not read.</summary>
    public void RejectUnknown(string command)
    {
        foreach (var name in _options.Keys)
            if (!_used.Contains(name)) throw new UsageException($"unknown option --{name} for '{command}'");
    }
}
