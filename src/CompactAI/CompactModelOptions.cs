using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;

namespace CompactAI;

/// <summary>Options for loading a model and creating its sessions.</summary>
public sealed record CompactModelOptions : IValidatableObject
{
    /// <summary>
    /// Threads of the model's forward pass (null: the number of processor cores). One budget for the whole model: its
    /// sessions are sequences of one batch scheduler that runs them together on these threads.
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>Context size of new sessions in tokens (null: the model's training context, capped at 4096).</summary>
    public int? ContextSize { get; init; }

    /// <summary>
    /// Most tokens run through the model in one step: prompt chunks and the next token of every generating session
    /// together (default 512, llama.cpp's micro-batch and what <c>compactai bench</c> uses). A larger step reads the
    /// weights fewer times per prompt; the CPU activation buffers grow with it (about BatchSize × (6 × embedding length +
    /// 3 × feed-forward length) × 4 bytes) and scoring holds BatchSize × vocabulary logits. While any session decodes, prompts
    /// get at most 32 rows of a step whatever this is.
    /// </summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>
    /// Most sequences generating at once through the model's <see cref="Inference.SessionPool"/> (the chat client and the
    /// server); further requests queue (default 8: aggregate throughput still rose from 4 to 8 concurrent requests on a
    /// 2-core machine, see docs/performance.md). Pooled sessions are created on demand, each with its own KV cache; an
    /// encoder model runs this many encoders at once, each with its own threads.
    /// <see cref="CompactModel.CreateSession"/> is not bounded by this.
    /// </summary>
    public int MaxParallelSequences { get; init; } = 8;

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

    /// <summary>
    /// Which kernels compute the layers the CPU runs (default <see cref="CpuKernels.Auto"/>: the native library's where it loaded
    /// with SIMD kernels; <see cref="CpuKernels.Managed"/> when the environment variable <c>COMPACTAI_NATIVE=0</c> is set).
    /// Each model keeps its own choice; models with different choices run side by side.
    /// </summary>
    public CpuKernels CpuKernels { get; init; } = Tensors.KernelDefaults.CpuKernels;

    /// <summary>
    /// Whether Q4_K matrices the native kernels compute are copied at load into their interleaved layout (eight rows at a time,
    /// faster; the mapped pages are released). Default true; false when <c>COMPACTAI_INTERLEAVE=0</c> is set, which keeps every
    /// matrix in the mapped file, for comparisons.
    /// </summary>
    public bool InterleaveWeights { get; init; } = Tensors.KernelDefaults.InterleaveWeights;

    /// <summary>
    /// The native kernel library to load (default: the environment variable <c>COMPACTAI_NATIVE_PATH</c>; null: beside the
    /// assembly, then <c>runtimes/&lt;rid&gt;/native</c>, then the platform's search). A process loads the library once, for the
    /// first model that uses it; a later model naming another file fails to load with <see cref="InvalidOperationException"/>.
    /// </summary>
    public string? NativeLibraryPath { get; init; } = Tensors.KernelDefaults.NativeLibraryPath;

    /// <summary>Receives the one-line backend decision at load (category <c>CompactAI.CompactModel</c>, level Information); null: not logged.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Tests: a device provider used instead of looking up <c>CompactAI.Cuda</c> (e.g. CUDA kernels on ILGPU's CPU accelerator).</summary>
    internal Backends.IDeviceProvider? DeviceProvider { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for the first invalid value (the rules <see cref="Validate(ValidationContext)"/> reports).</summary>
    public void Validate()
    {
        foreach (var (member, value, message) in Problems()) throw new ArgumentOutOfRangeException(member, value, message);
    }

    /// <summary>
    /// Every invalid value, each as a <see cref="ValidationResult"/> naming its member: the rules <see cref="Validate()"/> enforces,
    /// for hosts that report all failures at once (<c>CompactAI.Hosting</c> validates its options with them).
    /// </summary>
    /// <param name="validationContext">The context (unused: the rules need only these options).</param>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Problems().Select(p => new ValidationResult(p.Message, [p.Member]));

    private IEnumerable<(string Member, object? Value, string Message)> Problems()
    {
        if (!Enum.IsDefined(Backend)) yield return (nameof(Backend), Backend, "Backend must be Auto, Cpu, Cuda or LLamaSharp.");
        if (!Enum.IsDefined(CpuKernels)) yield return (nameof(CpuKernels), CpuKernels, "CpuKernels must be Auto, Managed or Native.");
        if (NativeLibraryPath is { Length: 0 }) yield return (nameof(NativeLibraryPath), NativeLibraryPath, "NativeLibraryPath must be null or a path.");
        if (DeviceIndex < 0) yield return (nameof(DeviceIndex), DeviceIndex, "DeviceIndex must not be negative.");
        if (GpuLayers is < 0) yield return (nameof(GpuLayers), GpuLayers, "GpuLayers must not be negative.");
        if (Backend == ComputeBackend.Cuda && GpuLayers == 0)
            yield return (nameof(GpuLayers), GpuLayers, "Backend = Cuda with GpuLayers = 0 would run nothing on the device; use Backend = Cpu.");
        if (Threads is <= 0) yield return (nameof(Threads), Threads, "Threads must be positive.");
        if (ContextSize is <= 0) yield return (nameof(ContextSize), ContextSize, "ContextSize must be positive.");
        if (MaxParallelSequences <= 0) yield return (nameof(MaxParallelSequences), MaxParallelSequences, "MaxParallelSequences must be positive.");
        if (BatchSize <= 0) yield return (nameof(BatchSize), BatchSize, "BatchSize must be positive.");
    }
}
