using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// Gemma 3: Gemma with Q/K norms and post-norms (tensors), no attention soft-cap, five sliding-window layers to one
/// global layer; local layers use RoPE base 10000 (or <c>rope.freq_base_swa</c>) unscaled, global ones the file's base and
/// linear scaling. Queries are scaled before attention, by 1/√head_dim, or 1/√(n_embd/n_head) for the 27B model.
/// </summary>
internal sealed class Gemma3Architecture : ModelArchitecture
{
    public override string Name => "gemma3";

    public override ModelConfig Configure(ModelConfig c, GgufMetadata m)
    {
        // Without a sliding_window key llama.cpp runs every layer with full attention.
        int window = m.GetInt32("gemma3.attention.sliding_window", 0);
        return c with
        {
            Activation = FfnActivation.GeluTanh,
            EmbeddingScale = MathF.Sqrt(c.EmbeddingLength),
            FinalLogitSoftcap = m.GetFloat32("gemma3.final_logit_softcapping", 0f),
            SlidingWindow = window,
            SlidingWindowLayers = window > 0 ? SlidingWindowLayers(m, Name, c.BlockCount, 6) : null,
            SlidingWindowRopeFreqBase = m.GetFloat32("gemma3.rope.freq_base_swa", 10000f),
            SlidingWindowRopeFreqScale = 1.0f,
            ScaleQueryBeforeAttention = true,
            AttentionScale = c.BlockCount == 62 ? 1.0f / MathF.Sqrt(c.EmbeddingLength / c.HeadCount) : c.AttentionScale,
        };
    }
}
