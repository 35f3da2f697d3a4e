using System.Diagnostics.CodeAnalysis;
using CompactAI.Models;
using Microsoft.Extensions.Logging;

namespace CompactAI.Backends;

/// <summary>
/// Decides where a model runs from <see cref="CompactModelOptions.Backend"/>: the CPU, or a device of a provider found at run time
/// (the core does not reference <c>CompactAI.Cuda</c>; it looks the provider up by name). Logs the decision, or why the CPU was
/// chosen, as one line.
/// </summary>
internal static class BackendSelector
{
    /// <summary>The CUDA provider's assembly-qualified name.</summary>
    internal const string CudaProviderTypeName = "CompactAI.Cuda.CudaDeviceProvider, CompactAI.Cuda";

    /// <summary>The LLamaSharp (llama.cpp) provider's assembly-qualified name.</summary>
    internal const string LLamaSharpProviderTypeName = "CompactAI.LLamaSharp.LLamaSharpDeviceProvider, CompactAI.LLamaSharp";

    /// <summary>The outcome: the device model (null for the CPU) and the one-line description that was logged.</summary>
    internal readonly record struct Choice(IDeviceModel? Device, string Description);

    /// <summary>The provider type <paramref name="typeName"/> (assembly-qualified) when its assembly can be loaded, else null with the reason.</summary>
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.NonPublicConstructors,
        "CompactAI.Cuda.CudaDeviceProvider", "CompactAI.Cuda")]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.NonPublicConstructors,
        "CompactAI.LLamaSharp.LLamaSharpDeviceProvider", "CompactAI.LLamaSharp")]
    [UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "The type is kept by the DynamicDependency above when its assembly is present.")]
    internal static IDeviceProvider? FindProvider(string typeName, out string? reason)
    {
        string assembly = typeName[(typeName.IndexOf(',') + 1)..].Trim();
        Type? type;
        try
        {
            type = Type.GetType(typeName, throwOnError: false);
        }
        catch (Exception e) when (e is FileLoadException or BadImageFormatException)
        {
            reason = $"the {assembly} assembly could not be loaded ({e.Message})";
            return null;
        }
        if (type is null)
        {
            reason = $"the {assembly} package is not referenced";
            return null;
        }
        reason = null;
        return (IDeviceProvider)Activator.CreateInstance(type, nonPublic: true)!;
    }

    /// <summary>Chooses and loads; with <see cref="ComputeBackend.Cuda"/> a failure throws, with <see cref="ComputeBackend.Auto"/> it falls back to the CPU.</summary>
    /// <exception cref="BackendUnavailableException">Cuda was asked for and cannot be used.</exception>
    /// <exception cref="DeviceOutOfMemoryException">Cuda was asked for and the device has too little free memory.</exception>
    public static Choice Select(CompactModelOptions options, ModelConfig config, ModelWeights weights, int contextSize, int maxBatch, string modelName)
    {
        var logger = options.LoggerFactory?.CreateLogger("CompactAI.CompactModel");
        var choice = SelectCore(options, config, weights, contextSize, maxBatch);
        logger?.LogInformation("Model {Model} runs on {Placement}", modelName, choice.Description);
        return choice;
    }

    /// <summary>
    /// Loads the model into llama.cpp through the <c>CompactAI.LLamaSharp</c> provider (<paramref name="provider"/>, found with
    /// <see cref="FindProvider"/>) and logs the choice; <paramref name="why"/> (for <see cref="ComputeBackend.Auto"/>: why our
    /// engine does not run the file) ends the description.
    /// </summary>
    /// <exception cref="BackendUnavailableException">llama.cpp cannot load the file, or its native library is missing.</exception>
    public static Choice SelectLLamaSharp(IDeviceProvider provider, CompactModelOptions options, ModelConfig config, string path,
        int contextSize, int maxBatch, string modelName, string? why)
    {
        var logger = options.LoggerFactory?.CreateLogger("CompactAI.CompactModel");
        var device = provider.Load(new DeviceLoadRequest(config, null, options.DeviceIndex, config.BlockCount, contextSize, maxBatch)
        {
            FilePath = path,
            Threads = options.Threads ?? Environment.ProcessorCount,
        });
        var choice = new Choice(device, why is null ? device.Description : $"{device.Description}: {why}");
        logger?.LogInformation("Model {Model} runs on {Placement}", modelName, choice.Description);
        return choice;
    }

    private static Choice SelectCore(CompactModelOptions options, ModelConfig config, ModelWeights weights, int contextSize, int maxBatch)
    {
        int threads = options.Threads ?? Environment.ProcessorCount;
        string cpu = $"the CPU ({threads} thread{(threads == 1 ? "" : "s")})";
        if (options.Backend == ComputeBackend.Cpu) return new Choice(null, cpu);
        if (options.GpuLayers == 0) return new Choice(null, $"{cpu}: GpuLayers is 0");

        string? reason = null;
        if (options.DeviceProvider is null && options.Backend == ComputeBackend.Auto && CudaDriverMissing() is { } noDriver)
        {
            // Checked before the CUDA assembly is looked up: on a machine without the driver, Auto loads neither it nor ILGPU.
            return new Choice(null, $"{cpu}: CUDA not used because {Uncapitalize(noDriver)}");
        }
        var provider = options.DeviceProvider ?? FindProvider(CudaProviderTypeName, out reason);
        if (provider is null)
        {
            if (options.Backend == ComputeBackend.Cuda) throw new BackendUnavailableException(ComputeBackend.Cuda, reason!);
            return new Choice(null, $"{cpu}: CUDA not used because {reason}");
        }
        int layers = Math.Min(options.GpuLayers ?? config.BlockCount, config.BlockCount);
        try
        {
            var device = provider.Load(new DeviceLoadRequest(config, weights, options.DeviceIndex, layers, contextSize, maxBatch));
            return new Choice(device, device.Description);
        }
        catch (BackendUnavailableException e) when (options.Backend == ComputeBackend.Auto)
        {
            return new Choice(null, $"{cpu}: CUDA not used because {Uncapitalize(e.Reason)}");
        }
    }

    /// <summary>The CUDA driver's library on this platform.</summary>
    internal static string CudaDriverLibrary => OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";

    /// <summary>Why the CUDA driver library cannot be used, or null when it loads (also the first check of <c>CudaBackend.GetDevices</c>).</summary>
    internal static string? CudaDriverMissing()
    {
        if (OperatingSystem.IsMacOS()) return "CUDA is not available on macOS.";
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad(CudaDriverLibrary, out var handle))
            return $"No CUDA driver: {CudaDriverLibrary} could not be loaded (install the NVIDIA driver).";
        System.Runtime.InteropServices.NativeLibrary.Free(handle);
        return null;
    }

    private static string Uncapitalize(string s) =>
        s.Length > 1 && char.IsUpper(s[0]) && !char.IsUpper(s[1]) ? char.ToLowerInvariant(s[0]) + s[1..] : s;
}
