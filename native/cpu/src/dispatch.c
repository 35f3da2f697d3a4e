/*
 * Version, feature report, instruction-set selection and the matrix entry. The best kernels the CPU supports are chosen
 * once (on first use); cai_set_max_isa lets tests and benchmarks cap the choice to compare paths.
 */
#include "cai_internal.h"

/* Detected level and level in use, −1 until first use. Relaxed atomics: racing first calls store the same values. */
#if !defined(__STDC_NO_ATOMICS__)
#  include <stdatomic.h>
static atomic_int g_best_isa = -1, g_isa = -1;
#  define CAI_LOAD(v) atomic_load_explicit(&(v), memory_order_relaxed)
#  define CAI_STORE(v, x) atomic_store_explicit(&(v), (x), memory_order_relaxed)
#else
static volatile int g_best_isa = -1, g_isa = -1; /* compilers without C11 atomics (MSVC): aligned int stores are atomic */
#  define CAI_LOAD(v) (v)
#  define CAI_STORE(v, x) ((v) = (x))
#endif

static int detect_isa(void)
{
#if CAI_X86 && defined(__AVX2__)
#  if CAI_HAVE_VNNI_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni"))
        return CAI_ISA_AVX512_VNNI;
#  endif
    return CAI_ISA_AVX2;
#else
    return CAI_ISA_SCALAR;
#endif
}

static int current_isa(void)
{
    int isa = CAI_LOAD(g_isa);
    if (isa < 0) {
        isa = detect_isa();
        CAI_STORE(g_best_isa, isa);
        CAI_STORE(g_isa, isa);
    }
    return isa;
}

int cai_version(void) { return CAI_VERSION; }

int cai_isa(void) { return current_isa(); }

int cai_set_max_isa(int level)
{
    current_isa();
    int best = CAI_LOAD(g_best_isa);
    int isa = level < 0 ? 0 : level < best ? level : best;
    CAI_STORE(g_isa, isa);
    return isa;
}

const char* cai_features(void)
{
    switch (current_isa()) {
    case CAI_ISA_AVX512_VNNI: return "avx2 fma f16c avx512vnni";
    case CAI_ISA_AVX2: return "avx2 fma f16c";
    default: return "scalar";
    }
}

#if CAI_X86 && defined(__AVX2__)
#  if CAI_HAVE_VNNI_KERNELS
#    define CAI_PICK(name) \
        (isa >= CAI_ISA_AVX512_VNNI ? name##_vnni : isa >= CAI_ISA_AVX2 ? name##_avx2 : name##_scalar)
#  else
#    define CAI_PICK(name) (isa >= CAI_ISA_AVX2 ? name##_avx2 : name##_scalar)
#  endif
#else
#  define CAI_PICK(name) name##_scalar
#endif

/* The dot kernel of weight type `type` at level `isa`, with its block size; NULL when unsupported. */
static cai_dot_fn pick(int type, int isa, int* block)
{
    (void)isa;
    *block = QK;
    switch (type) {
    case CAI_TYPE_Q4_0: return CAI_PICK(cai_q4_0);
    case CAI_TYPE_Q4_1: return CAI_PICK(cai_q4_1);
    case CAI_TYPE_Q5_0: return CAI_PICK(cai_q5_0);
    case CAI_TYPE_Q5_1: return CAI_PICK(cai_q5_1);
    case CAI_TYPE_Q8_0: return CAI_PICK(cai_q8_0);
    default: break;
    }
    *block = QK_K;
    switch (type) {
    case CAI_TYPE_Q2_K: return CAI_PICK(cai_q2_k);
    case CAI_TYPE_Q3_K: return CAI_PICK(cai_q3_k);
    case CAI_TYPE_Q4_K: return CAI_PICK(cai_q4_k);
    case CAI_TYPE_Q5_K: return CAI_PICK(cai_q5_k);
    case CAI_TYPE_Q6_K: return CAI_PICK(cai_q6_k);
    default: return NULL;
    }
}

#define CAI_DOT_ENTRY(wt, at, type)                                   \
    float cai_dot_##wt##_##at(int n, const void* w, const void* a)    \
    {                                                                 \
        int block;                                                    \
        return pick(type, current_isa(), &block)(n, w, a);            \
    }

CAI_DOT_ENTRY(q4_0, q8_0, CAI_TYPE_Q4_0)
CAI_DOT_ENTRY(q4_1, q8_1, CAI_TYPE_Q4_1)
CAI_DOT_ENTRY(q5_0, q8_0, CAI_TYPE_Q5_0)
CAI_DOT_ENTRY(q5_1, q8_1, CAI_TYPE_Q5_1)
CAI_DOT_ENTRY(q8_0, q8_0, CAI_TYPE_Q8_0)
CAI_DOT_ENTRY(q2_k, q8_k, CAI_TYPE_Q2_K)
CAI_DOT_ENTRY(q3_k, q8_k, CAI_TYPE_Q3_K)
CAI_DOT_ENTRY(q4_k, q8_k, CAI_TYPE_Q4_K)
CAI_DOT_ENTRY(q5_k, q8_k, CAI_TYPE_Q5_K)
CAI_DOT_ENTRY(q6_k, q8_k, CAI_TYPE_Q6_K)

/* The four-activation-row kernel of `type` at level `isa`, or NULL. */
static cai_dot_x4_fn pick_x4(int type, int isa)
{
    (void)type;
    (void)isa;
#if CAI_X86 && defined(__AVX2__)
    if (isa >= CAI_ISA_AVX2) {
        switch (type) {
#  if CAI_HAVE_VNNI_KERNELS
        case CAI_TYPE_Q4_1: return isa >= CAI_ISA_AVX512_VNNI ? cai_q4_1_x4_vnni : cai_q4_1_x4_avx2;
        case CAI_TYPE_Q5_1: return isa >= CAI_ISA_AVX512_VNNI ? cai_q5_1_x4_vnni : cai_q5_1_x4_avx2;
        case CAI_TYPE_Q2_K: return isa >= CAI_ISA_AVX512_VNNI ? cai_q2_k_x4_vnni : cai_q2_k_x4_avx2;
        case CAI_TYPE_Q3_K: return isa >= CAI_ISA_AVX512_VNNI ? cai_q3_k_x4_vnni : cai_q3_k_x4_avx2;
        case CAI_TYPE_Q4_K: return isa >= CAI_ISA_AVX512_VNNI ? cai_q4_k_x4_vnni : cai_q4_k_x4_avx2;
        case CAI_TYPE_Q5_K: return isa >= CAI_ISA_AVX512_VNNI ? cai_q5_k_x4_vnni : cai_q5_k_x4_avx2;
        case CAI_TYPE_Q6_K: return isa >= CAI_ISA_AVX512_VNNI ? cai_q6_k_x4_vnni : cai_q6_k_x4_avx2;
#  else
        case CAI_TYPE_Q4_1: return cai_q4_1_x4_avx2;
        case CAI_TYPE_Q5_1: return cai_q5_1_x4_avx2;
        case CAI_TYPE_Q2_K: return cai_q2_k_x4_avx2;
        case CAI_TYPE_Q3_K: return cai_q3_k_x4_avx2;
        case CAI_TYPE_Q4_K: return cai_q4_k_x4_avx2;
        case CAI_TYPE_Q5_K: return cai_q5_k_x4_avx2;
        case CAI_TYPE_Q6_K: return cai_q6_k_x4_avx2;
#  endif
        default: break;
        }
    }
#endif
    return NULL;
}

/* The register-tile kernel of `type` at level `isa`, or NULL. */
static cai_tile_fn pick_tile(int type, int isa)
{
    (void)type;
    (void)isa;
#if CAI_X86 && defined(__AVX2__)
    if (isa >= CAI_ISA_AVX2) {
#  if CAI_HAVE_VNNI_KERNELS
#    define CAI_TILE_PICK(name) (isa >= CAI_ISA_AVX512_VNNI ? name##_vnni : name##_avx2)
#  else
#    define CAI_TILE_PICK(name) name##_avx2
#  endif
        switch (type) {
        case CAI_TYPE_Q4_0: return CAI_TILE_PICK(cai_q4_0_tile);
        case CAI_TYPE_Q5_0: return CAI_TILE_PICK(cai_q5_0_tile);
        case CAI_TYPE_Q8_0: return CAI_TILE_PICK(cai_q8_0_tile);
        default: break;
        }
#  undef CAI_TILE_PICK
    }
#endif
    return NULL;
}

/* Groups of eight interleaved Q4_K rows; each group meets every activation row while it is in L1. */
static int matmul_q4_k_x8(int isa, const void* w, size_t row_bytes, int col, int row_start, int row_end, const void* act,
                          size_t act_row_bytes, int batch, float* y, int y_stride)
{
    if (col <= 0 || col % QK_K != 0 || row_start % 8 != 0 || row_end % 8 != 0 || row_start > row_end) return -1;
    cai_x8_fn kernel = cai_q4_k_x8_scalar;
#if CAI_X86 && defined(__AVX2__)
    if (isa >= CAI_ISA_AVX2) kernel = cai_q4_k_x8_avx2;
#  if CAI_HAVE_VNNI_KERNELS
    if (isa >= CAI_ISA_AVX512_VNNI) kernel = cai_q4_k_x8_vnni;
#  endif
#endif
    (void)isa;
    for (int r = row_start; r < row_end; r += 8)
        kernel(col, (const uint8_t*)w + (size_t)r * row_bytes, act, act_row_bytes, batch, y + r, (size_t)y_stride);
    return 0;
}

int cai_matmul_rows(int wtype, const void* w, size_t row_bytes, int col, int row_start, int row_end, const void* act,
                    size_t act_row_bytes, int batch, float* y, int y_stride)
{
    int block, isa = current_isa();
    if (wtype == CAI_TYPE_Q4_K_X8) return matmul_q4_k_x8(isa, w, row_bytes, col, row_start, row_end, act, act_row_bytes, batch, y, y_stride);
    cai_dot_fn dot = pick(wtype, isa, &block);
    if (dot == NULL || col < 0 || col % block != 0) return -1;
    const uint8_t *pw = w, *pa = act;
    cai_tile_fn tile = pick_tile(wtype, isa);
    if (tile != NULL) {
        /*
         * Tiles of up to 4 weight rows × 4 activation rows, 2 × 4 on AVX2 (16 vector registers). A weight tile stays in
         * L1 while every activation tile passes it; every shape gives the single-row result (cai_dot_*) bit for bit. Below
         * four activation rows the tiles are 1 × 1 and the weights stream from memory one row at a time: interleaving the blocks of
         * several rows measured 3× slower from DRAM (22 → 7 GB/s on one core), which defeats the hardware prefetchers.
         */
        int max_rm = batch < 4 ? 1 : isa >= CAI_ISA_AVX512_VNNI ? 4 : 2, max_rn = batch < 4 ? 1 : 4;
        for (int r = row_start; r < row_end; r += max_rm) {
            int rm = row_end - r < max_rm ? row_end - r : max_rm;
            for (int b = 0; b < batch; b += max_rn) {
                int rn = batch - b < max_rn ? batch - b : max_rn;
                tile(col, pw + (size_t)r * row_bytes, row_bytes, pa + (size_t)b * act_row_bytes, act_row_bytes,
                     y + (size_t)b * (size_t)y_stride + (size_t)r, (size_t)y_stride, rm, rn);
            }
        }
        return 0;
    }
    cai_dot_x4_fn dot4 = batch >= 4 ? pick_x4(wtype, isa) : NULL;
    for (int r = row_start; r < row_end; r++) {
        const uint8_t* row = pw + (size_t)r * row_bytes;
        /* The weight row stays in L1 across the batch: weights are the large operand. */
        int b = 0;
        if (dot4 != NULL) {
            for (; b + 4 <= batch; b += 4) {
                float out[4];
                dot4(col, row, pa + (size_t)b * act_row_bytes, act_row_bytes, out);
                for (int k = 0; k < 4; k++) y[(size_t)(b + k) * (size_t)y_stride + (size_t)r] = out[k];
            }
        }
        for (; b < batch; b++) y[(size_t)b * (size_t)y_stride + (size_t)r] = dot(col, row, pa + (size_t)b * act_row_bytes);
    }
    return 0;
}
