using CompactAI.Cuda;
using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Tests.Cuda;

/// <summary>Greedy decoding of stories260K on an ILGPU accelerator against the CPU engine's <see cref="Transformer"/>.</summary>
internal static class GreedyParity
{
    public const int Generated = 16;

    /// <summary>Feeds the prompt token by token to both engines, then 16 greedy tokens; returns both token lists and the largest logit gap.</summary>
    public static (List<int> Cpu, List<int> Device, float MaxLogitGap) Run(CudaBackend backend)
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 64 });
        var c = model.Config;
        var prompt = model.Tokenizer.Encode("Once upon a time");
        using var pool = new WorkerPool(1);
        var cpu = new Transformer(c, model.Weights, pool, 1, 64);
        var cache = new KvCache(c.BlockCount, 64, c.KvHeadCount, c.HeadDim, c.ValueDim);
        using var device = new CudaTransformer(backend, c, model.Weights, 64);
        var cpuLogits = new float[c.VocabularySize];
        var deviceLogits = new float[c.VocabularySize];
        var cpuTokens = new List<int>();
        var deviceTokens = new List<int>();
        float gap = 0;
        int cpuNext = prompt[0], deviceNext = prompt[0];
        for (int pos = 0; pos < prompt.Count + Generated - 1; pos++)
        {
            cpu.Forward([cpuNext], pos, cache, cpuLogits, allLogits: false);
            device.Forward(deviceNext, pos, deviceLogits);
            for (int i = 0; i < cpuLogits.Length; i++) gap = Math.Max(gap, Math.Abs(cpuLogits[i] - deviceLogits[i]));
            if (pos + 1 < prompt.Count)
            {
                cpuNext = deviceNext = prompt[pos + 1];
                continue;
            }
            cpuNext = ArgMax(cpuLogits);
            deviceNext = ArgMax(deviceLogits);
            cpuTokens.Add(cpuNext);
            deviceTokens.Add(deviceNext);
        }
        return (cpuTokens, deviceTokens, gap);
    }

    private static int ArgMax(float[] x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}

[Collection(CpuAcceleratorCollection.Name)]
public sealed class CudaTransformerTests(CpuAcceleratorFixture fixture)
{
    [Fact]
    public void Stories260K_GreedyTokens_MatchCpuEngine_OnCpuAccelerator()
    {
        var (cpu, device, gap) = GreedyParity.Run(fixture.Narrow);
        Assert.Equal(GreedyParity.Generated, cpu.Count);
        Assert.Equal(cpu, device);
        Assert.True(gap < 1e-2f, $"largest logit difference {gap}");
    }
}
