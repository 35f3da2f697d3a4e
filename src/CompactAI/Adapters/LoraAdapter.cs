using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Models;
using CompactAI.Tensors;

namespace CompactAI;

/// <summary>
/// A LoRA adapter (llama.cpp's adapter GGUF) loaded for one base <see cref="CompactModel"/> with
/// <see cref="CompactModel.LoadAdapter"/>. It is applied at run time, per request, without changing the base weights:
/// every adapted projection computes y = W·x + s·B·(A·x), with s = <see cref="Alpha"/> / rank × the request's scale
/// (llama.cpp's convention; the rank is that of each tensor pair, and s is the request's scale alone when alpha is 0).
/// One base serves any number of adapters at once: choose them per generation with <see cref="Inference.GenerationOptions.Adapters"/>.
/// </summary>
/// <remarks>
/// The file's tensors are copied into memory at load (the file is closed afterwards); they keep their stored type (F32, F16,
/// BF16 or a block type), and the products run in that type's matmul, as in llama.cpp. Thread-safe and immutable. Adapters
/// apply on the CPU engine: a model with layers on a device rejects them (<see cref="NotSupportedException"/>).
/// </remarks>
public sealed partial class LoraAdapter
{
    private static long s_nextId;

    private readonly LoraPair?[] _layers; // [layer × LoraTarget.Count]

    private LoraAdapter(CompactModel model, string? path, string? name, float alpha, LoraPair?[] layers, LoraPair? output, LoraPair? embedding, int tensors)
    {
        Model = model;
        FilePath = path;
        Name = name;
        Alpha = alpha;
        _layers = layers;
        OutputHead = output;
        TokenEmbedding = embedding;
        TensorCount = tensors;
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>The base model this adapter was validated against and runs with.</summary>
    public CompactModel Model { get; }

    /// <summary>The file it was loaded from.</summary>
    public string? FilePath { get; }

    /// <summary>The adapter's <c>general.name</c>, when it has one.</summary>
    public string? Name { get; }

    /// <summary><c>adapter.lora.alpha</c> (0 when absent: the request's scale is then used as is).</summary>
    public float Alpha { get; }

    /// <summary>How many base matrices the adapter changes (pairs of <c>lora_a</c>/<c>lora_b</c> tensors).</summary>
    public int TensorCount { get; }

    /// <summary>Returns this adapter with a scale, for <see cref="Inference.GenerationOptions.Adapters"/>.</summary>
    /// <param name="scale">The user scale (1: as trained; 0: off).</param>
    public ScaledLoraAdapter WithScale(float scale) => new(this, scale);

    /// <summary>A process-unique number: two loads of one file are two adapters.</summary>
    internal long Id { get; }

    internal LoraPair? OutputHead { get; }

    internal LoraPair? TokenEmbedding { get; }

    /// <summary>The pair adapting <paramref name="target"/> of block <paramref name="layer"/>, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal LoraPair? Find(int layer, LoraTarget target) => _layers[layer * (int)LoraTarget.Count + (int)target];

    /// <summary>Every pair with the base tensor it adapts (for merging).</summary>
    internal IEnumerable<(string BaseTensor, LoraPair Pair)> Pairs()
    {
        for (int i = 0; i < _layers.Length; i++)
            if (_layers[i] is { } p) yield return ($"blk.{i / (int)LoraTarget.Count}.{TargetNames[i % (int)LoraTarget.Count]}", p);
        if (OutputHead is { } o) yield return ("output.weight", o);
        if (TokenEmbedding is { } e) yield return ("token_embd.weight", e);
    }

    /// <summary>The base tensor names (after <c>blk.N.</c>) of <see cref="LoraTarget"/>, in its order.</summary>
    internal static readonly string[] TargetNames =
    [
        "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_qkv.weight", "attn_output.weight",
        "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
    ];

    internal static LoraAdapter Load(CompactModel model, string path)
    {
        using var file = GgufFile.Open(path);
        return Load(model, file);
    }

    internal static LoraAdapter Load(CompactModel model, GgufFile file)
    {
        var m = file.Metadata;
        string? where = file.FilePath;
        string type = m.GetString("general.type", "") ?? "";
        if (type != "adapter") throw new LoraAdapterException($"general.type is '{type}', expected 'adapter': this is not an adapter file", null, where);
        string kind = m.GetString("adapter.type", "") ?? "";
        if (kind != "lora") throw new LoraAdapterException($"adapter.type is '{kind}', expected 'lora'", null, where);
        string arch = m.GetString("general.architecture", "") ?? "";
        if (arch != model.Config.Architecture)
            throw new LoraAdapterException($"the adapter is for architecture '{arch}' but the base model is '{model.Config.Architecture}'", null, where);
        float alpha = m.GetFloat32("adapter.lora.alpha", 0f);
        if (!float.IsFinite(alpha)) throw new LoraAdapterException($"adapter.lora.alpha is {alpha}", null, where);
        if (m.ContainsKey("adapter.alora.invocation_tokens"))
            throw new NotSupportedException($"The adapter '{where}' is an activated LoRA (adapter.alora.invocation_tokens); only plain LoRA adapters are supported.");

        // Pair lora_a with lora_b by base tensor name, as llama.cpp does; its *_norm.weight extras are ignored like there.
        var halves = new SortedDictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            if (t.Name.EndsWith(".lora_a", StringComparison.Ordinal))
            {
                string b = t.Name[..^".lora_a".Length];
                halves[b] = (t, halves.GetValueOrDefault(b).B);
            }
            else if (t.Name.EndsWith(".lora_b", StringComparison.Ordinal))
            {
                string b = t.Name[..^".lora_b".Length];
                halves[b] = (halves.GetValueOrDefault(b).A, t);
            }
            else if (!t.Name.EndsWith("_norm.weight", StringComparison.Ordinal))
            {
                throw new LoraAdapterException("the tensor name ends neither in .lora_a nor in .lora_b", t.Name, where);
            }
        }
        if (halves.Count == 0) throw new LoraAdapterException("the adapter has no lora_a/lora_b tensors", null, where);

        var c = model.Config;
        var layers = new LoraPair?[c.BlockCount * (int)LoraTarget.Count];
        LoraPair? output = null, embedding = null;
        foreach (var (name, (a, b)) in halves)
        {
            if (a is null || b is null) throw new LoraAdapterException($"the pair for '{name}' lacks its {(a is null ? "lora_a" : "lora_b")} tensor", name, where);
            var baseTensor = model.File.FindTensor(name)
                ?? throw new LoraAdapterException($"the base model has no tensor '{name}' (is this the adapter's base model?)", name, where);
            if (baseTensor.Dimensions.Count != 2) throw new LoraAdapterException($"the base tensor '{name}' is not a matrix", name, where);
            long inF = baseTensor.Dimensions[0], outF = baseTensor.Dimensions[1];
            if (a.Dimensions.Count != 2 || b.Dimensions.Count != 2) throw new LoraAdapterException($"'{name}' lora_a/lora_b must be matrices", name, where);
            bool isEmbedding = name == "token_embd.weight";
            long rank = b.Dimensions[0];
            bool fits = isEmbedding
                // A is looked up by token ([rank, vocab]); B maps the rank to the embedding ([rank, embd]).
                ? a.Dimensions[1] == outF && b.Dimensions[1] == inF && a.Dimensions[0] == rank
                : a.Dimensions[0] == inF && b.Dimensions[1] == outF && a.Dimensions[1] == rank;
            if (!fits || rank < 1)
                throw new LoraAdapterException(
                    $"'{name}' has lora_a [{string.Join(", ", a.Dimensions)}] and lora_b [{string.Join(", ", b.Dimensions)}], which do not fit the base tensor [{inF}, {outF}]",
                    name, where);
            LoraPair pair = isEmbedding
                ? new LoraPair(Copy(file, a, (int)outF, (int)rank), Copy(file, b, (int)inF, (int)rank), (int)rank)
                : new LoraPair(Copy(file, a, (int)rank, (int)inF), Copy(file, b, (int)outF, (int)rank), (int)rank);
            if (isEmbedding) { embedding = pair; continue; }
            if (name == "output.weight") { output = pair; continue; }
            int layer = -1, target = -1;
            if (name.StartsWith("blk.", StringComparison.Ordinal) && name.IndexOf('.', 4) is int dot and > 4
                && int.TryParse(name.AsSpan(4, dot - 4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out layer))
                target = Array.IndexOf(TargetNames, name[(dot + 1)..]);
            if (target < 0 || layer >= c.BlockCount)
                throw new NotSupportedException($"The adapter '{where}' changes tensor '{name}', which this engine does not adapt (supported: the attention and FFN projections, output.weight, token_embd.weight).");
            layers[layer * (int)LoraTarget.Count + target] = pair;
        }
        return new LoraAdapter(model, file.FilePath, m.GetString("general.name", null),
            alpha, layers, output, embedding, halves.Count);
    }

    /// <summary>A copy of <paramref name="t"/> as a [<paramref name="rows"/> × <paramref name="columns"/>] matrix, in pinned memory.</summary>
    private static unsafe LoraMatrix Copy(GgufFile file, GgufTensorInfo t, int rows, int columns)
    {
        if (!TensorFormat.IsSupported(t.Type)) throw new NotSupportedException($"Adapter tensor '{t.Name}' is {t.Type}, which this engine cannot compute.");
        var format = TensorFormat.For(t.Type);
        if (columns % format.BlockSize != 0)
            throw new LoraAdapterException($"a row of {columns} values is not a whole number of {t.Type} blocks", t.Name, file.FilePath);
        var bytes = file.GetTensorBytes(t);
        var copy = GC.AllocateUninitializedArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(copy);
        var matrix = new WeightMatrix((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(copy)), rows, columns, format);
        return new LoraMatrix(copy, matrix);
    }
}

/// <summary>A <see cref="LoraAdapter"/> with the scale a request applies it at (1: as trained, 0: off).</summary>
/// <param name="Adapter">The adapter, loaded for the model that runs the request.</param>
/// <param name="Scale">The user scale, multiplied by alpha / rank as in llama.cpp.</param>
public readonly record struct ScaledLoraAdapter(LoraAdapter Adapter, float Scale)
{
    /// <summary>The adapter at scale 1.</summary>
    /// <param name="adapter">The adapter.</param>
    public static implicit operator ScaledLoraAdapter(LoraAdapter adapter) => new(adapter, 1f);
}

/// <summary>
/// Thrown when a LoRA adapter file is not a llama.cpp LoRA adapter or does not fit the base model: wrong <c>general.type</c>,
/// <c>adapter.type</c> or architecture, a tensor the base lacks, an incomplete pair, or shapes that do not match.
/// </summary>
public sealed class LoraAdapterException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, in words.</param>
    /// <param name="tensorName">The base tensor (or adapter tensor) concerned, when one is.</param>
    /// <param name="filePath">The adapter file, when known.</param>
    public LoraAdapterException(string message, string? tensorName = null, string? filePath = null)
        : base($"LoRA adapter{(filePath is null ? "" : $" '{filePath}'")}{(tensorName is null ? "" : $", tensor '{tensorName}'")}: {message}")
    {
        TensorName = tensorName;
        FilePath = filePath;
    }

    /// <summary>The tensor concerned, when one is.</summary>
    public string? TensorName { get; }

    /// <summary>The adapter file, when known.</summary>
    public string? FilePath { get; }
}
