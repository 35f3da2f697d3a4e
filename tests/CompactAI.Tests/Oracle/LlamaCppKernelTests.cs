using System.Runtime.InteropServices;
using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Tensors.Formats;
using CompactAI.Tensors.Native;
using CompactAI.Tests.Tensors;

namespace CompactAI.Tests.Oracle;

/// <summary>
/// Our kernels against llama.cpp's own, called in this process from the ggml CPU library LLamaSharp loaded (its exported
/// <c>quantize_row_q8_0</c>, <c>quantize_row_q8_1</c>, <c>ggml_vec_dot_q8_0_q8_0</c>, <c>ggml_vec_dot_q4_0_q8_0</c>,
/// <c>ggml_vec_dot_f16</c>): bit for bit. These are what decide the last bit of every activation; one differing bit flips
/// the odd Q8_0 level of the next matmul's input, which moves a small model's logits by up to 1e-2 (the differential
/// tests' deviations).
/// </summary>
public sealed unsafe class LlamaCppKernelTests
{
    private static readonly Lazy<IntPtr> s_ggmlCpu = new(() =>
    {
        _ = LlamaCppOracle.LoadedVariant; // loads the libraries, fills the log
        string? path = LlamaCppOracle.LoadLog
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"Successfully loaded '([^']*libggml-cpu\.(?:so|dylib|dll))'"))
            .FirstOrDefault(m => m.Success)?.Groups[1].Value;
        return path is null ? IntPtr.Zero : NativeLibrary.Load(path);
    });

    private static T Export<T>(string name) where T : Delegate
    {
        Assert.NotEqual(IntPtr.Zero, s_ggmlCpu.Value);
        return Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(s_ggmlCpu.Value, name));
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void QuantizeRow(float* x, void* y, long k);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void VecDot(int n, float* s, nuint bs, void* x, nuint bx, void* y, nuint by, int nrc);

    /// <summary>Rows of every scale, with exact ties after scaling and values next to them.</summary>
    public static IEnumerable<float[]> Rows()
    {
        foreach (float scale in new[] { 1e-3f, 0.1f, 1f, 37f })
            for (int blocks = 1; blocks <= 8; blocks++) yield return QuantFormatTests.Gaussian(blocks * 32, seed: blocks * 7 + (int)scale, scale: scale);
        var ties = new float[3 * 32];
        for (int i = 0; i < 32; i++) ties[i] = 127f * i / 32;
        for (int i = 0; i < 32; i++) ties[32 + i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f) * (31.5f / 127f);
        for (int i = 0; i < 32; i++) ties[64 + i] = MathF.BitIncrement(0.3f * i - 4.6f);
        yield return ties;
        // max |x| = 127, so x·(127/max) = x exactly: the halves 0.5, 1.5, … land on ties (half to even against away from zero).
        var halves = new float[32];
        halves[0] = 127f;
        for (int i = 1; i < 32; i++) halves[i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f);
        yield return halves;
        // Many rows with random maxima, so that 127/max and 1/(max/127) differ in the last bit somewhere.
        for (int r = 0; r < 64; r++) yield return QuantFormatTests.Gaussian(256, seed: 1000 + r, scale: 0.5f + r);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, "quantize_row_q8_0")]
    [InlineData(GgmlType.Q8_1, "quantize_row_q8_1")]
    public void ActivationQuantizersEqualLlamaCpps(GgmlType type, string symbol)
    {
        var theirs = Export<QuantizeRow>(symbol);
        var managed = BuiltInFormats.Create().Single(f => f.Type == type);
        var native = NativeTensorFormat.TryCreate(managed);
        int referenceDiffers = 0;
        foreach (var x in Rows())
        {
            var expected = new byte[managed.RowBytes(x.Length)];
            fixed (float* px = x)
            fixed (byte* py = expected)
                theirs(px, py, x.Length);
            var ours = new byte[expected.Length];
            managed.Quantize(x, ours);
            if (!ours.AsSpan().SequenceEqual(expected)) referenceDiffers++;
            managed.QuantizeActivations(x, ours);
            Assert.Equal(expected, ours);
            if (native is null) continue;
            Array.Clear(ours);
            native.QuantizeActivations(x, ours);
            Assert.Equal(expected, ours);
        }
        // The reference quantizer (what llama-quantize writes weights with) is not what llama.cpp quantizes activations with.
        Assert.True(referenceDiffers > 0, "The rows do not tell the two quantizers apart.");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, "ggml_vec_dot_q8_0_q8_0")]
    [InlineData(GgmlType.Q4_0, "ggml_vec_dot_q4_0_q8_0")]
    public void DotProductsEqualLlamaCpps(GgmlType type, string symbol)
    {
        var theirs = Export<VecDot>(symbol);
        var managed = BuiltInFormats.Create().Single(f => f.Type == type);
        var act = BuiltInFormats.Create().Single(f => f.Type == GgmlType.Q8_0);
        var native = NativeTensorFormat.TryCreate(managed);
        foreach (int blocks in new[] { 1, 2, 3, 8, 9, 24, 64 })
        {
            int n = blocks * 32;
            for (int seed = 0; seed < 8; seed++)
            {
                var w = new byte[managed.RowBytes(n)];
                var a = new byte[act.RowBytes(n)];
                managed.Quantize(QuantFormatTests.Gaussian(n, seed: seed, scale: 0.05f), w);
                act.QuantizeActivations(QuantFormatTests.Gaussian(n, seed: 100 + seed, scale: 3f), a);
                float expected;
                fixed (byte* pw = w, pa = a)
                    theirs(n, &expected, 0, pw, 0, pa, 0, 1);
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(managed.Dot(w, a, n)));
                if (native is not null)
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(native.Dot(w, a, n)));
            }
        }
    }

    [Fact]
    public void AttentionDotEqualsLlamaCppsF16Dot()
    {
        var theirs = Export<VecDot>("ggml_vec_dot_f16");
        foreach (int n in new[] { 8, 16, 24, 32, 48, 64, 80, 96, 128, 256 })
        {
            for (int seed = 0; seed < 16; seed++)
            {
                var a = QuantFormatTests.Gaussian(n, seed: seed).Select(v => (float)(Half)v).ToArray();
                var b = QuantFormatTests.Gaussian(n, seed: 50 + seed, scale: 2).Select(v => (float)(Half)v).ToArray();
                var ha = a.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
                var hb = b.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
                float expected;
                fixed (ushort* pa = ha, pb = hb)
                    theirs(n, &expected, 0, pa, 0, pb, 0, 1);
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(Attention.Dot(a, b)));
            }
        }
    }
}
