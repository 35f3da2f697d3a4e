namespace CompactAI.Backends;

/// <summary>
/// A model's weights uploaded to a device (once, at load) and shared by all its sessions; each session gets its own
/// <see cref="IForwardPass"/> with its own device KV cache. Disposing releases the weights and the model's hold on the device
/// (dispose the sessions first).
/// </summary>
internal interface IDeviceModel : IDisposable
{
    /// <summary>The backend the weights are on.</summary>
    ComputeBackend Backend { get; }

    /// <summary>One line for logs and tools, e.g. "CUDA device #0 (NVIDIA L4, 22.5 GiB): 24 of 24 layers, output head on the device".</summary>
    string Description { get; }

    /// <summary>Transformer blocks that run on the device (the rest, and then the output head, run on the CPU).</summary>
    int DeviceLayers { get; }

    /// <summary>A session's forward pass.</summary>
    /// <exception cref="DeviceOutOfMemoryException">The device has too little free memory for the session's KV cache and scratch.</exception>
    IForwardPass CreatePass(int contextSize, int maxBatch, int threads);
}
