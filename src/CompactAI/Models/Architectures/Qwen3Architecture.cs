namespace CompactAI.Models;

/// <summary>Qwen3: NeoX RoPE, no biases, per-head RMSNorm on Q and K before RoPE (the <c>attn_q_norm</c>/<c>attn_k_norm</c> tensors); head size from <c>attention.key_length</c>.</summary>
internal sealed class Qwen3Architecture : ModelArchitecture
{
    public override string Name => "qwen3";
}
