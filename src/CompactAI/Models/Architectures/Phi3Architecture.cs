namespace CompactAI.Models;

/// <summary>
/// Phi-3: NeoX RoPE with fused <c>attn_qkv</c> and fused gate+up in <c>ffn_up</c> (tensors), LongRoPE factors as
/// <c>rope_factors_short</c>/<c>rope_factors_long</c> tensors. Like llama.cpp, the sliding window some Phi-3 files
/// declare is not applied.
/// </summary>
internal sealed class Phi3Architecture : ModelArchitecture
{
    public override string Name => "phi3";
}
