using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace CompactAI.Benchmarks.Infrastructure;

/// <summary>
/// A custom summary column derived from the measured mean time and the case's <see cref="Workload"/>:
/// GB/s of the measured data, or GFLOP/s (2 per multiply-add). Shows "-" where the benchmark declares no such work.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    private readonly bool _flops;

    private ThroughputColumn(bool flops) => _flops = flops;

    /// <summary>GB/s (10⁹ bytes per second) of weights (matmul) or input floats (activation quantization).</summary>
    public static readonly ThroughputColumn GigabytesPerSecond = new(flops: false);

    /// <summary>GFLOP/s: 2·rows·columns·batch per matmul.</summary>
    public static readonly ThroughputColumn GigaflopsPerSecond = new(flops: true);

    /// <inheritdoc />
    public string Id => _flops ? "CompactAI.GFLOPs" : "CompactAI.GBs";

    /// <inheritdoc />
    public string ColumnName => _flops ? "GFLOP/s" : "GB/s";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => _flops ? 1 : 0;

    /// <inheritdoc />
    public bool IsNumeric => true;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => _flops
        ? "Giga floating-point operations per second: 2 x rows x columns x batch / mean time (integer multiply-adds of quantized kernels counted alike)"
        : "Gigabytes (1e9) per second of weights read (matmul: rows x row bytes in the tensor type) or of input floats (activation quantization) / mean time";

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (mean is not > 0) return "NA";
        var work = Workloads.Of(benchmarkCase);
        double amount = work is null ? 0 : _flops ? work.Value.Flops : work.Value.Bytes;
        if (amount <= 0) return "-";
        double giga = amount / (mean.Value * 1e-9) / 1e9;
        return giga.ToString(giga >= 100 ? "F0" : giga >= 10 ? "F1" : giga >= 1 ? "F2" : "F3", CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public override string ToString() => ColumnName;
}
