#!/usr/bin/env bash
# The checks of the CUDA backend that need a GPU (docs/cuda.md, "What remains"). Run from the repository root on a machine with an
# NVIDIA driver; it needs the .NET 10 SDK only for the test step (skip it with --no-tests) and publishes a self-contained CLI.
#
#   scripts/cuda-check.sh [--no-tests] [--shared DIR] [--out DIR]
#
# 1. dotnet publish of the CLI, self-contained, linux-x64 (runs without a .NET install: copy $OUT/cli to another machine).
# 2. compactai inspect --devices (fails the script when no device is usable, printing the reason).
# 3. The CUDA tests, including the [CudaFact] ones that skip without a device.
# 4. For stories260K and synthetic SmolLM2-135M, Qwen2.5-0.5B and Llama-3.2-1B shapes (Q8_0, Q4_K_M; written by compactai synth):
#    greedy tokens on --backend cuda must equal --backend cpu, also with half the blocks offloaded (--gpu-layers); then
#    compactai bench on both backends. Results go to $OUT/results.txt; the script exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=1
shared=${COMPACTAI_SHARED:-../shared}
out=artifacts/cuda-check
while [ $# -gt 0 ]; do
  case "$1" in
    --no-tests) tests=0 ;;
    --shared) shared=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: scripts/cuda-check.sh [--no-tests] [--shared DIR] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out/models"
results="$out/results.txt"
: > "$results"
log() { echo "$*" | tee -a "$results"; }

log "== publish (self-contained, linux-x64)"
dotnet publish src/CompactAI.Cli -c Release -r linux-x64 --self-contained true -o "$out/cli" -nologo -v q
cli="$out/cli/CompactAI.Cli"

log "== devices"
"$cli" inspect --devices | tee -a "$results"
if "$cli" inspect --devices | grep -q "none:"; then log "FAIL: no usable CUDA device"; exit 1; fi

if [ "$tests" = 1 ]; then
  log "== CUDA tests (the [CudaFact] ones run on the device)"
  COMPACTAI_SHARED="$shared" dotnet test tests/CompactAI.Tests -c Release --filter "FullyQualifiedName~Cuda" --logger "console;verbosity=normal" 2>&1 | tee -a "$results" | tail -n 5
  [ "${PIPESTATUS[0]}" = 0 ] || { log "FAIL: CUDA tests"; exit 1; }
fi

models=("$shared/models/stories260K.gguf")
vocab="$shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf"
for shape in smollm2-135m qwen2.5-0.5b llama3.2-1b; do
  for type in q8_0 q4_k_m; do
    file="$out/models/$shape-$type.gguf"
    [ -f "$file" ] || "$cli" synth --shape "$shape" --type "$type" --out "$file" --vocab "$vocab" >> "$results"
    models+=("$file")
  done
done

ids() { sed -n 's/.*"output_ids":\[\([0-9,]*\)\].*/\1/p' | tail -n 1; }
failed=0
for model in "${models[@]}"; do
  name=$(basename "$model")
  layers=$("$cli" inspect --model "$model" | sed -n 's/^layers: *\([0-9]*\),.*/\1/p')
  prompt="Once upon a time, there was a little"
  cpu=$("$cli" generate --model "$model" --prompt "$prompt" --max-tokens 32 --temperature 0 --backend cpu --ctx 256 --json | ids)
  for gpu_layers in "$layers" $((layers / 2)); do
    gpu=$("$cli" generate --model "$model" --prompt "$prompt" --max-tokens 32 --temperature 0 --backend cuda --gpu-layers "$gpu_layers" --ctx 256 --json | ids)
    if [ "$cpu" = "$gpu" ]; then log "OK   $name --gpu-layers $gpu_layers: greedy tokens equal the CPU's"
    else log "FAIL $name --gpu-layers $gpu_layers: cpu [$cpu] cuda [$gpu]"; failed=1; fi
  done
  for backend in cpu cuda; do
    log "-- bench $name --backend $backend"
    "$cli" bench --model "$model" --backend "$backend" --prompt-tokens 128 --gen-tokens 64 --repetitions 3 | tee -a "$results"
  done
done
log "results in $results"
exit "$failed"
