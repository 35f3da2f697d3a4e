using System.CommandLine;
using CompactAI.Models.Synthetic;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai synth --shape NAME --type q8_0|q4_k_m|f16|f32 --out FILE [--vocab GGUF] [--seed N]</c>: writes a
/// random-weight model with a real model's shapes and a real tokenizer vocabulary, for tests and benchmarks.
/// </summary>
internal static class SynthCommand
{
    private static readonly Option<string?> Shape = CliOption.Text("--shape", "The model shape.", "NAME", required: true);
    private static readonly Option<string?> Type = CliOption.Text("--type", "F32 or a quantization preset (Q8_0, Q4_K_M, F16...).", "TYPE", required: true);
    private static readonly Option<string?> Out = CliOption.Text("--out", "The file to write.", "FILE", required: true);
    private static readonly Option<string?> Vocab = CliOption.Text("--vocab", "The GGUF whose vocabulary to use (default: ../shared's gpt-2).", "GGUF");
    private static readonly Option<ulong?> Seed = CliOption.ULong("--seed", "Random seed of the weights (default 1).");

    public static Command Create()
    {
        Shape.CompletionSources.Add(ModelShape.All.Keys.ToArray());
        Type.CompletionSources.Add(["F32", .. Enum.GetNames<QuantizationPreset>()]);
        var command = new Command("synth", "Write a random-weight model with a real model's shapes and a real vocabulary.") { Shape, Type, Out, Vocab, Seed };
        command.SetAction((p, ct) => Task.FromResult(Run(p, ct)));
        return command;
    }

    private static int Run(ParseResult p, CancellationToken ct)
    {
        var shape = ModelShape.For(p.GetRequiredValue(Shape)!);
        string type = p.GetRequiredValue(Type)!;
        string output = p.GetRequiredValue(Out)!;
        string vocab = p.GetValue(Vocab) ?? DefaultVocabulary();
        ulong seed = p.GetValue(Seed) ?? 1;
        QuantizationPreset? preset = type.Equals("f32", StringComparison.OrdinalIgnoreCase) ? null : QuantizeCommand.ParsePreset(type);
        SyntheticModel.Write(shape, preset, vocab, output, seed, ct);
        Console.Out.WriteLine($"wrote {output} ({new FileInfo(output).Length / 1e6:F1} MB): {shape.Name}, {type.ToUpperInvariant()}, vocabulary from {Path.GetFileName(vocab)}");
        return 0;
    }

    /// <summary>llama.cpp's gpt-2 vocabulary in ../shared (looked up from the working directory and the tool's folder).</summary>
    private static string DefaultVocabulary()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "tokenizer-vectors", "ggml-vocab-gpt-2.gguf");
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new UsageException("no --vocab given and ../shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf was not found");
    }
}
