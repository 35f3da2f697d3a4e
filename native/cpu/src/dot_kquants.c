/*
 * Row dot products of the K-quants (Q2_K..Q6_K, 256-element super-blocks) with Q8_K activations.
 * Per super-block: exact int32 sums of sub-block-scaled q·a, the min/offset terms taken from the Q8_K group sums (bsums)
 * instead of touching the activations again, then one float multiply by d·d_a (and dmin·d_a).
 * The scalar kernels state the maths; the x86 bodies live in dot_kquants_x86.inc, compiled for AVX2 and AVX-512 VNNI.
 */
#include "cai_internal.h"

static inline const int8_t* act_q(const uint8_t* pa) { return (const int8_t*)(pa + Q8_K_QS); }
static inline int act_bsum(const uint8_t* pa, int g) { return cai_rdi16(pa + Q8_K_BSUMS + 2 * g); }

/* The 2-bit levels of Q2_K/Q3_K: weight 128h + 32j + l is bits 2j..2j+1 of byte 32h + l of qs. */
static inline void unpack_2bit(const uint8_t* qs, int8_t* q)
{
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * j + l] = (int8_t)((qs[32 * h + l] >> (2 * j)) & 3);
}

/* Q2_K: levels at byte 16; scale byte g (of 16) has the scale in its low nibble and the min in its high one. */
float cai_q2_k_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++, pw += Q2_K_BYTES, pa += Q8_K_BYTES) {
        const int8_t* qa = act_q(pa);
        unpack_2bit(pw + 16, q);
        int sumi = 0, summ = 0;
        for (int g = 0; g < 16; g++) {
            int isum = 0;
            for (int l = 0; l < 16; l++) isum += q[16 * g + l] * qa[16 * g + l];
            sumi += (pw[g] & 0xF) * isum;
            summ += (pw[g] >> 4) * act_bsum(pa, g);
        }
        float da = cai_rdf32(pa);
        sum += cai_rdf16(pw + 80) * da * (float)sumi - cai_rdf16(pw + 82) * da * (float)summ;
    }
    return sum;
}

/* Q3_K: low 2 bits as Q2_K (at byte 32), high bit of e at hmask byte e%32 bit e/32; q = low − (high ? 0 : 4). */
float cai_q3_k_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++, pw += Q3_K_BYTES, pa += Q8_K_BYTES) {
        const int8_t* qa = act_q(pa);
        unpack_2bit(pw + 32, q);
        for (int k = 0; k < 8; k++)
            for (int l = 0; l < 32; l++) q[32 * k + l] -= (int8_t)(((pw[l] >> k) & 1) ? 0 : 4);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int isum = 0;
            for (int l = 0; l < 16; l++) isum += q[16 * g + l] * qa[16 * g + l];
            sumi += cai_scale_q3_k(pw + 96, g) * isum;
        }
        sum += cai_rdf16(pw + 108) * cai_rdf32(pa) * (float)sumi;
    }
    return sum;
}

/* Q4_K (fifth = 0) and Q5_K (fifth = 1): q of weight 64c + l (l < 32) is the low nibble of byte 32c + l, of 64c + 32 + l
 * the high nibble; Q5_K adds bit 2c (resp. 2c + 1) of qh byte l as bit 4. */
static inline float dot_q45_k_scalar(int n, const uint8_t* pw, const uint8_t* pa, int fifth)
{
    const int bytes = fifth ? Q5_K_BYTES : Q4_K_BYTES, qs = fifth ? 48 : 16;
    float sum = 0;
    for (int b = 0; b < n / QK_K; b++, pw += bytes, pa += Q8_K_BYTES) {
        const int8_t* qa = act_q(pa);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, c = j / 2, hi = j % 2, isum = 0;
            cai_scale_min_k4(j, pw + 4, &sc, &m);
            for (int l = 0; l < 32; l++) {
                int q = hi ? pw[qs + 32 * c + l] >> 4 : pw[qs + 32 * c + l] & 0xF;
                if (fifth) q |= ((pw[16 + l] >> j) & 1) << 4;
                isum += q * qa[32 * j + l];
            }
            sumi += sc * isum;
            summ += m * (act_bsum(pa, 2 * j) + act_bsum(pa, 2 * j + 1));
        }
        float da = cai_rdf32(pa);
        sum += cai_rdf16(pw) * da * (float)sumi - cai_rdf16(pw + 2) * da * (float)summ;
    }
    return sum;
}

float cai_q4_k_scalar(int n, const void* w, const void* a) { return dot_q45_k_scalar(n, w, a, 0); }
float cai_q5_k_scalar(int n, const void* w, const void* a) { return dot_q45_k_scalar(n, w, a, 1); }

/* Q6_K: in each 128-weight half h, ql byte l holds l (low nibble) and l+64 (high), byte l+32 holds l+32 and l+96;
 * qh byte l holds the top two bits of l, l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7. */
float cai_q6_k_scalar(int n, const void* w, const void* a)
{
    const uint8_t *pw = w, *pa = a;
    float sum = 0;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++, pw += Q6_K_BYTES, pa += Q8_K_BYTES) {
        const int8_t *qa = act_q(pa), *sc = (const int8_t*)(pw + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = pw + 64 * h, *qh = pw + 128 + 32 * h;
            int8_t* y = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                y[l] = (int8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
                y[l + 32] = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                y[l + 64] = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                y[l + 96] = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int isum = 0;
            for (int l = 0; l < 16; l++) isum += q[16 * g + l] * qa[16 * g + l];
            sumi += sc[g] * (isum - 32 * act_bsum(pa, g));
        }
        sum += cai_rdf16(pw + 208) * cai_rdf32(pa) * (float)sumi;
    }
    return sum;
}

#if CAI_X86 && defined(__AVX2__)

#define CAI_FN(name) name##_avx2
#define CAI_DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define CAI_DPWSSD(acc, p, s) _mm256_add_epi32((acc), _mm256_madd_epi16((p), (s)))
#include "dot_kquants_x86.inc"
#undef CAI_FN
#undef CAI_DPBUSD
#undef CAI_DPWSSD

#if CAI_HAVE_VNNI_KERNELS
CAI_VNNI_BEGIN
#define CAI_FN(name) name##_vnni
#define CAI_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define CAI_DPWSSD(acc, p, s) _mm256_dpwssd_epi32((acc), (p), (s))
#include "dot_kquants_x86.inc"
#undef CAI_FN
#undef CAI_DPBUSD
#undef CAI_DPWSSD
CAI_VNNI_END
#endif

#endif
