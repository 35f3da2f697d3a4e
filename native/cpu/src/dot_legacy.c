/*
 * Row dot products of the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0/Q8_1 activations.
 * Per block: an exact int32 Σ q·a, then one float multiply by d_w·d_a (plus m_w·s_a for the offset formats).
 * The scalar kernels state the maths; the x86 bodies live in dot_legacy_x86.inc, compiled once for AVX2 and once for
 * AVX-512 VNNI.
 */
#include "cai_internal.h"

/* Σ (q − 8)·a per Q4_0 block. */
float cai_q4_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q4_0_BYTES, pa += Q8_0_BYTES) {
        const int8_t* qa = (const int8_t*)(pa + 2);
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += ((pw[2 + j] & 0xF) - 8) * qa[j];
            isum += ((pw[2 + j] >> 4) - 8) * qa[j + QK / 2];
        }
        sum += (float)isum * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

float cai_q4_1_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q4_1_BYTES, pa += Q8_1_BYTES) {
        const int8_t* qa = (const int8_t*)(pa + 4);
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += (pw[4 + j] & 0xF) * qa[j];
            isum += (pw[4 + j] >> 4) * qa[j + QK / 2];
        }
        sum += (float)isum * (cai_rdf16(pw) * cai_rdf16(pa)) + cai_rdf16(pw + 2) * cai_rdf16(pa + 2);
    }
    return sum;
}

float cai_q5_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q5_0_BYTES, pa += Q8_0_BYTES) {
        const int8_t* qa = (const int8_t*)(pa + 2);
        uint32_t qh = cai_rd32(pw + 2);
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += (((pw[6 + j] & 0xF) | (int)(((qh >> j) & 1u) << 4)) - 16) * qa[j];
            isum += (((pw[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16) * qa[j + QK / 2];
        }
        sum += (float)isum * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

float cai_q5_1_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q5_1_BYTES, pa += Q8_1_BYTES) {
        const int8_t* qa = (const int8_t*)(pa + 4);
        uint32_t qh = cai_rd32(pw + 4);
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += ((pw[8 + j] & 0xF) | (int)(((qh >> j) & 1u) << 4)) * qa[j];
            isum += ((pw[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) * qa[j + QK / 2];
        }
        sum += (float)isum * (cai_rdf16(pw) * cai_rdf16(pa)) + cai_rdf16(pw + 2) * cai_rdf16(pa + 2);
    }
    return sum;
}

float cai_q8_0_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    for (int b = 0; b < n / QK; b++, pw += Q8_0_BYTES, pa += Q8_0_BYTES) {
        const int8_t *qw = (const int8_t*)(pw + 2), *qa = (const int8_t*)(pa + 2);
        int isum = 0;
        for (int j = 0; j < QK; j++) isum += qw[j] * qa[j];
        sum += (float)isum * (cai_rdf16(pw) * cai_rdf16(pa));
    }
    return sum;
}

#if CAI_X86 && defined(__AVX2__)

/* AVX2: u8×s8 pairs by vpmaddubsw, widened to int32 by vpmaddwd with ones. */
#define CAI_FN(name) name##_avx2
#define CAI_DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "dot_legacy_x86.inc"
#undef CAI_FN
#undef CAI_DPBUSD

#if CAI_HAVE_VNNI_KERNELS
/* AVX-512 VNNI on 256-bit registers: vpdpbusd does the u8×s8 multiply-accumulate in one instruction. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni")
#endif
#define CAI_FN(name) name##_vnni
#define CAI_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#include "dot_legacy_x86.inc"
#undef CAI_FN
#undef CAI_DPBUSD
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

#endif
