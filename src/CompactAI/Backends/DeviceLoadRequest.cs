using CompactAI.Models;

namespace CompactAI.Backends;

/// <summary>What a device provider needs to place a model: its graph and weights, and the load options that concern the device.</summary>
/// <param name="Config">The model's hyper-parameters.</param>
/// <param name="Weights">The memory-mapped weights; null when the provider's own engine loads them from <see cref="FilePath"/> (LLamaSharp).</param>
/// <param name="DeviceIndex">Which device (<see cref="CompactModelOptions.DeviceIndex"/>).</param>
/// <param name="DeviceLayers">Blocks to offload, 1 … BlockCount (<see cref="CompactModelOptions.GpuLayers"/> resolved).</param>
/// <param name="ContextSize">The default session context, for the memory estimate of one session.</param>
/// <param name="MaxBatch">The prompt batch size, for the scratch estimate.</param>
internal sealed record DeviceLoadRequest(ModelConfig Config, ModelWeights? Weights, int DeviceIndex, int DeviceLayers, int ContextSize, int MaxBatch)
{
    /// <summary>The GGUF file (for a provider whose engine reads the weights itself).</summary>
    public string? FilePath { get; init; }

    /// <summary>Threads of the forward pass (<see cref="CompactModelOptions.Threads"/> resolved).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
}
