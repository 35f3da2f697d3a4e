using CompactAI.Cuda.Kernels;
using CompactAI.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>A weight matrix uploaded once to the device in its GGUF block layout (bytes, unchanged): Rows × Columns in <see cref="Type"/>.</summary>
internal sealed class DeviceMatrix : IDisposable
{
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _buffer;

    public DeviceMatrix(Accelerator accelerator, GgmlType type, ReadOnlySpan<byte> data, int rows, int columns)
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
        _buffer = accelerator.Allocate1D<byte>(bytes);
        ArrayView<byte> view = _buffer.View;
        view.CopyFromCPU(data[..(int)bytes]);
    }

    /// <summary>Uploads a memory-mapped matrix of the CPU engine.</summary>
    public static unsafe DeviceMatrix Upload(Accelerator accelerator, in WeightMatrix w)
    {
        long bytes = w.RowBytes * w.Rows;
        if (bytes > int.MaxValue) throw new NotSupportedException($"A {bytes}-byte matrix is over the 2 GiB a single upload takes.");
        return new DeviceMatrix(accelerator, w.Format.Type, new ReadOnlySpan<byte>(w.Data, (int)bytes), w.Rows, w.Columns);
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
    public ArrayView<byte> View => _buffer.View;

    public void Dispose() => _buffer.Dispose();
}
