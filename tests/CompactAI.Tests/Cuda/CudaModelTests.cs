using CompactAI.Cuda;
using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Tests.Cuda;

/// <summary>
/// Whole models through the public API (<see cref="CompactModel"/>, <see cref="InferenceSession"/>) on the CUDA backend, its kernels
/// run by ILGPU's CPU accelerator, against the CPU engine: every architecture, partial offload, saved state, concurrent sessions.
/// </summary>
[Collection(CpuAcceleratorCollection.Name)]
public sealed class CudaModelTests(CpuAcceleratorFixture fixture)
{
    public static TheoryData<string> Families => new() { "llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3" };

    /// <summary>
    /// Every family the CPU engine runs (tiny random-weight models: biases, Q/K norms, post-norms, GELU, soft-caps, sliding windows,
    /// Phi-3's fused projections and LongRoPE): the prompt's logits (one batch) agree with the CPU engine's and the greedy tokens are the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public async Task EveryFamily_PromptLogitsAndGreedyTokens_MatchCpuBackend(string family)
    {
        string path = DeviceModelFiles.Synthetic($"tiny-{family}");
        using var cpu = CompactModel.Load(path, DeviceModelFiles.OnCpu());
        using var device = CompactModel.Load(path, DeviceModelFiles.OnDevice(fixture.Narrow));
        Assert.Equal(ComputeBackend.Cuda, device.Backend);
        Assert.Equal(device.Config.BlockCount, device.DeviceLayers);
        Assert.Equal(family, device.Config.Architecture);
        var prompt = cpu.Tokenizer.Encode("The quick brown fox jumps over the lazy dog", addSpecial: true);

        using (var cs = cpu.CreateSession())
        using (var ds = device.CreateSession())
        {
            var expected = await cs.GetNextTokenLogitsAsync(prompt);
            var actual = await ds.GetNextTokenLogitsAsync(prompt);
            float gap = 0;
            for (int i = 0; i < expected.Length; i++) gap = Math.Max(gap, Math.Abs(expected[i] - actual[i]));
            Assert.True(gap < 1e-3f, $"{family}: largest logit difference {gap}");
        }
        Assert.Equal(await DeviceModelFiles.Greedy(cpu, prompt, 8), await DeviceModelFiles.Greedy(device, prompt, 8));
    }

    /// <summary>stories260K generated through a device session matches llama.cpp's greedy continuation (golden).</summary>
    [Fact]
    public async Task Stories260K_SessionOnDevice_MatchesLlamaCppGreedyGolden()
    {
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        using var model = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow));
        var tokens = await DeviceModelFiles.Greedy(model, golden.PromptIds, 16);
        Assert.Equal(golden.OutputIds.Take(16), tokens);
    }

    /// <summary>
    /// Two of stories260K's five blocks on the device, the rest and the output head on the CPU: the same tokens as the CPU engine,
    /// and the description and KV-cache size say so.
    /// </summary>
    [Fact]
    public async Task PartialOffload_MatchesCpuBackend()
    {
        using var cpu = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnCpu());
        using var device = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow, gpuLayers: 2));
        Assert.Equal(2, device.DeviceLayers);
        Assert.Contains("2 of 5 blocks on the device", device.BackendDescription);
        var prompt = cpu.Tokenizer.Encode("Once upon a time, there was a little dog", addSpecial: true);
        using (var cs = cpu.CreateSession())
        using (var ds = device.CreateSession())
        {
            Assert.Equal(cs.KvCacheBytes, ds.KvCacheBytes); // 2 blocks on the device + 3 on the host
            var expected = await cs.GetNextTokenLogitsAsync(prompt);
            var actual = await ds.GetNextTokenLogitsAsync(prompt);
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-2f, $"logit {i}: {actual[i]} vs CPU {expected[i]}");
        }
        Assert.Equal(await DeviceModelFiles.Greedy(cpu, prompt, 12), await DeviceModelFiles.Greedy(device, prompt, 12));
    }

    /// <summary>A state saved from a device session continues on a CPU session exactly as the device session continues, and back.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData(3)]
    public async Task SavedState_MovesBetweenDeviceAndCpu(int? gpuLayers)
    {
        using var cpu = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnCpu());
        using var device = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow, gpuLayers));
        var prompt = cpu.Tokenizer.Encode("Once upon a time", addSpecial: true);
        var options = new GenerationOptions { MaxTokens = 6, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true };

        using var ds = device.CreateSession();
        await ds.GenerateTextAsync(prompt, options);
        var saved = new MemoryStream();
        ds.SaveState(saved);
        var cached = ds.Tokens.ToArray();

        using var cs = cpu.CreateSession();
        saved.Position = 0;
        cs.LoadState(saved);
        Assert.Equal(cached, cs.Tokens);
        var onCpu = await cs.GenerateTextAsync(cached, options);
        Assert.Equal(1, cs.LastPromptTokensEvaluated); // only the last token re-ran: the rest came from the loaded cache

        var back = new MemoryStream();
        cs.SaveState(back);
        using var ds2 = device.CreateSession();
        back.Position = 0;
        ds2.LoadState(back);
        var onDevice = await ds2.GenerateTextAsync(cs.Tokens.ToArray(), options);
        Assert.Equal(1, ds2.LastPromptTokensEvaluated);

        var fresh = await DeviceModelFiles.Greedy(cpu, cached, 6);
        Assert.Equal(fresh, onCpu.Tokens.Select(t => t.Id));
        var freshLonger = await DeviceModelFiles.Greedy(cpu, cs.Tokens.ToArray(), 6);
        Assert.Equal(freshLonger, onDevice.Tokens.Select(t => t.Id));
    }

    /// <summary>
    /// Two models on one device, two sessions each, all generating at once from different prompts: each gets the tokens the CPU
    /// engine gives for its prompt.
    /// </summary>
    [Fact]
    public async Task ConcurrentSessions_OnOneDevice_MatchCpuBackend()
    {
        using var cpu = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnCpu());
        using var first = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow));
        using var second = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow, gpuLayers: 4));
        string[] prompts = ["Once upon a time", "The little cat", "Tom and Sue went", "One day, a big"];
        var expected = new List<int[]>();
        foreach (var p in prompts) expected.Add(await DeviceModelFiles.Greedy(cpu, cpu.Tokenizer.Encode(p, addSpecial: true), 10));
        var runs = prompts.Select((p, i) => Task.Run(() => DeviceModelFiles.Greedy(i % 2 == 0 ? first : second, cpu.Tokenizer.Encode(p, addSpecial: true), 10)));
        var actual = await Task.WhenAll(runs);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    /// <summary>Embeddings (final hidden states) and scores (all-token logits) from a device session agree with the CPU's.</summary>
    [Fact]
    public async Task EmbedAndScore_OnDevice_MatchCpuBackend()
    {
        using var cpu = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnCpu());
        using var device = CompactModel.Load(TestData.Stories260K, DeviceModelFiles.OnDevice(fixture.Narrow));
        var tokens = cpu.Tokenizer.Encode("Once upon a time, there was a little girl named Lily.", addSpecial: true);
        using var cs = cpu.CreateSession();
        using var ds = device.CreateSession();
        var e1 = await cs.EmbedAsync(tokens);
        var e2 = await ds.EmbedAsync(tokens);
        for (int i = 0; i < e1.Length; i++) Assert.True(Math.Abs(e1[i] - e2[i]) < 1e-4f, $"embedding [{i}]: {e2[i]} vs CPU {e1[i]}");
        var s1 = await cs.ScoreAsync(tokens);
        var s2 = await ds.ScoreAsync(tokens);
        for (int i = 0; i < s1.Length; i++) Assert.True(Math.Abs(s1[i] - s2[i]) < 1e-3f, $"log-probability [{i}]: {s2[i]} vs CPU {s1[i]}");
    }
}
