using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using CompactAI.Benchmarks.Infrastructure;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Benchmarks.Kernels;

/// <summary>
/// One weight type through the engine's matmul driver (<see cref="MatMul"/> on a <see cref="WorkerPool"/>), exactly as the
/// forward pass calls it: activations quantized to the type's activation format, then the per-row dot products.
/// <list type="bullet">
/// <item><see cref="MatVec"/>: batch 1 (one decode step), on 1 thread and on every core.</item>
/// <item><see cref="MatMat"/>: batch 32 and 128 (prompt processing), on every core.</item>
/// </list>
/// The shape is rows × columns (output × input features). One subclass per type, named after it, so
/// <c>--filter '*Q4_K*'</c> selects a type and <c>--filter '*MatVec*'</c> one operation across types.
/// </summary>
/// <remarks>
/// A matrix of these shapes (2–16 MB) fits in this class of machine's last-level cache, so repeated invocations read it
/// from cache: the figures are kernel throughput, an upper bound on what a memory-bound decode step gets. Weight values are
/// random (quantized by the engine's reference quantizer); the timing of these kernels does not depend on them.
/// </remarks>
public abstract unsafe class MatMulSuite : IWorkload
{
    private const int MaxBatch = 128;

    private byte* _weights;
    private WeightMatrix _matrix;
    private float[] _x = [];
    private float[] _y = [];
    private readonly Dictionary<int, (WorkerPool Pool, MatMul Driver)> _drivers = [];

    /// <summary>The weight tensor type this suite measures.</summary>
    public abstract GgmlType WeightType { get; }

    /// <summary>rows × columns of the weight matrix: a square hidden-size projection and a 4:1 FFN-like one.</summary>
    [Params("2048x2048", "4096x1024")]
    public string Shape { get; set; } = "2048x2048";

    /// <summary>1 thread and every core (deduplicated on a 1-core machine).</summary>
    public static IEnumerable<int> ThreadCounts() => new[] { 1, Environment.ProcessorCount }.Distinct();

    /// <summary>Batch 1 on each thread count.</summary>
    public static IEnumerable<object[]> VectorCases() => ThreadCounts().Select(t => new object[] { 1, t });

    /// <summary>Batches 32 and 128 on every core.</summary>
    public static IEnumerable<object[]> BatchCases() => [[32, Environment.ProcessorCount], [128, Environment.ProcessorCount]];

    /// <summary>Allocates and fills the weights, activations and one driver per thread count.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var (rows, columns) = ParseShape(Shape);
        var format = TensorFormat.For(WeightType);
        long rowBytes = format.RowBytes(columns);
        _weights = (byte*)NativeMemory.AlignedAlloc((nuint)(rowBytes * rows), 64);
        FillWeights(format, _weights, rows, columns, rowBytes);
        _matrix = Layout(new WeightMatrix(_weights, rows, columns, format));

        var rng = new Random(7);
        _x = new float[MaxBatch * columns];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _y = new float[MaxBatch * rows];
        foreach (int t in ThreadCounts())
        {
            var pool = new WorkerPool(t);
            _drivers[t] = (pool, new MatMul(pool));
        }
        Console.WriteLine($"// {WeightType} {rows}x{columns}: {_matrix.Format.GetType().Name}, activations {format.ActivationType}");
    }

    /// <summary>The matrix as the engine stores it for this suite: as mapped from the file unless a subclass repacks it.</summary>
    private protected virtual WeightMatrix Layout(WeightMatrix mapped) => mapped;

    /// <summary>Memory a subclass's <see cref="Layout"/> allocated, freed at cleanup.</summary>
    protected byte* LayoutCopy { get; set; }

    /// <summary>Frees the weights and stops the pools.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var (pool, _) in _drivers.Values) pool.Dispose();
        _drivers.Clear();
        NativeMemory.AlignedFree(_weights);
        _weights = null;
        if (LayoutCopy != null) NativeMemory.AlignedFree(LayoutCopy);
        LayoutCopy = null;
    }

    /// <summary>y = W·x for one activation row (a decode step's projection); <paramref name="batch"/> is always 1.</summary>
    [Benchmark]
    [ArgumentsSource(nameof(VectorCases))]
    public void MatVec(int batch, int threads) => _drivers[threads].Driver.Compute(_matrix, _x, batch, _y);

    /// <summary>Y = X·Wᵀ for <paramref name="batch"/> activation rows (prompt processing).</summary>
    [Benchmark]
    [ArgumentsSource(nameof(BatchCases))]
    public void MatMat(int batch, int threads) => _drivers[threads].Driver.Compute(_matrix, _x, batch, _y);

    /// <inheritdoc />
    public Workload Describe(string method, IReadOnlyDictionary<string, object?> parameters)
    {
        var (rows, columns) = ParseShape(parameters.TryGetValue(nameof(Shape), out var s) ? s as string ?? Shape : Shape);
        int batch = Workloads.Int(parameters, "batch", 1);
        return new Workload(rows * (double)GgmlTypeInfo.RowBytes(WeightType, columns), 2.0 * rows * columns * batch);
    }

    private static (int Rows, int Columns) ParseShape(string shape)
    {
        var parts = shape.Split('x');
        return (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Quantizes a few rows of random values and repeats them: setup stays fast for the slow reference quantizers.</summary>
    private static void FillWeights(TensorFormat format, byte* dst, int rows, int columns, long rowBytes)
    {
        const int DistinctRows = 16;
        var rng = new Random(42);
        var values = new float[columns];
        int distinct = Math.Min(rows, DistinctRows);
        for (int r = 0; r < distinct; r++)
        {
            for (int c = 0; c < columns; c++) values[c] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
            format.Quantize(values, new Span<byte>(dst + r * rowBytes, (int)rowBytes));
        }
        for (int r = distinct; r < rows; r++)
        {
            new ReadOnlySpan<byte>(dst + (r % distinct) * rowBytes, (int)rowBytes).CopyTo(new Span<byte>(dst + r * rowBytes, (int)rowBytes));
        }
    }
}
