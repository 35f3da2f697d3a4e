#!/usr/bin/env python3
"""Generates ../embedding-goldens.json: llama.cpp's WordPiece token ids and sentence embeddings for all-MiniLM-L6-v2
(../shared/models/all-MiniLM-L6-v2-Q8_0.gguf) and its F16 variant, from llama.cpp's own tools (stdlib Python only).

    scripts/build-llama-cpp.sh        # llama-tokenize, llama-server, llama-quantize in ~/.cache/compactai/llama.cpp/build/bin
    python3 tests/CompactAI.Tests/Goldens/reference/make-embedding-goldens.py [BIN_DIR]

- tokens: `llama-tokenize --stdin --no-escape --ids` (special tokens added: [CLS] … [SEP]) for every sentence and every
  tokenizer case, with --no-parse-special ("ids") and, for the cases, also with special-token parsing ("ids_special").
- F16 model: `llama-quantize --allow-requantize MODEL OUT F16` (the tests write theirs with our own quantizer).
- embeddings: `llama-server --embeddings --pooling P -t 2 -ub 512` on 127.0.0.1, POST /embedding with all sentences in one
  call; pooled vectors are L2-normalised by llama.cpp (--embd-normalize 2, its default); pooling none returns per-token
  vectors (unnormalised). Values are rounded to 6 significant digits.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
MODEL = os.path.abspath(os.path.join(ROOT, "..", "shared", "models", "all-MiniLM-L6-v2-Q8_0.gguf"))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/compactai/llama.cpp/build/bin")
OUT = os.path.join(HERE, "..", "embedding-goldens.json")
PORT = 18431

SENTENCES = [
    "The cat sits outside.",
    "A man is playing guitar.",
    "The new movie is awesome!",
    "I love pasta with tomato sauce.",
    "How do I reset my password?",
    "Forgot my login credentials, how can I recover the account?",
    "The quarterly revenue grew by 12% compared to last year.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Der Hund spielt im Garten mit einem Ball.",
    "Café au lait, crème brûlée et naïveté.",
    "東京は日本の首都です。",
    "Small specialized models run fast on a laptop CPU.",
    "Retrieval-augmented generation combines search with a language model.",
    "what is the capital of france",
    "Paris is the capital and most populous city of France.",
    "C# 12 introduced primary constructors; .NET 8 shipped them in November 2023.",
]

TOKENIZER_CASES = [
    "Hello World", "HELLO, world!!!", "  leading and trailing spaces  ", "tabs\tand\nnew\r\nlines",
    "café naïve résumé Ångström", "Ünïcödé ÀÉÎÕÜ ß ﬁ ǅ İstanbul", "e\u0301 combining acute", "déjà-vu",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism",
    "qwxzzkjv blorptastic", "a.b,c;d:e!f?g", "(parentheses) [brackets] {braces} <angles>", "$100 & 50% off #sale @home ~tilde ^caret `tick`",
    "don't can't won't I'm you're", "state-of-the-art e-mail", "3.14159 1,000,000 2024-01-01",
    "中文分词测试", "日本語のテキスト", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم", "Γειά σου κόσμε", "emoji 😀👍🏽 test",
    "zero\u200bwidth", "soft\u00adhyphen", "nul\u0000char", "[CLS] [SEP] [MASK] [UNK] [PAD]", "##ing ##s", "x" * 120,
    "a", ".", "  ", "",
]


def tokenize(text, parse_special=False):
    args = [os.path.join(BIN, "llama-tokenize"), "-m", MODEL, "--stdin", "--no-escape", "--ids", "--log-disable"]
    if not parse_special:
        args.append("--no-parse-special")
    r = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, check=True)
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def round6(v):
    return float(f"{v:.6g}")


def embed(model, pooling, texts):
    server = subprocess.Popen([os.path.join(BIN, "llama-server"), "-m", model, "--embeddings", "--pooling", pooling, "-t", "2",
                               "-ub", "512", "-b", "512", "-c", "4096", "--host", "127.0.0.1", "--port", str(PORT), "--log-disable"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2)
                break
            except Exception:
                time.sleep(0.5)
        res = post("/embedding", {"content": texts})
        res.sort(key=lambda e: e["index"])
        out = []
        for e in res:
            rows = e["embedding"]
            out.append([[round6(x) for x in row] for row in rows] if pooling == "none" else [round6(x) for x in rows[0]])
        return out
    finally:
        server.terminate()
        server.wait()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        f16 = os.path.join(tmp, "all-MiniLM-L6-v2-F16.gguf")
        subprocess.run([os.path.join(BIN, "llama-quantize"), "--allow-requantize", MODEL, f16, "F16"], capture_output=True, check=True)
        golden = {
            "model": "all-MiniLM-L6-v2-Q8_0.gguf",
            "generator": "tests/CompactAI.Tests/Goldens/reference/make-embedding-goldens.py (llama.cpp llama-tokenize, llama-server, llama-quantize)",
            "sentences": SENTENCES,
            "sentence_tokens": [tokenize(s) for s in SENTENCES],
            "tokenizer_cases": [{"text": t, "ids": tokenize(t), "ids_special": tokenize(t, True)} for t in TOKENIZER_CASES],
            "embeddings": {
                "Q8_0": {p: embed(MODEL, p, SENTENCES) for p in ["mean", "cls", "last"]},
                "F16": {"mean": embed(f16, "mean", SENTENCES)},
            },
            "token_embeddings": {"Q8_0": {"texts": SENTENCES[:2], "none": embed(MODEL, "none", SENTENCES[:2])}},
        }
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
