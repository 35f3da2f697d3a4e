using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// Gemma 3: Gemma with Q/K norms and post-norms (tensors), no attention soft-cap, five sliding-window layers to one
/// global layer; local layers use RoPE base 10000, global ones the file's base and linear scaling. The 27B model scales
/// queries by 1/√(n_embd/n_head).
/// </summary>
internal sealed class Gemma3Architecture : ModelArchitecture
{
    public override string Name => "gemma3";

    public override ModelConfig Configure(ModelConfig c, GgufMetadata m) => c with
    {
        Activation = FfnActivation.GeluTanh,
        EmbeddingScale = MathF.Sqrt(c.EmbeddingLength),
        FinalLogitSoftcap = m.GetFloat32("gemma3.final_logit_softcapping", 0f),
        SlidingWindow = m.GetInt32("gemma3.attention.sliding_window", 512),
        SlidingWindowLayers = SlidingWindowPattern(c.BlockCount, 6),
        SlidingWindowRopeFreqBase = 10000f,
        AttentionScale = c.BlockCount == 62 ? 1.0f / MathF.Sqrt(c.EmbeddingLength / c.HeadCount) : c.AttentionScale,
    };
}
