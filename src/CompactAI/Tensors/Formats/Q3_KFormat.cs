using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q3_K: super-blocks of 256 weights in 110 bytes: 32 bytes hmask (high bit of weight e at byte e%32, bit e/32), 64 bytes of
/// 2-bit low parts (laid out as Q2_K), 12 bytes of 6-bit scales (one per 16 weights, stored + 32: low nibbles in bytes 0-7,
/// scale j ≥ 8 in the high nibble of byte j−8, the top two bits of scale j in byte 8 + j%4 at bits 2·(j/4)), f16 d.
/// w = d·(sc − 32)·q with q = low − (high bit ? 0 : 4) ∈ [−4, 3]. Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q3_K_ref</c>): per 16 weights <see cref="KQuantMath.MakeQ3Quants"/> (nmax 4); the scales
/// quantized to 6 bits against the largest-magnitude one (iscale = −32 / max, d = 1/iscale), then the weights requantized.
/// Dot: d_w·d_a·Σ_g sc_g·(Σ u·a − 4·bsum_g) with u = q + 4 ∈ [0, 7] (unsigned for <c>vpmaddubsw</c>).
/// </remarks>
internal sealed unsafe class Q3_KFormat() : TensorFormat(GgmlType.Q3_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 110, ActBytes = 292;
    private const int HmaskOffset = 0, QsOffset = 32, ScalesOffset = 96, DOffset = 108;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * Bytes, Bytes);
            float d = Fp16.Read(block[DOffset..]);
            Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int g = 0; g < 16; g++)
            {
                float dl = d * Scale(block, g);
                for (int l = 0; l < 16; l++) y[16 * g + l] = dl * q[16 * g + l];
            }
        }
    }

    /// <summary>Scale <paramref name="g"/> of a block, −32..31.</summary>
    private static int Scale(ReadOnlySpan<byte> block, int g)
    {
        var s = block.Slice(ScalesOffset, 12);
        int low = g < 8 ? s[g] & 0xF : s[g - 8] >> 4;
        int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>The 256 signed 3-bit values of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
    {
        for (int e = 0; e < QK; e++)
        {
            int low = (block[QsOffset + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
            int high = (block[HmaskOffset + e % 32] >> (e / 32)) & 1;
            q[e] = (sbyte)(low - (high != 0 ? 0 : 4));
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
                scales[g] = KQuantMath.MakeQ3Quants(16, 4, x.Slice(16 * g, 16), levels.Slice(16 * g, 16));
            }
            float maxScale = BlockStats.SignedAbsMax(scales);
            var s = block.Slice(ScalesOffset, 12);
            s.Clear();
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int g = 0; g < 16; g++)
                {
                    int l = (sbyte)KQuantMath.NearestInt(iscale * scales[g]);
                    l = Math.Max(-32, Math.Min(31, l)) + 32;
                    if (g < 8) s[g] = (byte)(l & 0xF);
                    else s[g - 8] |= (byte)((l & 0xF) << 4);
                    l >>= 4;
                    s[g % 4 + 8] |= (byte)(l << (2 * (g / 4)));
                }
                Fp16.Write(block[DOffset..], 1 / iscale);
            }
            else
            {
                Fp16.Write(block[DOffset..], 0f);
            }
            float dAll = Fp16.Read(block[DOffset..]);
            for (int g = 0; g < 16; g++)
            {
                float d = dAll * Scale(block, g);
                if (d == 0) continue;
                for (int i = 0; i < 16; i++)
                {
                    int l = Math.Max(-4, Math.Min(3, KQuantMath.NearestInt(x[16 * g + i] / d)));
                    levels[16 * g + i] = (sbyte)(l + 4);
                }
            }
            var hmask = block.Slice(HmaskOffset, 32);
            hmask.Clear();
            for (int e = 0; e < QK; e++)
            {
                if (levels[e] > 3)
                {
                    hmask[e % 32] |= (byte)(1 << (e / 32));
                    levels[e] -= 4;
                }
            }
            var qs = block.Slice(QsOffset, 64);
            for (int h = 0; h < 2; h++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int e = 128 * h + l;
                    qs[32 * h + l] = (byte)((byte)levels[e] | ((byte)levels[e + 32] << 2) | ((byte)levels[e + 64] << 4) | ((byte)levels[e + 96] << 6));
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
            var two = Vector256.Create((byte)0x03);
            var four = Vector256.Create((byte)0x04);
            var splitPair = Vector256.Create((byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                var sc16 = Avx2.ConvertToVector256Int16(UnpackScales(pw + ScalesOffset));
                // −4·Σ_g sc_g·bsum_g: the offset of u = q + 4.
                var offset = Avx2.MultiplyAddAdjacent(sc16, Avx.LoadVector256((short*)(pa + Q8_KFormat.BsumsOffset)));
                var sumi = Avx2.Subtract(Vector256<int>.Zero, Avx2.ShiftLeftLogical(offset, 2));
                var scalePairs = sc16.AsInt32();
                var hmask = Avx.LoadVector256(pw + HmaskOffset);
                for (int h = 0; h < 2; h++)
                {
                    var q = Avx.LoadVector256(pw + QsOffset + 32 * h);
                    sbyte* a = (sbyte*)pa + Q8_KFormat.QsOffset + 128 * h;
                    for (int j = 0; j < 4; j++)
                    {
                        var bit = Vector256.Create((byte)(1 << (4 * h + j)));
                        var high = Avx2.And(Avx2.CompareEqual(Avx2.And(hmask, bit), bit), four);
                        var lowBits = j switch
                        {
                            0 => q,
                            1 => Avx2.ShiftRightLogical(q.AsUInt16(), 2).AsByte(),
                            2 => Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte(),
                            _ => Avx2.ShiftRightLogical(q.AsUInt16(), 6).AsByte(),
                        };
                        var u = Avx2.Or(Avx2.And(lowBits, two), high);
                        sumi = Int8Dot.MulSumUnsignedScaled(sumi, u, Avx.LoadVector256(a + 32 * j), Q2_KFormat.Scales(scalePairs, 4 * h + j, splitPair));
                    }
                }
                acc = Int8Dot.MulAdd(sumi, Fp16.Read(pw + DOffset) * *(float*)pa, acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The 16 scales (−32..31) from their 12 packed bytes, with word operations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<sbyte> UnpackScales(byte* p)
    {
        const uint low4 = 0x0f0f0f0f, low2 = 0x03030303;
        uint a0 = Unsafe.ReadUnaligned<uint>(p), a1 = Unsafe.ReadUnaligned<uint>(p + 4), top = Unsafe.ReadUnaligned<uint>(p + 8);
        uint s0 = (a0 & low4) | ((top & low2) << 4);
        uint s1 = (a1 & low4) | (((top >> 2) & low2) << 4);
        uint s2 = ((a0 >> 4) & low4) | (((top >> 4) & low2) << 4);
        uint s3 = ((a1 >> 4) & low4) | (((top >> 6) & low2) << 4);
        return Sse2.Subtract(Vector128.Create(s0, s1, s2, s3).AsSByte(), Vector128.Create((sbyte)32));
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
            Unpack(w, q);
            var qa = MemoryMarshal.Cast<byte, sbyte>(a.Slice(Q8_KFormat.QsOffset, QK));
            int sumi = 0;
            for (int g = 0; g < 16; g++) sumi += Scale(w, g) * Int8Dot.Dot(q.Slice(16 * g, 16), qa.Slice(16 * g, 16));
            sum += Fp16.Read(w[DOffset..]) * BitConverter.ToSingle(a) * sumi;
        }
        return sum;
    }
}
