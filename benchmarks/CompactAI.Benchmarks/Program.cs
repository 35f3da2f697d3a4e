using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using CompactAI.Benchmarks.Infrastructure;

namespace CompactAI.Benchmarks;

/// <summary>
/// Entry point: BenchmarkDotNet's switcher (so <c>--filter</c>, <c>--list</c>, <c>--job</c>, exporters… all work) plus one
/// option of ours, <c>--kernels default|managed|native|both</c>: which kernels the benchmark processes run
/// (<see cref="KernelChoice"/>). <c>both</c> runs the selection twice, managed then native, each with its own summary.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected by <paramref name="args"/>.</summary>
    public static int Main(string[] args)
    {
        string kernels = "default";
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--kernels")
            {
                if (i + 1 >= args.Length) return Usage("--kernels needs a value: default, managed, native or both");
                kernels = args[++i].ToLowerInvariant();
            }
            else if (args[i].StartsWith("--kernels=", StringComparison.Ordinal))
            {
                kernels = args[i]["--kernels=".Length..].ToLowerInvariant();
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        var (nativeUsable, description) = KernelChoice.Probe();
        Console.WriteLine($"// CompactAI kernels with the current environment: {description}");
        string?[] passes = kernels switch
        {
            "default" => [null],
            "managed" => ["0"],
            "native" => ["1"],
            "both" => ["0", "1"],
            _ => [],
        };
        if (passes.Length == 0) return Usage($"unknown --kernels value '{kernels}': use default, managed, native or both");
        if (passes.Contains("1") && !nativeUsable)
        {
            if (kernels == "native") return Usage($"--kernels native: {description}");
            Console.WriteLine("// --kernels both: native kernels are not usable here, so only the managed pass runs.");
            passes = ["0"];
        }

        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddColumn(KernelsColumn.Instance, ThroughputColumn.GigabytesPerSecond, ThroughputColumn.GigaflopsPerSecond);
        var summaries = new List<Summary>();
        foreach (var pass in passes)
        {
            if (pass is not null)
            {
                Environment.SetEnvironmentVariable(KernelChoice.EnvironmentVariable, pass);
                Console.WriteLine($"// Pass with {KernelChoice.EnvironmentVariable}={pass} ({KernelChoice.Current} kernels)");
            }
            summaries.AddRange(BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest.ToArray(), config));
        }
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"CompactAI.Benchmarks: {message}");
        return 2;
    }
}
