using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// Gemma: embeddings scaled by √n_embd, a GELU-gated FFN, and q scaled before attention (so the scaled q is what
/// flash attention rounds to half). Norm weights already carry Gemma's +1 (added by the converter).
/// </summary>
internal sealed class GemmaArchitecture : ModelArchitecture
{
    public override string Name => "gemma";

    public override ModelConfig Configure(ModelConfig c, GgufMetadata m) => c with
    {
        Activation = FfnActivation.GeluTanh,
        EmbeddingScale = MathF.Sqrt(c.EmbeddingLength),
        ScaleQueryBeforeAttention = true,
    };
}
