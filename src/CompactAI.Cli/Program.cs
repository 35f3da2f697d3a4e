using System.CommandLine;
using System.CommandLine.Invocation;
using CompactAI.Cli.Commands;
using CompactAI.Gguf;

namespace CompactAI.Cli;

/// <summary>
/// <c>compactai</c>: generate, tokenize, inspect and bench GGUF models, on System.CommandLine (generated help, the
/// <c>[suggest]</c> completion directive). Errors are one line on stderr and a non-zero exit code (2: usage, 1: failure,
/// 130: cancelled), never a stack trace.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        return await RunAsync(args, Console.Out, Console.Error, cts.Token);
    }

    /// <summary>
    /// The command tree, built once: every command with its options (the shared groups of <see cref="ModelOptions"/> and
    /// <see cref="SamplingArguments"/>, whose option instances each model command shares).
    /// </summary>
    internal static RootCommand Root { get; } = new RootCommand("compactai: generate, tokenize, inspect, quantize and bench GGUF models.")
    {
        GenerateCommand.Create(),
        ChatCommand.Create(),
        TokenizeCommand.Create(),
        InspectCommand.Create(),
        BenchCommand.Create(),
        QuantizeCommand.Create(),
        ConfidenceCommand.Create(),
        CalibrateCommand.Create(),
        SynthCommand.Create(),
        MergeLoraCommand.Create(),
    }.Named("compactai");

    /// <summary>The tool's name in help and usage lines, whichever host runs it (<c>dotnet CompactAI.Cli.dll</c>, a test).</summary>
    private static RootCommand Named(this RootCommand root, string name)
    {
        root.HelpName = name;
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> with the settings the tool uses: no response files (a prompt may start with <c>@</c>).
    /// </summary>
    internal static ParseResult Parse(IReadOnlyList<string> args) =>
        Root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });

    /// <summary>Runs one command line; help and completions go to <paramref name="output"/>, errors to <paramref name="error"/>.</summary>
    internal static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var config = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // Exceptions reach the handlers below (one line, the exit codes of the contract); Ctrl+C cancels ct (Main).
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        if (args.Length == 0)
        {
            error.WriteLine("usage: compactai <command> [options]");
            await Parse(["--help"]).InvokeAsync(new InvocationConfiguration { Output = error, Error = error }, ct);
            return 2;
        }
        if (args[0] == "help") args = [.. args[1..], "--help"];
        try
        {
            var parse = Parse(args);
            if (parse.Action is ParseErrorAction)
            {
                error.WriteLine($"compactai: {Describe(parse)}");
                return 2;
            }
            return await parse.InvokeAsync(config, ct);
        }
        catch (UsageException e)
        {
            error.WriteLine($"compactai: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("compactai: cancelled");
            return 130;
        }
        catch (Exception e) when (e is GgufFormatException or BackendUnavailableException or FileNotFoundException or DirectoryNotFoundException or NotSupportedException
                                   or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or FormatException)
        {
            error.WriteLine($"compactai: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    /// <summary>The first parse error as one line: unknown commands and options by name, then the options' own messages.</summary>
    private static string Describe(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (command is RootCommand)
                return $"unknown command '{token}' (try: {string.Join(", ", command.Subcommands.Select(c => c.Name))})";
            return token.StartsWith('-')
                ? $"unknown option {token} for '{command.Name}'"
                : $"unexpected argument '{token}' for '{command.Name}'";
        }
        return parse.Errors[0].Message.ReplaceLineEndings(" ");
    }
}
