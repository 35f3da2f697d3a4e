using CompactAI.Cuda;
using CompactAI.Models.Synthetic;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Cuda;

/// <summary>Tiny synthetic models written once per test run, and loading helpers for the CPU-accelerator device.</summary>
internal static class DeviceModelFiles
{
    private static readonly string s_dir = Directory.CreateTempSubdirectory("compactai-cuda-").FullName;
    private static readonly Lock s_lock = new();

    /// <summary>The path of shape <paramref name="shape"/> in <paramref name="preset"/> (null: F32), written on first use.</summary>
    public static string Synthetic(string shape, QuantizationPreset? preset = null)
    {
        string path = Path.Combine(s_dir, $"{shape}-{preset?.ToString() ?? "F32"}.gguf");
        lock (s_lock)
        {
            if (!File.Exists(path)) SyntheticModel.Write(ModelShape.For(shape), preset, TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), path, seed: 1);
        }
        return path;
    }

    /// <summary>Options that put the model on <paramref name="backend"/> (kernels on ILGPU's CPU accelerator).</summary>
    public static CompactModelOptions OnDevice(CudaBackend backend, int? gpuLayers = null, ComputeBackend kind = ComputeBackend.Cuda) => new()
    {
        Threads = 1,
        ContextSize = 64,
        BatchSize = 32,
        Backend = kind,
        GpuLayers = gpuLayers,
        DeviceProvider = CudaDeviceProvider.For(backend),
    };

    /// <summary>The same options on the CPU engine.</summary>
    public static CompactModelOptions OnCpu() => new() { Threads = 1, ContextSize = 64, BatchSize = 32, Backend = ComputeBackend.Cpu };

    /// <summary>Greedy tokens after <paramref name="prompt"/>.</summary>
    public static async Task<int[]> Greedy(CompactModel model, IReadOnlyList<int> prompt, int count)
    {
        using var session = model.CreateSession();
        var result = await session.GenerateTextAsync(prompt, new CompactAI.Inference.GenerationOptions
        {
            MaxTokens = count,
            Sampling = CompactAI.Sampling.SamplingOptions.Greedy,
            IgnoreEndOfSequence = true,
        });
        return result.Tokens.Select(t => t.Id).ToArray();
    }
}
