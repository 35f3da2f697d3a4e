/*
 * One query row of causal attention over a KV head, with llama.cpp's CPU flash-attention arithmetic for an F16 cache
 * (the managed Attention class documents it): an online softmax whose running Σ p·v is held in half precision, rounded
 * after every update. Keys and values are floats that are already half-representable. On x86 the rounding is F16C's
 * round trip (round to nearest even, subnormals and overflow included), identical to the managed (Half) cast; exp and
 * tanh are the C library's, which .NET's MathF calls too, and the dot products sum in Vector256.Sum's order, so on x86 this
 * equals the managed loop bit for bit.
 */
#include "cai_internal.h"

#if CAI_X86 && defined(__AVX2__)
static inline __m256 round_half8(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }

static inline float dot(const float* a, const float* b, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    /* ((e0 + e1) + (e2 + e3)) + ((e4 + e5) + (e6 + e7)): .NET's Vector256.Sum order, so both paths agree bit for bit. */
    __m128 h = _mm_hadd_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_hadd_ps(h, h);
    float sum = _mm_cvtss_f32(h) + _mm_cvtss_f32(_mm_movehdup_ps(h));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/* acc = half(acc · α) */
static inline void scale_round(float* acc, float alpha, int n)
{
    int i = 0;
    __m256 va = _mm256_set1_ps(alpha);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(acc + i, round_half8(_mm256_mul_ps(_mm256_loadu_ps(acc + i), va)));
    for (; i < n; i++) acc[i] = cai_f16_to_f32(cai_f32_to_f16(acc[i] * alpha));
}

/* acc = half(α·x + acc): fused in the vector body, mul-then-add in the tail (as the managed Axpy) */
static inline void axpy_round(float* acc, float alpha, const float* x, int n)
{
    int i = 0;
    __m256 va = _mm256_set1_ps(alpha);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, round_half8(_mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(acc + i))));
    for (; i < n; i++) acc[i] = cai_f16_to_f32(cai_f32_to_f16(acc[i] + alpha * x[i]));
}
#else
static inline float dot(const float* a, const float* b, int n)
{
    float sum = 0;
    for (int i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static inline void scale_round(float* acc, float alpha, int n)
{
    for (int i = 0; i < n; i++) acc[i] = cai_f16_to_f32(cai_f32_to_f16(acc[i] * alpha));
}

static inline void axpy_round(float* acc, float alpha, const float* x, int n)
{
    for (int i = 0; i < n; i++) acc[i] = cai_f16_to_f32(cai_f32_to_f16(fmaf(alpha, x[i], acc[i])));
}
#endif

void cai_attend_f16acc(const float* q, const float* keys, const float* values, int head_dim, int value_dim, int first,
                       int len, float scale, float softcap, float* acc, float* out)
{
    float max = -INFINITY, sum = 0;
    memset(acc, 0, sizeof(float) * (size_t)value_dim);
    for (int t = first; t < len; t++) {
        float s = dot(q, keys + (size_t)t * (size_t)head_dim, head_dim) * scale;
        if (softcap > 0) s = softcap * tanhf(s);
        float weight = 1;
        if (s > max) {
            /* A new maximum: rescale what was accumulated so far by e^(old max − new max). */
            float rescale = expf(max - s);
            max = s;
            scale_round(acc, rescale, value_dim);
            sum *= rescale;
        } else {
            weight = expf(s - max);
        }
        axpy_round(acc, weight, values + (size_t)t * (size_t)value_dim, value_dim);
        sum += weight;
    }
    for (int i = 0; i < value_dim; i++) out[i] = acc[i] / sum;
}
