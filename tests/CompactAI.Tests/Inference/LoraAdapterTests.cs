using CompactAI.Chat;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Tests.Inference;

/// <summary>
/// LoRA adapters at run time against llama.cpp's greedy tokens (Goldens/stories260K.lora.json, made by
/// Goldens/reference/make-lora-goldens.py with llama-server's per-request "lora" scales), merging, validation against
/// the base, and the rule that keys and values computed under one adapter set are never reused under another.
/// </summary>
public sealed class LoraAdapterTests(Stories260KFixture fixture) : IClassFixture<Stories260KFixture>
{
    internal static string AdapterPath => Path.Combine(TestData.SharedDir, "models", "stories260K-spark-dragon-lora-r64-f32.gguf");

    private readonly CompactModel _model = fixture.Model;

    public sealed record LoraCase(string Prompt, float Scale, int[] PromptIds, int[] OutputIds)
    {
        public override string ToString() => $"{Prompt} @ {Scale}";
    }

    public static TheoryData<LoraCase> Cases() => new(ReadCases());

    private static List<LoraCase> ReadCases()
    {
        using var doc = GoldenFiles.Load("stories260K.lora.json");
        var data = new List<LoraCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            data.Add(new LoraCase(c.GetProperty("prompt").GetString()!, c.GetProperty("scale").GetSingle(),
                c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()));
        return data;
    }

    private static GenerationOptions Greedy(int tokens, params ScaledLoraAdapter[] adapters) =>
        new() { MaxTokens = tokens, Sampling = SamplingOptions.Greedy, Adapters = adapters };

    private async Task<int[]> GenerateAsync(InferenceSession session, IReadOnlyList<int> prompt, GenerationOptions options)
    {
        var result = await session.GenerateTextAsync(prompt, options);
        return result.Tokens.Select(t => t.Id).ToArray();
    }

    [Fact]
    public void LoadAdapter_ReadsTheFile()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        Assert.Equal(64f, adapter.Alpha);
        Assert.Equal(5 * 7 + 1, adapter.TensorCount); // q, k, v, o, gate, up, down in 5 blocks, and output.weight
        Assert.Equal("stories260K-spark-dragon-lora", adapter.Name);
        Assert.Same(_model, adapter.Model);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Greedy_MatchesLlamaCpp(LoraCase c)
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        Assert.Equal(c.PromptIds, _model.Tokenizer.Encode(c.Prompt, addSpecial: true, parseSpecial: false));
        using var session = _model.CreateSession();
        var ids = await GenerateAsync(session, c.PromptIds, Greedy(c.OutputIds.Length, adapter.WithScale(c.Scale)));
        Assert.Equal(c.OutputIds, ids);
    }

    [Fact]
    public async Task ScaleZero_IsTheBaseModel()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0]; // "Once upon a time", base model, llama.cpp
        using var session = _model.CreateSession();
        Assert.Equal(golden.OutputIds, await GenerateAsync(session, golden.PromptIds, Greedy(golden.OutputIds.Length, adapter.WithScale(0))));
        session.Reset();
        Assert.Equal(golden.OutputIds, await GenerateAsync(session, golden.PromptIds, Greedy(golden.OutputIds.Length)));
    }

    [Fact]
    public async Task TheStoryChangesToTheDragon()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        using var session = _model.CreateSession();
        var withAdapter = await session.GenerateTextAsync("Once upon a time", Greedy(20, adapter));
        Assert.Contains("little dragon named Spark", withAdapter.Text);
        var without = await session.GenerateTextAsync("Once upon a time", Greedy(20));
        Assert.Contains("little girl named Lily", without.Text);
    }

    [Fact]
    public async Task StackedAdapters_AddUp()
    {
        // Two loads of the same adapter at 0.5 each change every matrix by the same amount as one at 1.0.
        var a = _model.LoadAdapter(AdapterPath);
        var b = _model.LoadAdapter(AdapterPath);
        var golden = ReadCases().First(c => c.Scale == 1f);
        using var session = _model.CreateSession();
        var ids = await GenerateAsync(session, golden.PromptIds, Greedy(24, a.WithScale(0.5f), b.WithScale(0.5f)));
        Assert.Equal(golden.OutputIds[..24], ids);
    }

    [Fact]
    public async Task MergedFile_GivesTheRunTimeTokens()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        string path = Path.Combine(Path.GetTempPath(), $"compactai-merged-{Guid.NewGuid():N}.gguf");
        try
        {
            adapter.MergeInto(path);
            using var merged = CompactModel.Load(path, new CompactModelOptions { Threads = 2, ContextSize = 256 });
            foreach (var c in ReadCases().Where(c => c.Scale == 1f))
            {
                using var runTime = _model.CreateSession();
                using var mergedSession = merged.CreateSession();
                var expected = await GenerateAsync(runTime, c.PromptIds, Greedy(c.OutputIds.Length, adapter));
                Assert.Equal(expected, await GenerateAsync(mergedSession, c.PromptIds, Greedy(c.OutputIds.Length)));
                Assert.Equal(c.OutputIds, expected);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task MergedAtHalfScale_GivesTheHalfScaleTokens()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        string path = Path.Combine(Path.GetTempPath(), $"compactai-merged-{Guid.NewGuid():N}.gguf");
        try
        {
            adapter.MergeInto(path, scale: 0.5f);
            using var merged = CompactModel.Load(path, new CompactModelOptions { Threads = 2, ContextSize = 256 });
            var c = ReadCases().First(c => c.Scale == 0.5f);
            using var session = merged.CreateSession();
            Assert.Equal(c.OutputIds, await GenerateAsync(session, c.PromptIds, Greedy(c.OutputIds.Length)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ChatClient_TakesAdaptersThroughChatOptions()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        using var client = new CompactAI.Chat.CompactChatClient(_model);
        Microsoft.Extensions.AI.ChatMessage[] messages = [new(Microsoft.Extensions.AI.ChatRole.User, "Once upon a time")];
        var plain = await client.GetResponseAsync(messages, new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 24 });
        var options = new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 24 }.WithLoraAdapters(adapter);
        Assert.Equal([adapter.WithScale(1f)], options.GetLoraAdapters());
        var adapted = await client.GetResponseAsync(messages, options);
        Assert.NotEqual(plain.Text, adapted.Text);
        var zero = await client.GetResponseAsync(messages, new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 24 }.WithLoraAdapters(adapter.WithScale(0)));
        Assert.Equal(plain.Text, zero.Text);
        // The key is documented as accepting a bare adapter too; another type is a clear error.
        var bare = new Microsoft.Extensions.AI.ChatOptions { AdditionalProperties = new() { [CompactAI.Chat.LoraChatOptions.Key] = adapter } };
        Assert.Equal([adapter.WithScale(1f)], bare.GetLoraAdapters());
        var wrong = new Microsoft.Extensions.AI.ChatOptions { AdditionalProperties = new() { [CompactAI.Chat.LoraChatOptions.Key] = "adapter.gguf" } };
        Assert.Throws<ArgumentException>(() => wrong.GetLoraAdapters());
    }

    // ---- KV reuse is keyed on the adapter set

    [Fact]
    public async Task Session_NeverReusesKvAcrossAdapterSets()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        var dragon = ReadCases().First(c => c.Scale == 1f && c.Prompt == golden.Prompt);
        using var session = _model.CreateSession();

        var first = await session.GenerateTextAsync(dragon.PromptIds, Greedy(8, adapter));
        Assert.Equal(dragon.OutputIds[..8], first.Tokens.Select(t => t.Id));

        // Same prompt, base model: nothing of the adapter's cache may be reused.
        var @base = await session.GenerateTextAsync(golden.PromptIds, Greedy(8));
        Assert.Equal(golden.PromptIds.Length, @base.PromptTokensEvaluated);
        Assert.Equal(golden.OutputIds[..8], @base.Tokens.Select(t => t.Id));

        // Same prompt, adapter at another scale: a different set, again nothing reused.
        var half = await session.GenerateTextAsync(golden.PromptIds, Greedy(4, adapter.WithScale(0.5f)));
        Assert.Equal(golden.PromptIds.Length, half.PromptTokensEvaluated);

        // Same set again: the cached prefix is reused, and the tokens are still llama.cpp's.
        var again = await session.GenerateTextAsync(golden.PromptIds, Greedy(8, adapter.WithScale(0.5f)));
        Assert.True(again.PromptTokensEvaluated < golden.PromptIds.Length);
        var halfGolden = ReadCases().First(c => c.Scale == 0.5f && c.Prompt == golden.Prompt);
        Assert.Equal(halfGolden.OutputIds[..8], again.Tokens.Select(t => t.Id));

        // Scale 0 is the base model, so it shares the base cache.
        await session.GenerateTextAsync(golden.PromptIds, Greedy(2));
        var zero = await session.GenerateTextAsync(golden.PromptIds, Greedy(8, adapter.WithScale(0)));
        Assert.True(zero.PromptTokensEvaluated < golden.PromptIds.Length);
        Assert.Equal(golden.OutputIds[..8], zero.Tokens.Select(t => t.Id));
    }

    [Fact]
    public async Task Pool_NeverLendsACacheOfAnotherAdapterSet()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 256, MaxParallelSequences = 1 });
        var adapter = model.LoadAdapter(AdapterPath);
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        var dragon = ReadCases().First(c => c.Scale == 1f && c.Prompt == golden.Prompt);
        ScaledLoraAdapter[] set = [adapter];

        using (var lease = await model.Sessions.RentAsync(golden.PromptIds, set))
        {
            var r = await lease.Session.GenerateTextAsync(golden.PromptIds, Greedy(8, set));
            Assert.Equal(dragon.OutputIds[..8], r.Tokens.Select(t => t.Id));
        }
        // One session only: the pool must lend it, and the base request must not see the adapter's keys and values.
        using (var lease = await model.Sessions.RentAsync(golden.PromptIds))
        {
            var r = await lease.Session.GenerateTextAsync(golden.PromptIds, Greedy(8));
            Assert.Equal(golden.PromptIds.Length, r.PromptTokensEvaluated);
            Assert.Equal(golden.OutputIds[..8], r.Tokens.Select(t => t.Id));
        }
        Assert.Equal(1, model.Sessions.SessionsCreated);
    }

    [Fact]
    public async Task Pool_PrefersTheSessionComputedUnderTheSameSet()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 256, MaxParallelSequences = 2 });
        var adapter = model.LoadAdapter(AdapterPath);
        var prompt = GoldenFiles.GreedyCases("stories260K.greedy.json")[0].PromptIds;
        ScaledLoraAdapter[] set = [adapter];
        var l1 = await model.Sessions.RentAsync(prompt, set);
        var l2 = await model.Sessions.RentAsync(prompt);
        var withAdapter = l1.Session;
        await withAdapter.GenerateTextAsync(prompt, Greedy(4, set));
        await l2.Session.GenerateTextAsync(prompt, Greedy(4));
        l1.Dispose();
        l2.Dispose();
        using var again = await model.Sessions.RentAsync(prompt, set);
        Assert.Same(withAdapter, again.Session);
        var r = await again.Session.GenerateTextAsync(prompt, Greedy(4, set));
        Assert.True(r.PromptTokensEvaluated < prompt.Length);
    }

    [Fact]
    public async Task SaveState_RefusesACacheComputedWithAdapters()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        using var session = _model.CreateSession();
        await session.GenerateTextAsync("Once upon a time", Greedy(2, adapter));
        Assert.Throws<InvalidOperationException>(() => session.SaveState(new MemoryStream()));
    }

    // ---- validation against the base

    [Fact]
    public void AdapterOfAnotherModel_NamesTheTensor()
    {
        // TinyStories-656K is llama too, with other widths: the first pair (sorted by name) does not fit.
        using var other = CompactModel.Load(Path.Combine(TestData.SharedDir, "models", "TinyStories-656K-f32.gguf"), new CompactModelOptions { Threads = 1, ContextSize = 64 });
        var e = Assert.Throws<LoraAdapterException>(() => other.LoadAdapter(AdapterPath));
        Assert.Equal("blk.0.attn_k.weight", e.TensorName);
        Assert.Contains("blk.0.attn_k.weight", e.Message);
    }

    [Fact]
    public async Task AdapterLoadedForAnotherModelInstance_IsRejectedPerRequest()
    {
        using var twin = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 64 });
        var foreign = twin.LoadAdapter(AdapterPath);
        using var session = _model.CreateSession();
        await Assert.ThrowsAsync<ArgumentException>(() => session.GenerateTextAsync("Once", Greedy(2, foreign)));
    }

    [Fact]
    public void WrongShape_NamesTheTensor()
    {
        // attn_q is [64 in, 64 out]; lora_a with 32 input columns does not fit.
        var e = Assert.Throws<LoraAdapterException>(() => LoadSynthetic(w =>
        {
            w.AddTensor("blk.1.attn_q.weight.lora_a", [32, 8], new float[32 * 8]);
            w.AddTensor("blk.1.attn_q.weight.lora_b", [8, 64], new float[8 * 64]);
        }));
        Assert.Equal("blk.1.attn_q.weight", e.TensorName);
    }

    [Fact]
    public void InconsistentRank_NamesTheTensor()
    {
        var e = Assert.Throws<LoraAdapterException>(() => LoadSynthetic(w =>
        {
            w.AddTensor("blk.0.ffn_up.weight.lora_a", [64, 8], new float[64 * 8]);
            w.AddTensor("blk.0.ffn_up.weight.lora_b", [4, 172], new float[4 * 172]);
        }));
        Assert.Equal("blk.0.ffn_up.weight", e.TensorName);
    }

    [Fact]
    public void TensorTheBaseLacks_NamesIt()
    {
        var e = Assert.Throws<LoraAdapterException>(() => LoadSynthetic(w =>
        {
            w.AddTensor("blk.7.attn_q.weight.lora_a", [64, 8], new float[64 * 8]);
            w.AddTensor("blk.7.attn_q.weight.lora_b", [8, 64], new float[8 * 64]);
        }));
        Assert.Equal("blk.7.attn_q.weight", e.TensorName);
    }

    [Fact]
    public void HalfAPair_NamesIt()
    {
        var e = Assert.Throws<LoraAdapterException>(() => LoadSynthetic(w => w.AddTensor("blk.0.attn_v.weight.lora_a", [64, 8], new float[64 * 8])));
        Assert.Equal("blk.0.attn_v.weight", e.TensorName);
    }

    [Fact]
    public void WrongArchitectureOrType_IsRejected()
    {
        Assert.Throws<LoraAdapterException>(() => LoadSynthetic(null, arch: "qwen2"));
        Assert.Throws<LoraAdapterException>(() => LoadSynthetic(null, generalType: "model"));
        // The base model itself is not an adapter.
        Assert.Throws<LoraAdapterException>(() => _model.LoadAdapter(TestData.Stories260K));
    }

    [Fact]
    public void OneBatchStep_AppliesEachSegmentsOwnAdapters()
    {
        // Two sequences in one ForwardBatch, one under the adapter and one without: each row range gets exactly its solo logits.
        var set = CompactAI.Models.LoraStack.For(_model, [_model.LoadAdapter(AdapterPath)]);
        var prompt = GoldenFiles.GreedyCases("stories260K.greedy.json")[0].PromptIds;
        var c = _model.Config;
        using var pool = new CompactAI.Threading.WorkerPool(2);
        var t = new CompactAI.Models.Transformer(c, _model.Weights, pool, 2 * prompt.Length, 64);
        KvCache NewCache() => new(c.BlockCount, 64, c.KvHeadCount, c.HeadDim, c.ValueDim);
        var soloLora = new float[c.VocabularySize];
        var soloBase = new float[c.VocabularySize];
        t.ForwardBatch(prompt, [new CompactAI.Models.BatchSegment(NewCache(), 0, prompt.Length, CompactAI.Models.SegmentOutput.LastLogits, soloLora, set)]);
        t.ForwardBatch(prompt, [new CompactAI.Models.BatchSegment(NewCache(), 0, prompt.Length, CompactAI.Models.SegmentOutput.LastLogits, soloBase)]);
        var bothLora = new float[c.VocabularySize];
        var bothBase = new float[c.VocabularySize];
        t.ForwardBatch([.. prompt, .. prompt],
        [
            new CompactAI.Models.BatchSegment(NewCache(), 0, prompt.Length, CompactAI.Models.SegmentOutput.LastLogits, bothBase),
            new CompactAI.Models.BatchSegment(NewCache(), 0, prompt.Length, CompactAI.Models.SegmentOutput.LastLogits, bothLora, set),
        ]);
        Assert.Equal(soloLora, bothLora);
        Assert.Equal(soloBase, bothBase);
        Assert.NotEqual(soloBase, soloLora);
    }

    [Fact]
    public async Task ConcurrentSequences_WithAndWithoutTheAdapter_GiveTheirSoloTokens()
    {
        var adapter = _model.LoadAdapter(AdapterPath);
        var cases = ReadCases().Where(c => c.Scale == 1f).ToList();
        var lora = cases[0];
        var plain = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        using var a = _model.CreateSession();
        using var b = _model.CreateSession();
        var withAdapter = GenerateAsync(a, lora.PromptIds, Greedy(lora.OutputIds.Length, adapter));
        var without = GenerateAsync(b, plain.PromptIds, Greedy(lora.OutputIds.Length));
        await Task.WhenAll(withAdapter, without);
        Assert.Equal(lora.OutputIds, await withAdapter);
        using var solo = _model.CreateSession();
        Assert.Equal(await GenerateAsync(solo, plain.PromptIds, Greedy(lora.OutputIds.Length)), await without);
    }

    [Fact]
    public void SyntheticAdapter_AddsTheLowRankProduct()
    {
        // A rank-1 adapter on output.weight adds s·b·(a·h) to the logits, h the output-normed hidden state, s = user × alpha / rank.
        var rng = new Random(5);
        var a = Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, 512).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var adapter = LoadSynthetic(w =>
        {
            w.AddTensor("output.weight.lora_a", [64, 1], a);
            w.AddTensor("output.weight.lora_b", [1, 512], b);
        }, alpha: 2f);
        var set = CompactAI.Models.LoraStack.For(_model, [adapter.WithScale(0.75f)]);
        var prompt = GoldenFiles.GreedyCases("stories260K.greedy.json")[0].PromptIds;
        var c = _model.Config;
        using var pool = new CompactAI.Threading.WorkerPool(2);
        var t = new CompactAI.Models.Transformer(c, _model.Weights, pool, 16, 64);
        var cache = new KvCache(c.BlockCount, 64, c.KvHeadCount, c.HeadDim, c.ValueDim);
        var baseLogits = new float[c.VocabularySize];
        var loraLogits = new float[c.VocabularySize];
        var hidden = new float[prompt.Length * c.EmbeddingLength];
        t.Forward(prompt, 0, cache, baseLogits, allLogits: false);
        t.ForwardBatch(prompt, [new CompactAI.Models.BatchSegment(cache, 0, prompt.Length, CompactAI.Models.SegmentOutput.LastLogits, loraLogits, set)]);
        t.ForwardHidden(prompt, 0, cache, hidden);
        var h = hidden.AsSpan((prompt.Length - 1) * c.EmbeddingLength, c.EmbeddingLength);
        float ah = 0;
        for (int i = 0; i < 64; i++) ah += a[i] * h[i];
        for (int v = 0; v < c.VocabularySize; v++)
            Assert.Equal(baseLogits[v] + 1.5f * b[v] * ah, loraLogits[v], 1e-4f);
        Assert.NotEqual(baseLogits, loraLogits);
    }

    private LoraAdapter LoadSynthetic(Action<GgufWriter>? tensors, string arch = "llama", string generalType = "adapter", float alpha = 8f)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add("general.type", generalType);
        w.Add("adapter.type", "lora");
        w.Add("adapter.lora.alpha", alpha);
        if (tensors is not null) tensors(w);
        else w.AddTensor("blk.0.attn_q.weight.lora_a", [64, 8], new float[64 * 8]).AddTensor("blk.0.attn_q.weight.lora_b", [8, 64], new float[8 * 64]);
        string path = Path.Combine(Path.GetTempPath(), $"compactai-lora-{Guid.NewGuid():N}.gguf");
        try
        {
            w.WriteTo(path);
            return _model.LoadAdapter(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
