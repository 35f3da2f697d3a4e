/*
 * Q4_K×8: eight Q4_K rows interleaved, for decode. A row-at-a-time Q4_K dot product spends most of its instructions on
 * per-row overhead: unpacking one row's twelve scale bytes, broadcasting each sub-block scale across a register, and a
 * horizontal sum at the end. With eight rows side by side, one register lane per row, the scales of all eight unpack in
 * a few vector operations, one shuffle serves eight rows, and the eight results come out of one register without any
 * horizontal sum. The matrix stays one contiguous stream per thread, which the hardware prefetchers follow.
 *
 * Layout of super-block b of rows 8g..8g+7 (1152 bytes, the size of eight Q4_K blocks), at ((g·nb + b)·1152):
 *   [0, 16)     d of rows 0..7 (f16)
 *   [16, 32)    dmin of rows 0..7 (f16)
 *   [32, 128)   the twelve packed scale bytes as three arrays of eight 32-bit words: word k of row r at 32 + 32k + 4r
 *   [128, 1152) the 128 level bytes: bytes 32c + 8u .. +8 of row r at 128 + 64·(4c + u) + 8r (c, u < 4)
 * The level bytes keep their pairing (low nibble: weight 64c + l, sub-block 2c; high nibble: 64c + 32 + l, sub-block
 * 2c + 1), so the repack moves bytes and never re-encodes. A group of eight rows occupies exactly eight rows' bytes.
 */
#include "cai_internal.h"

void cai_repack_q4_k_x8(const void* src, size_t row_bytes, int rows, int col, void* dst)
{
    const int nb = col / QK_K;
    const uint8_t* s = src;
    uint8_t* o = dst;
    for (int g = 0; g < rows / 8; g++) {
        for (int b = 0; b < nb; b++, o += Q4_KX8_BYTES) {
            for (int r = 0; r < 8; r++) {
                const uint8_t* blk = s + (size_t)(8 * g + r) * row_bytes + (size_t)b * Q4_K_BYTES;
                memcpy(o + Q4_KX8_D + 2 * r, blk, 2);
                memcpy(o + Q4_KX8_DMIN + 2 * r, blk + 2, 2);
                for (int k = 0; k < 3; k++) memcpy(o + Q4_KX8_SCALES + 32 * k + 4 * r, blk + 4 + 4 * k, 4);
                for (int t = 0; t < 16; t++) memcpy(o + Q4_KX8_QS + 64 * t + 8 * r, blk + 16 + 8 * t, 8);
            }
        }
    }
}

/* Row r's super-block back in Q4_K layout (the inverse of the repack, for the scalar kernel). */
static void unpack_row(const uint8_t* x8, int r, uint8_t* blk)
{
    memcpy(blk, x8 + Q4_KX8_D + 2 * r, 2);
    memcpy(blk + 2, x8 + Q4_KX8_DMIN + 2 * r, 2);
    for (int k = 0; k < 3; k++) memcpy(blk + 4 + 4 * k, x8 + Q4_KX8_SCALES + 32 * k + 4 * r, 4);
    for (int t = 0; t < 16; t++) memcpy(blk + 16 + 8 * t, x8 + Q4_KX8_QS + 64 * t + 8 * r, 8);
}

/* The maths stated once: each row is the Q4_K row dot product of its super-blocks, in the same order (bit for bit). */
void cai_q4_k_x8_scalar(int n, const void* w, const void* a, size_t act_row_bytes, int na, float* y, size_t y_stride)
{
    const int nb = n / QK_K;
    uint8_t blk[Q4_K_BYTES];
    for (int i = 0; i < na; i++) {
        const uint8_t* pa = (const uint8_t*)a + (size_t)i * act_row_bytes;
        for (int r = 0; r < 8; r++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                unpack_row((const uint8_t*)w + (size_t)b * Q4_KX8_BYTES, r, blk);
                sum += cai_q4_k_scalar(QK_K, blk, pa + (size_t)b * Q8_K_BYTES);
            }
            y[(size_t)i * y_stride + (size_t)r] = sum;
        }
    }
}

#if CAI_X86 && defined(__AVX2__)
#define CAI_FN(name) name##_avx2
#define CAI_DPWSSD(acc, p, s) _mm256_add_epi32((acc), _mm256_madd_epi16((p), (s)))
#include "repack_q4_k_x86.inc"
#undef CAI_FN
#undef CAI_DPWSSD

#if CAI_HAVE_VNNI_KERNELS
CAI_VNNI_BEGIN
#define CAI_FN(name) name##_vnni
#define CAI_DPWSSD(acc, p, s) _mm256_dpwssd_epi32((acc), (p), (s))
#include "repack_q4_k_x86.inc"
#undef CAI_FN
#undef CAI_DPWSSD
CAI_VNNI_END
#endif
#endif
