#!/usr/bin/env bash
# make-llama-quantize-goldens.sh — writes ../llama-quantize-synthetic.json: SHA-256 of llama-quantize's output for the
# synthetic model of tests/CompactAI.Tests/Tensors/LlamaQuantizeParityTests.cs, for every preset, with and without --pure.
# Needs a llama.cpp build made by scripts/build-llama-cpp.sh (LLAMA_CPP_DIR, default ~/.cache/compactai/llama.cpp).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
L="${LLAMA_CPP_DIR:-$HOME/.cache/compactai/llama.cpp}"
Q="$L/build/bin/llama-quantize"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The model hash check fails until the JSON has the new hash; the export happens first either way.
dotnet build "$repo/tests/CompactAI.Tests" > /dev/null
COMPACTAI_EXPORT_SYNTHETIC_MODEL="$work/model.gguf" dotnet test "$repo/tests/CompactAI.Tests" --no-build \
  --filter "FullyQualifiedName~LlamaQuantizeParityTests.SyntheticModel_IsTheOneTheGoldensWereMadeFrom" > /dev/null || true
test -s "$work/model.gguf"

commit="$(git -C "$L" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "{"
  echo "  \"generator\": \"make-llama-quantize-goldens.sh: llama-quantize (llama.cpp $commit) on SyntheticModel, sha256 of the whole output file\","
  echo "  \"model_sha256\": \"$(sha256sum "$work/model.gguf" | cut -d' ' -f1)\","
  echo "  \"outputs\": {"
  presets=(F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_M Q4_K_S Q5_K_M Q5_K_S Q6_K)
  for i in "${!presets[@]}"; do
    p="${presets[$i]}"
    "$Q" --pure "$work/model.gguf" "$work/$p-pure.gguf" "$p" > /dev/null 2>&1
    "$Q" "$work/model.gguf" "$work/$p-mix.gguf" "$p" > /dev/null 2>&1
    sep=$([ "$i" -lt $((${#presets[@]} - 1)) ] && echo "," || echo "")
    echo "    \"$p\": { \"pure\": \"$(sha256sum "$work/$p-pure.gguf" | cut -d' ' -f1)\", \"mix\": \"$(sha256sum "$work/$p-mix.gguf" | cut -d' ' -f1)\" }$sep"
  done
  echo "  }"
  echo "}"
} > "$here/../llama-quantize-synthetic.json"
echo "wrote $here/../llama-quantize-synthetic.json"
