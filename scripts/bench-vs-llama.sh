#!/usr/bin/env bash
# Speed of CompactAI against llama.cpp's llama-bench and against LLamaSharp 0.30.0 (llama.cpp in .NET, the peer a .NET
# developer would pick; benchmarks/LLamaSharpBench) on the same GGUF files, same machine, same thread count:
# pp = prompt tokens/s processed in one batch, tg = exactly N single-token decodes (no sampling), all three with
# llama-bench's definitions; load = model load to a ready context (LLamaSharp and CompactAI). Runs are interleaved per
# model (llama.cpp, LLamaSharp, CompactAI, llama.cpp, ...) so that machine drift hits all alike. Also reports CompactAI's peak RSS against file + KV cache + 100 MB, and the decode ceiling
# (memory bandwidth / bytes read per token, taken as the file size).
#
# Usage:  scripts/bench-vs-llama.sh [--quick] [--reps N] [--rounds N] [--models LIST] [--threads N]
#                                   [--pp N] [--tg N] [--bandwidth GBS]
#   --models LIST   comma-separated: stories260K, smollm2-135m, qwen2.5-0.5b, llama3.2-1b (default: all four),
#                   or paths to .gguf files
#   --reps N        repetitions inside each tool run (llama-bench -r, compactai bench --repetitions; default 5)
#   --rounds N      interleaved llama.cpp/CompactAI rounds per model, averaged (default 2)
#   --threads N     threads for both (default 2)
#   --pp N / --tg N prompt and generation lengths (default 128 / 64)
#   --bandwidth G   memory bandwidth in GB/s for the decode ceiling (default ${COMPACTAI_MEM_GBS:-60})
#   --quick         smoke run: stories260K and smollm2-135m, 1 rep, 1 round
#   --parallel LIST concurrent users instead of llama-bench, e.g. 1,2,4,8: per N, llama-server -np N (127.0.0.1 only,
#                   continuous batching) serves N requests of --tg tokens after distinct --pp-token prompts, then
#                   compactai bench --parallel N does the same on one loaded model; aggregate generated tokens/s over
#                   the wall time and p50/p95 request latency, both with --threads threads
# Env:    COMPACTAI_BENCH_DIR  synthetic models and raw results (default: $HOME/.cache/compactai/bench)
#         COMPACTAI_SHARED     the shared data folder (default: <repo>/../shared)
#         LLAMA_CPP_DIR        llama.cpp source/build (default: $HOME/.cache/compactai/llama.cpp; see build-llama-cpp.sh)
#         COMPACTAI_NATIVE     passed through to CompactAI (0 forces managed kernels)
set -euo pipefail

die() { echo "bench-vs-llama: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

reps=5 rounds=2 threads=2 pp=128 tg=64 bandwidth="${COMPACTAI_MEM_GBS:-60}"
models="stories260K,smollm2-135m,qwen2.5-0.5b,llama3.2-1b"
quick=0 parallel=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --reps|--rounds|--models|--threads|--pp|--tg|--bandwidth|--parallel)
      [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
      case "$1" in
        --reps) reps="$2" ;; --rounds) rounds="$2" ;; --models) models="$2" ;; --threads) threads="$2" ;;
        --pp) pp="$2" ;; --tg) tg="$2" ;; --bandwidth) bandwidth="$2" ;; --parallel) parallel="$2" ;;
      esac
      shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
if [[ $quick -eq 1 ]]; then
  reps=1 rounds=1 models="stories260K,smollm2-135m"
fi
for v in reps rounds threads pp tg; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "--$v must be a positive integer, not '${!v}'"
done
[[ -z "$parallel" || "$parallel" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--parallel must be a comma-separated list of positive integers, not '$parallel'"
[[ "$bandwidth" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--bandwidth must be a number of GB/s, not '$bandwidth'"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${COMPACTAI_SHARED:-$repo_root/../shared}"
[[ -d "$shared" ]] && shared="$(cd "$shared" && pwd)"
bench_dir="${COMPACTAI_BENCH_DIR:-$HOME/.cache/compactai/bench}"
llama_dir="${LLAMA_CPP_DIR:-$HOME/.cache/compactai/llama.cpp}"

command -v dotnet >/dev/null || die "dotnet not found: install the .NET 10 SDK (https://dot.net)"
command -v python3 >/dev/null || die "python3 not found: it parses the JSON results and prints the table"

# 1. llama-bench (built once by build-llama-cpp.sh, which needs npm for the source bundle, git, cmake and a C++ compiler).
llama_bench="$llama_dir/build/bin/llama-bench"
if [[ ! -x "$llama_bench" || ! -f "$llama_dir/build/.compactai-build-done" ]]; then
  echo "== llama-bench not built yet: building llama.cpp (about 10 minutes on 2 cores)" >&2
  if [[ ! -d "$llama_dir/.git" ]]; then
    command -v node >/dev/null || die "node not found: it is needed to fetch llama.cpp's source from the node-llama-cpp npm package (install Node.js 18+)"
    command -v npm >/dev/null || die "npm not found: it is needed to fetch llama.cpp's source from the node-llama-cpp npm package (install Node.js 18+ with npm)"
    command -v git >/dev/null || die "git not found: it is needed to clone llama.cpp's source bundle"
  fi
  command -v cmake >/dev/null || die "cmake not found: it is needed to build llama-bench (install cmake 3.14+)"
  command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null || die "no C++ compiler found (c++, g++ or clang++): it is needed to build llama-bench"
  LLAMA_CPP_DIR="$llama_dir" "$repo_root/scripts/build-llama-cpp.sh" >/dev/null || die "scripts/build-llama-cpp.sh failed (see the messages above)"
  [[ -x "$llama_bench" ]] || die "scripts/build-llama-cpp.sh finished but $llama_bench is missing"
fi
llama_commit="$(git -C "$llama_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# 2. Our CLI, Release.
echo "== building the CompactAI CLI (Release)" >&2
dotnet build "$repo_root/src/CompactAI.Cli/CompactAI.Cli.csproj" -c Release -nologo -v quiet >&2 \
  || die "dotnet build of src/CompactAI.Cli failed"
echo "== building the LLamaSharp peer (Release)" >&2
dotnet build "$repo_root/benchmarks/LLamaSharpBench/LLamaSharpBench.csproj" -c Release -nologo -v quiet >&2 \
  || die "dotnet build of benchmarks/LLamaSharpBench failed"
peer=(dotnet "$repo_root/benchmarks/LLamaSharpBench/bin/Release/net10.0/LLamaSharpBench.dll")
cli_dir="$repo_root/src/CompactAI.Cli/bin/Release/net10.0"
if [[ -x "$cli_dir/CompactAI.Cli" ]]; then cli=("$cli_dir/CompactAI.Cli"); else cli=(dotnet "$cli_dir/CompactAI.Cli.dll"); fi
[[ -f "$cli_dir/CompactAI.Cli.dll" ]] || die "the CLI build produced no $cli_dir/CompactAI.Cli.dll"

# 3. Models: the real stories260K from ../shared, synthetic ones (real shapes, random weights) cached in $bench_dir.
mkdir -p "$bench_dir"
vocab_args=()
[[ -f "$shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf" ]] && vocab_args=(--vocab "$shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf")
synth() { # name shape type
  local file="$bench_dir/$1.gguf"
  if [[ ! -s "$file" ]]; then
    echo "== writing synthetic $1 (compactai synth --shape $2 --type $3)" >&2
    "${cli[@]}" synth --shape "$2" --type "$3" --out "$file.tmp" "${vocab_args[@]}" >&2 || die "compactai synth failed for $1"
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}
names=() files=()
IFS=',' read -r -a wanted <<<"$models"
for m in "${wanted[@]}"; do
  case "$m" in
    stories260K|stories260k)
      f="$shared/models/stories260K.gguf"
      [[ -f "$f" ]] || die "$f not found (set COMPACTAI_SHARED to the shared data folder)" ;;
    smollm2-135m) f="$(synth smollm2-135m-q8_0 smollm2-135m q8_0)" ;;
    qwen2.5-0.5b) f="$(synth qwen2.5-0.5b-q8_0 qwen2.5-0.5b q8_0)" ;;
    llama3.2-1b)  f="$(synth llama3.2-1b-q4_k_m llama3.2-1b q4_k_m)" ;;
    *.gguf) f="$m"; [[ -f "$f" ]] || die "model file $f not found" ;;
    *) die "unknown model '$m': use stories260K, smollm2-135m, qwen2.5-0.5b, llama3.2-1b or a .gguf path" ;;
  esac
  names+=("$(basename "$f" .gguf)") files+=("$f")
done

# 3b. Concurrent users (--parallel): llama-server -np N beside compactai bench --parallel N, per model and N.
if [[ -n "$parallel" ]]; then
  llama_server="$llama_dir/build/bin/llama-server"
  [[ -x "$llama_server" ]] || die "$llama_server not found: build llama.cpp with scripts/build-llama-cpp.sh"
  out_dir="$bench_dir/results/parallel-$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$out_dir"
  port=$((18000 + RANDOM % 2000))
  IFS=',' read -r -a ns <<<"$parallel"
  {
    echo "| model | N | llama-server agg tok/s | p50 ms | p95 ms | CompactAI agg tok/s | p50 ms | p95 ms | ratio |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for i in "${!files[@]}"; do
      for n in "${ns[@]}"; do
        ctx=$(( n * (pp + tg + 8) ))
        "$llama_server" -m "${files[$i]}" -np "$n" -c "$ctx" -t "$threads" -tb "$threads" --host 127.0.0.1 --port "$port" \
          --no-webui >"$out_dir/server-${names[$i]}-$n.log" 2>&1 &
        server=$!
        llama_json="$(python3 - "$port" "$n" "$pp" "$tg" "$reps" <<'PY'
import json, random, sys, threading, time, urllib.request
port, n, pp, tg, reps = (int(a) for a in sys.argv[1:])
base = f"http://127.0.0.1:{port}"
for _ in range(600):
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as r:
            if r.status == 200: break
    except Exception: pass
    time.sleep(0.5)
else:
    sys.exit("llama-server did not become healthy")
vocab = 1000  # random prompt ids from a range every vocabulary has
rng = random.Random(7)
def request(prompt, out, k):
    body = json.dumps({"prompt": prompt, "n_predict": tg, "temperature": 0, "ignore_eos": True, "cache_prompt": False}).encode()
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(base + "/completion", body, {"Content-Type": "application/json"}), timeout=3600) as r:
        res = json.load(r)
    out[k] = (res.get("tokens_predicted", tg), (time.perf_counter() - t) * 1000)
request([rng.randrange(100, vocab) for _ in range(pp)], {}, 0)  # warm-up
tokens = seconds = 0.0
lat = []
for _ in range(reps):
    out = {}
    threads = [threading.Thread(target=request, args=([rng.randrange(100, vocab) for _ in range(pp)], out, k)) for k in range(n)]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    seconds += time.perf_counter() - t
    tokens += sum(v[0] for v in out.values())
    lat += [v[1] for v in out.values()]
lat.sort()
import math
pct = lambda p: lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]
print(json.dumps({"aggregate_tg_tok_s": tokens / seconds, "p50_latency_ms": pct(0.5), "p95_latency_ms": pct(0.95)}))
PY
)" || llama_json='{}'
        kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
        ours_json="$("${cli[@]}" bench --model "${files[$i]}" --threads "$threads" --prompt-tokens "$pp" --gen-tokens "$tg" \
          --repetitions "$reps" --parallel "$n" --json 2>"$out_dir/compactai-${names[$i]}-$n.err" | tail -n 1)" || ours_json='{}'
        echo "$llama_json" >"$out_dir/llama-${names[$i]}-$n.json"
        echo "$ours_json" >"$out_dir/compactai-${names[$i]}-$n.json"
        python3 - "${names[$i]}" "$n" "$llama_json" "$ours_json" <<'PY'
import json, sys
name, n, l, o = sys.argv[1], sys.argv[2], json.loads(sys.argv[3] or "{}"), json.loads(sys.argv[4] or "{}")
f = lambda d, k: f"{d[k]:.1f}" if k in d else "n/a"
ratio = f"{o['aggregate_tg_tok_s'] / l['aggregate_tg_tok_s']:.2f}" if "aggregate_tg_tok_s" in o and "aggregate_tg_tok_s" in l else "n/a"
print(f"| {name} | {n} | {f(l,'aggregate_tg_tok_s')} | {f(l,'p50_latency_ms')} | {f(l,'p95_latency_ms')} | "
      f"{f(o,'aggregate_tg_tok_s')} | {f(o,'p50_latency_ms')} | {f(o,'p95_latency_ms')} | {ratio} |")
PY
      done
    done
    echo "aggregate = generated tokens of all N requests / wall time; latency = one request, prompt included; ratio = CompactAI / llama-server"
    echo "raw results: $out_dir"
  } | tee "$out_dir/summary.md"
  exit 0
fi

# 4. Peak RSS of our process: GNU time's "Maximum resident set size", else VmHWM polled from /proc.
out_dir="$bench_dir/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out_dir"
have_gnu_time=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then have_gnu_time=1; fi
run_with_peak_rss() { # rss_file stdout_file stderr_file cmd...
  local rss_file="$1" out="$2" err="$3"; shift 3
  if [[ $have_gnu_time -eq 1 ]]; then
    local rc=0 tv="$rss_file.time"
    /usr/bin/time -v -o "$tv" "$@" >"$out" 2>"$err" || rc=$?
    sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$tv" >"$rss_file"
    return $rc
  fi
  "$@" >"$out" 2>"$err" &
  local pid=$! hwm=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v="$(sed -n 's/^VmHWM: *\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
    [[ -n "$v" && "$v" -gt "$hwm" ]] && hwm="$v"
    sleep 0.05
  done
  echo "$hwm" >"$rss_file"
  wait "$pid"
}

# 5. Interleaved runs.
failures=0
for i in "${!files[@]}"; do
  f="${files[$i]}" n="${names[$i]}"
  "${cli[@]}" inspect --model "$f" >"$out_dir/$n.inspect.txt" 2>&1 || true
  for ((r = 1; r <= rounds; r++)); do
    echo "== $n round $r/$rounds: llama-bench" >&2
    if ! "$llama_bench" -m "$f" -t "$threads" -p "$pp" -n "$tg" -r "$reps" -o json \
        >"$out_dir/$n.llama.$r.json" 2>"$out_dir/$n.llama.$r.log"; then
      echo "   llama-bench failed: see $out_dir/$n.llama.$r.log" >&2; failures=$((failures + 1))
    fi
    echo "== $n round $r/$rounds: LLamaSharp" >&2
    if ! "${peer[@]}" --model "$f" --threads "$threads" --prompt-tokens "$pp" --gen-tokens "$tg" --repetitions "$reps" \
        >"$out_dir/$n.peer.$r.txt" 2>"$out_dir/$n.peer.$r.log"; then
      echo "   LLamaSharp bench failed: see $out_dir/$n.peer.$r.log" >&2; failures=$((failures + 1))
    fi
    echo "== $n round $r/$rounds: compactai bench" >&2
    if ! run_with_peak_rss "$out_dir/$n.ours.$r.rss" "$out_dir/$n.ours.$r.txt" "$out_dir/$n.ours.$r.log" \
        "${cli[@]}" bench --model "$f" --threads "$threads" --prompt-tokens "$pp" --gen-tokens "$tg" --repetitions "$reps" --json; then
      echo "   compactai bench failed: see $out_dir/$n.ours.$r.log" >&2; failures=$((failures + 1))
    fi
  done
done

# 6. The table.
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
ours_commit="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), ${cpu:-unknown CPU}, $(nproc) cores; CompactAI $ours_commit" \
       "(COMPACTAI_NATIVE=${COMPACTAI_NATIVE:-unset}), llama.cpp $llama_commit;" \
       "threads $threads, reps $reps, rounds $rounds"
  python3 - "$out_dir" "$pp" "$tg" "$rounds" "$bandwidth" "${names[@]}" -- "${files[@]}" <<'PY'
import json, os, re, sys
out_dir, pp, tg, rounds, bandwidth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rest = sys.argv[6:]
sep = rest.index("--")
names, files = rest[:sep], rest[sep + 1:]

def mean(xs):
    return sum(xs) / len(xs) if xs else None

def llama(name, r):
    try:
        with open(f"{out_dir}/{name}.llama.{r}.json") as fh:
            rows = json.load(fh)
    except (OSError, ValueError):
        return None, None
    p = [x["avg_ts"] for x in rows if x.get("n_prompt", 0) > 0 and x.get("n_gen", 0) == 0]
    g = [x["avg_ts"] for x in rows if x.get("n_gen", 0) > 0 and x.get("n_prompt", 0) == 0]
    return (p[0] if p else None), (g[0] if g else None)

def json_line(path):
    try:
        with open(path) as fh:
            lines = [l for l in fh.read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        return None

def peer(name, r):
    j = json_line(f"{out_dir}/{name}.peer.{r}.txt")
    return (None, None, None, None) if j is None else (j.get("pp_tok_s"), j.get("tg_tok_s"), j.get("load_ms"), j.get("variant"))

def ours(name, r):
    try:
        with open(f"{out_dir}/{name}.ours.{r}.txt") as fh:
            lines = [l for l in fh.read().splitlines() if l.startswith("{")]
        j = json.loads(lines[-1])
        pps, tgs, load = j["pp_tok_s"], j["tg_tok_s"], j["load_ms"]
    except (OSError, ValueError, IndexError, KeyError):
        pps = tgs = load = None
    try:
        with open(f"{out_dir}/{name}.ours.{r}.rss") as fh:
            rss = int(fh.read().strip()) * 1024
    except (OSError, ValueError):
        rss = None
    return pps, tgs, rss, load

def kv_bytes(name):
    # F32 K and V per layer and KV head, for the context compactai bench allocates (pp + tg + 8 positions).
    try:
        with open(f"{out_dir}/{name}.inspect.txt") as fh:
            m = re.search(r"layers:\s*(\d+),.*\(kv (\d+)\), head dim (\d+)", fh.read())
    except OSError:
        m = None
    if not m:
        return None
    layers, kv, hd = map(int, m.groups())
    return layers * kv * (pp + tg + 8) * 2 * hd * 4

def fmt(x, d=1):
    return "n/a" if x is None else f"{x:,.{d}f}"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"

hdr = ["model", "file MB", f"llama pp{pp}", f"llama tg{tg}", f"LLamaSharp pp{pp}", f"LLamaSharp tg{tg}", "LLamaSharp load ms",
       f"ours pp{pp}", f"ours tg{tg}", "ours load ms", "pp ratio", "tg ratio", "pp vs LS", "tg vs LS", "load vs LS",
       "tg ceiling", "tg % ceil", "peak RSS MB", "RSS budget MB", "RSS"]
variants = set()
table = []
for name, path in zip(names, files):
    size = os.path.getsize(path)
    lp, lg, op, og, rs, sp, sg, sl, ol = [], [], [], [], [], [], [], [], []
    for r in range(1, rounds + 1):
        a, b = llama(name, r)
        c, d, e, f = ours(name, r)
        g, h, k, v = peer(name, r)
        if v:
            variants.add(v)
        for lst, v in ((lp, a), (lg, b), (op, c), (og, d), (rs, e), (ol, f), (sp, g), (sg, h), (sl, k)):
            if v is not None:
                lst.append(v)
    lpp, ltg, opp, otg = mean(lp), mean(lg), mean(op), mean(og)
    spp, stg, sload, oload = mean(sp), mean(sg), mean(sl), mean(ol)
    rss = max(rs) if rs else None
    kv = kv_bytes(name)
    budget = size + kv + 100e6 if kv is not None else None
    ceiling = bandwidth * 1e9 / size
    verdict = "n/a" if rss is None or budget is None else ("ok" if rss <= budget else "OVER")
    table.append([name, fmt(size / 1e6), fmt(lpp), fmt(ltg), fmt(spp), fmt(stg), fmt(sload), fmt(opp), fmt(otg), fmt(oload),
                  ratio(opp, lpp), ratio(otg, ltg), ratio(opp, spp), ratio(otg, stg), ratio(sload, oload),
                  fmt(ceiling), "n/a" if otg is None else f"{100 * otg / ceiling:.0f}%",
                  fmt(None if rss is None else rss / 1e6), fmt(None if budget is None else budget / 1e6), verdict])
widths = [max(len(str(row[i])) for row in [hdr] + table) for i in range(len(hdr))]
def line(row):
    return "| " + " | ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
for row in table:
    print(line(row))
print(f"tokens/s (CompactAI and LLamaSharp: medians over the repetitions; llama-bench: its mean); ratio = CompactAI / llama.cpp,"
      f" vs LS = CompactAI / LLamaSharp (load: LLamaSharp ms / CompactAI ms), same run, interleaved;"
      f" LLamaSharp CPU build: {', '.join(sorted(variants)) or 'n/a'};")
print(f"tg ceiling = {bandwidth:g} GB/s / file bytes;"
      f" RSS budget = file + F32 KV cache ({pp}+{tg}+8 positions) + 100 MB")
PY
  echo "raw results: $out_dir"
} | tee "$out_dir/summary.md"

[[ $failures -eq 0 ]] || die "$failures run(s) failed; see $out_dir"
