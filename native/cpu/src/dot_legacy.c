/*
 * Row dot products of the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0/Q8_1 activations.
 * Per block: an exact int32 Σ q·a, then one float multiply by d_w·d_a (plus m_w·s_a for the offset formats).
 * The scalar kernels state the maths; the x86 bodies live in dot_legacy_x86.inc, compiled once for AVX2 and once for
 * AVX-512 VNNI.
 */
#include "cai_internal.h"

/* Σ q·a over one block of 32 (q already unpacked): a separate loop so compilers vectorize it. */
static inline int dot32(const int8_t* q, const int8_t* a)
{
    int isum = 0;
    for (int j = 0; j < QK; j++) isum += q[j] * a[j];
    return isum;
}

/* The 32 levels of a nibble block (byte j: element j low, j+16 high), with fifth bits qh (bit j: element j) and offset. */
static inline void unpack32(const uint8_t* nib, uint32_t qh, int offset, int8_t* q)
{
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (int8_t)(((nib[j] & 0xF) | (int)(((qh >> j) & 1u) << 4)) - offset);
        q[j + QK / 2] = (int8_t)(((nib[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - offset);
    }
}

/* Q4_0: Σ_blocks d_w·d_a·Σ (q − 8)·a. */
float cai_q4_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK];
    for (int b = 0; b < n / QK; b++, pw += Q4_0_BYTES, pa += Q8_0_BYTES) {
        unpack32(pw + 2, 0, 8, q);
        sum += (float)dot32(q, (const int8_t*)(pa + 2)) * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

/* Q4_1: Σ_blocks d_w·d_a·Σ q·a + m_w·s_a. */
float cai_q4_1_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK];
    for (int b = 0; b < n / QK; b++, pw += Q4_1_BYTES, pa += Q8_1_BYTES) {
        unpack32(pw + 4, 0, 0, q);
        sum += (float)dot32(q, (const int8_t*)(pa + 4)) * (cai_rdf16(pw) * cai_rdf16(pa)) + cai_rdf16(pw + 2) * cai_rdf16(pa + 2);
    }
    return sum;
}

/* Q5_0: Σ_blocks d_w·d_a·Σ (q − 16)·a. */
float cai_q5_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK];
    for (int b = 0; b < n / QK; b++, pw += Q5_0_BYTES, pa += Q8_0_BYTES) {
        unpack32(pw + 6, cai_rd32(pw + 2), 16, q);
        sum += (float)dot32(q, (const int8_t*)(pa + 2)) * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

/* Q5_1: Σ_blocks d_w·d_a·Σ q·a + m_w·s_a. */
float cai_q5_1_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK];
    for (int b = 0; b < n / QK; b++, pw += Q5_1_BYTES, pa += Q8_1_BYTES) {
        unpack32(pw + 8, cai_rd32(pw + 4), 0, q);
        sum += (float)dot32(q, (const int8_t*)(pa + 4)) * (cai_rdf16(pw) * cai_rdf16(pa)) + cai_rdf16(pw + 2) * cai_rdf16(pa + 2);
    }
    return sum;
}

float cai_q8_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q8_0_BYTES, pa += Q8_0_BYTES) {
        sum += (float)dot32((const int8_t*)(pw + 2), (const int8_t*)(pa + 2)) * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

#if CAI_X86 && defined(__AVX2__)

/* AVX2: u8×s8 pairs by vpmaddubsw, widened to int32 by vpmaddwd with ones. */
#define CAI_FN(name) name##_avx2
#define CAI_DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "dot_legacy_x86.inc"
#include "tile_q0_x86.inc"
#undef CAI_FN
#undef CAI_DPBUSD

#if CAI_HAVE_VNNI_KERNELS
/* AVX-512 VNNI on 256-bit registers: vpdpbusd does the u8×s8 multiply-accumulate in one instruction. */
CAI_VNNI_BEGIN
#define CAI_FN(name) name##_vnni
#define CAI_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define CAI_NATIVE_DPBUSD 1
#include "dot_legacy_x86.inc"
#include "tile_q0_x86.inc"
#undef CAI_NATIVE_DPBUSD
#undef CAI_FN
#undef CAI_DPBUSD
CAI_VNNI_END
#endif

#endif
