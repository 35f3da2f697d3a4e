using System.CommandLine;
using System.Text;
using CompactAI.Cuda;
using CompactAI.Gguf;
using CompactAI.Models;
using CompactAI.Tokenization;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai inspect</c>: architecture, sizes, tensor count and types, tokenizer and metadata of a GGUF file; with
/// <c>--devices</c>, the CUDA devices (name, memory, compute capability) or the reason there are none.
/// </summary>
internal static class InspectCommand
{
    // Not ModelOptions.Model: inspect reads the file without loading a model, and with --devices needs none.
    private static readonly Option<string?> Model = CliOption.Text("--model", "The GGUF file (optional with --devices).", "PATH");
    private static readonly Option<bool> AllFlag = CliOption.Flag("--all", "Also list every tensor.");
    private static readonly Option<bool> DevicesFlag = CliOption.Flag("--devices", "List the CUDA devices (or why there are none).");

    public static Command Create()
    {
        var command = new Command("inspect", "Architecture, sizes, tensors, tokenizer and metadata of a GGUF file; --devices lists the CUDA devices.")
        {
            Model, AllFlag, DevicesFlag,
        };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult p)
    {
        bool devices = p.GetValue(DevicesFlag);
        string? modelPath = p.GetValue(Model);
        if (!devices && modelPath is null) throw new UsageException("option --model is required (or --devices)");
        bool all = p.GetValue(AllFlag);
        if (devices) Console.Out.Write(Devices());
        if (modelPath is null) return 0;

        using var file = GgufFile.Open(modelPath);
        var m = file.Metadata;
        var sb = new StringBuilder();
        sb.AppendLine($"file:          {file.FilePath}");
        sb.AppendLine($"size:          {file.Length:N0} bytes");
        sb.AppendLine($"gguf version:  {file.Version}, alignment {file.Alignment}, data at offset {file.DataOffset}");
        sb.AppendLine($"architecture:  {m.GetString("general.architecture", "(none)")}");
        sb.AppendLine($"name:          {m.GetString("general.name", "(none)")}");
        long parameters = file.Tensors.Sum(t => t.ElementCount);
        sb.AppendLine($"parameters:    {parameters:N0}");
        if (m.ContainsKey("general.architecture") && file.FindTensor("token_embd.weight") is not null)
        {
            try
            {
                var c = ModelConfig.FromGguf(file);
                sb.AppendLine($"layers:        {c.BlockCount}, embedding {c.EmbeddingLength}, ffn {c.FeedForwardLength}, heads {c.HeadCount} (kv {c.KvHeadCount}), head dim {c.HeadDim}");
                sb.AppendLine($"context:       {c.ContextLength}, rope base {c.RopeFreqBase}, rope dims {c.RopeDimensions} ({c.RopeStyle}), rms eps {c.RmsNormEpsilon}");
                sb.AppendLine($"vocabulary:    {c.VocabularySize}");
            }
            catch (GgufFormatException e)
            {
                sb.AppendLine($"config:        unreadable: {e.Message}");
            }
        }
        sb.AppendLine($"tensors:       {file.Tensors.Count} ({string.Join(", ", file.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} ×{g.Count()}"))})");
        if (m.ContainsKey("tokenizer.ggml.model"))
        {
            string tokModel = m.GetString("tokenizer.ggml.model");
            try
            {
                var tok = ModelTokenizer.FromGguf(file);
                sb.AppendLine($"tokenizer:     {tokModel}, {tok.VocabularySize} tokens, bos {tok.BosToken}{(tok.AddBos ? " (added)" : "")}, eos {tok.EosToken}");
            }
            catch (Exception e) when (e is NotSupportedException or GgufFormatException)
            {
                sb.AppendLine($"tokenizer:     {tokModel} (not loadable: {e.Message})");
            }
        }
        sb.AppendLine("metadata:");
        foreach (var (key, value) in m)
            sb.AppendLine($"  {key} = {value}");
        if (all)
        {
            sb.AppendLine("tensor list:");
            foreach (var t in file.Tensors) sb.AppendLine($"  {t.Name,-40} {t.Type,-6} [{string.Join(", ", t.Dimensions)}] @ {t.FileOffset}");
        }
        Console.Out.Write(sb.ToString());
        return 0;
    }

    /// <summary>One line per CUDA device, or one line with the reason there is none.</summary>
    private static string Devices()
    {
        var list = CudaBackend.GetDevices(out var reason);
        if (list.Count == 0) return $"cuda devices:  none: {reason}\n";
        var sb = new StringBuilder();
        sb.AppendLine($"cuda devices:  {list.Count}");
        foreach (var d in list)
            sb.AppendLine($"  #{d.Index} {d.Name}: {d.MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, compute capability {d.Architecture}, {d.Multiprocessors} multiprocessors");
        return sb.ToString();
    }
}
