namespace CompactAI.Backends;

/// <summary>
/// A device backend the core can load models onto without referencing it: <c>CompactAI.Cuda</c> implements it and
/// <see cref="BackendSelector"/> finds it by name when that assembly is present.
/// </summary>
internal interface IDeviceProvider
{
    /// <summary>The backend this provider gives.</summary>
    ComputeBackend Backend { get; }

    /// <summary>Opens the requested device and uploads the model's weights.</summary>
    /// <exception cref="BackendUnavailableException">No driver, no such device, or an unsupported tensor type (the reason says which).</exception>
    /// <exception cref="DeviceOutOfMemoryException">The estimate of weights, one session's KV cache and scratch exceeds the free memory, or the driver refused an allocation.</exception>
    IDeviceModel Load(DeviceLoadRequest request);
}
