using CompactAI.Cuda;
using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Threading;

namespace CompactAI.Tests.Cuda;

/// <summary>Greedy decoding of stories260K on an ILGPU accelerator against the CPU engine's <see cref="Transformer"/>.</summary>
internal static class GreedyParity
{
    public const int Generated = 16;

    /// <summary>Feeds the prompt token by token to both engines, then 16 greedy tokens; returns both token lists and the largest logit gap.</summary>
    public static (List<int> Cpu, List<int> Device, float MaxLogitGap) Run(CudaBackend backend)
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 64, Backend = ComputeBackend.Cpu });
        var c = model.Config;
        var prompt = model.Tokenizer.Encode("Once upon a time");
        using var pool = new WorkerPool(1);
        var cpu = new Transformer(c, model.Weights, pool, 1, 64);
        var cache = new KvCache(c.BlockCount, 64, c.KvHeadCount, c.HeadDim, c.ValueDim);
        using var weights = new DeviceWeights(backend, c, model.Weights, c.BlockCount);
        using var device = new CudaTransformer(weights, c, model.Weights, 64, maxBatch: 1);
        var cpuLogits = new float[c.VocabularySize];
        var deviceLogits = new float[c.VocabularySize];
        var cpuTokens = new List<int>();
        var deviceTokens = new List<int>();
        float gap = 0;
        int cpuNext = prompt[0], deviceNext = prompt[0];
        for (int pos = 0; pos < prompt.Count + Generated - 1; pos++)
        {
            cpu.Forward([cpuNext], pos, cache, cpuLogits, allLogits: false);
            device.Forward([deviceNext], pos, deviceLogits, allLogits: false);
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

    public static int ArgMax(ReadOnlySpan<float> x)
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

    /// <summary>
    /// A 13-token prompt in one batch (matrix–matrix kernels, causal attention within the batch) gives the logits of every position
    /// that token-by-token decoding on the device gives, and those of the CPU engine's batch; and the same greedy continuation.
    /// </summary>
    [Fact]
    public void Stories260K_PromptInOneBatch_MatchesTokenByToken_AndCpuEngine()
    {
        var backend = fixture.Narrow;
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 64, Backend = ComputeBackend.Cpu });
        var c = model.Config;
        int vocab = c.VocabularySize;
        var prompt = model.Tokenizer.Encode("Once upon a time, there was a little dog named Max.").ToArray();
        int n = prompt.Length;
        Assert.True(n > 8, "the prompt should span more than one 8-token tile");
        using var weights = new DeviceWeights(backend, c, model.Weights, c.BlockCount);
        using var batched = new CudaTransformer(weights, c, model.Weights, 64, maxBatch: 32);
        using var single = new CudaTransformer(weights, c, model.Weights, 64, maxBatch: 1);
        using var pool = new WorkerPool(1);
        var cpu = new Transformer(c, model.Weights, pool, 32, 64);
        var cache = new KvCache(c.BlockCount, 64, c.KvHeadCount, c.HeadDim, c.ValueDim);

        var batchLogits = new float[n * vocab];
        batched.Forward(prompt, 0, batchLogits, allLogits: true);
        var cpuLogits = new float[n * vocab];
        cpu.Forward(prompt, 0, cache, cpuLogits, allLogits: true);
        var one = new float[vocab];
        float gapToSingle = 0, gapToCpu = 0;
        for (int pos = 0; pos < n; pos++)
        {
            single.Forward([prompt[pos]], pos, one, allLogits: false);
            for (int i = 0; i < vocab; i++)
            {
                gapToSingle = Math.Max(gapToSingle, Math.Abs(batchLogits[pos * vocab + i] - one[i]));
                gapToCpu = Math.Max(gapToCpu, Math.Abs(batchLogits[pos * vocab + i] - cpuLogits[pos * vocab + i]));
            }
        }
        Assert.True(gapToSingle < 1e-4f, $"batched vs token-by-token on the device: largest logit difference {gapToSingle}");
        Assert.True(gapToCpu < 1e-2f, $"batched on the device vs the CPU engine: largest logit difference {gapToCpu}");

        // Greedy continuation after the batched prompt (device) and after the token-by-token prompt (device), against the CPU.
        int nextBatched = GreedyParity.ArgMax(batchLogits.AsSpan((n - 1) * vocab, vocab));
        int nextSingle = GreedyParity.ArgMax(one);
        int nextCpu = GreedyParity.ArgMax(cpuLogits.AsSpan((n - 1) * vocab, vocab));
        var tokens = (Batched: new List<int>(), Single: new List<int>(), Cpu: new List<int>());
        var cpuOne = new float[vocab];
        for (int pos = n; pos < n + 8; pos++)
        {
            tokens.Batched.Add(nextBatched);
            tokens.Single.Add(nextSingle);
            tokens.Cpu.Add(nextCpu);
            batched.Forward([nextBatched], pos, one, allLogits: false);
            nextBatched = GreedyParity.ArgMax(one);
            single.Forward([nextSingle], pos, one, allLogits: false);
            nextSingle = GreedyParity.ArgMax(one);
            cpu.Forward([nextCpu], pos, cache, cpuOne, allLogits: false);
            nextCpu = GreedyParity.ArgMax(cpuOne);
        }
        Assert.Equal(tokens.Cpu, tokens.Batched);
        Assert.Equal(tokens.Cpu, tokens.Single);
    }
}
