namespace CompactAI.Inference;

/// <summary>
/// The attention key/value cache of one sequence: for each layer, <see cref="Capacity"/> positions of keys and values.
/// Values are stored as <see cref="float"/> rounded to half precision, which is llama.cpp's default F16 cache arithmetic
/// without its conversion cost on the read path.
/// </summary>
internal sealed class KvCache
{
    public KvCache(int layers, int capacity, int keyWidth, int valueWidth)
    {
        Capacity = capacity;
        KeyWidth = keyWidth;
        ValueWidth = valueWidth;
        Keys = new float[layers][];
        Values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            Keys[l] = new float[(long)capacity * keyWidth];
            Values[l] = new float[(long)capacity * valueWidth];
        }
    }

    /// <summary>Positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Floats per position per layer for keys (kv heads × head dim).</summary>
    public int KeyWidth { get; }

    /// <summary>Floats per position per layer for values.</summary>
    public int ValueWidth { get; }

    /// <summary>Keys[layer][pos · KeyWidth + kvHead · headDim + d].</summary>
    public float[][] Keys { get; }

    /// <summary>Values[layer][pos · ValueWidth + kvHead · valueDim + d].</summary>
    public float[][] Values { get; }

    /// <summary>Bytes held.</summary>
    public long SizeInBytes => (long)Keys.Length * Capacity * (KeyWidth + ValueWidth) * sizeof(float);
}
