using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// Phi-3: NeoX RoPE with fused <c>attn_qkv</c> and fused gate+up in <c>ffn_up</c> (tensors), LongRoPE factors as
/// <c>rope_factors_short</c>/<c>rope_factors_long</c> tensors (the long ones when a session's context exceeds
/// <c>rope.scaling.original_context_length</c>) with cos/sin scaled by <c>rope.scaling.attn_factor</c>. Like llama.cpp, the sliding window some Phi-3 files
/// declare is not applied. Queries are scaled before attention (so the scaled q is what flash attention rounds to half).
/// </summary>
internal sealed class Phi3Architecture : ModelArchitecture
{
    public override string Name => "phi3";

    public override ModelConfig Configure(ModelConfig c, GgufMetadata m) => c with { ScaleQueryBeforeAttention = true };
}
