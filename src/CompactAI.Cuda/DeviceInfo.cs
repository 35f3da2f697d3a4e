namespace CompactAI.Cuda;

/// <summary>One CUDA device as the driver reports it, from <see cref="CudaBackend.GetDevices(out string?)"/>.</summary>
/// <param name="Index">The device's position in <see cref="CudaBackend.GetDevices(out string?)"/>: what <see cref="CudaBackend.TryCreate"/> takes.</param>
/// <param name="Name">The device name, e.g. "NVIDIA GeForce RTX 4090".</param>
/// <param name="MemoryBytes">Global memory in bytes.</param>
/// <param name="Architecture">The compute capability as "SM_xy", or "unknown" when ILGPU does not know it.</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
public sealed record DeviceInfo(int Index, string Name, long MemoryBytes, string Architecture, int Multiprocessors)
{
    /// <inheritdoc />
    public override string ToString() => $"#{Index} {Name} ({MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, {Architecture}, {Multiprocessors} SMs)";
}
