using System.Runtime.InteropServices;
using System.Text.Json;
using CompactAI.Chat;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Models.Synthetic;
using CompactAI.Sampling;
using CompactAI.Sampling.Constraints;
using CompactAI.Tests.Cuda;
using CompactAI.Tests.Oracle;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.LLamaSharp;

/// <summary>
/// A random-weight <c>granite</c> model (an architecture CompactAI's engine does not implement, which llama.cpp runs), written once
/// per test class: tiny-llama's shape and stories260K's vocabulary, with granite's keys (<c>granite.logit_scale</c> is required;
/// the residual, embedding and attention scales are set to values that change the result).
/// </summary>
public sealed class GraniteModelFile : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-granite-").FullName;

    public GraniteModelFile()
    {
        LlamaCppOracle.Configure(); // before the backend's first native call, so the oracle still captures the load log
        string llama = System.IO.Path.Combine(_dir, "tiny-llama.gguf");
        SyntheticModel.Write(ModelShape.For("tiny-llama"), null, TestData.Stories260K, llama, seed: 11);
        Path = System.IO.Path.Combine(_dir, "tiny-granite.gguf");
        WriteAs(llama, "granite", Path);
        UnknownPath = System.IO.Path.Combine(_dir, "tiny-nonesuch.gguf");
        WriteAs(llama, "nonesuch", UnknownPath);
    }

    /// <summary>tiny-llama's tensors and vocabulary under <paramref name="architecture"/>'s keys, with granite's scales.</summary>
    private static void WriteAs(string llama, string architecture, string path)
    {
        using var input = GgufFile.Open(llama);
        var writer = new GgufWriter(input.Alignment);
        foreach (var (key, value) in input.Metadata)
        {
            if (key is "general.alignment") continue;
            if (key == "general.architecture") writer.Add(key, architecture);
            else if (key.StartsWith("llama.", StringComparison.Ordinal)) writer.Add(architecture + "." + key["llama.".Length..], value);
            else writer.Add(key, value);
        }
        writer.Add(architecture + ".logit_scale", 0.25f);
        writer.Add(architecture + ".residual_scale", 0.5f);
        writer.Add(architecture + ".embedding_scale", 4f);
        writer.Add(architecture + ".attention.scale", 0.2f);
        foreach (var tensor in input.Tensors)
            writer.AddTensor(tensor.Name, tensor.Dimensions.ToArray(), MemoryMarshal.Cast<byte, float>(input.GetTensorBytes(tensor)));
        writer.WriteTo(path);
    }

    /// <summary>The same model under an architecture neither engine knows.</summary>
    public string UnknownPath { get; }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The <c>CompactAI.LLamaSharp</c> backend: llama.cpp runs the forward pass through LLamaSharp 0.30.0, CompactAI's tokenizer,
/// sampler, sessions and clients run above it. References: llama.cpp's own greedy loop in this process (<see cref="LlamaCppOracle"/>)
/// and CompactAI's CPU engine on stories260K.
/// </summary>
public sealed class LLamaSharpBackendTests(GraniteModelFile granite) : IClassFixture<GraniteModelFile>
{
    private const int Greedy = 24;
    private static readonly GenerationOptions GreedyOptions = new() { MaxTokens = Greedy, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true };

    private static CompactModel Load(string path, ComputeBackend backend, RecordingLoggerFactory? log = null) =>
        CompactModel.Load(path, new CompactModelOptions { Backend = backend, Threads = 2, ContextSize = 256, LoggerFactory = log });

    private static async Task<int[]> GreedyIds(CompactModel model, string prompt)
    {
        using var session = model.CreateSession();
        var result = await session.GenerateTextAsync(prompt, GreedyOptions);
        return result.Tokens.Select(t => t.Id).ToArray();
    }

    [Fact]
    public async Task Stories260K_both_backends_give_the_same_greedy_tokens_and_llama_cpp_s_own()
    {
        using var cpu = Load(TestData.Stories260K, ComputeBackend.Cpu);
        using var llama = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        Assert.Equal(ComputeBackend.LLamaSharp, llama.Backend);
        Assert.StartsWith("llama.cpp through LLamaSharp", llama.BackendDescription);
        using var oracle = LlamaCppOracle.Load(TestData.Stories260K, 256);
        foreach (string prompt in new[] { "Once upon a time", "The little dog was", "Lily and Ben" })
        {
            int[] ours = await GreedyIds(cpu, prompt);
            int[] theirs = await GreedyIds(llama, prompt);
            Assert.Equal(ours, theirs);
            Assert.Equal(oracle.Greedy(llama.Tokenizer.Encode(prompt, addSpecial: true).ToArray(), Greedy).Tokens, theirs);
        }
    }

    [Fact]
    public async Task Stories260K_log_probabilities_and_next_token_logits_agree_with_the_cpu_engine()
    {
        using var cpu = Load(TestData.Stories260K, ComputeBackend.Cpu);
        using var llama = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        var options = GreedyOptions with { TopLogProbabilities = 3 };
        using var a = cpu.CreateSession();
        using var b = llama.CreateSession();
        var ours = (await a.GenerateTextAsync("Once upon a time", options)).Tokens;
        var theirs = (await b.GenerateTextAsync("Once upon a time", options)).Tokens;
        for (int i = 0; i < ours.Count; i++)
        {
            Assert.Equal(ours[i].Id, theirs[i].Id);
            Assert.Equal(ours[i].LogProbability, theirs[i].LogProbability, 1e-3f);
            Assert.Equal(ours[i].Entropy, theirs[i].Entropy, 1e-3f);
            Assert.Equal(ours[i].TopLogProbabilities!.Select(t => t.Id), theirs[i].TopLogProbabilities!.Select(t => t.Id));
        }
        // The logits after a prompt. llama.cpp decodes the prompt as one batch here, where its CPU backend takes matrix-matrix
        // kernels that sum in another order than the matrix-vector path our engine reproduces (the oracle decodes one token
        // at a time and agrees to 1e-4): observed 3e-4 of the largest logit on stories260K, so 1e-3.
        // Every position's logits too (ScoreAsync asks the pass for all of them in one call).
        int[] ids = cpu.Tokenizer.Encode("One day, a girl named Lily went to the park.", addSpecial: true).ToArray();
        float[] x = await a.GetNextTokenLogitsAsync(ids), y = await b.GetNextTokenLogitsAsync(ids);
        float scale = Math.Max(1f, x.Max(MathF.Abs));
        for (int j = 0; j < x.Length; j++) Assert.True(MathF.Abs(x[j] - y[j]) <= 1e-3f * scale, $"logit {j}: {x[j]} vs {y[j]}");
        float[] sx = await a.ScoreAsync(ids), sy = await b.ScoreAsync(ids);
        Assert.Equal(sx.Length, sy.Length);
        for (int j = 0; j < sx.Length; j++) Assert.Equal(sx[j], sy[j], 1e-3f);
    }

    [Fact]
    public async Task Granite_runs_in_llama_cpp_under_Auto_and_explicitly_with_llama_cpp_s_greedy_tokens()
    {
        var log = new RecordingLoggerFactory();
        using var auto = Load(granite.Path, ComputeBackend.Auto, log);
        Assert.Equal(ComputeBackend.LLamaSharp, auto.Backend);
        Assert.Contains("does not implement the 'granite' architecture", auto.BackendDescription);
        Assert.Contains(log.Entries.Select(e => e.Message), m => m.Contains("granite", StringComparison.Ordinal) && m.Contains("llama.cpp", StringComparison.Ordinal));
        using var explicitly = Load(granite.Path, ComputeBackend.LLamaSharp);
        using var oracle = LlamaCppOracle.Load(granite.Path, 256);
        foreach (string prompt in new[] { "Once upon a time", "Lily and Ben" })
        {
            var ids = auto.Tokenizer.Encode(prompt, addSpecial: true);
            Assert.Equal(oracle.Tokenize(prompt), ids);
            int[] expected = oracle.Greedy(ids, Greedy).Tokens;
            Assert.Equal(expected, await GreedyIds(auto, prompt));
            Assert.Equal(expected, await GreedyIds(explicitly, prompt));
        }
    }

    [Fact]
    public void Granite_on_CompactAI_s_own_engine_is_refused_naming_the_architecture()
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(granite.Path, ComputeBackend.Cpu));
        Assert.Contains("'granite'", e.Message);
    }

    [Fact]
    public void A_file_neither_engine_runs_is_NotSupported_under_Auto_and_unavailable_when_LLamaSharp_is_asked_for()
    {
        var auto = Assert.Throws<NotSupportedException>(() => Load(granite.UnknownPath, ComputeBackend.Auto));
        Assert.Contains("'nonesuch'", auto.Message);
        Assert.IsType<BackendUnavailableException>(auto.InnerException);
        var explicitly = Assert.Throws<BackendUnavailableException>(() => Load(granite.UnknownPath, ComputeBackend.LLamaSharp));
        Assert.Equal(ComputeBackend.LLamaSharp, explicitly.Backend);
        Assert.Contains("llama.cpp could not load", explicitly.Reason);
    }

    [Fact]
    public async Task Prefix_reuse_in_llama_cpp_s_memory_gives_a_fresh_session_s_tokens()
    {
        using var model = Load(granite.Path, ComputeBackend.LLamaSharp);
        using var reused = model.CreateSession();
        await reused.GenerateTextAsync("Once upon a time, there was", GreedyOptions);
        // Shares "Once upon a time" with what is cached, then diverges: the cached tail must be dropped from llama.cpp's memory.
        var second = await reused.GenerateTextAsync("Once upon a time Lily", GreedyOptions);
        Assert.True(second.PromptTokensEvaluated < second.PromptTokens.Count);
        Assert.Equal(await GreedyIds(model, "Once upon a time Lily"), second.Tokens.Select(t => t.Id));
        reused.Reset();
        var third = await reused.GenerateTextAsync("Lily and Ben", GreedyOptions);
        Assert.Equal(await GreedyIds(model, "Lily and Ben"), third.Tokens.Select(t => t.Id));
    }

    [Fact]
    public async Task Json_constrained_generation_works_on_the_LLamaSharp_backend()
    {
        using var cpu = Load(TestData.Stories260K, ComputeBackend.Cpu);
        using var llama = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        var options = new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy, Constraint = JsonConstraint.AnyObject };
        using var a = cpu.CreateSession();
        using var b = llama.CreateSession();
        var ours = await a.GenerateTextAsync("Once upon a time", options);
        var theirs = await b.GenerateTextAsync("Once upon a time", options);
        Assert.Equal(ours.Text, theirs.Text);
        if (theirs.FinishReason != FinishReason.MaxTokens)
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(theirs.Text).RootElement.ValueKind);
        Assert.StartsWith("{", theirs.Text.TrimStart());
    }

    [Fact]
    public async Task Chat_client_and_session_pool_answer_as_on_the_cpu_engine()
    {
        using var cpu = Load(TestData.Stories260K, ComputeBackend.Cpu);
        using var llama = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        var ours = await new CompactChatClient(cpu).GetResponseAsync("Once upon a time", options);
        var theirs = await new CompactChatClient(llama).GetResponseAsync("Once upon a time", options);
        Assert.False(string.IsNullOrEmpty(theirs.Text));
        Assert.Equal(ours.Text, theirs.Text);
        // The second request is served from the pooled session's cache (prefix reuse in llama.cpp's memory).
        var again = await new CompactChatClient(llama).GetResponseAsync("Once upon a time", options);
        Assert.Equal(theirs.Text, again.Text);
    }

    [Fact]
    public async Task Embeddings_are_llama_cpp_s_final_hidden_states_and_match_the_cpu_engine()
    {
        using var cpu = Load(TestData.Stories260K, ComputeBackend.Cpu);
        using var llama = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        var ours = (await new CompactEmbeddingGenerator(cpu).GenerateAsync(["Lily and Ben went to the park."]))[0].Vector.ToArray();
        var theirs = (await new CompactEmbeddingGenerator(llama).GenerateAsync(["Lily and Ben went to the park."]))[0].Vector.ToArray();
        Assert.Equal(ours.Length, theirs.Length);
        for (int i = 0; i < ours.Length; i++) Assert.Equal(ours[i], theirs[i], 1e-3f);
    }

    [Fact]
    public async Task Session_state_is_refused_with_a_typed_error_naming_the_feature()
    {
        using var model = Load(TestData.Stories260K, ComputeBackend.LLamaSharp);
        using var session = model.CreateSession();
        await session.GenerateTextAsync("Once upon a time", GreedyOptions with { MaxTokens = 4 });
        var save = Assert.Throws<BackendFeatureNotSupportedException>(() => session.SaveState(new MemoryStream()));
        Assert.Equal(ComputeBackend.LLamaSharp, save.Backend);
        Assert.Contains("SaveState", save.Feature);
        await Assert.ThrowsAsync<BackendFeatureNotSupportedException>(() => session.LoadStateAsync(new MemoryStream(new byte[16])));
        // The session still works afterwards.
        var after = await session.GenerateTextAsync("Once upon a time", GreedyOptions);
        Assert.Equal(await GreedyIds(model, "Once upon a time"), after.Tokens.Select(t => t.Id));
    }

    [Fact]
    public void Explicit_LLamaSharp_refuses_an_encoder_model()
    {
        string? bert = Directory.EnumerateFiles(System.IO.Path.Combine(TestData.SharedDir, "models"), "*.gguf")
            .FirstOrDefault(f => { using var g = GgufFile.Open(f); return g.Metadata.GetString("general.architecture") == "bert"; });
        if (bert is null) return;
        var e = Assert.Throws<BackendUnavailableException>(() => Load(bert, ComputeBackend.LLamaSharp));
        Assert.Equal(ComputeBackend.LLamaSharp, e.Backend);
    }
}
