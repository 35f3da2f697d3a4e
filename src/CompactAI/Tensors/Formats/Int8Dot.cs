using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Shared integer kernels for the quantized dot products: sums of int8 products in a 32-byte lane, float
/// accumulation, horizontal sums, and the f16 decode table. The formats state the maths; these helpers own the
/// instruction-set tricks.
/// </summary>
/// <remarks>
/// Three tiers, chosen by the JIT from constant <c>IsSupported</c> checks:
/// <list type="bullet">
/// <item>AVX-VNNI (<c>vpdpbusd</c>/<c>vpdpwssd</c>): one instruction per unsigned×signed multiply-accumulate. .NET 10 exposes
/// the VEX-encoded AVX-VNNI (and AVX10.x) but not the EVEX-only AVX-512 VNNI, so Zen 4 runs the AVX2 tier.</item>
/// <item>AVX2: <c>vpmaddubsw</c> (u8×s8 → pairwise i16) then <c>vpmaddwd</c> with ones (→ i32), the sign of one operand moved
/// onto the other so that the unsigned input is |a| (llama.cpp's <c>mul_sum_i8_pairs</c>).</item>
/// <item>Portable: each format unpacks a block to int8 and calls <see cref="Dot(ref sbyte, ref sbyte, int)"/>, which uses
/// <see cref="Vector128"/> widening multiplies where hardware-accelerated (Arm64, x64 without AVX2) and scalar code otherwise.</item>
/// </list>
/// Pair sums never saturate int16 for the value ranges the formats feed in (|w| ≤ 127 or u ≤ 63, |a| ≤ 127).
/// </remarks>
internal static class Int8Dot
{
    /// <summary>True where the AVX2 + FMA kernels run.</summary>
    public static bool IsAvx2 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>True where the AVX-VNNI flavour of the AVX2 kernels runs.</summary>
    public static bool IsVnni => AvxVnni.IsSupported && IsAvx2;

    /// <summary>
    /// Σ a[i]·b[i] over 32 signed bytes, returned as 8 int32 partial sums. Requires a[i] ≠ −128 or b[i] ≠ −128
    /// (|a|·b is formed with <c>vpsignb</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSum(Vector256<sbyte> a, Vector256<sbyte> b) =>
        MulSumUnsigned(Avx2.Abs(a), Avx2.Sign(b, a));

    /// <summary>Σ u[i]·s[i] over 32 bytes (u unsigned, s signed) as 8 int32 partial sums; needs u[2k]·s[2k] + u[2k+1]·s[2k+1] to fit int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumUnsigned(Vector256<byte> u, Vector256<sbyte> s)
    {
        if (IsVnni) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);
    }

    /// <summary>
    /// acc + Σ over pairs of (u[2k]·s[2k] + u[2k+1]·s[2k+1])·scale[k], as 8 int32 lanes: a per-16-bit-lane weight applied to the pair
    /// sums (K-quant sub-block scales).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumUnsignedScaled(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale)
    {
        var pairs = Avx2.MultiplyAddAdjacent(u, s);
        if (IsVnni) return AvxVnni.MultiplyWideningAndAdd(acc, pairs, scale);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(pairs, scale));
    }

    /// <summary>acc + float(sum)·scale, lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulAdd(Vector256<int> sum, float scale, Vector256<float> acc) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(scale), acc);

    /// <summary>Sum of the 8 float lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        var s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 0x55));
        return s.ToScalar();
    }

    /// <summary>
    /// 32 bytes in which byte i is 0xFF when bit i of <paramref name="bits"/> is set and 0 otherwise (expands the 5th-bit
    /// masks of Q5_0/Q5_1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BitsToBytes(uint bits)
    {
        // Byte i takes byte i/8 of the word, keeps bit i%8, and compares.
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return Avx2.CompareEqual(Avx2.And(spread, bit), bit);
    }

    /// <summary>Loads 16 bytes of packed nibbles as 32 bytes: the low nibbles first, then the high ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<byte> Nibbles16(byte* p)
    {
        var v = Sse2.LoadVector128(p);
        var m = Vector128.Create((byte)0x0F);
        return Vector256.Create(Sse2.And(v, m), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), m));
    }

    /// <summary>Σ a[i]·b[i] over <paramref name="n"/> signed bytes (the portable kernel).</summary>
    public static int Dot(ref sbyte a, ref sbyte b, int n)
    {
        int i = 0, sum = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var acc = Vector128<int>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var va = Vector128.LoadUnsafe(ref a, (nuint)i);
                var vb = Vector128.LoadUnsafe(ref b, (nuint)i);
                var (al, ah) = Vector128.Widen(va);
                var (bl, bh) = Vector128.Widen(vb);
                var p = al * bl + ah * bh; // at most 2·127·128 in magnitude: fits int16
                var (pl, ph) = Vector128.Widen(p);
                acc += pl + ph;
            }
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return sum;
    }

    /// <summary>Σ a[i]·b[i] over the shorter of two int8 spans.</summary>
    public static int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b) =>
        Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), Math.Min(a.Length, b.Length));
}

/// <summary>IEEE half-precision conversions as ggml does them (round to nearest even when encoding).</summary>
internal static class Fp16
{
    private static readonly float[] s_toSingle = BuildTable();

    /// <summary>The float value of the half whose bits are <paramref name="bits"/> (table lookup: exact, and cheaper than a software convert).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s_toSingle), bits);

    /// <summary>The half stored little-endian at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Read(byte* p) => ToSingle(Unsafe.ReadUnaligned<ushort>(p));

    /// <summary>The half stored little-endian at <paramref name="src"/>[0..2].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ReadOnlySpan<byte> src) => ToSingle(Unsafe.ReadUnaligned<ushort>(ref MemoryMarshal.GetReference(src)));

    /// <summary>Writes <paramref name="value"/> rounded to half (nearest even) at <paramref name="dst"/>[0..2].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> dst, float value) =>
        Unsafe.WriteUnaligned(ref MemoryMarshal.GetReference(dst), BitConverter.HalfToUInt16Bits((Half)value));

    /// <summary><paramref name="value"/> rounded to half precision and back.</summary>
    public static float Round(float value) => (float)(Half)value;

    private static float[] BuildTable()
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }
}
