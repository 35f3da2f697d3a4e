using CompactAI.Cuda;

namespace CompactAI.Tests.Cuda;

/// <summary>One backend on ILGPU's CPU accelerator shared by the CUDA kernel tests, so each kernel is compiled once.</summary>
public sealed class CpuAcceleratorFixture : IDisposable
{
    internal CudaBackend Backend { get; } = CudaBackend.CreateCpuAccelerator();

    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class CpuAcceleratorCollection : ICollectionFixture<CpuAcceleratorFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
