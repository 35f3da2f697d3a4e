/*
 * compactai_cpu: CompactAI's native CPU kernels (C ABI).
 *
 * Block formats are GGUF's (see the managed TensorFormat classes for the layouts). Weight rows and activation rows are
 * whole numbers of blocks; `n` is the number of elements and must be a multiple of the block size (32 for the legacy
 * formats, 256 for the K-quants). Pointers need no alignment. Nothing here allocates, and every function is thread-safe
 * unless it says otherwise.
 *
 * Notation: a weight block holds integer levels q (and scales d, sub-block scales sc, mins m); an activation block holds
 * int8 levels a with scale d_a. Integer sums are exact (int32); only the per-block scale products are rounded in float,
 * so results equal the managed kernels' up to float summation order.
 */
#ifndef COMPACTAI_CPU_H
#define COMPACTAI_CPU_H

#include <stddef.h>

#if defined(_WIN32)
#  if defined(CAI_BUILDING)
#    define CAI_API __declspec(dllexport)
#  else
#    define CAI_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define CAI_API __attribute__((visibility("default")))
#else
#  define CAI_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version: bumped on any incompatible change. The managed loader refuses other versions. */
#define CAI_VERSION 3

/** Weight type ids accepted by cai_matmul_rows: GGUF's ggml type ids. */
enum cai_type {
    CAI_TYPE_Q4_0 = 2, CAI_TYPE_Q4_1 = 3, CAI_TYPE_Q5_0 = 6, CAI_TYPE_Q5_1 = 7, CAI_TYPE_Q8_0 = 8,
    CAI_TYPE_Q2_K = 10, CAI_TYPE_Q3_K = 11, CAI_TYPE_Q4_K = 12, CAI_TYPE_Q5_K = 13, CAI_TYPE_Q6_K = 14,
    /** Q4_K rows interleaved eight at a time by cai_repack_q4_k_x8 (not a GGUF type). */
    CAI_TYPE_Q4_K_X8 = 0x100 | 12
};

/** Instruction-set levels (cai_isa / cai_set_max_isa). */
enum cai_isa_level { CAI_ISA_SCALAR = 0, CAI_ISA_AVX2 = 1, CAI_ISA_AVX512_VNNI = 2 };

/** Returns CAI_VERSION. */
CAI_API int cai_version(void);

/** A static, space-separated list of the kernels compiled in and selected, e.g. "avx2 fma f16c avx512vnni". */
CAI_API const char* cai_features(void);

/** The instruction-set level in use (a cai_isa_level). */
CAI_API int cai_isa(void);

/**
 * Caps the instruction-set level used from now on at min(level, best supported) and returns the level in effect.
 * For tests and benchmarks that compare paths; not thread-safe with concurrent kernel calls.
 */
CAI_API int cai_set_max_isa(int level);

/* ---- Activation quantizers: byte-identical to ggml's reference quantizers (and to the managed ones). ---- */

/** Q8_0 (34 B per 32): d = max|x|/127 stored as f16 (round to nearest even), q = roundf(x·(1/d)) (halves away from 0). */
CAI_API void cai_quantize_row_q8_0(const float* x, void* y, int n);

/** Q8_1 (36 B per 32): d and q as Q8_0, then s = f16(d·Σq). Layout: f16 d, f16 s, 32 int8. */
CAI_API void cai_quantize_row_q8_1(const float* x, void* y, int n);

/**
 * Q8_K (292 B per 256): m = the element of largest magnitude (first on ties), iscale = −127/m,
 * q = min(127, round_half_even(iscale·x)), d = 1/iscale as f32, then 16 int16 sums of q over groups of 16.
 * Layout: f32 d, 256 int8, 16 int16. An all-zero block is all zero bytes.
 */
CAI_API void cai_quantize_row_q8_k(const float* x, void* y, int n);

/* ---- Row dot products: Σ_i w_i·x_i with w a weight row and x an activation row, both n elements. ---- */

/** Q4_0 × Q8_0: Σ_blocks d_w·d_a·Σ (q − 8)·a. */
CAI_API float cai_dot_q4_0_q8_0(int n, const void* w, const void* a);
/** Q4_1 × Q8_1: Σ_blocks d_w·d_a·Σ q·a + m_w·s_a. */
CAI_API float cai_dot_q4_1_q8_1(int n, const void* w, const void* a);
/** Q5_0 × Q8_0: Σ_blocks d_w·d_a·Σ (q − 16)·a, q = nibble | fifth bit << 4. */
CAI_API float cai_dot_q5_0_q8_0(int n, const void* w, const void* a);
/** Q5_1 × Q8_1: Σ_blocks d_w·d_a·Σ q·a + m_w·s_a. */
CAI_API float cai_dot_q5_1_q8_1(int n, const void* w, const void* a);
/** Q8_0 × Q8_0: Σ_blocks d_w·d_a·Σ q·a. */
CAI_API float cai_dot_q8_0_q8_0(int n, const void* w, const void* a);
/** Q2_K × Q8_K: Σ_blocks d_a·(d·Σ_g (sc_g & 15)·Σ_{i∈g} q·a − dmin·Σ_g (sc_g >> 4)·bsum_g), groups of 16. */
CAI_API float cai_dot_q2_k_q8_k(int n, const void* w, const void* a);
/** Q3_K × Q8_K: Σ_blocks d·d_a·Σ_g (sc_g − 32)·Σ_{i∈g} q·a with q ∈ [−4, 3], groups of 16. */
CAI_API float cai_dot_q3_k_q8_k(int n, const void* w, const void* a);
/** Q4_K × Q8_K: Σ_blocks d_a·(d·Σ_j sc_j·Σ_{i∈j} q·a − dmin·Σ_j m_j·(bsum_2j + bsum_2j+1)), sub-blocks of 32. */
CAI_API float cai_dot_q4_k_q8_k(int n, const void* w, const void* a);
/** Q5_K × Q8_K: as Q4_K with q ∈ [0, 31]. */
CAI_API float cai_dot_q5_k_q8_k(int n, const void* w, const void* a);
/** Q6_K × Q8_K: Σ_blocks d·d_a·Σ_g sc_g·(Σ_{i∈g} q·a − 32·bsum_g), q ∈ [0, 63], groups of 16. */
CAI_API float cai_dot_q6_k_q8_k(int n, const void* w, const void* a);

/**
 * The matrix entry: for r in [row_start, row_end) and b in [0, batch),
 *   y[b·y_stride + r] = dot(w + r·row_bytes, act + b·act_row_bytes, col)
 * with dot the cai_dot_* kernel of `wtype` (a cai_type) and act rows in its activation format (Q8_0 for Q4_0/Q5_0/Q8_0,
 * Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants). One call covers a thread's whole share of a matmul.
 * For CAI_TYPE_Q4_K_X8, w is the repacked matrix, row_bytes the Q4_K row size, and row_start and row_end must be
 * multiples of 8: each group of eight rows is computed at once, and equals the Q4_K row products up to float rounding.
 * Batches of four or more share each unpacked weight block across four activation rows (every type);
 * smaller ones of Q4_0 share each activation block across four weight rows. Whatever the path, every y equals the
 * cai_dot_* result bit for bit, so results do not depend on the batch or the row range.
 * Returns 0, or −1 (writing nothing) when wtype is not supported or col is not a whole number of blocks.
 */
CAI_API int cai_matmul_rows(int wtype, const void* w, size_t row_bytes, int col, int row_start, int row_end,
                            const void* act, size_t act_row_bytes, int batch, float* y, int y_stride);

/**
 * Interleaves Q4_K rows eight at a time for the CAI_TYPE_Q4_K_X8 kernels: `rows` (a multiple of 8) rows of `col` elements
 * (a multiple of 256), `row_bytes` apart in src, into dst (rows·col/256·144 bytes, the same size). Group g of eight rows
 * starts at dst + 8g·row_bytes; super-block b of a group holds the eight rows' blocks b: their d, their dmin, their packed
 * scales as three arrays of eight 32-bit words, then their level bytes in runs of eight (the layout is described in
 * repack_q4_k.c). Bytes are moved, not re-encoded, so products equal the Q4_K kernels' up to float summation order.
 */
CAI_API void cai_repack_q4_k_x8(const void* src, size_t row_bytes, int rows, int col, void* dst);

/**
 * One query row of causal attention over one KV head, as llama.cpp's CPU flash attention computes it with an F16 cache:
 * for t in [first, len), s_t = (q·k_t)·scale (then softcap·tanh(s_t) when softcap > 0); an online softmax keeps the
 * running Σ e^(s_t − max)·v_t in half precision, rounded after every update, and out = that sum / Σ e^(s_t − max).
 * q (head_dim floats) is already scaled and rounded to half as the caller wants; keys are [len × head_dim], values
 * [len × value_dim]; acc is value_dim floats of scratch.
 */
CAI_API void cai_attend_f16acc(const float* q, const float* keys, const float* values, int head_dim, int value_dim,
                               int first, int len, float scale, float softcap, float* acc, float* out);

#ifdef __cplusplus
}
#endif

#endif /* COMPACTAI_CPU_H */
