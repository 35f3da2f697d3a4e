using CompactAI.Backends;
using CompactAI.Cuda;
using CompactAI.Tensors.Quantization;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Cuda;

/// <summary>
/// Choosing the backend (<see cref="CompactModelOptions.Backend"/>): the logged decision and its reasons, the typed exceptions of an
/// explicit Cuda request, out-of-memory before and after load, and the device memory accounting.
/// </summary>
public sealed class CudaBackendSelectionTests
{
    private static CompactModelOptions Options(ComputeBackend backend, RecordingLoggerFactory? log = null) =>
        new() { Threads = 1, ContextSize = 64, Backend = backend, LoggerFactory = log };

    [Fact]
    public void Cpu_RunsOnCpu_AndLogsOneLine()
    {
        var log = new RecordingLoggerFactory();
        using var model = CompactModel.Load(TestData.Stories260K, Options(ComputeBackend.Cpu, log));
        Assert.Equal(ComputeBackend.Cpu, model.Backend);
        Assert.Equal(0, model.DeviceLayers);
        var entry = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Equal("CompactAI.CompactModel", entry.Category);
        Assert.Contains("runs on the CPU (1 thread)", entry.Message);
        Assert.Equal(model.BackendDescription, entry.Message[(entry.Message.IndexOf(" runs on ", StringComparison.Ordinal) + 9)..]);
    }

    [Fact]
    public void Auto_WithoutUsableDevice_FallsBackToCpu_WithTheReason()
    {
        var devices = CudaBackend.GetDevices(out var reason);
        var log = new RecordingLoggerFactory();
        using var model = CompactModel.Load(TestData.Stories260K, Options(ComputeBackend.Auto, log));
        var entry = Assert.Single(log.Entries);
        if (devices.Count == 0)
        {
            Assert.Equal(ComputeBackend.Cpu, model.Backend);
            Assert.Contains("the CPU", model.BackendDescription);
            Assert.Contains(reason!.TrimEnd('.')[1..], model.BackendDescription); // the driver's reason, whatever its first letter's case
            Assert.Contains(model.BackendDescription, entry.Message);
        }
        else
        {
            Assert.Equal(ComputeBackend.Cuda, model.Backend);
            Assert.Contains("CUDA device #0", entry.Message);
        }
    }

    [Fact]
    public void Cuda_WithoutUsableDevice_ThrowsWithTheReason()
    {
        if (CudaBackend.GetDevices(out var reason).Count > 0) return; // with a device, Cuda loads: see CudaDeviceTests
        var e = Assert.Throws<BackendUnavailableException>(() => CompactModel.Load(TestData.Stories260K, Options(ComputeBackend.Cuda)));
        Assert.Equal(ComputeBackend.Cuda, e.Backend);
        Assert.Equal(reason, e.Reason);
        Assert.Contains(reason!, e.Message);
    }

    [Fact]
    public void MissingPackage_IsReportedByName()
    {
        Assert.Null(BackendSelector.FindProvider("CompactAI.Nothing.Provider, CompactAI.Nothing", out var reason));
        Assert.Equal("the CompactAI.Nothing package is not referenced", reason);
        Assert.IsType<CudaDeviceProvider>(BackendSelector.FindProvider(BackendSelector.CudaProviderTypeName, out reason));
        Assert.Null(reason);
    }

    [Fact]
    public void InvalidOptions_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { Backend = ComputeBackend.Cuda, GpuLayers = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { DeviceIndex = -1 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { GpuLayers = -2 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactModelOptions { Backend = (ComputeBackend)7 }.Validate());
    }

    [Fact]
    public void UnsupportedTensorType_CudaThrows_AutoFallsBack()
    {
        string path = DeviceModelFiles.Synthetic("tiny-llama", QuantizationPreset.Q4_1);
        using var backend = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 2);
        var e = Assert.Throws<BackendUnavailableException>(() => CompactModel.Load(path, DeviceModelFiles.OnDevice(backend)));
        Assert.Contains("do not decode Q4_1", e.Reason);
        using var model = CompactModel.Load(path, DeviceModelFiles.OnDevice(backend, kind: ComputeBackend.Auto));
        Assert.Equal(ComputeBackend.Cpu, model.Backend);
        Assert.Contains("CUDA not used because the CUDA kernels do not decode Q4_1", model.BackendDescription);
        Assert.Equal(0, backend.AllocatedBytes);
    }

    /// <summary>The memory estimate is what is allocated: for the weights at load and for each session; and all of it is freed.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData(2)]
    public void MemoryEstimate_IsWhatIsAllocated(int? gpuLayers)
    {
        using var backend = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 2);
        var session = default(CompactAI.Inference.InferenceSession);
        using (var model = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(backend, gpuLayers)))
        {
            int layers = model.DeviceLayers;
            Assert.Equal(DeviceMemoryEstimate.Weights(model.Config, model.Weights, layers), backend.AllocatedBytes);
            long before = backend.AllocatedBytes;
            session = model.CreateSession();
            Assert.Equal(DeviceMemoryEstimate.KvCache(model.Config, layers, 64) + DeviceMemoryEstimate.Scratch(model.Config, 64, 32, layers == 5),
                backend.AllocatedBytes - before);
        }
        // The model was disposed first: its weights stay until its last session goes.
        Assert.True(backend.AllocatedBytes > 0);
        session.Dispose();
        Assert.Equal(0, backend.AllocatedBytes);
    }

    /// <summary>
    /// A device too small for the weights: Cuda throws with the numbers before uploading anything; Auto falls back and says why.
    /// A device with room for the weights and one session: the second session is refused with the numbers, the first keeps working.
    /// </summary>
    [Fact]
    public async Task OutOfMemory_IsATypedException_WithTheNumbers()
    {
        long weights, session;
        using (var probe = CompactModel.Load(TestData.Stories260K, Options(ComputeBackend.Cpu)))
        {
            weights = DeviceMemoryEstimate.Weights(probe.Config, probe.Weights, 5);
            session = DeviceMemoryEstimate.KvCache(probe.Config, 5, 64) + DeviceMemoryEstimate.Scratch(probe.Config, 64, 32, true);
        }
        using (var tiny = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 2, memoryBytes: weights))
        {
            var e = Assert.Throws<DeviceOutOfMemoryException>(() => CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(tiny)));
            Assert.Equal(weights + session, e.RequiredBytes);
            Assert.Equal(weights, e.FreeBytes);
            Assert.Contains("too little free memory", e.Message);
            Assert.Contains($"free {weights >> 20} MiB", e.Message);
            Assert.Equal(0, tiny.AllocatedBytes);
            var log = new RecordingLoggerFactory();
            using var fallback = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(tiny, kind: ComputeBackend.Auto) with { LoggerFactory = log });
            Assert.Equal(ComputeBackend.Cpu, fallback.Backend);
            Assert.Contains("too little free memory", Assert.Single(log.Entries).Message);
        }
        using var small = CudaBackend.CreateCpuAccelerator(threadsPerWarp: 2, memoryBytes: weights + session + session / 2);
        using var model = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(small));
        using var first = model.CreateSession();
        var refused = Assert.Throws<DeviceOutOfMemoryException>(() => model.CreateSession());
        Assert.Equal(session, refused.RequiredBytes);
        Assert.Equal(session / 2, refused.FreeBytes);
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        var result = await first.GenerateTextAsync(golden.PromptIds, new CompactAI.Inference.GenerationOptions
        {
            MaxTokens = 8, Sampling = CompactAI.Sampling.SamplingOptions.Greedy, IgnoreEndOfSequence = true,
        });
        Assert.Equal(golden.OutputIds.Take(8), result.Tokens.Select(t => t.Id));
    }
}
