using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q8_K: super-blocks of 256 values in 292 bytes, f32 d, 256 int8 q, then 16 int16 sums of q over consecutive groups
/// of 16 (bsums); x = d·q. The activation format of all K-quants: the bsums let their offset and min terms be computed
/// per group without touching the values again.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q8_K_ref</c>): m = the element of largest magnitude, iscale = −127/m,
/// q = min(127, round_half_even(iscale·x)), d = 1/iscale (kept in f32). An all-zero block gets d = 0 and q = 0.
/// Dot of two Q8_K rows: Σ_blocks d₁·d₂·Σ q₁·q₂.
/// </remarks>
internal sealed unsafe class Q8_KFormat() : TensorFormat(GgmlType.Q8_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 292;

    /// <summary>Byte offset of the 256 int8 values in a block.</summary>
    public const int QsOffset = 4;

    /// <summary>Byte offset of the 16 int16 group sums in a block.</summary>
    public const int BsumsOffset = 260;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * Bytes, Bytes);
            float d = BitConverter.ToSingle(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(QsOffset, QK));
            var y = dst.Slice(b * QK, QK);
            for (int j = 0; j < QK; j++) y[j] = d * q[j];
        }
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!Int8Dot.IsAvx2)
        {
            QuantizePortable(src, dst);
            return;
        }
        fixed (float* px = src)
        fixed (byte* py = dst)
        {
            for (int b = 0; b < src.Length / QK; b++)
            {
                float* x = px + b * QK;
                byte* block = py + b * Bytes;
                float amax = 0;
                for (int k = 0; k < QK; k += 32) amax = MathF.Max(amax, Int8Dot.MaxAbs32(x + k));
                if (amax == 0)
                {
                    new Span<byte>(block, Bytes).Clear();
                    continue;
                }
                // The reference keeps the first element of largest magnitude, with its sign.
                int first = 0;
                while (MathF.Abs(x[first]) != amax) first++;
                float iscale = -127.0f / x[first];
                short* bsums = (short*)(block + BsumsOffset);
                for (int k = 0; k < QK; k += 32)
                {
                    Avx.Store((sbyte*)block + QsOffset + k, Int8Dot.Quantize32(x + k, iscale, awayFromZero: false, out int s0, out int s1));
                    bsums[k / 16] = (short)s0;
                    bsums[k / 16 + 1] = (short)s1;
                }
                *(float*)block = 1 / iscale;
            }
        }
    }

    /// <summary>The scalar quantizer, the reference the vector one is tested against.</summary>
    internal static void QuantizePortable(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            float max = BlockStats.SignedAbsMax(x);
            if (max == 0)
            {
                block.Clear();
                continue;
            }
            float iscale = -127.0f / max;
            var q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(QsOffset, QK));
            for (int j = 0; j < QK; j++) q[j] = (sbyte)Math.Min(127, KQuantMath.NearestInt(iscale * x[j]));
            var bsums = MemoryMarshal.Cast<byte, short>(block.Slice(BsumsOffset, 32));
            for (int g = 0; g < QK / 16; g++)
            {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += q[g * 16 + i];
                bsums[g] = (short)sum;
            }
            Unsafe.WriteUnaligned(ref block[0], 1 / iscale);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * Bytes;
                var s = Vector256<int>.Zero;
                for (int k = 0; k < QK; k += 32)
                {
                    s += Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + QsOffset + k), Avx.LoadVector256((sbyte*)pa + QsOffset + k));
                }
                acc = Int8Dot.MulAdd(s, *(float*)pw * *(float*)pa, acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * Bytes, Bytes);
            var a = activations.Slice(b * Bytes, Bytes);
            int isum = Int8Dot.Dot(MemoryMarshal.Cast<byte, sbyte>(w.Slice(QsOffset, QK)), MemoryMarshal.Cast<byte, sbyte>(a.Slice(QsOffset, QK)));
            sum += isum * (BitConverter.ToSingle(w) * BitConverter.ToSingle(a));
        }
        return sum;
    }
}
