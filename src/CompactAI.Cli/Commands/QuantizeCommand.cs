using System.CommandLine;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Cli.Commands;

/// <summary><c>compactai quantize IN.gguf OUT.gguf TYPE [--pure]</c>: llama-quantize's presets (Q4_K_M, Q8_0, ...).</summary>
internal static class QuantizeCommand
{
    private static readonly Argument<string> Input = new("IN.gguf") { Description = "The model to quantize." };
    private static readonly Argument<string> Output = new("OUT.gguf") { Description = "The file to write." };
    private static readonly Argument<string> Type = new("TYPE") { HelpName = "TYPE", Description = $"The preset: {string.Join(", ", Enum.GetNames<QuantizationPreset>())}." };
    private static readonly Option<bool> Pure = CliOption.Flag("--pure", "Every matrix in TYPE (no per-tensor mix).");

    public static Command Create()
    {
        Type.CompletionSources.Add(Enum.GetNames<QuantizationPreset>());
        var command = new Command("quantize", "Quantize a GGUF model with llama-quantize's presets (Q4_K_M, Q8_0, ...).") { Input, Output, Type, Pure };
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string input = p.GetRequiredValue(Input), output = p.GetRequiredValue(Output);
        var preset = ParsePreset(p.GetRequiredValue(Type));
        var options = new QuantizationOptions { Pure = p.GetValue(Pure) };
        await CliProgress.RunAsync(CliProgress.Enabled(json: false), $"quantizing to {preset}", progress => Task.Run(() =>
        {
            ModelQuantizer.Quantize(input, output, preset, options, progress, ct);
            return 0;
        }, ct));
        Console.Out.WriteLine($"wrote {output} ({new FileInfo(output).Length / 1e6:F1} MB, {preset})");
        return 0;
    }

    public static QuantizationPreset ParsePreset(string text) =>
        Enum.TryParse<QuantizationPreset>(text, ignoreCase: true, out var p) && Enum.IsDefined(p)
            ? p
            : throw new UsageException($"unknown type '{text}' (one of: {string.Join(", ", Enum.GetNames<QuantizationPreset>())})");
}
