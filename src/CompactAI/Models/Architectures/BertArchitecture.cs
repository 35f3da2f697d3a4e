using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// BERT-family encoders (<c>bert</c>: MiniLM, BGE, E5, GTE, arctic-embed): learned absolute positions and token types,
/// post-LayerNorm blocks with biases, GELU FFN, bidirectional attention. They run on <see cref="BertEncoder"/>, not on
/// the decoder graph, and only embed text.
/// </summary>
internal sealed class BertArchitecture : ModelArchitecture
{
    public override string Name => "bert";

    public override ModelConfig Configure(ModelConfig common, GgufMetadata metadata)
    {
        const string p = "bert.";
        if (metadata.GetBool(p + "attention.causal", false))
            throw new NotSupportedException("A causal bert model (bert.attention.causal = true) is not supported: BERT encoders attend in both directions.");
        int pooling = metadata.GetInt32(p + "pooling_type", (int)PoolingType.Mean);
        if (pooling == 4)
            throw new NotSupportedException("Pooling type 4 (rank: a reranker's classification head) is not supported; supported: 0 none, 1 mean, 2 cls, 3 last.");
        if (pooling is < 0 or > 3)
            throw new GgufFormatException($"unknown pooling type {pooling}; llama.cpp's are 0 none, 1 mean, 2 cls, 3 last, 4 rank", p + "pooling_type", -1, metadata.FilePath);
        float epsilon = metadata.GetFloat32(p + "attention.layer_norm_epsilon", 1e-12f);
        if (!(epsilon > 0) || !float.IsFinite(epsilon))
            throw new GgufFormatException($"must be positive and finite, found {epsilon}", p + "attention.layer_norm_epsilon", -1, metadata.FilePath);
        return common with
        {
            IsEncoder = true,
            Pooling = (PoolingType)pooling,
            LayerNormEpsilon = epsilon,
            Activation = FfnActivation.GeluTanh,
        };
    }
}
