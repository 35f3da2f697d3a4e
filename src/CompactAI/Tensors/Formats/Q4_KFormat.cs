using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q4_K: super-blocks of 256 weights in 144 bytes: f16 d, f16 dmin, 12 bytes holding eight 6-bit scales sc and mins m
/// (one per 32 weights), then 128 bytes of nibbles (each 64-weight chunk: 32 bytes, low nibbles = first 32 weights,
/// high nibbles = next 32). w = d·sc·q − dmin·m. Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q4_K_ref</c>): per 32 weights, <see cref="KQuantMath.MakeQkx2Quants"/> with nmax 15,
/// weights √(mean x²) + |x|, rmin −1, rdelta 0.1, 20 steps; scales and mins then quantized to 6 bits against their maxima
/// (d = max scale / 63, dmin = max min / 63) and the weights requantized with the rounded scales.
/// Dot: Σ_blocks d_w·d_a·Σ_j sc_j·Σ_{i∈j} q_i·a_i − dmin_w·d_a·Σ_j m_j·(bsum_{2j} + bsum_{2j+1}).
/// </remarks>
internal sealed unsafe class Q4_KFormat() : TensorFormat(GgmlType.Q4_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 144, ActBytes = 292;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => ScaleMinK4.Dequantize<Quants>(src, dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[QK];
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            ScaleMinK4.QuantizeScales(src.Slice(b * QK, QK), block, levels, nmax: 15, rmin: -1f, rdelta: 0.1f, nstep: 20);
            var q = block.Slice(16, 128);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++) q[32 * c + l] = (byte)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
            }
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        Int8Dot.IsAvx2 ? ScaleMinK4.Dot<Quants>(weights, activations, n) : DotPortable(weights, activations, n);

    /// <summary>Chunk c: 32 bytes at 16 + 32c, low nibbles then high nibbles.</summary>
    private readonly struct Quants : IScaleMinK4Quants
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
        {
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    q[64 * c + l] = (sbyte)(block[16 + 32 * c + l] & 0xF);
                    q[64 * c + 32 + l] = (sbyte)(block[16 + 32 * c + l] >> 4);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void LoadChunk(byte* block, int c, out Vector256<byte> first, out Vector256<byte> second)
        {
            var low = Vector256.Create((byte)0x0F);
            var bytes = Avx.LoadVector256(block + 16 + 32 * c);
            first = Avx2.And(bytes, low);
            second = Avx2.And(Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte(), low);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        ScaleMinK4.DotPortable<Quants>(weights, activations, n);
}
