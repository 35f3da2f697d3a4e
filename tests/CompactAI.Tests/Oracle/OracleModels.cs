using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Models.Synthetic;
using CompactAI.Tensors;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Oracle;

/// <summary>
/// The differential oracle's model files: the shared real models, and random-weight ones written here once per test run
/// (<see cref="SyntheticModel"/>, then <see cref="ModelQuantizer"/>) into a temporary folder removed at the end.
/// </summary>
public sealed class OracleModels : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-oracle-").FullName;
    private readonly Dictionary<string, string> _paths = [];
    private readonly object _gate = new();

    /// <summary>Weight types the quantized cases cover, written from one F32 <c>small-llama</c> (rows of 256: real K-quant blocks).</summary>
    public static readonly string[] QuantTypes =
        ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M", "Q5_K_M"];

    /// <summary>The families of <see cref="ModelShape"/>'s tiny shapes.</summary>
    public static readonly string[] Families = ["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3"];

    /// <summary>
    /// The file for a case name: "stories260K", "TinyStories-656K-f32", "TinyStories-656K-Q8_0" (shared models),
    /// "tiny-FAMILY/F32" or "tiny-FAMILY/Q8_0", and "small-llama/TYPE" with TYPE from <see cref="QuantTypes"/>.
    /// </summary>
    public string PathOf(string name)
    {
        lock (_gate)
        {
            if (_paths.TryGetValue(name, out var known)) return known;
            string path = Create(name);
            _paths[name] = path;
            return path;
        }
    }

    private string Create(string name)
    {
        if (name == "stories260K") return TestData.Stories260K;
        if (name.StartsWith("TinyStories-656K", StringComparison.Ordinal)) return Path.Combine(TestData.SharedDir, "models", name + ".gguf");
        string[] parts = name.Split('/');
        string shape = parts[0], type = parts[1];
        string f32 = Path.Combine(_dir, shape + "-F32.gguf");
        // The family shapes take GPT-2's vocabulary as the committed arch goldens do (llama.cpp 0.18's phi3 loader refuses
        // stories260K's SentencePiece vocabulary); small-llama takes stories260K's 512 tokens to stay small.
        string vocabulary = shape == "small-llama" ? TestData.Stories260K : TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf");
        if (!File.Exists(f32)) SyntheticModel.Write(ModelShape.For(shape), null, vocabulary, f32, seed: 7);
        if (type == "F32") return f32;
        string path = Path.Combine(_dir, $"{shape}-{type}.gguf");
        if (type is "Q2_K" or "Q3_K")
        {
            // ModelQuantizer has no Q2_K / Q3_K preset: every matrix is written in the type with our quantizer (the
            // reference algorithm), norms stay F32, like llama-quantize --pure.
            WritePure(f32, path, Enum.Parse<GgmlType>(type));
            return path;
        }
        bool mix = type.EndsWith("_M", StringComparison.Ordinal);
        var preset = type switch
        {
            "Q4_K" => QuantizationPreset.Q4_K_S,
            "Q5_K" => QuantizationPreset.Q5_K_S,
            _ => Enum.Parse<QuantizationPreset>(type),
        };
        ModelQuantizer.Quantize(f32, path, preset, new QuantizationOptions { Pure = !mix, MaxDegreeOfParallelism = 2 });
        return path;
    }

    private static void WritePure(string f32Path, string path, GgmlType type)
    {
        using var input = GgufFile.Open(f32Path);
        var writer = new GgufWriter(input.Alignment);
        foreach (var (key, value) in input.Metadata)
            if (key is not ("general.alignment" or "general.file_type")) writer.Add(key, value);
        var format = TensorFormat.For(type);
        foreach (var tensor in input.Tensors)
        {
            var dims = tensor.Dimensions.ToArray();
            var floats = MemoryMarshal.Cast<byte, float>(input.GetTensorBytes(tensor));
            if (dims.Length < 2 || dims[0] % format.BlockSize != 0)
            {
                writer.AddTensor(tensor.Name, dims, floats);
                continue;
            }
            int rowLength = (int)dims[0];
            int rows = floats.Length / rowLength;
            long rowBytes = format.RowBytes(rowLength);
            var data = new byte[rowBytes * rows];
            for (int r = 0; r < rows; r++)
                format.Quantize(floats.Slice(r * rowLength, rowLength), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            writer.AddTensor(tensor.Name, type, dims, data);
        }
        writer.WriteTo(path);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
