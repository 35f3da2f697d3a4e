using System.CommandLine;
using CompactAI.Cli;
using CliProgram = CompactAI.Cli.Program;

namespace CompactAI.Tests.Cli;

/// <summary>
/// The CLI's command tree in-process (System.CommandLine): generated help for every command, the shared load and sampling
/// switches on every command that loads a model, validation messages, and the <c>[suggest]</c> completion directive.
/// </summary>
public sealed class CliParserTests
{
    private static readonly string[] s_commands = ["generate", "chat", "tokenize", "inspect", "bench", "quantize", "confidence", "calibrate", "synth", "merge-lora"];

    /// <summary>The commands that load a model, with the other options each one requires.</summary>
    public static TheoryData<string, string[]> ModelCommands => new()
    {
        { "generate", ["--prompt", "x"] },
        { "chat", [] },
        { "bench", [] },
        { "confidence", ["--prompt", "x"] },
        { "calibrate", ["--data", "labelled.jsonl"] },
    };

    private static async Task<(int ExitCode, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int rc = await CliProgram.RunAsync(args, output, error, CancellationToken.None);
        return (rc, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task RootHelpListsEveryCommand()
    {
        Assert.Equal(s_commands.Order(), CliProgram.Root.Subcommands.Select(c => c.Name).Order());
        var (rc, output, error) = await RunAsync("--help");
        Assert.Equal(0, rc);
        Assert.Equal("", error);
        foreach (var name in s_commands) Assert.Matches($@"(?m)^\s+{name}\b", output);
    }

    [Fact]
    public async Task EveryCommandHasHelpListingEachOfItsOptions()
    {
        foreach (var command in CliProgram.Root.Subcommands)
        {
            var (rc, output, _) = await RunAsync(command.Name, "--help");
            Assert.Equal(0, rc);
            Assert.Contains($"compactai {command.Name}", output);
            foreach (var option in command.Options) Assert.Contains(option.Name, output);
        }
    }

    [Fact]
    public async Task NoArgumentsPrintsUsageAndHelpOnStderr()
    {
        var (rc, output, error) = await RunAsync();
        Assert.Equal(2, rc);
        Assert.Equal("", output);
        Assert.StartsWith("usage: compactai", error);
        Assert.Contains("generate", error);
    }

    [Theory]
    [MemberData(nameof(ModelCommands))]
    public void ModelCommandsShareTheLoadSwitches(string name, string[] required)
    {
        var command = CliProgram.Root.Subcommands.Single(c => c.Name == name);
        // The same option instances (declared once), not look-alikes.
        foreach (var option in ModelOptions.All) Assert.Contains(option, command.Options);

        var parse = CliProgram.Parse([name, "--model", "m.gguf", "--threads", "3", "--ctx", "256", "--backend", "CUDA", "--gpu-layers", "2",
            "--device", "1", "--kernels", "managed", .. required]);
        Assert.Empty(parse.Errors);
        Assert.Same(command, parse.CommandResult.Command);
        Assert.Equal("m.gguf", ModelOptions.PathOf(parse));
        var options = ModelOptions.Read(parse, new CompactModelOptions { BatchSize = 7 });
        Assert.Equal(3, options.Threads);
        Assert.Equal(256, options.ContextSize);
        Assert.Equal(ComputeBackend.Cuda, options.Backend);
        Assert.Equal(2, options.GpuLayers);
        Assert.Equal(1, options.DeviceIndex);
        Assert.Equal(CpuKernels.Managed, options.CpuKernels);
        Assert.Equal(7, options.BatchSize);

        // Not given: the command's baseline stays.
        var bare = ModelOptions.Read(CliProgram.Parse([name, "--model", "m.gguf", .. required]), new CompactModelOptions { ContextSize = 99 });
        Assert.Equal(99, bare.ContextSize);
        Assert.Null(bare.Threads);
        Assert.Equal(new CompactModelOptions().Backend, bare.Backend);
    }

    [Fact]
    public void ModelOptionsAreOnEveryCommandThatLoadsAModelAndNoOther()
    {
        var loading = CliProgram.Root.Subcommands.Where(c => c.Options.Contains(ModelOptions.Threads)).Select(c => c.Name).Order();
        Assert.Equal(ModelCommands.Select(row => (string)row[0]).Order(), loading);
    }

    [Theory]
    [InlineData("generate", "--prompt", "x")]
    [InlineData("chat")]
    public void SamplingCommandsShareTheSamplingSwitches(string name, params string[] required)
    {
        var parse = CliProgram.Parse([name, "--model", "m.gguf", .. required, "--temp", "0.5", "--top-k", "5", "--top-p", "0.9", "--min-p", "0.1",
            "--repeat-penalty", "1.1", "--frequency-penalty", "0.2", "--presence-penalty", "-0.3", "--seed", "42"]);
        Assert.Empty(parse.Errors);
        var s = SamplingArguments.Read(parse);
        Assert.Equal((0.5f, 5, 0.9f, 0.1f, 1.1f, 0.2f, -0.3f, (ulong?)42),
            (s.Temperature, s.TopK, s.TopP, s.MinP, s.RepeatPenalty, s.FrequencyPenalty, s.PresencePenalty, s.Seed));
        Assert.Equal(0.25f, SamplingArguments.Read(CliProgram.Parse([name, "--model", "m.gguf", .. required, "--temperature=0.25"])).Temperature);

        var defaults = SamplingArguments.Read(CliProgram.Parse([name, "--model", "m.gguf", .. required]));
        Assert.Equal(new CompactAI.Sampling.SamplingOptions(), defaults);
    }

    [Theory]
    [InlineData("compactai: option --top-p must be a number in [0, 1], not '2'", "generate", "--model", "m", "--prompt", "x", "--top-p", "2")]
    [InlineData("compactai: option --threads must be an integer in [1, 1024], not '0'", "bench", "--model", "m", "--threads", "0")]
    [InlineData("compactai: option --kernels must be auto, managed or native, not 'gpu'", "chat", "--model", "m", "--kernels", "gpu")]
    [InlineData("compactai: option --seed must be a non-negative integer, not '-1'", "generate", "--model", "m", "--prompt", "x", "--seed", "-1")]
    [InlineData("compactai: Option '--ctx' expects a single argument but 2 were provided.", "confidence", "--model", "m", "--prompt", "x", "--ctx", "1", "--ctx", "2")]
    [InlineData("compactai: unknown option --bogus for 'calibrate'", "calibrate", "--model", "m", "--data", "d", "--bogus")]
    [InlineData("compactai: Option '--model' is required.", "bench")]
    public async Task ValidationErrorsNameTheOptionTheValueAndWhatIsAllowed(string message, params string[] args)
    {
        var (rc, output, error) = await RunAsync(args);
        Assert.Equal(2, rc);
        Assert.Equal("", output);
        Assert.Equal(message, error.TrimEnd('\n', '\r'));
    }

    [Fact]
    public void ValuesStartingWithAtAreNotResponseFiles()
    {
        var parse = CliProgram.Parse(["generate", "--model", "m.gguf", "--prompt", "@someone hello"]);
        Assert.Empty(parse.Errors);
        Assert.Equal("@someone hello", parse.GetValue<string>("--prompt"));
    }

    [Theory]
    [InlineData("compactai be", "bench")]
    [InlineData("compactai bench --backend ", "auto", "cpu", "cuda")]
    [InlineData("compactai generate --kernels ", "auto", "managed", "native")]
    [InlineData("compactai generate --to", "--top-k", "--top-p")]
    [InlineData("compactai quantize in.gguf out.gguf Q4_K", "Q4_K_M", "Q4_K_S")]
    public async Task SuggestDirectiveCompletesCommandsOptionsAndValues(string line, params string[] expected)
    {
        var (rc, output, _) = await RunAsync($"[suggest:{line.Length}]", line);
        Assert.Equal(0, rc);
        Assert.Equal(expected.Order(), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
    }
}
