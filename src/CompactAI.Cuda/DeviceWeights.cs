using CompactAI.Models;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// A model's weights on the device, uploaded once at load in their GGUF layout and shared by every session: the token embedding,
/// blocks [0, <see cref="Layers"/>), and the output norm and head when every block is on the device (<see cref="OutputOnDevice"/>).
/// Phi-3's fused projections are uploaded once and used as row slices (Q, K, V of <c>attn_qkv</c>; gate, up of <c>ffn_up</c>).
/// </summary>
internal sealed unsafe class DeviceWeights : IDisposable
{
    private readonly List<IDisposable> _owned = new();

    /// <summary>One block's weights. Optional parts are null when the family has none.</summary>
    internal sealed class Block
    {
        public required DeviceBuffer<float> AttentionNorm, FfnNorm;
        public DeviceBuffer<float>? QueryBias, KeyBias, ValueBias, QueryNorm, KeyNorm, PostAttentionNorm, PostFfnNorm;
        public required DeviceMatrix Query, Key, Value, Output, Gate, Up, Down;
    }

    public DeviceWeights(CudaBackend backend, ModelConfig c, ModelWeights w, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layers, c.BlockCount);
        Backend = backend;
        Layers = layers;
        OutputOnDevice = layers == c.BlockCount;
        using var scope = backend.Gate.EnterScope();
        using var binding = backend.Accelerator.BindScoped();
        try
        {
            Embedding = Own(DeviceMatrix.Upload(backend, w.TokenEmbedding));
            if (OutputOnDevice)
            {
                OutputNorm = Floats(w.OutputNorm);
                Output = w.Output.Data == w.TokenEmbedding.Data ? Embedding : Own(DeviceMatrix.Upload(backend, w.Output));
            }
            Blocks = new Block[layers];
            int qDim = c.HeadCount * c.HeadDim, kDim = c.KvHeadCount * c.HeadDim, vDim = c.KvHeadCount * c.ValueDim, ff = c.FeedForwardLength;
            for (int l = 0; l < layers; l++)
            {
                var lw = w.Layers[l];
                DeviceMatrix query, key, value, gate, up;
                if (lw.Qkv is { } qkv)
                {
                    var fused = Own(DeviceMatrix.Upload(backend, qkv));
                    (query, key, value) = (fused.SliceRows(0, qDim), fused.SliceRows(qDim, kDim), fused.SliceRows(qDim + kDim, vDim));
                }
                else
                {
                    (query, key, value) = (Own(DeviceMatrix.Upload(backend, lw.Query!.Value)), Own(DeviceMatrix.Upload(backend, lw.Key!.Value)),
                        Own(DeviceMatrix.Upload(backend, lw.Value!.Value)));
                }
                if (lw.Gate is { } g)
                {
                    (gate, up) = (Own(DeviceMatrix.Upload(backend, g)), Own(DeviceMatrix.Upload(backend, lw.Up)));
                }
                else
                {
                    var fused = Own(DeviceMatrix.Upload(backend, lw.Up));
                    (gate, up) = (fused.SliceRows(0, ff), fused.SliceRows(ff, ff));
                }
                Blocks[l] = new Block
                {
                    AttentionNorm = Floats(lw.AttentionNorm),
                    FfnNorm = Floats(lw.FfnNorm),
                    QueryBias = OptionalFloats(lw.QueryBias),
                    KeyBias = OptionalFloats(lw.KeyBias),
                    ValueBias = OptionalFloats(lw.ValueBias),
                    QueryNorm = OptionalFloats(lw.QueryNorm),
                    KeyNorm = OptionalFloats(lw.KeyNorm),
                    PostAttentionNorm = OptionalFloats(lw.PostAttentionNorm),
                    PostFfnNorm = OptionalFloats(lw.PostFfnNorm),
                    Query = query,
                    Key = key,
                    Value = value,
                    Output = Own(DeviceMatrix.Upload(backend, lw.Output)),
                    Gate = gate,
                    Up = up,
                    Down = Own(DeviceMatrix.Upload(backend, lw.Down)),
                };
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The device.</summary>
    public CudaBackend Backend { get; }

    /// <summary>Blocks on the device: [0, Layers).</summary>
    public int Layers { get; }

    /// <summary>Whether the output norm and head are on the device (every block is).</summary>
    public bool OutputOnDevice { get; }

    /// <summary>The token embedding.</summary>
    public DeviceMatrix Embedding { get; } = null!;

    /// <summary>The blocks.</summary>
    public Block[] Blocks { get; } = [];

    /// <summary>The output norm's gain (null unless <see cref="OutputOnDevice"/>).</summary>
    public DeviceBuffer<float>? OutputNorm { get; }

    /// <summary>The output head (the embedding itself when tied; null unless <see cref="OutputOnDevice"/>).</summary>
    public DeviceMatrix? Output { get; }

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    private DeviceBuffer<float> Floats(float[] values)
    {
        var buffer = Own(Backend.Allocate<float>(values.Length));
        buffer.View.CopyFromCPU(values);
        return buffer;
    }

    private DeviceBuffer<float>? OptionalFloats(float[]? values) => values is null ? null : Floats(values);

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
