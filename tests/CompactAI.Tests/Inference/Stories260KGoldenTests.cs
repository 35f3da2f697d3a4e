using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Tests.Inference;

/// <summary>
/// End-to-end conformance with llama.cpp on the real stories260K model: tokenization, greedy continuations token for
/// token, and the first-step distribution (goldens from node-llama-cpp 3.22.1, Goldens/reference/make-goldens.mjs).
/// </summary>
public sealed class Stories260KGoldenTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public Stories260KGoldenTests(Stories260KFixture fixture) => _model = fixture.Model;

    public static TheoryData<string> Prompts()
    {
        var data = new TheoryData<string>();
        foreach (var c in GoldenFiles.GreedyCases("stories260K.greedy.json")) data.Add(c.Prompt);
        return data;
    }

    private static GoldenFiles.GreedyCase Case(string prompt) =>
        GoldenFiles.GreedyCases("stories260K.greedy.json").Single(c => c.Prompt == prompt);

    [Fact]
    public void GoldensHaveAtLeastFivePrompts() => Assert.True(GoldenFiles.GreedyCases("stories260K.greedy.json").Count >= 5);

    [Theory]
    [MemberData(nameof(Prompts))]
    public void PromptTokenizationMatchesLlamaCpp(string prompt)
    {
        Assert.Equal(Case(prompt).PromptIds, _model.Tokenizer.Encode(prompt, addSpecial: true));
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public async Task GreedyContinuationMatchesLlamaCppTokenForToken(string prompt)
    {
        var golden = Case(prompt);
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync(golden.PromptIds,
            new GenerationOptions { MaxTokens = golden.OutputIds.Length, Sampling = SamplingOptions.Greedy });
        Assert.Equal(golden.OutputIds, result.Tokens.Select(t => t.Id).ToArray());
        // llama.cpp's detokenizer drops the first piece's leading space; ours keeps the text as generated.
        Assert.Equal(golden.Text, result.Text.TrimStart(' '));
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public async Task FirstStepTop5ProbabilitiesMatchLlamaCppWithin1e3(string prompt)
    {
        var golden = Case(prompt);
        using var session = _model.CreateSession();
        var logits = await session.GetNextTokenLogitsAsync(golden.PromptIds);
        var probs = Softmax(logits);
        var top5 = probs.Select((p, id) => (Id: id, P: p)).OrderByDescending(x => x.P).Take(5).ToArray();
        Assert.Equal(golden.Top5.Select(t => t.Id), top5.Select(t => t.Id));
        foreach (var (id, p) in golden.Top5) Assert.InRange(probs[id], p - 1e-3, p + 1e-3);
    }

    [Fact]
    public async Task FirstStepLogitsMatchLlamaCpp()
    {
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json").First(c => c.LogitsFirst is not null);
        using var session = _model.CreateSession();
        var logits = await session.GetNextTokenLogitsAsync(golden.PromptIds);
        Assert.Equal(golden.LogitsFirst!.Length, logits.Length);
        double maxDiff = logits.Zip(golden.LogitsFirst!, (a, b) => Math.Abs(a - b)).Max();
        // llama.cpp's flash-attention arithmetic with the F16 cache is reproduced (without it the error is 5.4e-3, 3.7e-3 with
        // plain F16 rounding); what remains (1.7e-3) is summation order and ggml's vectorised exp/silu approximations.
        Assert.True(maxDiff < 2.5e-3, $"max |logit − llama.cpp| = {maxDiff}");
    }

    [Fact]
    public async Task GeneratedTokensCarryTheModelsLogProbabilities()
    {
        var golden = Case("Once upon a time");
        using var session = _model.CreateSession();
        var first = await session.GenerateAsync(golden.PromptIds, new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy }).SingleAsync();
        Assert.Equal(golden.Top5[0].Id, first.Id);
        Assert.InRange(first.Probability, golden.Top5[0].P - 1e-3, golden.Top5[0].P + 1e-3);
        Assert.InRange(first.Top1Probability, golden.Top5[0].P - 1e-3, golden.Top5[0].P + 1e-3);
        Assert.InRange(first.Top2Probability, golden.Top5[1].P - 1e-3, golden.Top5[1].P + 1e-3);
        Assert.Equal(",", first.Text);
    }

    internal static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }
}
