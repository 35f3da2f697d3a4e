using System.Runtime.InteropServices;

namespace CompactAI.Tensors.Formats;

/// <summary>bfloat16: the top 16 bits of an IEEE float, w = bits &lt;&lt; 16 reinterpreted.</summary>
internal sealed class BF16Format() : TensorFormat(GgmlType.BF16)
{
    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var s = MemoryMarshal.Cast<byte, ushort>(src);
        for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.UInt32BitsToSingle((uint)s[i] << 16);
    }

    /// <summary>Round to nearest even, NaN kept quiet (as ggml's <c>ggml_compute_fp32_to_bf16</c>).</summary>
    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        var d = MemoryMarshal.Cast<byte, ushort>(dst);
        for (int i = 0; i < src.Length; i++)
        {
            uint u = BitConverter.SingleToUInt32Bits(src[i]);
            d[i] = (u & 0x7fffffff) > 0x7f800000
                ? (ushort)((u >> 16) | 64)
                : (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        var w = MemoryMarshal.Cast<byte, ushort>(weights);
        var a = MemoryMarshal.Cast<byte, float>(activations);
        float sum = 0;
        for (int i = 0; i < n; i++) sum += BitConverter.UInt32BitsToSingle((uint)w[i] << 16) * a[i];
        return sum;
    }
}
