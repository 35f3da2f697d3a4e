using System.Text.Json;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Embeddings;

/// <summary>
/// llama.cpp's tokens and embeddings for all-MiniLM-L6-v2 (<c>Goldens/embedding-goldens.json</c>, made by
/// <c>Goldens/reference/make-embedding-goldens.py</c> with llama-tokenize, llama-server and llama-quantize).
/// </summary>
public static class MiniLMGoldens
{
    private static readonly Lazy<JsonDocument> s_doc = new(() => GoldenFiles.Load("embedding-goldens.json"));

    public static string ModelPath => Path.Combine(TestData.SharedDir, "models", "all-MiniLM-L6-v2-Q8_0.gguf");

    public static JsonElement Root => s_doc.Value.RootElement;

    public static string[] Sentences => Root.GetProperty("sentences").EnumerateArray().Select(e => e.GetString()!).ToArray();

    public static int[][] SentenceTokens => Root.GetProperty("sentence_tokens").EnumerateArray().Select(Ints).ToArray();

    public static (string Text, int[] Ids, int[] IdsSpecial)[] TokenizerCases =>
        Root.GetProperty("tokenizer_cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, Ints(c.GetProperty("ids")), Ints(c.GetProperty("ids_special")))).ToArray();

    /// <summary>The pooled, L2-normalised embeddings of <see cref="Sentences"/> for a model type ("Q8_0", "F16") and pooling ("mean", "cls", "last").</summary>
    public static float[][] Embeddings(string type, string pooling) =>
        Root.GetProperty("embeddings").GetProperty(type).GetProperty(pooling).EnumerateArray().Select(Floats).ToArray();

    /// <summary>The texts with per-token (pooling none) vectors, and those vectors.</summary>
    public static (string[] Texts, float[][][] Vectors) TokenEmbeddings
    {
        get
        {
            var q = Root.GetProperty("token_embeddings").GetProperty("Q8_0");
            return (q.GetProperty("texts").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                q.GetProperty("none").EnumerateArray().Select(s => s.EnumerateArray().Select(Floats).ToArray()).ToArray());
        }
    }

    private static readonly Lazy<string> s_f16 = new(() =>
    {
        // Our own quantizer's F16 of the Q8_0 file: each weight dequantized and rounded to half, as llama-quantize does for the goldens.
        string dir = Path.Combine(Path.GetTempPath(), "compactai-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "all-MiniLM-L6-v2-F16.gguf");
        ModelQuantizer.Quantize(ModelPath, path, QuantizationPreset.F16, new QuantizationOptions { AllowRequantize = true, MaxDegreeOfParallelism = 2 });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return path;
    });

    /// <summary>The F16 variant, written once per test run into a temporary folder.</summary>
    public static string F16Path => s_f16.Value;

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();
}

/// <summary>Loads the Q8_0 MiniLM once per test class (2 threads).</summary>
public sealed class MiniLMFixture : IDisposable
{
    public CompactModel Model { get; } = CompactModel.Load(MiniLMGoldens.ModelPath, new CompactModelOptions { Threads = 2 });

    public void Dispose() => Model.Dispose();
}
