using System.CommandLine;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai merge-lora BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]</c>: writes the base model with a LoRA adapter merged
/// in (W + s·B·A; adapted F32 tensors stay F32, others become F16, as llama-export-lora does).
/// </summary>
internal static class MergeLoraCommand
{
    private static readonly Argument<string> Base = new("BASE") { Description = "The base model (GGUF)." };
    private static readonly Argument<string> Adapter = new("ADAPTER") { Description = "The LoRA adapter (llama.cpp adapter GGUF)." };
    private static readonly Argument<string> Output = new("OUT") { Description = "The merged model to write (GGUF)." };
    private static readonly Option<float?> Scale = CliOption.Float("--scale", "The adapter's scale (default 1).", -1000f, 1000f, "S");

    public static Command Create()
    {
        var command = new Command("merge-lora", "Write the base model with a LoRA adapter merged in (W + s·B·A).") { Base, Adapter, Output, Scale };
        command.SetAction((p, ct) => Task.FromResult(Run(p, ct)));
        return command;
    }

    private static int Run(ParseResult p, CancellationToken ct)
    {
        float scale = p.GetValue(Scale) ?? 1f;
        string output = p.GetRequiredValue(Output);
        using var model = CompactModel.Load(p.GetRequiredValue(Base), new CompactModelOptions { Backend = ComputeBackend.Cpu, Threads = 1, ContextSize = 16 });
        var adapter = model.LoadAdapter(p.GetRequiredValue(Adapter));
        adapter.MergeInto(output, scale, ct);
        Console.Out.WriteLine($"wrote {output} ({new FileInfo(output).Length / 1e6:F1} MB): {adapter.TensorCount} tensors merged at scale {scale}");
        return 0;
    }
}
