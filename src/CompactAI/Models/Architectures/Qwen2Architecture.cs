namespace CompactAI.Models;

/// <summary>Qwen2 / Qwen2.5: the Llama graph with NeoX RoPE and Q/K/V biases (loaded from the file); small models tie the output head.</summary>
internal sealed class Qwen2Architecture : ModelArchitecture
{
    public override string Name => "qwen2";
}
