using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// Device memory allocated through <see cref="CudaBackend.Allocate{T}"/>: a buffer whose bytes the backend counts (for its
/// free-memory figure and the out-of-memory checks) until it is disposed.
/// </summary>
internal sealed class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private readonly CudaBackend _backend;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _buffer;
    private bool _disposed;

    internal DeviceBuffer(CudaBackend backend, MemoryBuffer1D<T, Stride1D.Dense> buffer)
    {
        _backend = backend;
        _buffer = buffer;
    }

    /// <summary>The elements.</summary>
    public ArrayView<T> View => _buffer.View;

    /// <summary>Element count.</summary>
    public long Length => _buffer.Length;

    /// <summary>Bytes held.</summary>
    public long Bytes => _buffer.LengthInBytes;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_backend.Gate) _buffer.Dispose();
        _backend.Released(Bytes);
    }
}
