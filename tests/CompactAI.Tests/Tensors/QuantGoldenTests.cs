using System.Text.Json;
using CompactAI.Tensors;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// Byte-exactness against llama.cpp: <c>Goldens/quant-blocks.json</c> was written by
/// <c>Goldens/reference/dump-quant-blocks.cpp</c> (ggml's reference quantizers and dequantizers on a fixed 512-float input).
/// </summary>
public sealed class QuantGoldenTests
{
    private static readonly Lazy<JsonDocument> s_golden = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Goldens", "quant-blocks.json"))));

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var group in new[] { "types", "activation_types" })
        {
            foreach (var t in s_golden.Value.RootElement.GetProperty(group).EnumerateArray()) data.Add(group, t.GetProperty("type").GetString()!);
        }
        return data;
    }

    private static (float[] Input, byte[] Bytes, float[] Dequantized, GgmlType Type) Load(string group, string type)
    {
        var root = s_golden.Value.RootElement;
        var input = root.GetProperty("input").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var t = root.GetProperty(group).EnumerateArray().Single(e => e.GetProperty("type").GetString() == type);
        var bytes = Convert.FromHexString(t.GetProperty("block_bytes_hex").GetString()!);
        var deq = t.GetProperty("dequantized").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var id = (GgmlType)t.GetProperty("type_id").GetUInt32();
        Assert.Equal(type, id.ToString());
        return (input, bytes, deq, id);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantize_MatchesLlamaCppBytes(string group, string type)
    {
        var (input, expected, _, id) = Load(group, type);
        var format = TensorFormat.For(id);
        Assert.True(format.CanQuantize, $"{type} cannot quantize");
        var actual = new byte[format.RowBytes(input.Length)];
        Assert.Equal(expected.Length, actual.Length);
        format.Quantize(input, actual);
        for (int i = 0; i < actual.Length; i++)
        {
            if (actual[i] != expected[i])
            {
                Assert.Fail($"{type}: first differing byte at {i} (block {i / format.BlockBytes}, offset {i % format.BlockBytes}): ours {actual[i]:x2}, llama.cpp {expected[i]:x2}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantize_MatchesLlamaCppFloats(string group, string type)
    {
        var (_, bytes, expected, id) = Load(group, type);
        var format = TensorFormat.For(id);
        var actual = new float[expected.Length];
        format.Dequantize(bytes, actual);
        for (int i = 0; i < actual.Length; i++)
        {
            // Bit-exact, signed zeros included.
            Assert.True(BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i]),
                $"{type}[{i}]: ours {actual[i]:R}, llama.cpp {expected[i]:R}");
        }
    }
}
