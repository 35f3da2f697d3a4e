/* Shared by the kernel files: scalar helpers, block sizes, the per-ISA kernel declarations. Not part of the ABI. */
#ifndef CAI_INTERNAL_H
#define CAI_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compactai_cpu.h"

#if defined(__x86_64__) || defined(_M_X64)
#  define CAI_X86 1
#  include <immintrin.h>
#endif

/* AVX-512 VNNI kernels are compiled with a function-level target (GCC/Clang) and picked at run time: the functions
 * between CAI_VNNI_BEGIN and CAI_VNNI_END get that target. */
#if CAI_X86 && defined(__GNUC__) && defined(__AVX2__)
#  define CAI_HAVE_VNNI_KERNELS 1
#  if defined(__clang__)
#    define CAI_VNNI_BEGIN \
        _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni\"))), apply_to = function)")
#    define CAI_VNNI_END _Pragma("clang attribute pop")
#  else
#    define CAI_VNNI_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni\")")
#    define CAI_VNNI_END _Pragma("GCC pop_options")
#  endif
#endif

#if defined(__GNUC__)
#  define CAI_HIDDEN __attribute__((visibility("hidden")))
#else
#  define CAI_HIDDEN
#endif

enum { QK = 32, QK_K = 256 };
enum { Q4_0_BYTES = 18, Q4_1_BYTES = 20, Q5_0_BYTES = 22, Q5_1_BYTES = 24, Q8_0_BYTES = 34, Q8_1_BYTES = 36 };
enum { Q2_K_BYTES = 84, Q3_K_BYTES = 110, Q4_K_BYTES = 144, Q5_K_BYTES = 176, Q6_K_BYTES = 210, Q8_K_BYTES = 292 };
enum { Q8_K_QS = 4, Q8_K_BSUMS = 260 };
/* Q4_K×8 (repack_q4_k.c): eight rows' super-blocks interleaved. */
enum { Q4_KX8_BYTES = 8 * Q4_K_BYTES, Q4_KX8_D = 0, Q4_KX8_DMIN = 16, Q4_KX8_SCALES = 32, Q4_KX8_QS = 128 };

static inline uint16_t cai_rd16(const uint8_t* p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t cai_rd32(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline float cai_rdf32(const uint8_t* p) { float v; memcpy(&v, p, 4); return v; }
static inline int16_t cai_rdi16(const uint8_t* p) { int16_t v; memcpy(&v, p, 2); return v; }

/* IEEE half → float (exact). */
static inline float cai_f16_to_f32(uint16_t h)
{
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    float f;
    if (exp == 0) {
        f = (float)man * 5.9604644775390625e-8f; /* man · 2^-24, exact */
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
#endif
}

/* float → IEEE half, round to nearest even (as .NET's (Half) cast and ggml's FP16 conversion). */
static inline uint16_t cai_f32_to_f16(float f)
{
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* ≥ 65520 rounds to infinity */
    if (ax < 0x38800000u) {                                  /* below 2^-14: a subnormal half */
        float af;
        memcpy(&af, &ax, 4);
        return (uint16_t)(sign | (uint32_t)nearbyintf(af * 16777216.0f));
    }
    uint32_t h = (((ax >> 23) - 112u) << 10) | ((ax & 0x7FFFFFu) >> 13), rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
#endif
}

static inline float cai_rdf16(const uint8_t* p) { return cai_f16_to_f32(cai_rd16(p)); }

/* Q4_K/Q5_K: sub-block j's 6-bit scale and min from the 12 packed bytes. */
static inline void cai_scale_min_k4(int j, const uint8_t* q, int* sc, int* m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q3_K: scale g (−32..31) from the 12 packed bytes. */
static inline int cai_scale_q3_k(const uint8_t* s, int g)
{
    int low = g < 8 ? s[g] & 0xF : s[g - 8] >> 4;
    int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
    return (low | (high << 4)) - 32;
}

typedef float (*cai_dot_fn)(int n, const void* w, const void* a);

#define CAI_DECLARE_DOT(name)                                                 \
    CAI_HIDDEN float name##_scalar(int n, const void* w, const void* a);      \
    CAI_HIDDEN float name##_avx2(int n, const void* w, const void* a);        \
    CAI_HIDDEN float name##_vnni(int n, const void* w, const void* a);

CAI_DECLARE_DOT(cai_q4_0)
CAI_DECLARE_DOT(cai_q4_1)
CAI_DECLARE_DOT(cai_q5_0)
CAI_DECLARE_DOT(cai_q5_1)
CAI_DECLARE_DOT(cai_q8_0)
CAI_DECLARE_DOT(cai_q2_k)
CAI_DECLARE_DOT(cai_q3_k)
CAI_DECLARE_DOT(cai_q4_k)
CAI_DECLARE_DOT(cai_q5_k)
CAI_DECLARE_DOT(cai_q6_k)

/* y[k] = dot(w, a + k·stride) for four activation rows (batched matmuls); x86 only. */
typedef void (*cai_dot_x4_fn)(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q4_1_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q4_1_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q5_1_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q5_1_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q2_k_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q2_k_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q3_k_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q3_k_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q4_k_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q4_k_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q5_k_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q5_k_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q6_k_x4_avx2(int n, const void* w, const void* a, size_t stride, float* y);
CAI_HIDDEN void cai_q6_k_x4_vnni(int n, const void* w, const void* a, size_t stride, float* y);

/* Q4_K×8 against `na` Q8_K activation rows: y[i·y_stride + r] for the group's rows r < 8 and i < na. */
typedef void (*cai_x8_fn)(int n, const void* w, const void* a, size_t act_row_bytes, int na, float* y, size_t y_stride);
CAI_HIDDEN void cai_q4_k_x8_scalar(int n, const void* w, const void* a, size_t act_row_bytes, int na, float* y, size_t y_stride);
CAI_HIDDEN void cai_q4_k_x8_avx2(int n, const void* w, const void* a, size_t act_row_bytes, int na, float* y, size_t y_stride);
CAI_HIDDEN void cai_q4_k_x8_vnni(int n, const void* w, const void* a, size_t act_row_bytes, int na, float* y, size_t y_stride);

/*
 * Register tiles of the signed 32-block formats (Q4_0, Q5_0, Q8_0 against Q8_0), x86 only: for weight rows i < rm and
 * activation rows j < rn (1 ≤ rm, rn ≤ 4), y[j·y_stride + i] = dot(w + i·row_bytes, a + j·act_row_bytes).
 */
typedef void (*cai_tile_fn)(int n, const void* w, size_t row_bytes, const void* a, size_t act_row_bytes, float* y,
                            size_t y_stride, int rm, int rn);
#define CAI_DECLARE_TILE(name)                                                                                          \
    CAI_HIDDEN void name##_avx2(int n, const void* w, size_t row_bytes, const void* a, size_t act_row_bytes, float* y, \
                                size_t y_stride, int rm, int rn);                                                     \
    CAI_HIDDEN void name##_vnni(int n, const void* w, size_t row_bytes, const void* a, size_t act_row_bytes, float* y, \
                                size_t y_stride, int rm, int rn);
CAI_DECLARE_TILE(cai_q4_0_tile)
CAI_DECLARE_TILE(cai_q5_0_tile)
CAI_DECLARE_TILE(cai_q8_0_tile)

#endif
