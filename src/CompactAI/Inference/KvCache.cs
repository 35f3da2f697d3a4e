namespace CompactAI.Inference;

/// <summary>
/// The attention key/value cache of one sequence. Per layer and KV head, positions are contiguous
/// (<c>[layer][kvHead][pos][dim]</c>), so attention reads each head's keys as one strided block. Values are stored as
/// <see cref="float"/> rounded to half precision: llama.cpp's default F16 cache arithmetic without conversions on the read path.
/// Layers below <c>firstAllocatedLayer</c> (those a device runs when a model is partly offloaded) get memory only when
/// <see cref="AllocateAllLayers"/> is called, to save or load a session's state.
/// </summary>
internal sealed class KvCache
{
    private readonly float[][] _keys, _values;

    public KvCache(int layers, int capacity, int kvHeads, int headDim, int valueDim, int firstAllocatedLayer = 0)
    {
        Capacity = capacity;
        KvHeads = kvHeads;
        HeadDim = headDim;
        ValueDim = valueDim;
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = firstAllocatedLayer; l < layers; l++) Allocate(l);
    }

    private void Allocate(int layer)
    {
        _keys[layer] = new float[(long)KvHeads * Capacity * HeadDim];
        _values[layer] = new float[(long)KvHeads * Capacity * ValueDim];
    }

    /// <summary>Gives every layer its memory (layers allocated at construction keep theirs).</summary>
    public void AllocateAllLayers()
    {
        for (int l = 0; l < _keys.Length; l++)
            if (_keys[l] is null) Allocate(l);
    }

    /// <summary>Positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Key/value heads.</summary>
    public int KvHeads { get; }

    /// <summary>Floats per key.</summary>
    public int HeadDim { get; }

    /// <summary>Floats per value.</summary>
    public int ValueDim { get; }

    /// <summary>Bytes held.</summary>
    public long SizeInBytes => (long)_keys.Count(k => k is not null) * KvHeads * Capacity * (HeadDim + ValueDim) * sizeof(float);

    /// <summary>All keys of one head: [pos × HeadDim].</summary>
    public Span<float> KeysOf(int layer, int kvHead) => _keys[layer].AsSpan(kvHead * Capacity * HeadDim, Capacity * HeadDim);

    /// <summary>All values of one head: [pos × ValueDim].</summary>
    public Span<float> ValuesOf(int layer, int kvHead) => _values[layer].AsSpan(kvHead * Capacity * ValueDim, Capacity * ValueDim);

    /// <summary>
    /// Stores the keys and values of <paramref name="count"/> tokens at positions <paramref name="startPos"/>… from
    /// token-major rows ([token][kvHead][dim]), rounded to half precision.
    /// </summary>
    public void Store(int layer, int startPos, int count, ReadOnlySpan<float> keys, ReadOnlySpan<float> values)
    {
        for (int b = 0; b < count; b++)
        {
            for (int h = 0; h < KvHeads; h++)
            {
                Tensors.TensorMath.RoundToHalf(keys.Slice((b * KvHeads + h) * HeadDim, HeadDim), KeysOf(layer, h).Slice((startPos + b) * HeadDim, HeadDim));
                Tensors.TensorMath.RoundToHalf(values.Slice((b * KvHeads + h) * ValueDim, ValueDim), ValuesOf(layer, h).Slice((startPos + b) * ValueDim, ValueDim));
            }
        }
    }
}
