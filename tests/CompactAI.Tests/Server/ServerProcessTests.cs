using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace CompactAI.Tests.Server;

/// <summary>The server sample as a process: its command line (<c>--model</c>, <c>--urls</c>, <c>--api-key</c>), start-up and configuration errors.</summary>
public sealed partial class ServerProcessTests
{
    private static string ServerDll => Path.Combine(AppContext.BaseDirectory, "CompactAI.Server.dll");

    [Fact]
    public async Task CommandLine_ServesOnLoopback_WithTheApiKey()
    {
        using var process = Start("--model", TestData.Stories260K, "--urls", "http://127.0.0.1:0", "--api-key", "cli-key", "--threads", "1", "--model-id", "tiny");
        try
        {
            var address = await ListeningAddressAsync(process);
            Assert.Equal("127.0.0.1", address.Host);
            using var http = new HttpClient { BaseAddress = address };

            using (var anonymous = await http.GetAsync("v1/models"))
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

            using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "cli-key");
            using var models = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
            Assert.Contains("\"id\":\"tiny\"", await models.Content.ReadAsStringAsync());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task MissingModel_ExitsWith2_NamingTheField()
    {
        using var process = Start("--model", Path.Combine(Path.GetTempPath(), "no-such-model.gguf"), "--urls", "http://127.0.0.1:0");
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("ModelPath", await stderr);
    }

    [Theory]
    [InlineData("--timeout", "-1", "GenerationTimeoutSeconds")]
    [InlineData("--max-queue", "-5", "MaxQueuedRequests")]
    public async Task NegativeLimit_ExitsWith2_NamingTheField(string flag, string value, string field)
    {
        using var process = Start("--model", TestData.Stories260K, "--urls", "http://127.0.0.1:0", flag, value);
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains(field, await stderr);
    }

    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        start.ArgumentList.Add(ServerDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["Logging__Console__FormatterName"] = "simple";
        return Process.Start(start)!;
    }

    /// <summary>Reads stdout until Kestrel reports its address (the port was 0: chosen by the OS).</summary>
    private static async Task<Uri> ListeningAddressAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var seen = new System.Text.StringBuilder();
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.AppendLine(line);
            if (ListeningPattern().Match(line) is { Success: true } m) return new Uri(m.Groups[1].Value.TrimEnd('/') + "/");
        }
        throw new InvalidOperationException($"The server exited ({(process.HasExited ? process.ExitCode : -1)}) without listening:\n{seen}\n{await process.StandardError.ReadToEndAsync()}");
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningPattern();
}
