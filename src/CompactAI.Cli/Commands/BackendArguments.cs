namespace CompactAI.Cli.Commands;

/// <summary>
/// The device options shared by the commands that run a model: <c>--backend cpu|cuda|auto</c> (default auto),
/// <c>--gpu-layers N</c> (blocks on the device; default all) and <c>--device N</c> (CUDA device index; default 0).
/// </summary>
internal static class BackendArguments
{
    /// <summary>Reads the three options into load options.</summary>
    public static CompactModelOptions Apply(CliArguments a, CompactModelOptions options)
    {
        string backend = a.String("backend") ?? "auto";
        var kind = backend.ToLowerInvariant() switch
        {
            "auto" => ComputeBackend.Auto,
            "cpu" => ComputeBackend.Cpu,
            "cuda" => ComputeBackend.Cuda,
            _ => throw new UsageException($"option --backend must be cpu, cuda or auto, not '{backend}'"),
        };
        return options with
        {
            Backend = kind,
            GpuLayers = a.OptionalInt("gpu-layers", 0, 100_000),
            DeviceIndex = a.Int("device", 0, 0, 1024),
        };
    }
}
