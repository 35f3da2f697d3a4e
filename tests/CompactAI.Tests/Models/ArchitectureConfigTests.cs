using CompactAI.Gguf;
using CompactAI.Models;

namespace CompactAI.Tests.Models;

/// <summary>
/// Hyper-parameters the conformance models do not vary, read as llama.cpp reads them (src/models/gemma2.cpp, gemma3.cpp,
/// llama-model.cpp): sliding-window patterns and their metadata overrides, local RoPE bases, RoPE scaling keys.
/// </summary>
public sealed class ArchitectureConfigTests
{
    private static ModelConfig Config(string arch, int layers, Action<GgufWriter> extra)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add($"{arch}.embedding_length", 8u);
        w.Add($"{arch}.block_count", (uint)layers);
        w.Add($"{arch}.feed_forward_length", 16u);
        w.Add($"{arch}.attention.head_count", 2u);
        w.Add($"{arch}.context_length", 4096u);
        extra(w);
        w.AddTensor("token_embd.weight", [8, 4], new float[32]);
        string path = Path.Combine(Path.GetTempPath(), $"compactai-config-{Guid.NewGuid():N}.gguf");
        try
        {
            w.WriteTo(path);
            using var file = GgufFile.Open(path);
            return ModelConfig.FromGguf(file);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static bool[] LocalLayers(ModelConfig c) => Enumerable.Range(0, c.BlockCount).Select(c.IsSlidingWindowLayer).ToArray();

    [Fact]
    public void Gemma2AlternatesLocalAndGlobalLayersWithTheGlobalRopeBase()
    {
        var c = Config("gemma2", 4, w => w.Add("gemma2.rope.freq_base", 20000f));
        Assert.Equal(4096, c.SlidingWindow); // llama.cpp's default for Gemma 2
        Assert.Equal([true, false, true, false], LocalLayers(c));
        Assert.Equal(20000f, c.SlidingWindowRopeFreqBase);
        Assert.Equal(50f, c.AttentionSoftcap);
        Assert.Equal(30f, c.FinalLogitSoftcap);
        Assert.True(c.ScaleQueryBeforeAttention);
    }

    [Fact]
    public void Gemma3HasFiveLocalLayersPerGlobalOneWithRopeBase10000()
    {
        var c = Config("gemma3", 12, w =>
        {
            w.Add("gemma3.attention.sliding_window", 512u);
            w.Add("gemma3.rope.freq_base", 1000000f);
            w.Add("gemma3.rope.scaling.type", "linear");
            w.Add("gemma3.rope.scaling.factor", 8f);
        });
        Assert.Equal([true, true, true, true, true, false, true, true, true, true, true, false], LocalLayers(c));
        Assert.Equal(10000f, c.SlidingWindowRopeFreqBase);
        Assert.Equal(1f, c.SlidingWindowRopeFreqScale);
        Assert.Equal(1f / 8, c.RopeFreqScale);
    }

    [Fact]
    public void Gemma3WithoutASlidingWindowKeyIsAllGlobal()
    {
        var c = Config("gemma3", 6, _ => { });
        Assert.All(LocalLayers(c), Assert.False);
    }

    [Fact]
    public void SlidingWindowPatternAndSwaRopeBaseKeysOverrideTheDefaults()
    {
        var period = Config("gemma3", 4, w =>
        {
            w.Add("gemma3.attention.sliding_window", 512u);
            w.Add("gemma3.attention.sliding_window_pattern", 2u);
            w.Add("gemma3.rope.freq_base_swa", 5000f);
        });
        Assert.Equal([true, false, true, false], LocalLayers(period));
        Assert.Equal(5000f, period.SlidingWindowRopeFreqBase);

        var flags = Config("gemma2", 3, w => w.Add("gemma2.attention.sliding_window_pattern",
            new GgufValue(GgufValueType.Array, new[] { false, true, true }, GgufValueType.Bool)));
        Assert.Equal([false, true, true], LocalLayers(flags));

        Assert.Throws<GgufFormatException>(() => Config("gemma2", 3, w => w.Add("gemma2.attention.sliding_window_pattern",
            new GgufValue(GgufValueType.Array, new[] { false, true }, GgufValueType.Bool))));
    }

    [Fact]
    public void RopeScalingKeysAreReadAsLlamaCppReadsThem()
    {
        // A factor without a type is linear; "none" and unimplemented YaRN leave positions unscaled.
        Assert.Equal(0.25f, Config("llama", 1, w => w.Add("llama.rope.scaling.factor", 4f)).RopeFreqScale);
        Assert.Equal(0.5f, Config("llama", 1, w => w.Add("llama.rope.scale_linear", 2f)).RopeFreqScale);
        Assert.Equal(1f, Config("llama", 1, w => { w.Add("llama.rope.scaling.factor", 4f); w.Add("llama.rope.scaling.type", "none"); }).RopeFreqScale);

        var phi3 = Config("phi3", 1, w =>
        {
            w.Add("phi3.rope.scaling.attn_factor", 1.19f);
            w.Add("phi3.rope.scaling.original_context_length", 256u);
        });
        Assert.Equal(1.19f, phi3.RopeAttentionFactor);
        Assert.Equal(256, phi3.RopeOriginalContextLength);
        Assert.Equal(4096, Config("phi3", 1, _ => { }).RopeOriginalContextLength);
    }
}
