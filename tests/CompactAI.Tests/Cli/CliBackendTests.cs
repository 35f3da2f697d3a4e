using System.Text.Json;
using CompactAI.Cuda;

namespace CompactAI.Tests.Cli;

/// <summary>
/// The CLI's device options: <c>inspect --devices</c>, <c>bench</c>/<c>generate --backend</c>. Without a CUDA device (CI) the CUDA
/// paths must fail with the reason and exit code 1; with one they must run on it.
/// </summary>
public sealed class CliBackendTests
{
    private static readonly bool s_hasDevice = CudaBackend.GetDevices(out _).Count > 0;

    [Fact]
    public void InspectDevices_ListsDevices_OrSaysWhyNone()
    {
        var devices = CudaBackend.GetDevices(out var reason);
        var r = CliRunner.Run("inspect", "--devices");
        Assert.Equal(0, r.ExitCode);
        if (devices.Count == 0)
        {
            Assert.Equal($"cuda devices:  none: {reason}", r.StdOut.TrimEnd());
        }
        else
        {
            Assert.StartsWith($"cuda devices:  {devices.Count}", r.StdOut);
            Assert.Contains($"#0 {devices[0].Name}", r.StdOut);
            Assert.Contains("compute capability", r.StdOut);
        }
    }

    [Fact]
    public void InspectDevices_WithModel_PrintsBoth()
    {
        var r = CliRunner.Run("inspect", "--devices", "--model", TestData.Stories260K);
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("cuda devices:", r.StdOut);
        Assert.Contains("architecture:  llama", r.StdOut);
    }

    [Fact]
    public void BenchOnCuda_RunsThere_OrFailsWithTheReason()
    {
        var r = CliRunner.Run("bench", "--model", TestData.Stories260K, "--backend", "cuda", "--prompt-tokens", "8", "--gen-tokens", "4",
            "--repetitions", "1", "--json");
        if (!s_hasDevice)
        {
            CudaBackend.GetDevices(out var reason);
            Assert.Equal(1, r.ExitCode);
            Assert.Equal($"compactai: The Cuda backend cannot run this model: {reason}", r.StdErr.TrimEnd());
            Assert.Equal("", r.StdOut);
            return;
        }
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        Assert.Equal("cuda", doc.RootElement.GetProperty("backend").GetString());
        Assert.Equal(5, doc.RootElement.GetProperty("gpu_layers").GetInt32());
    }

    [Fact]
    public void BenchOnCpu_ReportsTheBackend()
    {
        var r = CliRunner.Run("bench", "--model", TestData.Stories260K, "--backend", "cpu", "--prompt-tokens", "8", "--gen-tokens", "4",
            "--repetitions", "1", "--threads", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("backend: the CPU (1 thread)", r.StdOut);
        using var doc = JsonDocument.Parse(r.LastLine);
        Assert.Equal("cpu", doc.RootElement.GetProperty("backend").GetString());
        Assert.Equal(0, doc.RootElement.GetProperty("gpu_layers").GetInt32());
    }

    [Fact]
    public void BadBackendOptions_AreUsageErrors()
    {
        var r = CliRunner.Run("bench", "--model", TestData.Stories260K, "--backend", "tpu");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("compactai: option --backend must be cpu, cuda or auto, not 'tpu'", r.StdErr.TrimEnd());
        r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", "x", "--gpu-layers", "-1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--gpu-layers", r.StdErr);
    }

    [Fact]
    public void GenerateOnAutoBackend_MatchesTheGreedyGolden()
    {
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        var r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", golden.Prompt, "--backend", "auto",
            "--max-tokens", golden.OutputIds.Length.ToString(), "--temperature", "0", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        Assert.Equal(golden.OutputIds, doc.RootElement.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()));
    }
}
