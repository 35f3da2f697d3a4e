using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>A legacy 32-weight block format as the drivers of <see cref="LegacyBlocks"/> read it.</summary>
internal interface ILegacyBlock
{
    /// <summary>Bytes per block.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>The 32 integer values q of <paramref name="block"/> (the format's offset already subtracted).</summary>
    static abstract void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q);
}

/// <summary>
/// What the legacy 32-weight formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) share: the
/// packing of 4-bit values (byte j holds element j in its low nibble and element j + 16 in its high one) and of fifth bits
/// (bit j of a u32 qh is the fifth bit of element j), the portable dot drivers against Q8_0 and Q8_1 activations, and the Q8_0/Q8_1 block quantizer.
/// </summary>
internal static class LegacyBlocks
{
    /// <summary>Values per block.</summary>
    public const int QK = 32;

    private const int Q8_0Bytes = 34, Q8_1Bytes = 36;

    /// <summary>q[j] = nibble j − <paramref name="offset"/> for the 16 bytes of nibbles <paramref name="qs"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackNibbles(ReadOnlySpan<byte> qs, int offset, Span<sbyte> q)
    {
        for (int j = 0; j < QK / 2; j++)
        {
            q[j] = (sbyte)((qs[j] & 0x0F) - offset);
            q[j + QK / 2] = (sbyte)((qs[j] >> 4) - offset);
        }
    }

    /// <summary>
    /// q[j] = (nibble j | fifth bit j &lt;&lt; 4) − <paramref name="offset"/> for the u32 of fifth bits at <paramref name="qh"/> and the
    /// 16 bytes of nibbles <paramref name="qs"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackFiveBits(ReadOnlySpan<byte> qh, ReadOnlySpan<byte> qs, int offset, Span<sbyte> q)
    {
        uint h = Unsafe.ReadUnaligned<uint>(ref MemoryMarshal.GetReference(qh));
        for (int j = 0; j < QK / 2; j++)
        {
            q[j] = (sbyte)(((qs[j] & 0x0F) | (int)(((h >> j) & 1) << 4)) - offset);
            q[j + QK / 2] = (sbyte)(((qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4)) - offset);
        }
    }

    /// <summary>
    /// Stores the 5-bit values <paramref name="q0"/> (element j) and <paramref name="q1"/> (element j + 16): their low nibbles in
    /// <paramref name="qs"/>[j], their fifth bits in bits j and j + 16 of <paramref name="qh"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PackFiveBits(int j, int q0, int q1, Span<byte> qs, ref uint qh)
    {
        qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= (uint)((q0 & 0x10) >> 4) << j;
        qh |= (uint)((q1 & 0x10) >> 4) << (j + QK / 2);
    }

    /// <summary>w = d·q for <typeparamref name="TBlock"/> blocks (f16 d first).</summary>
    public static void Dequantize<TBlock>(ReadOnlySpan<byte> src, Span<float> dst)
        where TBlock : struct, ILegacyBlock
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * TBlock.BlockBytes, TBlock.BlockBytes);
            float d = Fp16.Read(block);
            TBlock.Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int j = 0; j < QK; j++) y[j] = q[j] * d;
        }
    }

    /// <summary>w = d·q + m for <typeparamref name="TBlock"/> blocks (f16 d, f16 m first).</summary>
    public static void DequantizeWithMin<TBlock>(ReadOnlySpan<byte> src, Span<float> dst)
        where TBlock : struct, ILegacyBlock
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * TBlock.BlockBytes, TBlock.BlockBytes);
            float d = Fp16.Read(block), m = Fp16.Read(block[2..]);
            TBlock.Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int j = 0; j < QK; j++) y[j] = q[j] * d + m;
        }
    }

    /// <summary>Σ_blocks d_w·d_a·Σ q_w·q_a of <typeparamref name="TBlock"/> weights (f16 d first) with Q8_0 activations.</summary>
    public static float DotQ8_0Portable<TBlock>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
        where TBlock : struct, ILegacyBlock
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * TBlock.BlockBytes, TBlock.BlockBytes);
            var a = activations.Slice(b * Q8_0Bytes, Q8_0Bytes);
            TBlock.Unpack(w, q);
            int isum = Int8Dot.Dot(q, MemoryMarshal.Cast<byte, sbyte>(a.Slice(2, QK)));
            sum += isum * (Fp16.Read(w) * Fp16.Read(a));
        }
        return sum;
    }

    /// <summary>
    /// Σ_blocks d_w·d_a·Σ q_w·q_a + m_w·s_a of <typeparamref name="TBlock"/> weights (f16 d, f16 m first) with Q8_1 activations.
    /// </summary>
    public static float DotQ8_1Portable<TBlock>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
        where TBlock : struct, ILegacyBlock
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * TBlock.BlockBytes, TBlock.BlockBytes);
            var a = activations.Slice(b * Q8_1Bytes, Q8_1Bytes);
            TBlock.Unpack(w, q);
            int isum = Int8Dot.Dot(q, MemoryMarshal.Cast<byte, sbyte>(a.Slice(4, QK)));
            sum += isum * (Fp16.Read(w) * Fp16.Read(a)) + Fp16.Read(w[2..]) * Fp16.Read(a[2..]);
        }
        return sum;
    }

    /// <summary>Dequantizes Q8_0/Q8_1 blocks (f16 d first, the 32 int8 q at <paramref name="qsOffset"/>): x = d·q.</summary>
    public static void DequantizeQ8(ReadOnlySpan<byte> src, Span<float> dst, int blockBytes, int qsOffset)
    {
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            float d = Fp16.Read(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block[qsOffset..]);
            var y = dst.Slice(b * QK, QK);
            for (int j = 0; j < QK; j++) y[j] = q[j] * d;
        }
    }

    /// <summary>
    /// Q8_0/Q8_1's block quantizer (ggml's <c>quantize_row_q8_0_ref</c>): d = max|x| / 127, q = round(x·(1/d)) with halves away
    /// from zero (C <c>roundf</c>). Writes q to <paramref name="qs"/>, returns d and, in <paramref name="sum"/>, Σq.
    /// </summary>
    public static float QuantizeQ8(ReadOnlySpan<float> x, Span<byte> qs, out int sum)
    {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = Math.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        sum = 0;
        for (int j = 0; j < QK; j++)
        {
            var q = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
            qs[j] = (byte)q;
            sum += q;
        }
        return d;
    }

    /// <summary>The AVX2 form of <see cref="QuantizeQ8(ReadOnlySpan{float}, Span{byte}, out int)"/> for the 32 floats at <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float QuantizeQ8(float* x, byte* qs, out int sum)
    {
        float d = Int8Dot.MaxAbs32(x) / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        Avx.Store((sbyte*)qs, Int8Dot.Quantize32(x, id, awayFromZero: true, out int s0, out int s1));
        sum = s0 + s1;
        return d;
    }

    /// <summary>
    /// Q8_0/Q8_1's activation quantizer as llama.cpp's x86 CPU backend runs it (<c>quantize_row_q8_0</c>/<c>_q8_1</c>, its
    /// AVX/AVX2 bodies, which every x86 build of it takes): d = max|x| / 127 as in the reference, but q = x·(127 / max|x|)
    /// rounded half to even (<c>_mm256_round_ps</c>), not x·(1/d) rounded half away from zero. The two differ by one level on
    /// the odd element (where 127/max and 1/d differ in the last bit, or at an exact half), and one such flip in a matmul's
    /// input moves a small model's logits by up to 1e-2 against llama.cpp's. Writes q to <paramref name="qs"/>, returns d
    /// and, in <paramref name="sum"/>, Σq.
    /// </summary>
    public static float QuantizeQ8Activations(ReadOnlySpan<float> x, Span<byte> qs, out int sum)
    {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = Math.Max(amax, MathF.Abs(x[j]));
        float id = amax != 0 ? 127f / amax : 0.0f;
        sum = 0;
        for (int j = 0; j < QK; j++)
        {
            var q = (sbyte)Math.Clamp(MathF.Round(x[j] * id, MidpointRounding.ToEven), -128f, 127f);
            qs[j] = (byte)q;
            sum += q;
        }
        return amax / 127;
    }

    /// <summary>The AVX2 form of <see cref="QuantizeQ8Activations(ReadOnlySpan{float}, Span{byte}, out int)"/> for the 32 floats at <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float QuantizeQ8Activations(float* x, byte* qs, out int sum)
    {
        float amax = Int8Dot.MaxAbs32(x);
        float id = amax != 0 ? 127f / amax : 0.0f;
        Avx.Store((sbyte*)qs, Int8Dot.Quantize32(x, id, awayFromZero: false, out int s0, out int s1));
        sum = s0 + s1;
        return amax / 127;
    }

    /// <summary>Σ_blocks d₁·d₂·Σ q₁·q₂ of two Q8_0 or Q8_1 rows (f16 d first, the 32 int8 q at <paramref name="qsOffset"/>).</summary>
    public static float DotQ8Portable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n, int blockBytes, int qsOffset)
    {
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * blockBytes, blockBytes);
            var a = activations.Slice(b * blockBytes, blockBytes);
            int isum = Int8Dot.Dot(ref Unsafe.As<byte, sbyte>(ref MemoryMarshal.GetReference(w[qsOffset..])),
                                   ref Unsafe.As<byte, sbyte>(ref MemoryMarshal.GetReference(a[qsOffset..])), QK);
            sum += isum * (Fp16.Read(w) * Fp16.Read(a));
        }
        return sum;
    }
}
