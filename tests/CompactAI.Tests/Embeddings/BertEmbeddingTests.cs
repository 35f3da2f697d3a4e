using CompactAI.Chat;
using CompactAI.Models;
using CompactAI.Tensors;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Embeddings;

/// <summary>all-MiniLM-L6-v2 (bert) embeddings against llama.cpp's (llama-server --embeddings --pooling …, 2 threads).</summary>
public sealed class BertEmbeddingTests(MiniLMFixture fixture) : IClassFixture<MiniLMFixture>
{
    /// <summary>The goal for F16 weights, met on every sentence.</summary>
    private const double MinCosine = 0.9999;

    /// <summary>
    /// Q8_0 reaches 0.99984–0.99995 per sentence (mean and CLS pooling), short of the 0.9999 goal; it was 0.99978–0.99992
    /// before the matmul inputs were quantized as llama.cpp's x86 kernels do and its blocks summed in its order (both now
    /// bit for bit, see LlamaCppKernelTests). What is left is of the size of llama.cpp's own spread: its embeddings of the
    /// same file with flash attention off differ from these goldens (flash attention on) by 0.99978–0.99992, so the
    /// encoder's attention arithmetic (llama.cpp's tiled flash-attention kernel for a whole batch) is the next suspect.
    /// </summary>
    private const double MinCosineQ8_0 = 0.9998;

    /// <summary>Single token vectors of Q8_0 (pooling last, [SEP]; pooling none) agree less closely: 0.99940–0.99987.</summary>
    private const double MinCosineQ8_0Token = 0.999;

    private CompactModel Model => fixture.Model;

    [Fact]
    public void Loads_as_an_encoder_with_the_files_hyper_parameters()
    {
        var c = Model.Config;
        Assert.Equal("bert", c.Architecture);
        Assert.True(c.IsEncoder);
        Assert.Equal(PoolingType.Mean, c.Pooling);
        Assert.Equal((384, 6, 12, 1536, 512), (c.EmbeddingLength, c.BlockCount, c.HeadCount, c.FeedForwardLength, c.ContextLength));
        Assert.Equal(1e-12f, c.LayerNormEpsilon, 1e-18f);
        Assert.Contains("bert", CompactModel.SupportedArchitectures);
        Assert.Equal(ComputeBackend.Cpu, Model.Backend);
        Assert.Contains("encoder models run on the CPU", Model.BackendDescription);
        var e = Assert.Throws<BackendUnavailableException>(() => CompactModel.Load(MiniLMGoldens.ModelPath, new CompactModelOptions { Backend = ComputeBackend.Cuda }));
        Assert.Contains("CPU only", e.Message);
    }

    [Theory]
    [InlineData("mean", PoolingType.Mean, MinCosineQ8_0)]
    [InlineData("cls", PoolingType.Cls, MinCosineQ8_0)]
    [InlineData("last", PoolingType.Last, MinCosineQ8_0Token)]
    public async Task Q8_0_embeddings_match_llama_cpp(string name, PoolingType pooling, double minCosine)
    {
        using var generator = new CompactEmbeddingGenerator(Model, pooling: pooling);
        var result = await generator.GenerateAsync(MiniLMGoldens.Sentences);
        AssertMatches(MiniLMGoldens.Embeddings("Q8_0", name), result, minCosine);
        Assert.Equal(MiniLMGoldens.SentenceTokens.Sum(t => t.Length), result.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task F16_embeddings_match_llama_cpp()
    {
        using var model = CompactModel.Load(MiniLMGoldens.F16Path, new CompactModelOptions { Threads = 2 });
        Assert.Equal(GgmlType.F16, model.File.GetTensor("blk.0.attn_q.weight").Type);
        using var generator = new CompactEmbeddingGenerator(model);
        AssertMatches(MiniLMGoldens.Embeddings("F16", "mean"), await generator.GenerateAsync(MiniLMGoldens.Sentences), MinCosine);
    }

    [Fact]
    public async Task Token_embeddings_match_llama_cpp_pooling_none()
    {
        using var generator = new CompactEmbeddingGenerator(Model, pooling: PoolingType.None);
        var (texts, expected) = MiniLMGoldens.TokenEmbeddings;
        for (int s = 0; s < texts.Length; s++)
        {
            var rows = await generator.GenerateTokenEmbeddingsAsync(texts[s]);
            Assert.Equal(expected[s].Length, rows.Count);
            for (int t = 0; t < rows.Count; t++)
                Assert.True(TensorMath.CosineSimilarity(expected[s][t], rows[t]) >= MinCosineQ8_0Token, $"'{texts[s]}' token {t}: {TensorMath.CosineSimilarity(expected[s][t], rows[t])}");
        }
        await Assert.ThrowsAsync<NotSupportedException>(() => generator.GenerateAsync(["one vector per text?"]));
    }

    [Fact]
    public async Task One_batched_call_equals_one_call_per_text()
    {
        using var generator = new CompactEmbeddingGenerator(Model);
        var sentences = MiniLMGoldens.Sentences;
        var batched = await generator.GenerateAsync(sentences);
        for (int i = 0; i < sentences.Length; i++)
        {
            var single = (await generator.GenerateAsync([sentences[i]]))[0].Vector.Span;
            var packed = batched[i].Vector.Span;
            for (int d = 0; d < single.Length; d++) Assert.Equal(single[d], packed[d], 1e-5f);
        }
    }

    [Fact]
    public async Task Many_texts_span_several_forward_passes_and_stay_in_order()
    {
        // 16 sentences × 4 copies = 64 texts, more tokens than one 512-token pass holds.
        using var generator = new CompactEmbeddingGenerator(Model);
        var sentences = MiniLMGoldens.Sentences;
        var expected = MiniLMGoldens.Embeddings("Q8_0", "mean");
        var texts = Enumerable.Range(0, 64).Select(i => sentences[i % sentences.Length]).ToArray();
        Assert.True(MiniLMGoldens.SentenceTokens.Sum(t => t.Length) * 4 > Model.Encoders!.MaxTokens);
        var result = await generator.GenerateAsync(texts);
        Assert.Equal(64, result.Count);
        for (int i = 0; i < texts.Length; i++)
            Assert.True(TensorMath.CosineSimilarity(expected[i % sentences.Length], result[i].Vector.Span) >= MinCosineQ8_0, $"text {i}");
    }

    [Fact]
    public async Task Similar_sentences_are_closer_than_unrelated_ones()
    {
        using var generator = new CompactEmbeddingGenerator(Model);
        var e = await generator.GenerateAsync(["How do I reset my password?", "Forgot my login credentials, how can I recover the account?", "The cat sits outside."]);
        float related = TensorMath.Dot(e[0].Vector.Span, e[1].Vector.Span), unrelated = TensorMath.Dot(e[0].Vector.Span, e[2].Vector.Span);
        Assert.True(related > unrelated + 0.2f, $"related {related}, unrelated {unrelated}");
        Assert.Equal(1.0, Math.Sqrt(TensorMath.Dot(e[0].Vector.Span, e[0].Vector.Span)), 1e-5);
    }

    [Fact]
    public async Task Too_long_texts_cancellation_and_metadata()
    {
        using var generator = new CompactEmbeddingGenerator(Model, "minilm");
        var tooLong = string.Join(' ', Enumerable.Repeat("word", 600));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["short", tooLong]));
        Assert.Contains("512-token context", e.Message);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(["hello"], cancellationToken: cts.Token));
        var metadata = generator.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal((384, "minilm"), (metadata.DefaultModelDimensions!.Value, metadata.DefaultModelId!));
        Assert.Empty(await generator.GenerateAsync([]));
        Assert.Single(await generator.GenerateAsync([""])); // [CLS] [SEP], as llama.cpp embeds an empty text
    }

    [Fact]
    public async Task Text_generation_is_refused_with_a_typed_error()
    {
        var e = Assert.Throws<EncoderOnlyModelException>(() => Model.CreateSession());
        Assert.Equal("bert", e.Architecture);
        Assert.Contains("CompactEmbeddingGenerator", e.Message);
        Assert.Throws<EncoderOnlyModelException>(() => Model.Sessions);
        using var chat = new CompactChatClient(Model);
        await Assert.ThrowsAsync<EncoderOnlyModelException>(() => chat.GetResponseAsync("Hello"));
    }

    [Fact]
    public async Task A_decoder_keeps_mean_pooling_and_has_no_token_embeddings()
    {
        using var decoder = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 64 });
        Assert.False(decoder.Config.IsEncoder);
        Assert.Throws<ArgumentException>(() => new CompactEmbeddingGenerator(decoder, pooling: PoolingType.Cls));
        using var generator = new CompactEmbeddingGenerator(decoder);
        Assert.Equal(PoolingType.Mean, generator.Pooling);
        await Assert.ThrowsAsync<NotSupportedException>(() => generator.GenerateTokenEmbeddingsAsync("Once upon a time"));
    }

    private static void AssertMatches(float[][] expected, GeneratedEmbeddings<Embedding<float>> actual, double minCosine)
    {
        Assert.Equal(expected.Length, actual.Count);
        var failures = new List<string>();
        for (int i = 0; i < expected.Length; i++)
        {
            double cos = TensorMath.CosineSimilarity(expected[i], actual[i].Vector.Span);
            if (!(cos >= minCosine)) failures.Add($"sentence {i}: cosine {cos:F6}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
