using System.Text.Json;
using CompactAI.Tensors;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// <see cref="TensorFormat.Dot"/> against ggml's CPU <c>vec_dot</c> (what llama.cpp's matmuls run): <c>Goldens/vec-dots.json</c>,
/// written by <c>Goldens/reference/dump-vec-dots.cpp</c>. Both sides quantize the same integer-generated rows, so only the float
/// summation order differs.
/// </summary>
public sealed class VecDotGoldenTests
{
    private static readonly Lazy<JsonElement> s_golden = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Goldens", "vec-dots.json"))).RootElement);

    public static TheoryData<string> Types()
    {
        var data = new TheoryData<string>();
        foreach (var e in s_golden.Value.GetProperty("dots").EnumerateArray()) data.Add(e.GetProperty("type").GetString()!);
        return data;
    }

    /// <summary>The rows of dump-vec-dots.cpp: xorshift32 integers scaled by powers of two (exact in float).</summary>
    private static (float[] W, float[] X) Inputs(int n)
    {
        var w = new float[n];
        var x = new float[n];
        uint st = 0x9e3779b9u;
        int Next()
        {
            st ^= st << 13;
            st ^= st >> 17;
            st ^= st << 5;
            return (int)(st & 0xFFFF) - 32768;
        }
        for (int i = 0; i < n; i++)
        {
            w[i] = Next() * (1.0f / 32768.0f) * (i % 97 == 3 ? 6.0f : 1.0f);
            x[i] = Next() * (1.0f / 8192.0f);
        }
        return (w, x);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Dot_MatchesGgmlVecDot(string type)
    {
        var e = s_golden.Value.GetProperty("dots").EnumerateArray().Single(d => d.GetProperty("type").GetString() == type);
        var f = TensorFormat.For((GgmlType)e.GetProperty("type_id").GetInt32());
        var act = TensorFormat.For(f.ActivationType);
        int n = s_golden.Value.GetProperty("n").GetInt32();
        var (w, x) = Inputs(n);
        var qw = new byte[f.RowBytes(n)];
        var qx = new byte[act.RowBytes(n)];
        f.Quantize(w, qw);
        act.Quantize(x, qx);
        double expected = e.GetProperty("dot").GetDouble();
        float actual = f.Dot(qw, qx, n);
        // Same integers on both sides; float accumulation order differs (observed ≤ 1.1e-6 relative).
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * Math.Abs(expected), $"{type}: ours {actual:R}, ggml {expected:R}");
    }
}
