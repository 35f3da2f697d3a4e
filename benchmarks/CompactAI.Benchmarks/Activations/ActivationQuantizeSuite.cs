using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using CompactAI.Benchmarks.Infrastructure;
using CompactAI.Tensors;

namespace CompactAI.Benchmarks.Activations;

/// <summary>
/// Quantizing activation rows into the 8-bit formats the integer kernels take (what <see cref="MatMul"/> does once per
/// matmul before the dot products): some rows of <see cref="Columns"/> floats, row by row as the driver
/// does. One subclass per activation type, named after it (<c>--filter '*Q8_K*'</c>).
/// </summary>
public abstract unsafe class ActivationQuantizeSuite : IWorkload
{
    private const int MaxRows = 128;

    private float[] _x = [];
    private byte* _out;
    private long _rowBytes;
    private TensorFormat _format = null!;

    /// <summary>The activation format.</summary>
    public abstract GgmlType ActivationType { get; }

    /// <summary>Floats per row: a small model's hidden size and a large FFN width.</summary>
    [Params(2048, 8192)]
    public int Columns { get; set; } = 2048;

    /// <summary>Allocates the input and output.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _format = TensorFormat.For(ActivationType);
        _rowBytes = _format.RowBytes(Columns);
        _out = (byte*)NativeMemory.AlignedAlloc((nuint)(_rowBytes * MaxRows), 64);
        var rng = new Random(11);
        _x = new float[MaxRows * Columns];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)(rng.NextDouble() * 2 - 1);
        Console.WriteLine($"// {ActivationType}: {_format.GetType().Name}");
    }

    /// <summary>Frees the output.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_out);
        _out = null;
    }

    /// <summary>Quantizes <paramref name="rows"/> rows (1: a decode step; 128: a prompt batch).</summary>
    [Benchmark]
    [Arguments(1)]
    [Arguments(128)]
    public void Quantize(int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            _format.Quantize(_x.AsSpan(r * Columns, Columns), new Span<byte>(_out + r * _rowBytes, (int)_rowBytes));
        }
    }

    /// <inheritdoc />
    public Workload Describe(string method, IReadOnlyDictionary<string, object?> parameters) =>
        new(4.0 * Workloads.Int(parameters, nameof(Columns), Columns) * Workloads.Int(parameters, "rows", 1), 0);
}

/// <summary>Q8_0 activations (for Q4_0, Q5_0 and Q8_0 weights).</summary>
public class Q8_0 : ActivationQuantizeSuite { public override GgmlType ActivationType => GgmlType.Q8_0; }

/// <summary>Q8_1 activations (for Q4_1 and Q5_1 weights).</summary>
public class Q8_1 : ActivationQuantizeSuite { public override GgmlType ActivationType => GgmlType.Q8_1; }

/// <summary>Q8_K activations (for the K-quants).</summary>
public class Q8_K : ActivationQuantizeSuite { public override GgmlType ActivationType => GgmlType.Q8_K; }
