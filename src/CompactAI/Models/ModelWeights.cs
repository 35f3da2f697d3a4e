using CompactAI.Gguf;
using CompactAI.Tensors;

namespace CompactAI.Models;

/// <summary>The weights of one transformer block, viewed in place in the memory-mapped file.</summary>
internal sealed class LayerWeights
{
    public required float[] AttentionNorm { get; init; }   // [embd]
    public required WeightMatrix Query { get; init; }      // [heads·headDim rows, embd cols]
    public required WeightMatrix Key { get; init; }        // [kvHeads·headDim, embd]
    public required WeightMatrix Value { get; init; }      // [kvHeads·valueDim, embd]
    public required WeightMatrix Output { get; init; }     // [embd, heads·valueDim]
    public required float[] FfnNorm { get; init; }         // [embd]
    public required WeightMatrix Gate { get; init; }       // [ff, embd]
    public required WeightMatrix Up { get; init; }         // [ff, embd]
    public required WeightMatrix Down { get; init; }       // [embd, ff]
}

/// <summary>
/// All weights of a model. Matrices stay in the memory-mapped GGUF (never copied); the small 1-D tensors (norms, RoPE
/// factors) are expanded to <see cref="float"/> arrays at load. Shapes are checked against <see cref="ModelConfig"/>.
/// </summary>
internal sealed unsafe class ModelWeights
{
    public required WeightMatrix TokenEmbedding { get; init; }  // [vocab rows, embd cols]
    public required LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }           // [embd]
    public required WeightMatrix Output { get; init; }          // [vocab, embd]; the embedding itself when tied
    public float[]? RopeFrequencyFactors { get; init; }         // [ropeDims / 2], Llama 3 rope scaling

    public static ModelWeights Load(GgufFile file, ModelConfig c)
    {
        int embd = c.EmbeddingLength, qDim = c.HeadCount * c.HeadDim, kDim = c.KvHeadCount * c.HeadDim;
        int vDim = c.KvHeadCount * c.ValueDim, oIn = c.HeadCount * c.ValueDim;
        var layers = new LayerWeights[c.BlockCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string b = $"blk.{i}.";
            layers[i] = new LayerWeights
            {
                AttentionNorm = Vector(file, b + "attn_norm.weight", embd),
                Query = Matrix(file, b + "attn_q.weight", embd, qDim),
                Key = Matrix(file, b + "attn_k.weight", embd, kDim),
                Value = Matrix(file, b + "attn_v.weight", embd, vDim),
                Output = Matrix(file, b + "attn_output.weight", oIn, embd),
                FfnNorm = Vector(file, b + "ffn_norm.weight", embd),
                Gate = Matrix(file, b + "ffn_gate.weight", embd, c.FeedForwardLength),
                Up = Matrix(file, b + "ffn_up.weight", embd, c.FeedForwardLength),
                Down = Matrix(file, b + "ffn_down.weight", c.FeedForwardLength, embd),
            };
        }
        var embedding = Matrix(file, "token_embd.weight", embd, c.VocabularySize);
        var output = file.FindTensor("output.weight") is null ? embedding : Matrix(file, "output.weight", embd, c.VocabularySize);
        return new ModelWeights
        {
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = Vector(file, "output_norm.weight", embd),
            Output = output,
            RopeFrequencyFactors = file.FindTensor("rope_freqs.weight") is null ? null : Vector(file, "rope_freqs.weight", c.RopeDimensions / 2),
        };
    }

    /// <summary>A 2-D tensor of GGUF shape [<paramref name="columns"/>, <paramref name="rows"/>].</summary>
    internal static WeightMatrix Matrix(GgufFile file, string name, int columns, int rows)
    {
        var t = file.GetTensor(name);
        if (t.Dimensions.Count != 2 || t.Dimensions[0] != columns || t.Dimensions[1] != rows)
            throw new GgufFormatException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{columns}, {rows}]", name, -1, file.FilePath);
        var format = TensorFormat.For(t.Type);
        return new WeightMatrix(file.GetTensorPointer(t), rows, columns, format);
    }

    /// <summary>A 1-D tensor of <paramref name="length"/> elements, expanded to floats.</summary>
    internal static float[] Vector(GgufFile file, string name, int length)
    {
        var t = file.GetTensor(name);
        if (t.ElementCount != length || t.Dimensions[0] != length)
            throw new GgufFormatException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{length}]", name, -1, file.FilePath);
        var result = new float[length];
        TensorFormat.For(t.Type).Dequantize(file.GetTensorBytes(t), result);
        return result;
    }
}
