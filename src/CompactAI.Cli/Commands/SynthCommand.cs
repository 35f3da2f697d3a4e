using CompactAI.Models.Synthetic;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai synth --shape NAME --type q8_0|q4_k_m|f16|f32 --out FILE [--vocab GGUF] [--seed N]</c>: writes a
/// random-weight model with a real model's shapes and a real tokenizer vocabulary, for tests and benchmarks.
/// </summary>
internal static class SynthCommand
{
    public static int Run(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string>());
        var shape = ModelShape.For(a.Required("shape"));
        string type = a.Required("type");
        string output = a.Required("out");
        string vocab = a.String("vocab") ?? DefaultVocabulary();
        ulong seed = a.OptionalULong("seed") ?? 1;
        a.RejectUnknown("synth");
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
