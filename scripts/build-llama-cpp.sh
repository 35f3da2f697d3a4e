#!/usr/bin/env bash
# Builds llama.cpp's reference tools (CPU only) OUTSIDE the repository, from the llama.cpp
# source bundle that ships inside the node-llama-cpp npm package (no internet access needed
# beyond the npm registry). llama.cpp code is never copied into or committed to this repo.
#
# Usage:  scripts/build-llama-cpp.sh            # prints the bin dir on success
# Env:    LLAMA_CPP_DIR   source/build dir (default: $HOME/.cache/compactai/llama.cpp)
#         NLC_VERSION     node-llama-cpp version that provides the bundle (default 3.22.1)
#         JOBS            parallel build jobs (default 2)
set -euo pipefail

NLC_VERSION="${NLC_VERSION:-3.22.1}"
LLAMA_CPP_DIR="${LLAMA_CPP_DIR:-$HOME/.cache/compactai/llama.cpp}"
JOBS="${JOBS:-2}"
TARGETS=(llama-bench llama-quantize llama-cli llama-server llama-tokenize llama-completion llama-embedding)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$LLAMA_CPP_DIR/build"
bin_dir="$build_dir/bin"

all_built() {
  for t in llama-bench llama-quantize; do [[ -x "$bin_dir/$t" ]] || return 1; done
  [[ -f "$build_dir/.compactai-build-done" ]]
}

if all_built; then
  echo "$bin_dir"
  exit 0
fi

# 1. Locate gitRelease.bundle: prefer the goldens' reference install, else install into a cache dir.
bundle=""
for cand in \
  "$repo_root/tests/CompactAI.Tests/Goldens/reference/node_modules/node-llama-cpp/llama/gitRelease.bundle" \
  "$HOME/.cache/compactai/nlc-$NLC_VERSION/node_modules/node-llama-cpp/llama/gitRelease.bundle"; do
  if [[ -f "$cand" ]]; then bundle="$cand"; break; fi
done
if [[ -z "$bundle" ]]; then
  cache="$HOME/.cache/compactai/nlc-$NLC_VERSION"
  mkdir -p "$cache"
  ( cd "$cache" && [[ -f package.json ]] || echo '{"private":true}' > package.json
    cd "$cache" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --ignore-scripts \
      "node-llama-cpp@$NLC_VERSION" >&2 )
  bundle="$cache/node_modules/node-llama-cpp/llama/gitRelease.bundle"
fi
echo "using bundle: $bundle" >&2

# 2. Clone the bundle (once).
if [[ ! -d "$LLAMA_CPP_DIR/.git" ]]; then
  mkdir -p "$(dirname "$LLAMA_CPP_DIR")"
  git clone --quiet "$bundle" "$LLAMA_CPP_DIR"
fi
echo "llama.cpp commit: $(git -C "$LLAMA_CPP_DIR" rev-parse HEAD)" >&2

# 3. Configure (Release, CPU only, native, no CURL, no tests/examples beyond the tools).
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$LLAMA_CPP_DIR" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=ON \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON >&2
fi

# 4. Build whichever of the wanted targets exist in this llama.cpp version.
available="$(cmake --build "$build_dir" --target help 2>/dev/null || true)"
want=()
for t in "${TARGETS[@]}"; do
  if grep -qE "(^|[ .])$t(:|$| )" <<<"$available"; then want+=("$t"); else echo "target $t not available, skipped" >&2; fi
done
cmake --build "$build_dir" --config Release -j"$JOBS" --target "${want[@]}" >&2
touch "$build_dir/.compactai-build-done"

echo "$bin_dir"
