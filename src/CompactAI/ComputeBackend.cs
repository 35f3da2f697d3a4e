namespace CompactAI;

/// <summary>Where a model's forward pass runs (<see cref="CompactModelOptions.Backend"/>).</summary>
public enum ComputeBackend
{
    /// <summary>
    /// A CUDA device when the <c>CompactAI.Cuda</c> package is referenced and a device with enough free memory exists, else the
    /// CPU. A file CompactAI's engine does not run (its architecture or a tensor type) goes to <see cref="LLamaSharp"/> when the
    /// <c>CompactAI.LLamaSharp</c> package is referenced. The choice, or the reason for the CPU, is logged once per model and is on
    /// <see cref="CompactModel.BackendDescription"/>.
    /// </summary>
    Auto,

    /// <summary>The CPU engine (managed SIMD and the native kernels).</summary>
    Cpu,

    /// <summary>
    /// A CUDA device (needs the <c>CompactAI.Cuda</c> package and the NVIDIA driver). When it cannot be used, loading throws
    /// <see cref="BackendUnavailableException"/> or <see cref="DeviceOutOfMemoryException"/> rather than falling back.
    /// </summary>
    Cuda,

    /// <summary>
    /// llama.cpp through LLamaSharp (needs the <c>CompactAI.LLamaSharp</c> package and a LLamaSharp runtime package such as
    /// <c>LLamaSharp.Backend.Cpu</c>): llama.cpp loads the weights and runs the forward pass; the tokenizer, chat template,
    /// sampler and sessions stay CompactAI's. <see cref="Auto"/> chooses it for files CompactAI's engine does not run (an
    /// architecture it does not implement, or a tensor type it does not decode) when the package is referenced. When it
    /// cannot be used, loading throws <see cref="BackendUnavailableException"/>.
    /// </summary>
    LLamaSharp,
}
