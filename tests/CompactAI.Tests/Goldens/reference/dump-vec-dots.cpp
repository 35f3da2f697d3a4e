// dump-vec-dots.cpp — writes ../vec-dots.json: ggml's CPU vec_dot (the kernel llama.cpp's matmuls use) for each weight type
// on fixed integer-generated rows of 4096 values: weights quantized by ggml_quantize_chunk (reference quantizer), activations by
// the CPU backend's from_float into the type's vec_dot_type. Our own code calling ggml's public API; build as
// dump-quant-blocks.cpp:
//
//   L=${LLAMA_CPP_DIR:-$HOME/.cache/compactai/llama.cpp}
//   g++ -O2 -std=c++17 dump-vec-dots.cpp -I$L/ggml/include -L$L/build/bin -lggml-base -lggml-cpu -Wl,-rpath,$L/build/bin -o /tmp/dump-vec-dots
//   /tmp/dump-vec-dots > ../vec-dots.json
//
// The inputs use only integer arithmetic and exact float scaling, so tests rebuild them bit for bit (VecDotGoldenTests.cs).
#include "ggml.h"
#include "ggml-cpu.h"
#include <cstdio>
#include <cstdint>
#include <vector>
#include <cmath>
int main() {
    ggml_cpu_init();
    const int N = 4096;
    std::vector<float> w(N), x(N);
    uint32_t st = 0x9e3779b9u;
    auto next = [&]() { st ^= st << 13; st ^= st >> 17; st ^= st << 5; return (int)(st & 0xFFFF) - 32768; };
    for (int i = 0; i < N; i++) { w[i] = next() * (1.0f / 32768.0f) * ((i % 97) == 3 ? 6.0f : 1.0f); x[i] = next() * (1.0f / 8192.0f); }
    ggml_type types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    printf("{\n  \"generator\": \"dump-vec-dots.cpp against ggml %s (commit %s)\",\n  \"n\": %d,\n  \"dots\": [\n", ggml_version(), ggml_commit(), N);
    for (int k = 0; k < 10; k++) {
        ggml_type t = types[k];
        const auto * cpu = ggml_get_type_traits_cpu(t);
        ggml_type vt = cpu->vec_dot_type;
        std::vector<uint8_t> qw(ggml_row_size(t, N)), qx(ggml_row_size(vt, N));
        ggml_quantize_chunk(t, w.data(), qw.data(), 0, 1, N, nullptr);
        ggml_get_type_traits_cpu(vt)->from_float(x.data(), qx.data(), N);
        float s = 0;
        cpu->vec_dot(N, &s, 0, qw.data(), 0, qx.data(), 0, 1);
        printf("    {\"type\": \"%s\", \"type_id\": %d, \"dot\": %.9g}%s\n", ggml_type_name(t), (int)t, (double)s, k < 9 ? "," : "");
    }
    printf("  ]\n}\n");
}
