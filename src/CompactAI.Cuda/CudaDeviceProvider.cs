using CompactAI.Backends;
using CompactAI.Cuda.Kernels;
using CompactAI.Models;
using CompactAI.Tensors;

namespace CompactAI.Cuda;

/// <summary>
/// The CUDA backend as the core sees it (<see cref="IDeviceProvider"/>): found by name by <see cref="BackendSelector"/> when this
/// assembly is present. Loading checks the tensor types, estimates the device memory of the weights and of one session, and
/// compares it with the device's free memory before uploading anything.
/// </summary>
internal sealed class CudaDeviceProvider : IDeviceProvider
{
    private readonly Func<int, CudaBackend> _acquire;
    private readonly Action<CudaBackend> _release;

    /// <summary>The real devices, shared process-wide (<see cref="SharedDevices"/>).</summary>
    public CudaDeviceProvider()
        : this(SharedDevices.Acquire, SharedDevices.Release)
    {
    }

    /// <summary>Tests: devices from <paramref name="acquire"/> (e.g. ILGPU's CPU accelerator), given back through <paramref name="release"/>.</summary>
    internal CudaDeviceProvider(Func<int, CudaBackend> acquire, Action<CudaBackend> release)
    {
        _acquire = acquire;
        _release = release;
    }

    /// <summary>Tests: every model runs on <paramref name="backend"/>, which the caller keeps and disposes.</summary>
    internal static CudaDeviceProvider For(CudaBackend backend) => new(_ => backend, _ => { });

    public ComputeBackend Backend => ComputeBackend.Cuda;

    public IDeviceModel Load(DeviceLoadRequest request)
    {
        var (c, layers) = (request.Config, request.DeviceLayers);
        var w = request.Weights ?? throw new BackendUnavailableException(ComputeBackend.Cuda, "the model's weights were not loaded by CompactAI's engine.");
        var backend = _acquire(request.DeviceIndex); // first: "no driver" is the more basic reason
        try
        {
            if (UnsupportedTensor(c, w, layers) is { } unsupported)
                throw new BackendUnavailableException(ComputeBackend.Cuda, $"the CUDA kernels do not decode {unsupported}.");
            long weights = DeviceMemoryEstimate.Weights(c, w, layers);
            long session = DeviceMemoryEstimate.KvCache(c, layers, request.ContextSize)
                           + DeviceMemoryEstimate.Scratch(c, request.ContextSize, request.MaxBatch, layers == c.BlockCount);
            long free = backend.FreeMemoryBytes;
            if (weights + session > free)
                throw new DeviceOutOfMemoryException(ComputeBackend.Cuda, backend.Description,
                    $"the weights of {layers} of {c.BlockCount} blocks ({DeviceMemoryMib(weights)} MiB) and one session's {request.ContextSize}-token KV cache and scratch ({DeviceMemoryMib(session)} MiB)",
                    weights + session, free);
            var uploaded = new DeviceWeights(backend, c, w, layers);
            return new CudaDeviceModel(backend, uploaded, c, w, _release);
        }
        catch
        {
            _release(backend);
            throw;
        }
    }

    private static long DeviceMemoryMib(long bytes) => (bytes + (1 << 20) - 1) >> 20;

    /// <summary>"Q5_0 (blk.0.attn_q.weight)" for the first device tensor with no kernel, else null.</summary>
    private static string? UnsupportedTensor(ModelConfig c, ModelWeights w, int layers)
    {
        var tensors = new List<(string Name, WeightMatrix? Matrix)> { ("token_embd.weight", w.TokenEmbedding) };
        if (layers == c.BlockCount) tensors.Add(("output.weight", w.Output));
        for (int l = 0; l < layers; l++)
        {
            var lw = w.Layers[l];
            tensors.AddRange([($"blk.{l}.attn_qkv.weight", lw.Qkv), ($"blk.{l}.attn_q.weight", lw.Query), ($"blk.{l}.attn_k.weight", lw.Key),
                ($"blk.{l}.attn_v.weight", lw.Value), ($"blk.{l}.attn_output.weight", lw.Output), ($"blk.{l}.ffn_gate.weight", lw.Gate),
                ($"blk.{l}.ffn_up.weight", lw.Up), ($"blk.{l}.ffn_down.weight", lw.Down)]);
        }
        foreach (var (name, matrix) in tensors)
            if (matrix is { } m && !Dequant.IsSupported(m.Format.Type)) return $"{m.Format.Type} ({name}); they decode F32, F16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K";
        return null;
    }
}
