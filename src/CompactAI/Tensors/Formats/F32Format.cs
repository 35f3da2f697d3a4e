using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CompactAI.Tensors.Formats;

/// <summary>IEEE 32-bit floats: w = x.</summary>
internal sealed class F32Format() : TensorFormat(GgmlType.F32)
{
    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) =>
        MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst) =>
        MemoryMarshal.AsBytes(src).CopyTo(dst);

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        TensorPrimitives.Dot(MemoryMarshal.Cast<byte, float>(weights)[..n], MemoryMarshal.Cast<byte, float>(activations)[..n]);
}
