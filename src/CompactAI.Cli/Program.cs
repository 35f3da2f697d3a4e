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
                    [--min-p P] [--repeat-penalty R] [--seed S] [--stop TEXT] [--threads N] [--ctx N] [--chat] [--json]
                    [--backend auto|cpu|cuda] [--gpu-layers N] [--device N] [--lora PATH[:SCALE][,…]]
          chat      --model PATH [--system TEXT] [--max-tokens N] [--temperature T] [--seed S] [--lora PATH[:SCALE][,…]]
          tokenize  --model PATH (--cases FILE | --text TEXT) [--bos]
          inspect   --model PATH [--all] | --devices [--model PATH]
          bench     --model PATH [--threads N] [--prompt-tokens 128] [--gen-tokens 64] [--repetitions 3] [--parallel N] [--json]
                    [--backend auto|cpu|cuda] [--gpu-layers N] [--device N] [--lora PATH[:SCALE][,…]]
          merge-lora BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]
          quantize  IN.gguf OUT.gguf TYPE [--pure]          TYPE: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S, Q6_K
          confidence --model PATH --prompt TEXT [--max-tokens N] [--json]
          calibrate --model PATH --data labelled.jsonl [--target-escalation R | --target-quality Q] [--out FILE]
          synth     --shape NAME --type TYPE --out FILE [--vocab GGUF] [--seed N]
                    NAME: smollm2-135m, qwen2.5-0.5b, llama3.2-1b, tiny-llama, tiny-qwen2, tiny-qwen3, tiny-gemma, tiny-gemma2, tiny-gemma3, tiny-phi3
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
                "quantize" => QuantizeCommand.Run(rest, cts.Token),
                "merge-lora" => MergeLoraCommand.Run(rest, cts.Token),
                "synth" => SynthCommand.Run(rest, cts.Token),
                "chat" => await ChatCommand.RunAsync(rest, cts.Token),
                "confidence" => await ConfidenceCommand.RunAsync(rest, cts.Token),
                "calibrate" => await CalibrateCommand.RunAsync(rest, cts.Token),
                _ => throw new UsageException($"unknown command '{args[0]}' (try: generate, tokenize, inspect, chat, bench, quantize, merge-lora, synth, confidence, calibrate)"),
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
        catch (Exception e) when (e is GgufFormatException or BackendUnavailableException or FileNotFoundException or DirectoryNotFoundException or NotSupportedException
                                   or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or FormatException)
        {
            Console.Error.WriteLine($"compactai: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }
}
