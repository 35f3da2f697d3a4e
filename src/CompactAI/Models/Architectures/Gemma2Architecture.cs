using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// Gemma 2: Gemma plus post-attention and post-FFN norms (tensors), attention logit soft-cap (50) and final logit
/// soft-cap (30), and a sliding window on every other layer (even layers local; local layers keep the global RoPE unless
/// <c>rope.freq_base_swa</c> says otherwise). Queries are scaled before attention, by 1/√head_dim, or 1/√(n_embd/n_head)
/// for the 27B model.
/// </summary>
internal sealed class Gemma2Architecture : ModelArchitecture
{
    public override string Name => "gemma2";

    public override ModelConfig Configure(ModelConfig c, GgufMetadata m) => c with
    {
        Activation = FfnActivation.GeluTanh,
        EmbeddingScale = MathF.Sqrt(c.EmbeddingLength),
        AttentionSoftcap = m.GetFloat32("gemma2.attn_logit_softcapping", 50f),
        FinalLogitSoftcap = m.GetFloat32("gemma2.final_logit_softcapping", 30f),
        SlidingWindow = m.GetInt32("gemma2.attention.sliding_window", 4096),
        SlidingWindowLayers = SlidingWindowLayers(m, Name, c.BlockCount, 2),
        SlidingWindowRopeFreqBase = m.GetFloat32("gemma2.rope.freq_base_swa", c.RopeFreqBase),
        SlidingWindowRopeFreqScale = c.RopeFreqScale,
        ScaleQueryBeforeAttention = true,
        AttentionScale = c.BlockCount == 46 ? 1.0f / MathF.Sqrt(c.EmbeddingLength / c.HeadCount) : c.AttentionScale,
    };
}
