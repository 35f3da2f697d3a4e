using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>
/// What one model family changes in the shared decoder graph (<see cref="Transformer"/>): its RoPE pairing and the
/// hyper-parameters it reads beyond the common ones. Optional tensors (biases, Q/K norms, post-norms, fused QKV or
/// gate-up) are picked up by <see cref="ModelWeights"/> from the file itself, so a family file only says what the
/// tensors cannot. Adding a family is one small file registered in <see cref="All"/>.
/// </summary>
internal abstract class ModelArchitecture
{
    /// <summary>The <c>general.architecture</c> value.</summary>
    public abstract string Name { get; }

    /// <summary>How RoPE pairs dimensions (NeoX unless the family's converter permuted Q/K).</summary>
    public virtual RopeStyle RopeStyle => RopeStyle.NeoX;

    /// <summary>Adjusts the common hyper-parameters with the family's own keys and constants.</summary>
    public virtual ModelConfig Configure(ModelConfig common, GgufMetadata metadata) => common;

    /// <summary>Every supported family, by name.</summary>
    public static IReadOnlyDictionary<string, ModelArchitecture> All { get; } = new ModelArchitecture[]
    {
        new LlamaArchitecture(), new Qwen2Architecture(), new Qwen3Architecture(),
        new GemmaArchitecture(), new Gemma2Architecture(), new Gemma3Architecture(), new Phi3Architecture(), new BertArchitecture(),
    }.ToDictionary(a => a.Name, StringComparer.Ordinal);

    /// <summary>The family named <paramref name="name"/>.</summary>
    /// <exception cref="NotSupportedException">Unknown family; the message names it and lists the supported ones.</exception>
    public static ModelArchitecture For(string name) =>
        All.TryGetValue(name, out var a) ? a
        : throw new NotSupportedException($"Model architecture '{name}' is not supported. Supported architectures: {string.Join(", ", All.Keys)}.");

    /// <summary>
    /// Which layers use the sliding window, as llama.cpp reads them: <c>{arch}.attention.sliding_window_pattern</c> as
    /// one flag per layer, or as a period n ("n − 1 local : 1 global", 0: every layer local), else
    /// <paramref name="defaultPeriod"/>.
    /// </summary>
    protected static bool[] SlidingWindowLayers(GgufMetadata m, string architecture, int layers, int defaultPeriod)
    {
        string key = architecture + ".attention.sliding_window_pattern";
        if (m.TryGetValue(key, out var value) && value.Type == GgufValueType.Array)
        {
            var given = m.GetArray<bool>(key);
            return given.Length == layers ? given
                : throw new GgufFormatException($"has {given.Length} flags for {layers} layers", key, -1, m.FilePath);
        }
        int period = m.GetInt32(key, defaultPeriod);
        var flags = new bool[layers];
        for (int i = 0; i < layers; i++) flags[i] = period == 0 || i % period < period - 1;
        return flags;
    }
}
