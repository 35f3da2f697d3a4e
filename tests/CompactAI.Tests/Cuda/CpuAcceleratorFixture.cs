using CompactAI.Cuda;

namespace CompactAI.Tests.Cuda;

/// <summary>Backends on ILGPU's CPU accelerator shared by the CUDA tests, so each kernel is compiled once per backend.</summary>
public sealed class CpuAcceleratorFixture : IDisposable
{
    /// <summary>Warps of 8 simulated threads: the kernel tests, where lane striding and shuffle reductions take several steps.</summary>
    internal CudaBackend Backend { get; } = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 8);

    /// <summary>
    /// Warps of 2 threads: the whole-model test. The CPU accelerator pays a barrier per warp shuffle, so narrow warps keep thousands
    /// of launches fast on a 2-core machine (about 5 s for stories260K against about 20 s with warps of 4).
    /// </summary>
    internal CudaBackend Narrow { get; } = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 2);

    public void Dispose()
    {
        Backend.Dispose();
        Narrow.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class CpuAcceleratorCollection : ICollectionFixture<CpuAcceleratorFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
