#!/usr/bin/env bash
# Embedding throughput, sentences/s at batch 32 on 2 threads: all-MiniLM-L6-v2 Q8_0, CompactAI vs llama.cpp.
#   scripts/bench-embeddings.sh [LLAMA_BIN_DIR]     (default ~/.cache/compactai/llama.cpp/build/bin, see build-llama-cpp.sh)
# CompactAI: BenchmarkDotNet's EmbeddingThroughputSuite (short job). llama.cpp: llama-server --embeddings -t 2 on 127.0.0.1,
# -np 32 (one slot per sentence, so all 32 run in one batch), the same 32 sentences POSTed to /embedding in one request, 20 timed requests after 3 warm-up ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$HOME/.cache/compactai/llama.cpp/build/bin}"
model="$root/../shared/models/all-MiniLM-L6-v2-Q8_0.gguf"

echo "== CompactAI (BenchmarkDotNet, short job; mean is per sentence)"
dotnet run -c Release --project "$root/benchmarks/CompactAI.Benchmarks" -- --filter '*EmbeddingThroughputSuite*' --job short --inProcess 2>&1 \
  | grep -E '\| *(Method|EmbedBatch32) *\|' || true

echo "== llama.cpp (llama-server --embeddings -t 2)"
python3 - "$bin" "$model" <<'PY'
import json, subprocess, sys, time, urllib.request
bin_dir, model = sys.argv[1], sys.argv[2]
sentences = ["The cat sits outside.", "A man is playing guitar.", "The new movie is awesome!", "I love pasta with tomato sauce.",
    "How do I reset my password?", "Forgot my login credentials, how can I recover the account?",
    "The quarterly revenue grew by 12% compared to last year.", "Photosynthesis converts light energy into chemical energy in plants.",
    "Der Hund spielt im Garten mit einem Ball.", "Café au lait, crème brûlée et naïveté.", "東京は日本の首都です。",
    "Small specialized models run fast on a laptop CPU.", "Retrieval-augmented generation combines search with a language model.",
    "what is the capital of france", "Paris is the capital and most populous city of France.",
    "C# 12 introduced primary constructors; .NET 8 shipped them in November 2023."]
batch = [sentences[i % len(sentences)] for i in range(32)]
port = 18433
server = subprocess.Popen([f"{bin_dir}/llama-server", "-m", model, "--embeddings", "-t", "2", "-tb", "2", "-ub", "512", "-b", "512",
                           "-c", "16384", "-np", "32", "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2); break
        except Exception:
            time.sleep(0.25)
    body = json.dumps({"content": batch}).encode()
    def call():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/embedding", data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
    for _ in range(3): call()
    n = 20
    t = time.perf_counter()
    for _ in range(n): call()
    dt = time.perf_counter() - t
    print(f"llama.cpp: {n * len(batch) / dt:.1f} sentences/s ({dt / n * 1000:.1f} ms per batch of 32, HTTP included)")
finally:
    server.terminate(); server.wait()
PY
