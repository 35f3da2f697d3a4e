using System.Diagnostics;

namespace CompactAI.Tests.Cli;

/// <summary>Runs the real <c>compactai</c> executable (CompactAI.Cli.dll beside the tests) as a child process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public string LastLine => StdOut.TrimEnd('\n', '\r').Split('\n')[^1];
    }

    public static Result Run(params string[] args) => RunWithInput(null, args);

    public static Result RunWithInput(string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            RedirectStandardInput = stdin is not null,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CompactAI.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"compactai {string.Join(' ', args)} did not finish in 120 s");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
