using CompactAI.Backends;
using CompactAI.Models;

namespace CompactAI.Cuda;

/// <summary>
/// A model on a CUDA device: its <see cref="DeviceWeights"/> (uploaded once) and the hold on the shared device. Sessions get a
/// <see cref="CudaForwardPass"/> each, after a check that their KV cache and scratch fit in the free memory. The weights and the
/// device are released when the model and every session it made are disposed, in whichever order.
/// </summary>
internal sealed class CudaDeviceModel : IDeviceModel
{
    private readonly CudaBackend _backend;
    private readonly DeviceWeights _weights;
    private readonly ModelConfig _c;
    private readonly ModelWeights _hostWeights;
    private readonly Action<CudaBackend> _release;
    private readonly Lock _lock = new();
    private int _holders = 1; // the model itself, plus one per live session
    private bool _disposed;

    public CudaDeviceModel(CudaBackend backend, DeviceWeights weights, ModelConfig config, ModelWeights hostWeights, Action<CudaBackend> release)
    {
        _backend = backend;
        _weights = weights;
        _c = config;
        _hostWeights = hostWeights;
        _release = release;
        string rest = weights.OutputOnDevice ? "" : "; the remaining blocks and the output head on the CPU";
        Description = $"{backend.Description}: {weights.Layers} of {config.BlockCount} blocks on the device{rest}";
    }

    public ComputeBackend Backend => ComputeBackend.Cuda;

    public string Description { get; }

    public int DeviceLayers => _weights.Layers;

    public IForwardPass CreatePass(int contextSize, int maxBatch, int threads)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _holders++;
        }
        try
        {
            long needed = DeviceMemoryEstimate.KvCache(_c, _weights.Layers, contextSize)
                          + DeviceMemoryEstimate.Scratch(_c, contextSize, maxBatch, _weights.OutputOnDevice);
            long free = _backend.FreeMemoryBytes;
            if (needed > free)
                throw new DeviceOutOfMemoryException(ComputeBackend.Cuda, _backend.Description,
                    $"a session's KV cache ({contextSize} tokens × {_weights.Layers} blocks) and scratch", needed, free);
            var device = new CudaTransformer(_weights, _c, _hostWeights, contextSize, maxBatch);
            try
            {
                return new CudaForwardPass(device, _c, _hostWeights, contextSize, maxBatch, threads, Unhold);
            }
            catch
            {
                device.Dispose();
                throw;
            }
        }
        catch
        {
            Unhold();
            throw;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        Unhold();
    }

    private void Unhold()
    {
        lock (_lock)
        {
            if (--_holders > 0) return;
        }
        _weights.Dispose();
        _release(_backend);
    }
}
