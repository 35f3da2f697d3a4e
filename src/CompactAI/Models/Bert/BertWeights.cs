using CompactAI.Gguf;
using CompactAI.Tensors;

namespace CompactAI.Models;

/// <summary>The weights of one BERT block, in llama.cpp's GGUF names (every projection has a bias; both norms are LayerNorms).</summary>
internal sealed record BertLayerWeights
{
    public required WeightMatrix Query { get; init; }          // attn_q [embd, embd]
    public required WeightMatrix Key { get; init; }            // attn_k
    public required WeightMatrix Value { get; init; }          // attn_v
    public required float[] QueryBias { get; init; }
    public required float[] KeyBias { get; init; }
    public required float[] ValueBias { get; init; }
    public required WeightMatrix Output { get; init; }         // attn_output
    public required float[] OutputBias { get; init; }
    public required float[] AttentionNorm { get; init; }       // attn_output_norm: LayerNorm after the attention residual
    public required float[] AttentionNormBias { get; init; }
    public required WeightMatrix Up { get; init; }             // ffn_up [ff rows, embd cols]
    public required float[] UpBias { get; init; }
    public required WeightMatrix Down { get; init; }           // ffn_down [embd rows, ff cols]
    public required float[] DownBias { get; init; }
    public required float[] LayerNorm { get; init; }           // layer_output_norm: LayerNorm after the FFN residual
    public required float[] LayerNormBias { get; init; }
}

/// <summary>
/// All weights of a BERT encoder, viewed in place in the memory-mapped file (1-D tensors expanded to floats): token,
/// position and token-type embeddings, the embedding LayerNorm, and the blocks. Shapes are checked against the config.
/// </summary>
internal sealed class BertWeights
{
    public required WeightMatrix TokenEmbedding { get; init; }     // [vocab rows, embd]
    public required WeightMatrix PositionEmbedding { get; init; }  // [context rows, embd]
    public float[]? TokenType0 { get; init; }                      // row 0 of token_types ("sentence A"), as llama.cpp adds it
    public required float[] EmbeddingNorm { get; init; }
    public required float[] EmbeddingNormBias { get; init; }
    public required BertLayerWeights[] Layers { get; init; }

    /// <exception cref="GgufFormatException">A tensor is missing or has the wrong shape (the message names it).</exception>
    /// <exception cref="NotSupportedException">A tensor type is not supported.</exception>
    public static BertWeights Load(GgufFile file, ModelConfig c)
    {
        int embd = c.EmbeddingLength, ff = c.FeedForwardLength, attn = c.HeadCount * c.HeadDim;
        if (c.KvHeadCount != c.HeadCount || c.ValueDim != c.HeadDim)
            throw new GgufFormatException($"a bert model has as many key/value heads as query heads and equal key and value sizes; found {c.KvHeadCount}/{c.HeadCount} heads, {c.HeadDim}/{c.ValueDim}",
                "bert.attention.head_count_kv", -1, file.FilePath);
        var layers = new BertLayerWeights[c.BlockCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string b = $"blk.{i}.";
            layers[i] = new BertLayerWeights
            {
                Query = ModelWeights.Matrix(file, b + "attn_q.weight", embd, attn),
                Key = ModelWeights.Matrix(file, b + "attn_k.weight", embd, attn),
                Value = ModelWeights.Matrix(file, b + "attn_v.weight", embd, attn),
                QueryBias = ModelWeights.Vector(file, b + "attn_q.bias", attn),
                KeyBias = ModelWeights.Vector(file, b + "attn_k.bias", attn),
                ValueBias = ModelWeights.Vector(file, b + "attn_v.bias", attn),
                Output = ModelWeights.Matrix(file, b + "attn_output.weight", attn, embd),
                OutputBias = ModelWeights.Vector(file, b + "attn_output.bias", embd),
                AttentionNorm = ModelWeights.Vector(file, b + "attn_output_norm.weight", embd),
                AttentionNormBias = ModelWeights.Vector(file, b + "attn_output_norm.bias", embd),
                Up = ModelWeights.Matrix(file, b + "ffn_up.weight", embd, ff),
                UpBias = ModelWeights.Vector(file, b + "ffn_up.bias", ff),
                Down = ModelWeights.Matrix(file, b + "ffn_down.weight", ff, embd),
                DownBias = ModelWeights.Vector(file, b + "ffn_down.bias", embd),
                LayerNorm = ModelWeights.Vector(file, b + "layer_output_norm.weight", embd),
                LayerNormBias = ModelWeights.Vector(file, b + "layer_output_norm.bias", embd),
            };
        }
        float[]? type0 = null;
        if (file.FindTensor("token_types.weight") is { } types)
        {
            int typeCount = types.Dimensions.Count == 2 ? checked((int)types.Dimensions[1]) : 0;
            var matrix = ModelWeights.Matrix(file, "token_types.weight", embd, Math.Max(1, typeCount));
            type0 = new float[embd];
            matrix.DequantizeRow(0, type0);
        }
        return new BertWeights
        {
            TokenEmbedding = ModelWeights.Matrix(file, "token_embd.weight", embd, c.VocabularySize),
            PositionEmbedding = ModelWeights.Matrix(file, "position_embd.weight", embd, c.ContextLength),
            TokenType0 = type0,
            EmbeddingNorm = ModelWeights.Vector(file, "token_embd_norm.weight", embd),
            EmbeddingNormBias = ModelWeights.Vector(file, "token_embd_norm.bias", embd),
            Layers = layers,
        };
    }
}
