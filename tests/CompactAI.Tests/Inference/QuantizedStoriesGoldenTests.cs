using System.Security.Cryptography;
using System.Text.Json;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Inference;

/// <summary>
/// stories260K quantized by our <see cref="ModelQuantizer"/> (pure mode, as <c>llama-quantize --pure</c>) must produce
/// byte-identical tensors to llama-quantize's, and then the same greedy tokens and first-step probabilities as llama.cpp
/// on its file (goldens: Goldens/stories260K.quantized.json, made by reference/make-quantized-goldens.mjs).
/// </summary>
public sealed class QuantizedStoriesGoldenTests
{
    public static TheoryData<string> Types() => new() { "F16", "Q8_0", "Q4_0" };

    private static JsonElement Variant(JsonDocument doc, string type) =>
        doc.RootElement.GetProperty("variants").EnumerateArray().Single(v => v.GetProperty("type").GetString() == type);

    private static string Quantize(string type)
    {
        string path = Path.Combine(Path.GetTempPath(), $"compactai-stories260K-{type}-{Environment.ProcessId}.gguf");
        ModelQuantizer.Quantize(TestData.Stories260K, path, Enum.Parse<QuantizationPreset>(type), new QuantizationOptions { Pure = true });
        return path;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public async Task OurQuantizerMatchesLlamaQuantizeAndGenerationMatchesLlamaCpp(string type)
    {
        using var doc = GoldenFiles.Load("stories260K.quantized.json");
        var variant = Variant(doc, type);
        string path = Quantize(type);
        try
        {
            using (var file = GgufFile.Open(path))
            {
                foreach (var t in variant.GetProperty("tensors").EnumerateArray())
                {
                    string name = t.GetProperty("name").GetString()!;
                    var info = file.GetTensor(name);
                    Assert.Equal(t.GetProperty("type").GetString(), info.Type.ToString());
                    string sha = Convert.ToHexStringLower(SHA256.HashData(file.GetTensorBytes(info)));
                    Assert.True(t.GetProperty("sha256").GetString() == sha, $"{type}: tensor {name} differs from llama-quantize's");
                }
            }

            using var model = CompactModel.Load(path, new CompactModelOptions { Threads = 2, ContextSize = 128 });
            foreach (var c in GoldenFiles.ReadCases(variant.GetProperty("cases")))
            {
                using var session = model.CreateSession();
                Assert.Equal(c.PromptIds, model.Tokenizer.Encode(c.Prompt));
                var logits = await session.GetNextTokenLogitsAsync(c.PromptIds);
                var probs = Stories260KGoldenTests.Softmax(logits);
                foreach (var (id, p) in c.Top5) Assert.InRange(probs[id], p - 1e-3, p + 1e-3);
                var result = await session.GenerateTextAsync(c.PromptIds, new GenerationOptions { MaxTokens = c.OutputIds.Length, Sampling = SamplingOptions.Greedy });
                Assert.Equal(c.OutputIds, result.Tokens.Select(t => t.Id).ToArray());
                Assert.True(c.OutputIds.Length >= 24);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
