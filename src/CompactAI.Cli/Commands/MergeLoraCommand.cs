namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai merge-lora BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]</c>: writes the base model with a LoRA adapter merged
/// in (W + s·B·A; adapted F32 tensors stay F32, others become F16, as llama-export-lora does).
/// </summary>
internal static class MergeLoraCommand
{
    public static int Run(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string>());
        float scale = a.Float("scale", 1f, -1000f, 1000f);
        a.RejectUnknown("merge-lora");
        if (a.Positionals.Count != 3) throw new UsageException("usage: compactai merge-lora BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]");
        using var model = CompactModel.Load(a.Positionals[0], new CompactModelOptions { Backend = ComputeBackend.Cpu, Threads = 1, ContextSize = 16 });
        var adapter = model.LoadAdapter(a.Positionals[1]);
        adapter.MergeInto(a.Positionals[2], scale, ct);
        Console.Out.WriteLine($"wrote {a.Positionals[2]} ({new FileInfo(a.Positionals[2]).Length / 1e6:F1} MB): {adapter.TensorCount} tensors merged at scale {scale}");
        return 0;
    }
}
