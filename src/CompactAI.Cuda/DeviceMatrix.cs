using CompactAI.Cuda.Kernels;
using CompactAI.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// A weight matrix on the device in its GGUF block layout (bytes, unchanged): Rows × Columns in <see cref="Type"/>. Either uploaded
/// (owning its memory) or a block of rows of another one (<see cref="SliceRows"/>, e.g. Phi-3's fused QKV split into Q, K and V).
/// </summary>
internal sealed class DeviceMatrix : IDisposable
{
    private readonly DeviceBuffer<byte>? _buffer;

    public DeviceMatrix(CudaBackend backend, GgmlType type, ReadOnlySpan<byte> data, int rows, int columns)
    {
        if (!Dequant.IsSupported(type)) throw new NotSupportedException($"The CUDA backend has no kernel for tensor type {type}.");
        var format = TensorFormat.For(type);
        if (columns % format.BlockSize != 0) throw new ArgumentException($"{columns} columns is not a whole number of {type} blocks.", nameof(columns));
        Type = type;
        Rows = rows;
        Columns = columns;
        RowBytes = format.RowBytes(columns);
        long bytes = RowBytes * rows;
        if (data.Length < bytes) throw new ArgumentException($"{data.Length} bytes given, {bytes} needed.", nameof(data));
        _buffer = backend.Allocate<byte>(bytes);
        View = _buffer.View;
        View.CopyFromCPU(data[..(int)bytes]);
    }

    private DeviceMatrix(DeviceMatrix parent, int firstRow, int rows)
    {
        Type = parent.Type;
        Rows = rows;
        Columns = parent.Columns;
        RowBytes = parent.RowBytes;
        View = parent.View.SubView(firstRow * RowBytes, rows * RowBytes);
    }

    /// <summary>Uploads a memory-mapped matrix of the CPU engine.</summary>
    public static unsafe DeviceMatrix Upload(CudaBackend backend, in WeightMatrix w)
    {
        long bytes = w.RowBytes * w.Rows;
        if (bytes > int.MaxValue) throw new NotSupportedException($"A {bytes}-byte matrix is over the 2 GiB a single upload takes.");
        return new DeviceMatrix(backend, w.Format.Type, new ReadOnlySpan<byte>(w.Data, (int)bytes), w.Rows, w.Columns);
    }

    /// <summary>Rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rows"/>) as a matrix sharing this one's memory.</summary>
    public DeviceMatrix SliceRows(int firstRow, int rows)
    {
        if (firstRow < 0 || rows <= 0 || firstRow + rows > Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"Rows [{firstRow}, {firstRow + rows}) are not within the {Rows} rows.");
        return new DeviceMatrix(this, firstRow, rows);
    }

    /// <summary>The block format.</summary>
    public GgmlType Type { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features.</summary>
    public int Columns { get; }

    /// <summary>Bytes per row.</summary>
    public long RowBytes { get; }

    /// <summary>The device bytes.</summary>
    public ArrayView<byte> View { get; }

    /// <summary>Frees the memory of an uploaded matrix (a slice owns none).</summary>
    public void Dispose() => _buffer?.Dispose();
}
