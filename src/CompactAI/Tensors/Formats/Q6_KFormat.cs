using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q6_K: super-blocks of 256 weights in 210 bytes: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8 scales
/// (one per 16 weights), f16 d. w = d·sc·(q − 32), q ∈ [0, 63]. In each 128-weight half, byte l of ql holds weights l (low
/// nibble) and l+64 (high), byte l+32 holds l+32 and l+96; qh byte l holds the high bits of l, l+32, l+64, l+96 in bit pairs
/// 0-1, 2-3, 4-5, 6-7. Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q6_K_ref</c>): per 16 weights <see cref="KQuantMath.MakeQxQuants"/> (nmax 32, rmse type 1);
/// the scales quantized to int8 against the largest-magnitude one (iscale = −128 / max scale, d = 1/iscale) and the weights
/// requantized with the rounded scales.
/// Dot: Σ_blocks d_w·d_a·(Σ_g sc_g·Σ_{i∈g} q_i·a_i − 32·Σ_g sc_g·bsum_g), the −32 offset taken from the Q8_K group sums.
/// </remarks>
internal sealed unsafe class Q6_KFormat() : TensorFormat(GgmlType.Q6_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 210, ActBytes = 292;
    private const int QlOffset = 0, QhOffset = 128, ScalesOffset = 192, DOffset = 208;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * Bytes, Bytes);
            float d = Fp16.Read(block[DOffset..]);
            var sc = MemoryMarshal.Cast<byte, sbyte>(block.Slice(ScalesOffset, 16));
            Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int i = 0; i < QK; i++) y[i] = d * sc[i / 16] * (q[i] - 32);
        }
    }

    /// <summary>The 256 unsigned 6-bit values of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
    {
        for (int h = 0; h < 2; h++)
        {
            var ql = block.Slice(QlOffset + 64 * h, 64);
            var qh = block.Slice(QhOffset + 32 * h, 32);
            var y = q.Slice(128 * h, 128);
            for (int l = 0; l < 32; l++)
            {
                y[l] = (sbyte)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                y[l + 32] = (sbyte)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                y[l + 64] = (sbyte)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                y[l + 96] = (sbyte)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<sbyte> levels = stackalloc sbyte[QK];
        Span<float> scales = stackalloc float[16];
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            for (int g = 0; g < 16; g++)
            {
                scales[g] = KQuantMath.MakeQxQuants(16, 32, x.Slice(16 * g, 16), levels.Slice(16 * g, 16), 1);
            }
            float maxScale = BlockStats.SignedAbsMax(scales);
            if (MathF.Abs(maxScale) < KQuantMath.GroupMaxEps)
            {
                block.Clear();
                continue;
            }
            float iscale = -128f / maxScale;
            Fp16.Write(block[DOffset..], 1 / iscale);
            var sc = MemoryMarshal.Cast<byte, sbyte>(block.Slice(ScalesOffset, 16));
            for (int g = 0; g < 16; g++) sc[g] = (sbyte)Math.Min(127, KQuantMath.NearestInt(iscale * scales[g]));
            float dAll = Fp16.Read(block[DOffset..]);
            for (int g = 0; g < 16; g++)
            {
                float d = dAll * sc[g];
                if (d == 0) continue;
                for (int i = 0; i < 16; i++)
                {
                    int l = Math.Max(-32, Math.Min(31, KQuantMath.NearestInt(x[16 * g + i] / d)));
                    levels[16 * g + i] = (sbyte)(l + 32);
                }
            }
            for (int h = 0; h < 2; h++)
            {
                var ql = block.Slice(QlOffset + 64 * h, 64);
                var qh = block.Slice(QhOffset + 32 * h, 32);
                var L = levels.Slice(128 * h, 128);
                for (int l = 0; l < 32; l++)
                {
                    ql[l] = (byte)((L[l] & 0xF) | ((L[l + 64] & 0xF) << 4));
                    ql[l + 32] = (byte)((L[l + 32] & 0xF) | ((L[l + 96] & 0xF) << 4));
                    qh[l] = (byte)((L[l] >> 4) | ((L[l + 32] >> 4) << 2) | ((L[l + 64] >> 4) << 4) | ((L[l + 96] >> 4) << 6));
                }
            }
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            var low = Vector256.Create((byte)0x0F);
            var two = Vector256.Create((byte)0x03);
            // Picks int16 0 of each dword in the low 128 bits and int16 1 in the high 128 bits.
            var splitPair = Vector256.Create((byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                var sc16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)pw + ScalesOffset));
                // −32·Σ_g sc_g·bsum_g, the offset of q − 32, folded into the integer sum up front.
                var offset = Avx2.MultiplyAddAdjacent(sc16, Avx.LoadVector256((short*)(pa + Q8_KFormat.BsumsOffset)));
                var sumi = Avx2.Subtract(Vector256<int>.Zero, Avx2.ShiftLeftLogical(offset, 5));
                var scPairs = sc16.AsInt32();
                for (int h = 0; h < 2; h++)
                {
                    byte* ql = pw + QlOffset + 64 * h;
                    var qh = Avx.LoadVector256(pw + QhOffset + 32 * h);
                    var qlA = Avx.LoadVector256(ql);
                    var qlB = Avx.LoadVector256(ql + 32);
                    sbyte* a = (sbyte*)pa + Q8_KFormat.QsOffset + 128 * h;
                    var q1 = Avx2.Or(Avx2.And(qlA, low), HighBits(qh, two));
                    var q2 = Avx2.Or(Avx2.And(qlB, low), HighBits(Avx2.ShiftRightLogical(qh.AsUInt16(), 2).AsByte(), two));
                    var q3 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(qlA.AsUInt16(), 4).AsByte(), low), HighBits(Avx2.ShiftRightLogical(qh.AsUInt16(), 4).AsByte(), two));
                    var q4 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(qlB.AsUInt16(), 4).AsByte(), low), HighBits(Avx2.ShiftRightLogical(qh.AsUInt16(), 6).AsByte(), two));
                    int pair = 4 * h;
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, q1, Avx.LoadVector256(a), Scales(scPairs, pair, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, q2, Avx.LoadVector256(a + 32), Scales(scPairs, pair + 1, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, q3, Avx.LoadVector256(a + 64), Scales(scPairs, pair + 2, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, q4, Avx.LoadVector256(a + 96), Scales(scPairs, pair + 3, splitPair));
                }
                acc = Int8Dot.MulAdd(sumi, Fp16.Read(pw + DOffset) * *(float*)pa, acc);
            }
            return Int8Dot.Sum(acc);
        }

        // (bits & 3) << 4: the two high bits of q moved above its nibble.
        static Vector256<byte> HighBits(Vector256<byte> shifted, Vector256<byte> mask) =>
            Avx2.ShiftLeftLogical(Avx2.And(shifted, mask).AsUInt16(), 4).AsByte();

        // Scales 2p (first 16 weights, low lane) and 2p+1 (next 16, high lane) of a 32-weight group as int16 lanes.
        static Vector256<short> Scales(Vector256<int> scPairs, int p, Vector256<byte> splitPair) =>
            Avx2.Shuffle(Avx2.PermuteVar8x32(scPairs, Vector256.Create(p)).AsByte(), splitPair).AsInt16();
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * Bytes, Bytes);
            var a = activations.Slice(b * ActBytes, ActBytes);
            var sc = MemoryMarshal.Cast<byte, sbyte>(w.Slice(ScalesOffset, 16));
            Unpack(w, q);
            var qa = MemoryMarshal.Cast<byte, sbyte>(a.Slice(Q8_KFormat.QsOffset, QK));
            var bsums = MemoryMarshal.Cast<byte, short>(a.Slice(Q8_KFormat.BsumsOffset, 32));
            int sumi = 0;
            for (int g = 0; g < 16; g++) sumi += sc[g] * (Int8Dot.Dot(q.Slice(16 * g, 16), qa.Slice(16 * g, 16)) - 32 * bsums[g]);
            sum += Fp16.Read(w[DOffset..]) * BitConverter.ToSingle(a) * sumi;
        }
        return sum;
    }
}
