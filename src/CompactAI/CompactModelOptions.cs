using Microsoft.Extensions.Logging;

namespace CompactAI;

/// <summary>Options for loading a model and creating its sessions.</summary>
public sealed record CompactModelOptions
{
    /// <summary>
    /// Threads of the model's forward pass (null: the number of processor cores). One budget for the whole model: its
    /// sessions are sequences of one batch scheduler that runs them together on these threads.
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>Context size of new sessions in tokens (null: the model's training context, capped at 4096).</summary>
    public int? ContextSize { get; init; }

    /// <summary>Most tokens run through the model in one step: prompt chunks and the next token of every generating session together.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Most sequences generating at once through the model's <see cref="Inference.SessionPool"/> (each holds a KV cache); further requests queue.</summary>
    public int MaxParallelSequences { get; init; } = 4;

    /// <summary>
    /// Where the forward pass runs (default <see cref="ComputeBackend.Auto"/>: a CUDA device when the <c>CompactAI.Cuda</c> package is
    /// referenced and a device has enough free memory, else the CPU). The decision is on <see cref="CompactModel.BackendDescription"/>
    /// and logged through <see cref="LoggerFactory"/>.
    /// </summary>
    public ComputeBackend Backend { get; init; } = ComputeBackend.Auto;

    /// <summary>Which CUDA device (0-based, in the order <c>compactai inspect --devices</c> lists them).</summary>
    public int DeviceIndex { get; init; }

    /// <summary>
    /// Transformer blocks to run on the device (null: all). The first N blocks run on the device, the hidden state is copied back,
    /// and the remaining blocks and the output head run on the CPU. Values above the model's block count mean all; 0 means the CPU.
    /// </summary>
    public int? GpuLayers { get; init; }

    /// <summary>Receives the one-line backend decision at load (category <c>CompactAI.CompactModel</c>, level Information); null: not logged.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Tests: a device provider used instead of looking up <c>CompactAI.Cuda</c> (e.g. CUDA kernels on ILGPU's CPU accelerator).</summary>
    internal Backends.IDeviceProvider? DeviceProvider { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for invalid values.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Backend)) throw new ArgumentOutOfRangeException(nameof(Backend), Backend, "Backend must be Auto, Cpu or Cuda.");
        if (DeviceIndex < 0) throw new ArgumentOutOfRangeException(nameof(DeviceIndex), DeviceIndex, "DeviceIndex must not be negative.");
        if (GpuLayers is < 0) throw new ArgumentOutOfRangeException(nameof(GpuLayers), GpuLayers, "GpuLayers must not be negative.");
        if (Backend == ComputeBackend.Cuda && GpuLayers == 0)
            throw new ArgumentOutOfRangeException(nameof(GpuLayers), GpuLayers, "Backend = Cuda with GpuLayers = 0 would run nothing on the device; use Backend = Cpu.");
        if (Threads is <= 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be positive.");
        if (ContextSize is <= 0) throw new ArgumentOutOfRangeException(nameof(ContextSize), ContextSize, "ContextSize must be positive.");
        if (MaxParallelSequences <= 0) throw new ArgumentOutOfRangeException(nameof(MaxParallelSequences), MaxParallelSequences, "MaxParallelSequences must be positive.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
    }
}
