using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace CompactAI.Benchmarks.Infrastructure;

/// <summary>
/// Managed versus native kernels. The engine takes native kernels when its native library is present and loads, unless the
/// environment variable <c>COMPACTAI_NATIVE=0</c> is set (the default of <c>CompactModelOptions.CpuKernels</c> and of the format
/// set the kernel suites take, read once per process). BenchmarkDotNet runs each
/// case in a child process that inherits this process's environment, so setting the variable here selects the kernels
/// without this project referencing the native code: it builds and runs whether or not the engine has native kernels. The
/// library is probed by reflection, for the banner and to refuse a native run that would silently use managed kernels.
/// </summary>
internal static class KernelChoice
{
    public const string EnvironmentVariable = "COMPACTAI_NATIVE";

    /// <summary>What the engine would use with the current environment, in words, and whether native kernels load.</summary>
    /// <remarks>Probe before changing the variable: the engine reads it once per process.</remarks>
    public static (bool NativeUsable, string Description) Probe()
    {
        var result = ProbeCore();
        s_defaultIsNative = result.NativeUsable;
        return result;
    }

    private static bool s_defaultIsNative;

    private static (bool NativeUsable, string Description) ProbeCore()
    {
        var type = typeof(CompactAI.Tensors.MatMul).Assembly.GetType("CompactAI.Tensors.Native.NativeKernels");
        if (type is null) return (false, "managed (this engine build has no native kernels)");
        const BindingFlags flags = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        object? Get(string name) => type.GetProperty(name, flags)?.GetValue(null);
        try
        {
            bool available = Get("IsAccelerated") as bool? ?? Get("IsAvailable") as bool? ?? false;
            if (available)
            {
                string features = Get("Features") as string ?? "";
                return (true, $"native ({Get("LibraryPath") ?? "library"}{(features.Length > 0 ? ", " + features : "")})");
            }
            return (false, $"managed (native kernels unavailable: {Get("LoadError") ?? "not accelerated on this CPU"})");
        }
        catch (TargetInvocationException e)
        {
            return (false, $"managed (native probe failed: {e.InnerException?.Message ?? e.Message})");
        }
    }

    /// <summary>The kernels the child processes are told to use, by the current value of the variable (unset: what <see cref="Probe"/> found).</summary>
    public static string Current => Environment.GetEnvironmentVariable(EnvironmentVariable) switch
    {
        "0" => "managed",
        null or "" => s_defaultIsNative ? "native (default)" : "managed (default)",
        _ => "native",
    };
}

/// <summary>A summary column naming the kernels of the run (<c>managed</c>, <c>native</c>, or the engine's own choice marked <c>(default)</c>).</summary>
public sealed class KernelsColumn : IColumn
{
    /// <summary>The column.</summary>
    public static readonly KernelsColumn Instance = new();

    private KernelsColumn() { }

    /// <inheritdoc />
    public string Id => "CompactAI.Kernels";

    /// <inheritdoc />
    public string ColumnName => "Kernels";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Job;

    /// <inheritdoc />
    public int PriorityInCategory => -1;

    /// <inheritdoc />
    public bool IsNumeric => false;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => $"Kernels the benchmark processes ran: {KernelChoice.EnvironmentVariable}=0 managed, =1 native; unset: the engine's choice, marked (default)";

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => KernelChoice.Current;

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => KernelChoice.Current;

    /// <inheritdoc />
    public override string ToString() => ColumnName;
}
