using BenchmarkDotNet.Running;

namespace CompactAI.Benchmarks.Infrastructure;

/// <summary>The work one benchmark invocation does: bytes it streams and floating-point operations it performs.</summary>
/// <param name="Bytes">Bytes of the measured data (weights for matmul, input floats for activation quantization).</param>
/// <param name="Flops">Floating-point (or equivalent integer multiply-add) operations; 0 when the figure means nothing.</param>
public readonly record struct Workload(double Bytes, double Flops);

/// <summary>
/// Implemented by benchmark classes whose cases have a known amount of work, so <see cref="ThroughputColumn"/> can turn the
/// measured mean time into GB/s and GFLOP/s. Called in the BenchmarkDotNet host on a fresh instance (no setup has run).
/// </summary>
public interface IWorkload
{
    /// <summary>The work of one invocation of <paramref name="method"/> with these parameter and argument values (by name).</summary>
    Workload Describe(string method, IReadOnlyDictionary<string, object?> parameters);
}

/// <summary>Looks up a case's <see cref="Workload"/>.</summary>
internal static class Workloads
{
    public static Workload? Of(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IWorkload).IsAssignableFrom(type) || type.IsAbstract) return null;
        var values = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in benchmarkCase.Parameters.Items) values[p.Name] = p.Value;
        var suite = (IWorkload)Activator.CreateInstance(type)!;
        return suite.Describe(benchmarkCase.Descriptor.WorkloadMethod.Name, values);
    }

    /// <summary>A parameter or argument value as an int.</summary>
    public static int Int(IReadOnlyDictionary<string, object?> parameters, string name, int fallback) =>
        parameters.TryGetValue(name, out var v) && v is not null ? Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
