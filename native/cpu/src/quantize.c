/*
 * Activation quantizers, byte-identical to what llama.cpp's x86 CPU backend computes before its integer dot products and
 * to the managed formats' QuantizeActivations. Q8_K is ggml's reference quantizer (llama.cpp calls that one). Q8_0 and
 * Q8_1 are not: llama.cpp's x86 quantize_row_q8_0/_q8_1 (AVX and AVX2 bodies) take q = x·(127/max|x|) rounded half to
 * even, where the reference takes x·(1/d) rounded half away from zero; d = max|x|/127 is the same. Q8_0 (the
 * activations of Q4_0/Q5_0/Q8_0 weights, quantized for every matmul of a prompt) has an AVX2 body that rounds exactly as
 * the scalar one; the others are scalar.
 * Conversions mirror .NET's semantics: float → int conversions saturate (never undefined behaviour).
 */
#include "cai_internal.h"

/* v rounded half to even (the default rounding mode), saturated to int8, as C#'s (sbyte)Math.Clamp(MathF.Round(v), −128, 127). */
static inline int8_t round_even_i8(float v)
{
    float r = nearbyintf(v);
    if (!(r > -128.0f)) return r != r ? 0 : -128; /* NaN saturates to 0 */
    if (r > 127.0f) return 127;
    return (int8_t)r;
}

/* max |x| over one block of 32 (NaNs ignored). */
static inline float block_amax(const float* x)
{
    float amax = 0;
    for (int j = 0; j < QK; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) amax = ax;
    }
    return amax;
}

#if CAI_X86 && defined(__AVX2__)
/* Eight values rounded half to even, saturated to [−128, 127], NaN → 0: round_even_i8 lane by lane. */
static inline __m256i round_even_i32x8(__m256 v)
{
    __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN → 0 */
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvttps_epi32(r);
}

/* 32 int32 in four vectors → 32 int8 in order. */
static inline __m256i pack_i8x32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void cai_quantize_row_q8_0(const float* x, void* y, int n)
{
    uint8_t* out = y;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int b = 0; b < n / QK; b++, x += QK, out += Q8_0_BYTES) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        /* max(|x|, m) keeps m where |x| is NaN, as the scalar loop ignores NaNs. */
        __m256 m = _mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_setzero_ps());
        m = _mm256_max_ps(_mm256_and_ps(v1, abs_mask), m);
        m = _mm256_max_ps(_mm256_and_ps(v2, abs_mask), m);
        m = _mm256_max_ps(_mm256_and_ps(v3, abs_mask), m);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h), d = amax / 127;
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        uint16_t hd = cai_f32_to_f16(d);
        memcpy(out, &hd, 2);
        __m256 vid = _mm256_set1_ps(id);
        __m256i q = pack_i8x32(round_even_i32x8(_mm256_mul_ps(v0, vid)), round_even_i32x8(_mm256_mul_ps(v1, vid)),
                               round_even_i32x8(_mm256_mul_ps(v2, vid)), round_even_i32x8(_mm256_mul_ps(v3, vid)));
        _mm256_storeu_si256((__m256i*)(out + 2), q);
    }
}
#else
void cai_quantize_row_q8_0(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK; b++, x += QK, out += Q8_0_BYTES) {
        float amax = block_amax(x), d = amax / 127;
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        uint16_t h = cai_f32_to_f16(d);
        memcpy(out, &h, 2);
        for (int j = 0; j < QK; j++) out[2 + j] = (uint8_t)round_even_i8(x[j] * id);
    }
}
#endif

void cai_quantize_row_q8_1(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK; b++, x += QK, out += Q8_1_BYTES) {
        float amax = block_amax(x), d = amax / 127;
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        uint16_t h = cai_f32_to_f16(d);
        memcpy(out, &h, 2);
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            int8_t q = round_even_i8(x[j] * id);
            out[4 + j] = (uint8_t)q;
            sum += q;
        }
        h = cai_f32_to_f16((float)sum * d);
        memcpy(out + 2, &h, 2);
    }
}

#if CAI_X86 && defined(__AVX2__)
/* Q8_K with an AVX2 body: the same max search (first element of largest magnitude), RNE rounding and group sums. */
void cai_quantize_row_q8_k(const float* x, void* y, int n)
{
    uint8_t* out = y;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int b = 0; b < n / QK_K; b++, x += QK_K, out += Q8_K_BYTES) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), m); /* NaNs ignored */
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        if (amax == 0) {
            memset(out, 0, Q8_K_BYTES);
            continue;
        }
        /* The first element whose magnitude is amax gives the signed max, as the scalar loop's strict '>' keeps it. */
        float max = 0;
        __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) {
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), va, _CMP_EQ_OQ));
            if (mask != 0) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m256 vs = _mm256_set1_ps(iscale);
        int8_t* q = (int8_t*)(out + Q8_K_QS);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i r[4];
            for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k));
                __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                t = _mm256_and_ps(t, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN → 0, as (int) of NaN truncated to a byte */
                t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-128.0f));
                r[k] = _mm256_cvttps_epi32(t);
            }
            __m256i ab = _mm256_packs_epi32(r[0], r[1]), cd = _mm256_packs_epi32(r[2], r[3]);
            __m256i q32 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i*)(q + j), q32);
            /* Group sums of 16: Σ(q + 128) over 8 bytes per 64-bit lane, pairs of lanes per group. */
            __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q32, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
            int64_t l0 = _mm256_extract_epi64(sad, 0), l1 = _mm256_extract_epi64(sad, 1);
            int64_t l2 = _mm256_extract_epi64(sad, 2), l3 = _mm256_extract_epi64(sad, 3);
            int16_t s0 = (int16_t)(l0 + l1 - 16 * 128), s1 = (int16_t)(l2 + l3 - 16 * 128);
            memcpy(out + Q8_K_BSUMS + 2 * (j / 16), &s0, 2);
            memcpy(out + Q8_K_BSUMS + 2 * (j / 16 + 1), &s1, 2);
        }
        float d = 1 / iscale;
        memcpy(out, &d, 4);
    }
}
#else
void cai_quantize_row_q8_k(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK_K; b++, x += QK_K, out += Q8_K_BYTES) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            memset(out, 0, Q8_K_BYTES);
            continue;
        }
        float iscale = -127.0f / max;
        int8_t* q = (int8_t*)(out + Q8_K_QS);
        for (int j = 0; j < QK_K; j++) {
            /* round half to even (the default rounding mode), then min(127, ·); |iscale·x| ≤ 127 so no other clamp bites. */
            float r = nearbyintf(iscale * x[j]);
            int v = r > 127.0f ? 127 : r < -128.0f ? -128 : (int)r;
            q[j] = (int8_t)v;
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += q[16 * g + i];
            int16_t s = (int16_t)sum;
            memcpy(out + Q8_K_BSUMS + 2 * g, &s, 2);
        }
        float d = 1 / iscale;
        memcpy(out, &d, 4);
    }
}
#endif
