using CompactAI.Cuda;

namespace CompactAI.Tests.Cuda;

/// <summary>
/// A fact that needs a CUDA device: at discovery it asks <see cref="CudaBackend.GetDevices(out string?)"/> and, when there is none,
/// sets <see cref="FactAttribute.Skip"/> to the reason (no driver / no device), so the test is reported skipped, never passed.
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (CudaBackend.GetDevices(out var reason).Count == 0) Skip = $"Needs a CUDA device: {reason}";
    }
}
