#!/usr/bin/env python3
"""Writes a random LoRA adapter (llama.cpp adapter GGUF, F32) for a GGUF base model, for benchmarks only.

    python3 scripts/synth-lora-adapter.py BASE.gguf OUT.gguf [--rank 64] [--alpha 64] [--seed 1]

Every blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight of the base gets a pair
lora_a [in, rank] / lora_b [rank, out] (GGUF dimension order) of small uniform values. Standard library only.
"""
import array
import random
import struct
import sys

TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def read_base(path):
    """(architecture, {tensor name: dims}) from a GGUF file's header."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the header of any model fits here
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(sizes[t])

    assert data[:4] == b"GGUF", "not a GGUF file"
    pos = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    arch = None
    for _ in range(n_kv):
        key, t = string(), take("I")
        v = value(t)
        if key == "general.architecture":
            arch = v
    tensors = {}
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        take("I")
        take("Q")
        tensors[name] = dims
    return arch, tensors


def main():
    args = sys.argv[1:]
    opts = {"--rank": 64, "--alpha": 64.0, "--seed": 1}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opts:
            opts[args[i]] = type(opts[args[i]])(args[i + 1])
            i += 2
        else:
            pos.append(args[i])
            i += 1
    base, out = pos
    rank, alpha = opts["--rank"], opts["--alpha"]
    rng = random.Random(opts["--seed"])
    arch, tensors = read_base(base)
    pairs = []
    for name, dims in tensors.items():
        parts = name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in TARGETS and parts[3] == "weight":
            n_in, n_out = dims
            r = min(rank, n_in, n_out)
            pairs.append((name + ".lora_a", [n_in, r]))
            pairs.append((name + ".lora_b", [r, n_out]))

    def kv_str(k, v):
        kb, vb = k.encode(), v.encode()
        return struct.pack("<Q", len(kb)) + kb + struct.pack("<I", 8) + struct.pack("<Q", len(vb)) + vb

    header = b"GGUF" + struct.pack("<IQQ", 3, len(pairs), 4)
    header += kv_str("general.architecture", arch) + kv_str("general.type", "adapter") + kv_str("adapter.type", "lora")
    k = b"adapter.lora.alpha"
    header += struct.pack("<Q", len(k)) + k + struct.pack("<If", 6, alpha)
    offset = 0
    for name, dims in pairs:
        nb = name.encode()
        header += struct.pack("<Q", len(nb)) + nb + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        header += struct.pack("<IQ", 0, offset)  # F32
        offset += (dims[0] * dims[1] * 4 + 31) // 32 * 32
    header += b"\0" * ((32 - len(header) % 32) % 32)
    with open(out, "wb") as f:
        f.write(header)
        for name, dims in pairs:
            n = dims[0] * dims[1]
            scale = 0.02
            values = array.array("f", (rng.uniform(-scale, scale) for _ in range(n)))
            f.write(values.tobytes())
            f.write(b"\0" * ((32 - (n * 4) % 32) % 32))
    print(f"wrote {out}: {len(pairs) // 2} pairs, rank {rank}, alpha {alpha}")


if __name__ == "__main__":
    main()
