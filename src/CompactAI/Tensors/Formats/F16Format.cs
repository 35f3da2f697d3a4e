using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CompactAI.Tensors.Formats;

/// <summary>IEEE 16-bit floats: w = (float)h.</summary>
internal sealed class F16Format() : TensorFormat(GgmlType.F16)
{
    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..dst.Length], dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst) =>
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst)[..src.Length]);

    /// <remarks>Converts in cache-sized chunks with the vectorized <see cref="TensorPrimitives.ConvertToSingle(ReadOnlySpan{Half}, Span{float})"/>.</remarks>
    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        var w = MemoryMarshal.Cast<byte, Half>(weights)[..n];
        var a = MemoryMarshal.Cast<byte, float>(activations)[..n];
        Span<float> tmp = stackalloc float[Chunk];
        float sum = 0;
        for (int i = 0; i < n; i += Chunk)
        {
            int len = Math.Min(Chunk, n - i);
            TensorPrimitives.ConvertToSingle(w.Slice(i, len), tmp[..len]);
            sum += TensorPrimitives.Dot(tmp[..len], a.Slice(i, len));
        }
        return sum;
    }

    private const int Chunk = 512;
}
