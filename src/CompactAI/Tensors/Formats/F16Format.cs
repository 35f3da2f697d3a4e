using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// IEEE 16-bit floats: w = (float)h. Activations are rounded to half precision too (<see cref="ActivationType"/> is F16)
/// and products summed in single precision, as ggml's CPU backend does for F16 weights.
/// </summary>
internal sealed class F16Format() : TensorFormat(GgmlType.F16)
{
    public override bool CanQuantize => true;

    public override GgmlType ActivationType => GgmlType.F16;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..dst.Length], dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst) =>
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst)[..src.Length]);

    /// <remarks>Σ w·a over half-precision rows, converted in cache-sized chunks with the vectorized
    /// <see cref="TensorPrimitives.ConvertToSingle(ReadOnlySpan{Half}, Span{float})"/>.</remarks>
    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        var w = MemoryMarshal.Cast<byte, Half>(weights)[..n];
        var a = MemoryMarshal.Cast<byte, Half>(activations)[..n];
        Span<float> wf = stackalloc float[Chunk];
        Span<float> af = stackalloc float[Chunk];
        float sum = 0;
        for (int i = 0; i < n; i += Chunk)
        {
            int len = Math.Min(Chunk, n - i);
            TensorPrimitives.ConvertToSingle(w.Slice(i, len), wf[..len]);
            TensorPrimitives.ConvertToSingle(a.Slice(i, len), af[..len]);
            sum += TensorPrimitives.Dot(wf[..len], af[..len]);
        }
        return sum;
    }

    private const int Chunk = 512;
}
