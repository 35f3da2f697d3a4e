#!/usr/bin/env python3
"""Generates ../stories260K.lora.json: greedy tokens of stories260K with the Spark-dragon LoRA adapter, by llama.cpp.

Runs llama-server (built by scripts/build-llama-cpp.sh, CPU only) with the adapter loaded (--lora) and asks
/completion for greedy tokens (temperature 0, no prompt cache) at several per-request adapter scales, given as
llama-server's per-request field "lora": [{"id": 0, "scale": S}]. Scale 0 is the base model. Standard library only.

    python3 make-lora-goldens.py [BASE.gguf] [ADAPTER.gguf] [OUT.json]

Defaults: ../shared/models/stories260K.gguf, ../shared/models/stories260K-spark-dragon-lora-r64-f32.gguf (relative
to the repository root), out = ../stories260K.lora.json. LLAMA_CPP_DIR overrides $HOME/.cache/compactai/llama.cpp.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../../../.."))
SHARED = os.path.normpath(os.path.join(ROOT, "../shared/models"))
BASE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SHARED, "stories260K.gguf")
ADAPTER = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SHARED, "stories260K-spark-dragon-lora-r64-f32.gguf")
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "../stories260K.lora.json")
LLAMA = os.environ.get("LLAMA_CPP_DIR", os.path.expanduser("~/.cache/compactai/llama.cpp"))
SERVER = os.path.join(LLAMA, "build/bin/llama-server")

PROMPTS = ["Once upon a time", "The dragon", "One day, a little boy named Tim"]
SCALES = [1.0, 0.5, 0.0]
N_PREDICT = 48


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, route, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{route}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def main():
    port = free_port()
    proc = subprocess.Popen([SERVER, "-m", BASE, "--lora", ADAPTER, "--host", "127.0.0.1", "--port", str(port),
                             "-t", "1", "-c", "256", "-np", "1", "--no-warmup"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.2)
        else:
            raise SystemExit("llama-server did not start")
        cases = []
        for prompt in PROMPTS:
            ids = post(port, "/tokenize", {"content": prompt, "add_special": True})["tokens"]
            for scale in SCALES:
                r = post(port, "/completion", {
                    "prompt": ids, "n_predict": N_PREDICT, "temperature": 0, "top_k": 1, "cache_prompt": False,
                    "return_tokens": True, "lora": [{"id": 0, "scale": scale}], "samplers": ["top_k"],
                })
                cases.append({"prompt": prompt, "scale": scale, "prompt_ids": ids, "output_ids": r["tokens"],
                              "text": r["content"], "stop_type": r.get("stop_type")})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lora-adapters", timeout=10) as r:
            adapters = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    commit = subprocess.run(["git", "-C", LLAMA, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {
        "generator": "llama-server (llama.cpp) /completion, temperature 0, top_k 1, per-request lora scale",
        "llama_cpp_dir_head": commit,
        "base": os.path.basename(BASE),
        "adapter": os.path.basename(ADAPTER),
        "server_adapters": [{"id": a["id"], "path": os.path.basename(a["path"])} for a in adapters],
        "n_predict": N_PREDICT,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
