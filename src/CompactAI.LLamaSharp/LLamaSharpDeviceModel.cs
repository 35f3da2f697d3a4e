using CompactAI.Backends;
using CompactAI.Models;
using LLama;
using LLama.Common;
using LLama.Native;

namespace CompactAI.LLamaSharp;

/// <summary>
/// A model in llama.cpp: its <see cref="LLamaWeights"/> (loaded once, shared by all sessions). Each session gets its own llama.cpp
/// context (<see cref="LLamaSharpForwardPass"/>): one context per session, with the session's sequence as llama.cpp sequence 0, so a
/// session's context size is its own and sessions never share KV memory. The weights are released when the model and every session
/// it made are disposed, in whichever order.
/// </summary>
internal sealed class LLamaSharpDeviceModel : IDeviceModel
{
    private readonly LLamaWeights _weights;
    private readonly string _path;
    private readonly ModelConfig _c;
    private readonly Lock _lock = new();
    private int _holders = 1; // the model itself, plus one per live session
    private bool _disposed;

    public LLamaSharpDeviceModel(LLamaWeights weights, string path, ModelConfig config, int threads)
    {
        _weights = weights;
        _path = path;
        _c = config;
        Description = $"llama.cpp through LLamaSharp (CPU, {threads} thread{(threads == 1 ? "" : "s")})";
    }

    public ComputeBackend Backend => ComputeBackend.LLamaSharp;

    public string Description { get; }

    /// <summary>0: no block runs on a device of CompactAI's (llama.cpp runs them all, on its CPU backend).</summary>
    public int DeviceLayers => 0;

    public IForwardPass CreatePass(int contextSize, int maxBatch, int threads)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _holders++;
        }
        try
        {
            var parameters = new ModelParams(_path)
            {
                ContextSize = (uint)contextSize,
                BatchSize = (uint)maxBatch,
                UBatchSize = (uint)maxBatch,
                SeqMax = 1,
                Threads = threads,
                BatchThreads = threads,
                GpuLayerCount = 0,
                PoolingType = LLamaPoolingType.None,
            };
            var context = _weights.CreateContext(parameters);
            try
            {
                return new LLamaSharpForwardPass(context, _c, contextSize, maxBatch, Unhold);
            }
            catch
            {
                context.Dispose();
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
    }
}
