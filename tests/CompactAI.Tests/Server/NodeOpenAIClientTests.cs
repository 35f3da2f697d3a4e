using System.Diagnostics;
using System.Text.Json;

namespace CompactAI.Tests.Server;

/// <summary>Runs only where <c>node</c> and the <c>openai</c> package (<c>npm ci</c> in <c>Server/node</c>) are installed.</summary>
public sealed class NodeClientFactAttribute : FactAttribute
{
    /// <summary><c>tests/CompactAI.Tests/Server/node</c> of the checkout the tests were built from.</summary>
    public static string Folder { get; } = FindFolder();

    private static string FindFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CompactAI.sln"))) return Path.Combine(dir.FullName, "tests", "CompactAI.Tests", "Server", "node");
        return Path.Combine(AppContext.BaseDirectory, "node");
    }

    public NodeClientFactAttribute()
    {
        if (!File.Exists(Path.Combine(Folder, "node_modules", "openai", "package.json")))
            Skip = "Needs the openai npm client: cd tests/CompactAI.Tests/Server/node && npm ci";
    }
}

/// <summary>
/// The official <c>openai</c> npm client against the servers of <see cref="ToolServerFixture"/> (tool calls) and
/// <see cref="CompactAIServerFixture"/> (json_schema, logprobs): <c>Server/node/openai-client-check.mjs</c>, JSON and SSE.
/// </summary>
public sealed class NodeOpenAIClientTests(ToolServerFixture tools, CompactAIServerFixture plain, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<ToolServerFixture>, IClassFixture<CompactAIServerFixture>
{
    [NodeClientFact]
    public async Task OfficialNodeClient_ParsesToolCallsJsonSchemaAndLogprobs_JsonAndSse()
    {
        var start = new ProcessStartInfo("node", "openai-client-check.mjs")
        {
            WorkingDirectory = NodeClientFactAttribute.Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["TOOLS_URL"] = new Uri(tools.BaseAddress, "v1").ToString();
        start.Environment["PLAIN_URL"] = plain.OpenAIEndpoint.ToString();
        start.Environment["API_KEY"] = CompactAIServerFixture.ApiKey;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        string output = await stdout;
        log.WriteLine(output);
        Assert.True(process.ExitCode == 0, output + await stderr);
        using var results = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        string[] expected = ["tool_call_json", "tool_call_sse", "json_schema_json", "json_schema_sse", "logprobs_json", "logprobs_sse", "tools_nope_400", "no_tool_template_400"];
        Assert.Equal(expected, results.RootElement.EnumerateObject().Select(p => p.Name));
    }
}
