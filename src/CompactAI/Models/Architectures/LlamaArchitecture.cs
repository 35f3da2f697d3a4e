namespace CompactAI.Models;

/// <summary>
/// Llama (and TinyLlama, SmolLM, Mistral-style files): the base graph. RoPE rotates adjacent pairs because the GGUF
/// converter permuted Q and K; Llama 3 rope scaling arrives as the <c>rope_freqs</c> tensor.
/// </summary>
internal sealed class LlamaArchitecture : ModelArchitecture
{
    public override string Name => "llama";

    public override RopeStyle RopeStyle => RopeStyle.Interleaved;
}
