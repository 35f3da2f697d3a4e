using CompactAI.Cli.Commands;
using CompactAI.Gguf;

namespace CompactAI.Cli;

/// <summary>
/// <c>compactai</c>: generate, tokenize, inspect and bench GGUF models. Errors are one line on stderr and a non-zero
/// exit code (2: usage, 1: failure, 130: cancelled), never a stack trace.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: compactai <command> [options]

          generate  --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
                    [--min-p P] [--repeat-penalty R] [--seed S] [--stop TEXT] [--threads N] [--ctx N] [--json]
          tokenize  --model PATH (--cases FILE | --text TEXT) [--bos]
          inspect   --model PATH [--all]
          bench     --model PATH [--threads N] [--prompt-tokens 128] [--gen-tokens 64] [--repetitions 3] [--json]
        """;

    private static async Task<int> Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                (args.Length == 0 ? Console.Error : Console.Out).WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }
            var rest = args[1..];
            return args[0] switch
            {
                "generate" => await GenerateCommand.RunAsync(rest, cts.Token),
                "tokenize" => TokenizeCommand.Run(rest),
                "inspect" => InspectCommand.Run(rest),
                "bench" => await BenchCommand.RunAsync(rest, cts.Token),
                _ => throw new UsageException($"unknown command '{args[0]}' (try: generate, tokenize, inspect, bench)"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"compactai: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("compactai: cancelled");
            return 130;
        }
        catch (Exception e) when (e is GgufFormatException or FileNotFoundException or DirectoryNotFoundException or NotSupportedException
                                   or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or FormatException)
        {
            Console.Error.WriteLine($"compactai: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }
}
