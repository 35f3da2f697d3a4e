using System.Diagnostics;

namespace CompactAI.Tests.Packaging;

/// <summary>
/// Runs <c>scripts/package-smoke.sh</c>: packs CompactAI and CompactAI.Hosting, restores <c>tests/PackageSmoke</c> from the
/// local folder feed and checks the greedy continuation of stories260K through the packages. About 20–60 s (pack and restore).
/// </summary>
/// <remarks>Runs alone (its pack and restore would compete for the cores with timing-sensitive tests).</remarks>
[Collection(nameof(PackageSmokeTests))]
public sealed class PackageSmokeTests
{
    [Fact]
    public async Task PackedPackages_RestoreAndGenerateTheGreedyContinuation()
    {
        string root = RepositoryRoot();
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList = { Path.Combine(root, "scripts", "package-smoke.sh"), TestData.Stories260K },
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // The test host's MSBuild settings must not leak into the script's own dotnet builds.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" }) start.Environment.Remove(name);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"package-smoke.sh exited with {process.ExitCode}:\n{output}");
        Assert.Contains("generate: , there was a little girl named Lily", output);
        Assert.Contains("package-smoke: OK", output);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CompactAI.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No CompactAI.sln above '{AppContext.BaseDirectory}'.");
    }
}

[CollectionDefinition(nameof(PackageSmokeTests), DisableParallelization = true)]
public sealed class PackageSmokeCollection;
