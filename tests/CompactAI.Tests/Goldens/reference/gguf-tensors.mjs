// Minimal GGUF reader (no dependencies): header, metadata KV pairs, tensor infos, and the sha256 of each
// tensor's raw data bytes. Used by make-quantized-goldens.mjs; also runnable on its own:
//
//   node gguf-tensors.mjs model.gguf        # prints name, type, dims, offset, bytes, sha256 per tensor
//
// Layout (see shared/FACTS.md): "GGUF", u32 version, u64 tensor_count, u64 kv_count, KV pairs
// (string key, u32 value type, value), tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 type,
// u64 offset relative to the data section), padding to general.alignment (default 32), data section.

import fs from "node:fs";
import crypto from "node:crypto";
import path from "node:path";
import {fileURLToPath} from "node:url";

// ggml type id -> [name, block size (elements), bytes per block]
export const GGML_TYPES = {
    0: ["F32", 1, 4], 1: ["F16", 1, 2], 2: ["Q4_0", 32, 18], 3: ["Q4_1", 32, 20],
    6: ["Q5_0", 32, 22], 7: ["Q5_1", 32, 24], 8: ["Q8_0", 32, 34], 9: ["Q8_1", 32, 36],
    10: ["Q2_K", 256, 84], 11: ["Q3_K", 256, 110], 12: ["Q4_K", 256, 144], 13: ["Q5_K", 256, 176],
    14: ["Q6_K", 256, 210], 15: ["Q8_K", 256, 292], 24: ["I8", 1, 1], 25: ["I16", 1, 2], 26: ["I32", 1, 4],
    27: ["I64", 1, 8], 28: ["F64", 1, 8], 30: ["BF16", 1, 2]
};

export function readGguf(file) {
    const buf = fs.readFileSync(file);
    let pos = 0;
    const u8 = () => buf.readUInt8(pos++);
    const u32 = () => { const v = buf.readUInt32LE(pos); pos += 4; return v; };
    const u64 = () => { const v = buf.readBigUInt64LE(pos); pos += 8; return Number(v); };
    const str = () => { const n = u64(); const s = buf.toString("utf8", pos, pos + n); pos += n; return s; };

    const readValue = (type) => {
        switch (type) {
            case 0: return u8();
            case 1: { const v = buf.readInt8(pos); pos += 1; return v; }
            case 2: { const v = buf.readUInt16LE(pos); pos += 2; return v; }
            case 3: { const v = buf.readInt16LE(pos); pos += 2; return v; }
            case 4: return u32();
            case 5: { const v = buf.readInt32LE(pos); pos += 4; return v; }
            case 6: { const v = buf.readFloatLE(pos); pos += 4; return v; }
            case 7: return u8() !== 0;
            case 8: return str();
            case 9: {
                const elemType = u32();
                const n = u64();
                const arr = new Array(n);
                for (let i = 0; i < n; i++) arr[i] = readValue(elemType);
                return arr;
            }
            case 10: { const v = buf.readBigUInt64LE(pos); pos += 8; return v; }
            case 11: { const v = buf.readBigInt64LE(pos); pos += 8; return v; }
            case 12: { const v = buf.readDoubleLE(pos); pos += 8; return v; }
            default: throw new Error(`unknown GGUF value type ${type} at ${pos}`);
        }
    };

    if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${file}: not a GGUF file`);
    pos = 4;
    const version = u32();
    const tensorCount = u64();
    const kvCount = u64();
    const kv = {};
    for (let i = 0; i < kvCount; i++) {
        const key = str();
        kv[key] = readValue(u32());
    }
    const tensors = [];
    for (let i = 0; i < tensorCount; i++) {
        const name = str();
        const nDims = u32();
        const dims = [];
        for (let d = 0; d < nDims; d++) dims.push(u64());
        const typeId = u32();
        const offset = u64();
        tensors.push({name, dims, typeId, offset});
    }
    const alignment = Number(kv["general.alignment"] ?? 32);
    const dataStart = Math.ceil(pos / alignment) * alignment;

    for (const t of tensors) {
        const info = GGML_TYPES[t.typeId];
        if (info == null) throw new Error(`unknown ggml type ${t.typeId} for ${t.name}`);
        const [typeName, blockSize, blockBytes] = info;
        if (t.dims[0] % blockSize !== 0) throw new Error(`${t.name}: ne0 ${t.dims[0]} not a multiple of ${blockSize}`);
        const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
        t.type = typeName;
        t.bytes = (t.dims[0] / blockSize) * blockBytes * rows;
        const start = dataStart + t.offset;
        if (t.offset % alignment !== 0) throw new Error(`${t.name}: offset ${t.offset} not aligned`);
        if (start + t.bytes > buf.length) throw new Error(`${t.name}: data runs past end of file`);
        t.sha256 = crypto.createHash("sha256").update(buf.subarray(start, start + t.bytes)).digest("hex");
    }
    return {version, kv, tensors, alignment, dataStart, fileSize: buf.length};
}

if (process.argv[1] != null && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const g = readGguf(process.argv[2]);
    console.log(`GGUF v${g.version}, ${g.tensors.length} tensors, ${Object.keys(g.kv).length} KV, alignment ${g.alignment}, data at ${g.dataStart}, file_type ${g.kv["general.file_type"]}`);
    for (const t of g.tensors)
        console.log(`${t.name.padEnd(28)} ${t.type.padEnd(5)} [${t.dims.join(", ")}] off=${t.offset} bytes=${t.bytes} ${t.sha256}`);
}
