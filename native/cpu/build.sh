#!/usr/bin/env bash
# Configures and builds libcompactai_cpu (Release) into native/cpu/build/. Idempotent: reruns only what changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$here/build" --config Release -j "${CAI_BUILD_JOBS:-2}"
