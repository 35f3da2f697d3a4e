/*
 * One query row of causal attention over a KV head, with llama.cpp's CPU flash-attention arithmetic for an F16 cache
 * (the managed Attention class documents it): an online softmax whose running Σ p·v is held in half precision, rounded
 * after every update. Keys and values are floats that are already half-representable. On x86 the rounding is F16C's
 * round trip (round to nearest even, subnormals and overflow included), identical to the managed (Half) cast; exp and
 * tanh are the C library's, which .NET's MathF calls too, and the dot products sum in ggml_vec_dot_f16's order (as the
 * managed loop), so on x86 this equals the managed loop bit for bit.
 */
#include "cai_internal.h"

#if CAI_X86 && defined(__AVX2__)
static inline __m256 round_half8(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }

/*
 * q·k as llama.cpp's ggml_vec_dot_f16 sums it on AVX/AVX2 (its flash attention dots the half-rounded q with each cached
 * key so): four accumulators over steps of 32, acc0 += acc2, acc1 += acc3, acc0 += acc1, then the halves added and two
 * horizontal adds; the n mod 32 leftovers are added one by one in double, and the double rounded to float at the end.
 * The inputs are half-representable, so every product is exact and only this order decides the last bit.
 */
static inline float dot(const float* a, const float* b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int np = n & ~31, i = 0;
    for (; i < np; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    s0 = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
    __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    __m128 t1 = _mm_hadd_ps(t0, t0);
    double sum = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
    for (; i < n; i++) sum += (double)(a[i] * b[i]);
    return (float)sum;
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
/* ggml_vec_dot_f16's order (see the x86 body), in scalar code: lanes of four 8-wide accumulators, then the leftovers. */
static inline float dot(const float* a, const float* b, int n)
{
    float s[4][8] = {{0}};
    int np = n & ~31, i = 0;
    for (; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++) s[j][l] = fmaf(a[i + 8 * j + l], b[i + 8 * j + l], s[j][l]);
    float v[8];
    for (int l = 0; l < 8; l++) v[l] = (s[0][l] + s[2][l]) + (s[1][l] + s[3][l]);
    float t0[4];
    for (int l = 0; l < 4; l++) t0[l] = v[l] + v[l + 4];
    double sum = (t0[0] + t0[1]) + (t0[2] + t0[3]);
    for (; i < n; i++) sum += (double)(a[i] * b[i]);
    return (float)sum;
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
