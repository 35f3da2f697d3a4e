// dump-quant-blocks.cpp — writes ../quant-blocks.json: llama.cpp/ggml quantization of a fixed input
// for each block format, as raw block bytes (hex) and the dequantized floats. This is our own code; it
// only calls ggml's public API (ggml.h, ggml-cpu.h) and is built against a llama.cpp build made by
// scripts/build-llama-cpp.sh (which lives outside the repository):
//
//   L=${LLAMA_CPP_DIR:-$HOME/.cache/compactai/llama.cpp}
//   g++ -O2 -std=c++17 dump-quant-blocks.cpp -I$L/ggml/include -L$L/build/bin -lggml-base -lggml-cpu -Wl,-rpath,$L/build/bin -o /tmp/compactai-ref/dump-quant-blocks
//   /tmp/compactai-ref/dump-quant-blocks > ../quant-blocks.json
//
// Input: x[i] = sinf(i*0.37f) * (1 + (i%7)) * 0.5f, i = 0..511 (float32, computed with sinf).
// Weights: ggml_quantize_chunk(type, x, dst, 0, nrows=1, n_per_row=512, imatrix=NULL). Without an
// imatrix every type here goes to ggml's reference quantizer (quantize_row_*_ref); the dump checks that
// the bytes equal the type traits' from_float_ref. Dequantized values use the type traits' to_float.
// Activations: the CPU backend's from_float (SIMD, as used to quantize activations for matmul:
// Q8_0 for Q4_0/Q5_x/Q8_0 weights, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants) is dumped separately,
// because its rounding can differ from the reference path.

#include "ggml.h"
#include "ggml-cpu.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static const int N = 512;

// Exported by libggml-base (declared in ggml's internal ggml-quants.h); the Q8_K / Q8_1 type traits
// leave from_float_ref / to_float empty, so these are called directly.
extern "C" {
void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);
void dequantize_row_q8_K(const void * x, float * y, int64_t k);
}

static float fp16_to_f32(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return ggml_fp16_to_fp32(h);
}

// Q8_1 block: f16 d, f16 s (= d * sum(q)), int8 q[32]; value = d * q.
static void dequantize_q8_1(const void * src, float * y, int64_t k) {
    const uint8_t * b = (const uint8_t *) src;
    for (int64_t i = 0; i < k / 32; i++, b += 36) {
        const float d = fp16_to_f32(b);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = d * (float) (int8_t) b[4 + j];
    }
}

static std::string hex(const std::vector<uint8_t> & b) {
    static const char * d = "0123456789abcdef";
    std::string s;
    s.reserve(b.size() * 2);
    for (uint8_t v : b) { s += d[v >> 4]; s += d[v & 15]; }
    return s;
}

static void print_floats(const float * f, int n) {
    printf("[");
    for (int i = 0; i < n; i++) printf(i ? ", %.9g" : "%.9g", (double) f[i]);
    printf("]");
}

int main() {
    ggml_cpu_init();

    std::vector<float> x(N);
    for (int i = 0; i < N; i++) x[i] = sinf(i * 0.37f) * (1 + (i % 7)) * 0.5f;

    const ggml_type weight_types[] = {
        GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
        GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
    };
    const ggml_type act_types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q8_K };

    printf("{\n  \"generator\": \"dump-quant-blocks.cpp against ggml %s (commit %s)\",\n", ggml_version(), ggml_commit());
    printf("  \"input_formula\": \"sin(i*0.37)*(1+(i%%7))*0.5, i=0..511, float32\",\n  \"input_note\": \"computed in C as sinf(i*0.37f)*(1+(i%%7))*0.5f with glibc sinf; use the exact float32 values in input (%%.9g round-trips), a different sin may differ in the last bit\",\n");
    printf("  \"input\": ");
    print_floats(x.data(), N);
    printf(",\n  \"notes\": \"types: ggml_quantize_chunk with imatrix=NULL (reference path quantize_row_*_ref; "
           "same_as_from_float_ref confirms), dequantized with type traits to_float. activation_types: the CPU "
           "backend's from_float (native SIMD build) used to quantize matmul activations; Q8_K's to_float is the "
           "plain d*q product (bsums are not part of it).\",\n");

    for (int pass = 0; pass < 2; pass++) {
        const bool act = pass == 1;
        const ggml_type * types = act ? act_types : weight_types;
        const int n_types = act ? (int) (sizeof(act_types) / sizeof(act_types[0]))
                                : (int) (sizeof(weight_types) / sizeof(weight_types[0]));
        printf("  \"%s\": [\n", act ? "activation_types" : "types");
        for (int k = 0; k < n_types; k++) {
            const ggml_type t = types[k];
            const auto * tr = ggml_get_type_traits(t);
            const size_t row = ggml_row_size(t, N);
            std::vector<uint8_t> q(row, 0);
            bool same_as_ref = true;
            if (!act) {
                ggml_quantize_init(t);
                const size_t written = ggml_quantize_chunk(t, x.data(), q.data(), 0, 1, N, nullptr);
                if (written != row) { fprintf(stderr, "size mismatch for %s\n", tr->type_name); return 1; }
                std::vector<uint8_t> r(row, 0);
                tr->from_float_ref(x.data(), r.data(), N);
                same_as_ref = r == q;
            } else {
                const auto * cpu = ggml_get_type_traits_cpu(t);
                cpu->from_float(x.data(), q.data(), N);
                std::vector<uint8_t> r(row, 0);
                if (tr->from_float_ref) tr->from_float_ref(x.data(), r.data(), N);
                else quantize_row_q8_K_ref(x.data(), r.data(), N);
                same_as_ref = r == q;
            }
            std::vector<float> y(N, 0.0f);
            if (tr->to_float) tr->to_float(q.data(), y.data(), N);
            else if (t == GGML_TYPE_Q8_K) dequantize_row_q8_K(q.data(), y.data(), N);
            else dequantize_q8_1(q.data(), y.data(), N);
            double sq = 0;
            for (int i = 0; i < N; i++) sq += (double) (y[i] - x[i]) * (y[i] - x[i]);

            std::string name = tr->type_name;
            for (char & c : name) c = (char) toupper((unsigned char) c);
            printf("    {\"type\": \"%s\", \"type_id\": %d, \"block_size\": %lld, \"block_bytes\": %zu, \"row_bytes\": %zu, "
                   "\"same_as_from_float_ref\": %s, \"rmse\": %.6g,\n",
                   name.c_str(), (int) t, (long long) tr->blck_size, tr->type_size, row,
                   same_as_ref ? "true" : "false", std::sqrt(sq / N));
            printf("     \"block_bytes_hex\": \"%s\",\n", hex(q).c_str());
            printf("     \"dequantized\": ");
            print_floats(y.data(), N);
            printf("}%s\n", k + 1 < n_types ? "," : "");
        }
        printf("  ]%s\n", act ? "" : ",");
    }
    printf("}\n");
    return 0;
}
