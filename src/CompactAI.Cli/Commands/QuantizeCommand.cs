using CompactAI.Tensors.Quantization;

namespace CompactAI.Cli.Commands;

/// <summary><c>compactai quantize IN.gguf OUT.gguf TYPE [--pure]</c>: llama-quantize's presets (Q4_K_M, Q8_0, ...).</summary>
internal static class QuantizeCommand
{
    public static int Run(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string> { "pure" });
        bool pure = a.Flag("pure");
        a.RejectUnknown("quantize");
        if (a.Positionals.Count != 3) throw new UsageException("usage: compactai quantize IN.gguf OUT.gguf TYPE [--pure]");
        var preset = ParsePreset(a.Positionals[2]);
        int lastPercent = -1;
        var progress = new Progress<float>(p =>
        {
            int percent = (int)(p * 100);
            if (percent / 10 != lastPercent / 10) Console.Error.Write($"\r{percent,3}%");
            lastPercent = percent;
        });
        ModelQuantizer.Quantize(a.Positionals[0], a.Positionals[1], preset, new QuantizationOptions { Pure = pure }, progress, ct);
        Console.Error.WriteLine();
        Console.Out.WriteLine($"wrote {a.Positionals[1]} ({new FileInfo(a.Positionals[1]).Length / 1e6:F1} MB, {preset})");
        return 0;
    }

    public static QuantizationPreset ParsePreset(string text) =>
        Enum.TryParse<QuantizationPreset>(text, ignoreCase: true, out var p) && Enum.IsDefined(p)
            ? p
            : throw new UsageException($"unknown type '{text}' (one of: {string.Join(", ", Enum.GetNames<QuantizationPreset>())})");
}
