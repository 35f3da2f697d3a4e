using CompactAI.Inference;
using CompactAI.Sampling;
using Xunit.Abstractions;

namespace CompactAI.Tests.Oracle;

/// <summary>
/// The differential oracle: our engine against llama.cpp running in this process (LLamaSharp 0.30.0, its CPU backend), on
/// the same file at test time, so new kernels and families are checked without regenerating committed goldens. For each
/// model and prompt: the tokenization, every next-token logit after the prompt, and greedy tokens. LLamaSharp 0.30.0
/// carries an older llama.cpp than the committed goldens (ggml 0.18.0 against 0.25.1; see Goldens/README.md), so both
/// agreeing is also a check across llama.cpp versions.
/// </summary>
public sealed class LlamaCppDifferentialTests(OracleModels models, ITestOutputHelper output) : IClassFixture<OracleModels>
{
    private const int ContextSize = 512;
    private const int GreedyTokens = 24;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog was", "Lily and Ben"];

    /// <summary>
    /// Largest accepted |logit − llama.cpp| relative to the largest |logit| (at least 1). Unquantized weights: only float
    /// summation order differs (observed ≤ 1e-5 on the tiny shapes, ≤ 5e-5 on stories260K and TinyStories-656K); per-head
    /// Q/K norms (Qwen3, Gemma 3) and post-norms (Gemma 2/3) blow small layer outputs up, where one flipped half rounding
    /// of a cached value costs up to ~3e-4 (see ArchitectureConformanceTests), hence 1e-3 there and 1e-4 elsewhere.
    /// Block-quantized weights: activations are quantized to Q8_0/Q8_1/Q8_K before every matmul in both engines and the
    /// integer dot products are exact, so 1e-4 too (observed ≤ 5e-7 for Q4_0, Q5_0, Q5_1, Q3_K, Q4_K, Q5_K, Q6_K, Q4_K_M).
    /// </summary>
    private static double Tolerance(string name) =>
        KnownDeviations.TryGetValue(name, out var known) ? known.Bound
        : name.StartsWith("tiny-qwen3", StringComparison.Ordinal) || name.StartsWith("tiny-gemma2", StringComparison.Ordinal)
          || name.StartsWith("tiny-gemma3", StringComparison.Ordinal) ? 1e-3 : 1e-4;

    /// <summary>
    /// Files where our logits differ from llama.cpp's by more than the stated tolerances on one prompt (or, for F16/BF16,
    /// on most), with the largest relative difference seen over the three prompts and the bound held (about twice that, so
    /// a change for the worse fails). Greedy tokens agree on all of them; on the other prompts these files agree to ≤ 5e-7
    /// or exactly. The deviations are isolated flips, not drift: an activation that differs from llama.cpp's in its last
    /// bit crosses a rounding boundary of the next matmul's input (one Q8 level, 1/254 of a block's largest value; one half
    /// or bfloat16 step), and a random-weight model carries that one element to every logit. Three causes of such bits are
    /// now llama.cpp's own arithmetic, each checked bit for bit against the kernels of the llama.cpp loaded here
    /// (<see cref="LlamaCppKernelTests"/>): Q8_0/Q8_1 activations rounded as its x86 quantize_row_q8_0/_q8_1 (127/max,
    /// halves to even; its reference quantizer, which we used, rounds halves away from zero), Q4_0/Q5_0/Q8_0 blocks summed
    /// in one FMA chain as its vec_dot and tinyBLAS kernels, and attention scores in ggml_vec_dot_f16's order. That removed
    /// TinyStories-656K-Q8_0 (was 1.3e-2), small-llama/Q8_0 (1.1e-2), small-llama/Q4_0 (8.5e-3) and tiny-gemma3/Q8_0
    /// (9.2e-3) from this list; which prompt flips is a lottery over the remaining last-bit differences upstream (F32 ops
    /// such as RoPE, norms and the F16 cache's round trips, not yet traced), so tiny-qwen3/Q8_0 and small-llama/Q5_1 now
    /// flip on one prompt each, and F16/BF16 (whose every activation is rounded) on most.
    /// </summary>
    private static readonly Dictionary<string, (double Observed, double Bound)> KnownDeviations = new()
    {
        ["small-llama/F16"] = (4.0e-4, 1e-3),
        ["small-llama/BF16"] = (3.9e-3, 1e-2),
        ["small-llama/Q4_1"] = (8.7e-3, 2.5e-2),
        ["small-llama/Q5_1"] = (7.8e-3, 2.5e-2),
        ["small-llama/Q2_K"] = (1.1e-2, 2.5e-2),
        ["small-llama/Q5_K_M"] = (1.4e-2, 2.5e-2),
        ["tiny-qwen3/Q8_0"] = (5.6e-3, 1.5e-2),
    };

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string> { "stories260K", "TinyStories-656K-f32", "TinyStories-656K-Q8_0" };
        foreach (var family in OracleModels.Families)
        {
            data.Add($"tiny-{family}/F32");
            data.Add($"tiny-{family}/Q8_0");
        }
        foreach (var type in OracleModels.QuantTypes) data.Add($"small-llama/{type}");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task LogitsAndGreedyTokensMatchLlamaCppInProcess(string name)
    {
        string path = models.PathOf(name);
        using var oracle = LlamaCppOracle.Load(path, ContextSize);
        using var model = CompactModel.Load(path, new CompactModelOptions { Threads = 2, ContextSize = ContextSize });
        double tolerance = Tolerance(name);
        foreach (string prompt in Prompts)
        {
            int[] ids = oracle.Tokenize(prompt);
            Assert.Equal(ids, model.Tokenizer.Encode(prompt, addSpecial: true));

            using var session = model.CreateSession();
            float[] ours = await session.GetNextTokenLogitsAsync(ids);
            float[] theirs = oracle.NextTokenLogits(ids);
            double scale = Math.Max(1, theirs.Max(MathF.Abs)), maxDiff = 0;
            for (int i = 0; i < ours.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(ours[i] - theirs[i]));
            output.WriteLine($"{name}, \"{prompt}\": max |logit − llama.cpp| = {maxDiff:G3} (largest |logit| {scale:G3})");
            Assert.True(maxDiff <= tolerance * scale, $"{name}, \"{prompt}\": max |logit − llama.cpp| = {maxDiff:G3} > {tolerance * scale:G3}");

            var (expected, margins) = oracle.Greedy(ids, GreedyTokens);
            session.Reset();
            var result = await session.GenerateTextAsync(ids, new GenerationOptions
            {
                MaxTokens = GreedyTokens,
                Sampling = SamplingOptions.Greedy,
                IgnoreEndOfSequence = true,
            });
            int[] actual = result.Tokens.Select(t => t.Id).ToArray();
            AssertSameGreedy(name, prompt, expected, margins, actual, tolerance * scale);
        }
    }

    [Fact]
    public void ReportsTheLlamaCppBuildItRuns()
    {
        using var oracle = LlamaCppOracle.Load(TestData.Stories260K);
        string variant = LlamaCppOracle.LoadedVariant;
        output.WriteLine($"LLamaSharp loaded the {variant} CPU build: {LlamaCppOracle.GgmlBuild}");
        output.WriteLine(LlamaCppOracle.SystemInfo);
        foreach (var line in LlamaCppOracle.LoadLog) output.WriteLine(line);
        Assert.Contains(variant, new[] { "noavx", "avx", "avx2", "avx512" });
        Assert.StartsWith("ggml ", LlamaCppOracle.GgmlBuild);
    }

    /// <summary>
    /// The sequences are equal; where they part, llama.cpp's best and second-best logits must have been within twice the
    /// logits tolerance (a near-tie that either engine may break its way), and the comparison stops there.
    /// </summary>
    private void AssertSameGreedy(string name, string prompt, int[] expected, float[] margins, int[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == actual[i]) continue;
            output.WriteLine($"{name}, \"{prompt}\": greedy tokens part at {i} ({actual[i]} vs llama.cpp {expected[i]}), top-2 gap {margins[i]:G3}");
            Assert.True(margins[i] <= 2 * tolerance,
                $"{name}, \"{prompt}\": greedy token {i} is {actual[i]}, llama.cpp {expected[i]} with a top-2 gap of {margins[i]:G3}");
            return;
        }
    }
}
