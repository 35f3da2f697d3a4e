using System.Buffers.Binary;
using CompactAI.Chat;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Tensors.Quantization;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Inference;

/// <summary>
/// <see cref="InferenceSession.SaveState"/> / <see cref="InferenceSession.LoadState"/> on the real stories260K model:
/// exact continuation, no recomputation, refusal of other models and of truncated or corrupt streams; and prefix reuse
/// across conversations through the model's <see cref="SessionPool"/>.
/// </summary>
public sealed class SessionStateTests : IClassFixture<Stories260KFixture>, IDisposable
{
    private static readonly GenerationOptions Greedy16 = new() { MaxTokens = 16, Sampling = SamplingOptions.Greedy };
    private readonly CompactModel _model;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "compactai-state-" + Guid.NewGuid().ToString("N"));

    public SessionStateTests(Stories260KFixture fixture)
    {
        _model = fixture.Model;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A session that ran a prompt and 16 greedy tokens, its state, and a longer prompt continuing it.</summary>
    private async Task<(InferenceSession Session, byte[] State, int[] Next)> Prepared(string prompt = "Once upon a time")
    {
        var session = _model.CreateSession();
        var first = await session.GenerateTextAsync(prompt, Greedy16);
        var state = new MemoryStream();
        session.SaveState(state);
        var next = first.PromptTokens.Concat(first.Tokens.Select(t => t.Id)).Concat(_model.Tokenizer.Encode(" Then they", addSpecial: false)).ToArray();
        return (session, state.ToArray(), next);
    }

    private static long ExpectedStateBytes(CompactModel model, int tokens)
    {
        var c = model.Config;
        int header = 8 + 4 + 2 + System.Text.Encoding.UTF8.GetByteCount(c.Architecture) + 8 * 4 + 32 + 4;
        return header + 4L * tokens + (long)c.BlockCount * c.KvHeadCount * tokens * (c.HeadDim + c.ValueDim) * 2 + 32;
    }

    [Fact]
    public async Task ALoadedStateContinuesExactlyAsTheOriginalWithoutRecomputingThePrefix()
    {
        var (original, state, next) = await Prepared();
        using var _ = original;
        Assert.Equal(ExpectedStateBytes(_model, original.Tokens.Count), state.Length);
        int cached = original.Tokens.Count;

        // A fresh session of the same model, and one with a larger context.
        using var restored = _model.CreateSession();
        using var larger = _model.CreateSession(512);
        foreach (var s in new[] { restored, larger })
        {
            s.LoadState(new MemoryStream(state));
            Assert.Equal(original.Tokens, s.Tokens);
            Assert.Equal(0, s.TokensEvaluated);
        }

        var expectedLogits = await original.GetNextTokenLogitsAsync(next);
        var expected = await original.GenerateTextAsync(next, new GenerationOptions { MaxTokens = 24, Sampling = SamplingOptions.Greedy });
        foreach (var s in new[] { restored, larger })
        {
            var logits = await s.GetNextTokenLogitsAsync(next);
            // Only the tokens after the restored prefix ran.
            Assert.Equal(next.Length - cached, s.TokensEvaluated);
            Assert.Equal(next.Length - cached, s.LastPromptTokensEvaluated);
            Assert.Equal(expectedLogits, logits);
            var actual = await s.GenerateTextAsync(next, new GenerationOptions { MaxTokens = 24, Sampling = SamplingOptions.Greedy });
            Assert.Equal(expected.Tokens.Select(t => t.Id), actual.Tokens.Select(t => t.Id));
            Assert.Equal(expected.Tokens.Select(t => t.LogProbability), actual.Tokens.Select(t => t.LogProbability));
            Assert.Equal(expected.Text, actual.Text);
        }
    }

    [Fact]
    public async Task AsyncAndSyncWriteTheSameBytesAndAReloadedStateSavesIdentically()
    {
        var (original, state, _) = await Prepared("Lily and Ben");
        using var __ = original;
        var asyncStream = new MemoryStream();
        await original.SaveStateAsync(asyncStream);
        Assert.Equal(state, asyncStream.ToArray());

        using var restored = _model.CreateSession();
        await restored.LoadStateAsync(new MemoryStream(state));
        var again = new MemoryStream();
        restored.SaveState(again);
        Assert.Equal(state, again.ToArray());

        // An empty session round-trips too.
        using var empty = _model.CreateSession();
        var emptyState = new MemoryStream();
        empty.SaveState(emptyState);
        Assert.Equal(ExpectedStateBytes(_model, 0), emptyState.Length);
        restored.LoadState(new MemoryStream(emptyState.ToArray()));
        Assert.Empty(restored.Tokens);
    }

    [Fact]
    public async Task LoadingReadsNoBytePastTheState()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        var stream = new MemoryStream([.. state, 1, 2, 3]);
        using var restored = _model.CreateSession();
        restored.LoadState(stream);
        Assert.Equal(state.Length, stream.Position);
        Assert.Equal(1, stream.ReadByte());
    }

    [Fact]
    public async Task AStateFromAnotherModelIsRefused()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        // stories260K quantized to Q8_0: the same architecture and dimensions, other tensor types.
        string q8 = Path.Combine(_dir, "stories260K-q8_0.gguf");
        ModelQuantizer.Quantize(TestData.Stories260K, q8, QuantizationPreset.Q8_0, new QuantizationOptions { Pure = true, MaxDegreeOfParallelism = 2 });
        using var other = CompactModel.Load(q8, new CompactModelOptions { Threads = 2, ContextSize = 256 });
        using var otherSession = other.CreateSession();
        var e = Assert.Throws<SessionStateException>(() => otherSession.LoadState(new MemoryStream(state)));
        Assert.Equal("model_hash", e.Field);
        Assert.Contains("different model", e.Message);
        Assert.Empty(otherSession.Tokens);

        // And the other way round.
        await otherSession.GenerateTextAsync("Once upon a time", Greedy16);
        var otherState = new MemoryStream();
        otherSession.SaveState(otherState);
        using var session = _model.CreateSession();
        Assert.Equal("model_hash", Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(otherState.ToArray()))).Field);
    }

    [Theory]
    [InlineData("block_count", 0)]
    [InlineData("kv_head_count", 3)]
    [InlineData("vocab_size", 6)]
    [InlineData("tensor_count", 7)]
    public async Task EachFingerprintFieldIsCheckedAndNamed(string field, int index)
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        int at = 8 + 4 + 2 + _model.Config.Architecture.Length + 4 * index;
        BinaryPrimitives.WriteInt32LittleEndian(state.AsSpan(at), BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(at)) + 1);
        using var session = _model.CreateSession();
        var e = Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(state)));
        Assert.Equal(field, e.Field);
        Assert.Equal(at, e.Offset);

        var arch = (byte[])state.Clone();
        arch[14] ^= 0x20; // 'l' of "llama" → 'L'
        Assert.Equal("architecture", Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(arch))).Field);
    }

    [Fact]
    public async Task TruncationAtEveryByteIsRefusedAndLeavesTheSessionEmpty()
    {
        var (original, state, next) = await Prepared();
        using var __ = original;
        using var session = _model.CreateSession();
        for (int cut = 0; cut < state.Length; cut++)
        {
            session.LoadState(new MemoryStream(state)); // non-empty before each failed load
            var e = Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(state, 0, cut)));
            Assert.Contains("truncated", e.Message);
            Assert.Empty(session.Tokens);
        }
        // After all that, a good load still continues exactly.
        session.LoadState(new MemoryStream(state));
        Assert.Equal(await original.GetNextTokenLogitsAsync(next), await session.GetNextTokenLogitsAsync(next));
    }

    [Fact]
    public async Task TruncationIsRefusedByTheAsyncLoaderToo()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        using var session = _model.CreateSession();
        foreach (int cut in new[] { 0, 5, 8, 20, 60, 100, state.Length / 2, state.Length - 33, state.Length - 1 })
            await Assert.ThrowsAsync<SessionStateException>(() => session.LoadStateAsync(new MemoryStream(state, 0, cut)));
    }

    [Fact]
    public async Task ACorruptByteAnywhereIsRefused()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        using var session = _model.CreateSession();
        var fields = new HashSet<string>();
        for (int i = 0; i < state.Length; i += 3)
        {
            var bad = (byte[])state.Clone();
            bad[i] ^= 0x5A;
            var e = Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(bad)));
            fields.Add(e.Field);
            Assert.Empty(session.Tokens);
        }
        Assert.Contains("magic", fields);
        Assert.Contains("checksum", fields); // flipped keys and values are caught by the checksum
        Assert.Contains("model_hash", fields);
    }

    [Fact]
    public async Task AHugeTokenCountIsRefusedBeforeAnyAllocationAndATooSmallContextIsNamed()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        int at = 8 + 4 + 2 + _model.Config.Architecture.Length + 8 * 4 + 32;
        using var session = _model.CreateSession();
        foreach (int count in new[] { int.MaxValue, -1, 257 })
        {
            var bad = (byte[])state.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(at), count);
            var e = Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(bad)));
            Assert.Equal("token_count", e.Field);
        }
        using var small = _model.CreateSession(8);
        var tooSmall = Assert.Throws<SessionStateException>(() => small.LoadState(new MemoryStream(state)));
        Assert.Equal("token_count", tooSmall.Field);
        Assert.Contains("context holds 8", tooSmall.Message);
    }

    [Fact]
    public async Task AnOutOfVocabularyTokenAndANewerVersionAreRefused()
    {
        var (original, state, _) = await Prepared();
        using var __ = original;
        using var session = _model.CreateSession();
        int tokens = 8 + 4 + 2 + _model.Config.Architecture.Length + 8 * 4 + 32 + 4;
        var bad = (byte[])state.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(tokens + 4), _model.Config.VocabularySize);
        Assert.Equal("tokens", Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(bad))).Field);
        var version = (byte[])state.Clone();
        version[8] = 2;
        var e = Assert.Throws<SessionStateException>(() => session.LoadState(new MemoryStream(version)));
        Assert.Equal("version", e.Field);
        Assert.Contains("version 2", e.Message);
    }

    [Fact]
    public async Task TwoConversationsWithTheSameSystemPromptEvaluateItOnceOnAPoolOfOne()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 256, MaxParallelSequences = 1 });
        using var client = new CompactChatClient(model);
        const string system = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
                              "One day, she saw a big red ball under a tree and wanted to share it with everyone.";
        int systemTokens = model.Tokenizer.Encode(system, addSpecial: false).Count;
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 8 };

        var first = await client.GetResponseAsync([new(ChatRole.System, system), new(ChatRole.User, "Tom had a dog")], options);
        var second = await client.GetResponseAsync([new(ChatRole.System, system), new(ChatRole.User, "The sun was hot")], options);

        int firstEvaluated = (int)first.AdditionalProperties!["compactai.prompt_tokens_evaluated"]!;
        int secondEvaluated = (int)second.AdditionalProperties!["compactai.prompt_tokens_evaluated"]!;
        Assert.Equal(first.Usage!.InputTokenCount!.Value, firstEvaluated); // a cold cache: everything ran
        // The second conversation ran only what follows the shared system prompt.
        Assert.True(secondEvaluated <= second.Usage!.InputTokenCount!.Value - systemTokens,
            $"{secondEvaluated} of {second.Usage.InputTokenCount} prompt tokens ran; the system prompt has {systemTokens}");
        Assert.True(systemTokens > 30);
        Assert.Equal(1, model.Sessions.SessionsCreated);

        // The session's running total: the system prompt was evaluated once across both conversations.
        using var lease = await model.Sessions.RentAsync([]);
        long total = lease.Session.TokensEvaluated;
        long outputs = first.Usage.OutputTokenCount!.Value + second.Usage.OutputTokenCount!.Value;
        Assert.True(total <= first.Usage.InputTokenCount.Value + second.Usage.InputTokenCount.Value - systemTokens + outputs);
    }

    [Fact]
    public async Task ThePoolLendsTheIdleSessionSharingTheLongestPrefix()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 128, MaxParallelSequences = 2 });
        var a = model.Tokenizer.Encode("Lily and Ben went to the park to play with a ball");
        var b = model.Tokenizer.Encode("The cat sat on the mat and looked at the bird");
        InferenceSession sessionA, sessionB;
        using (var leaseA = await model.Sessions.RentAsync(a))
        using (var leaseB = await model.Sessions.RentAsync(b))
        {
            sessionA = leaseA.Session;
            sessionB = leaseB.Session;
            Assert.NotSame(sessionA, sessionB);
            await sessionA.GenerateTextAsync(a, Greedy16);
            await sessionB.GenerateTextAsync(b, Greedy16);
        }
        var b2 = b.Concat(model.Tokenizer.Encode(" and then", addSpecial: false)).ToArray();
        using (var lease = await model.Sessions.RentAsync(b2))
        {
            Assert.Same(sessionB, lease.Session);
            await lease.Session.GenerateTextAsync(b2, new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy });
            Assert.True(lease.Session.LastPromptTokensEvaluated <= b2.Length - b.Count);
        }
        using (var lease = await model.Sessions.RentAsync(a))
            Assert.Same(sessionA, lease.Session);
    }
}
