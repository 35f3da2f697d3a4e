// Generates ../stories260K.quantized.json: for F16, Q8_0 and Q4_0 versions of stories260K made by
// llama.cpp's llama-quantize, the type, shape and sha256 of every tensor's raw data, plus greedy tokens
// and next-token probabilities computed by llama.cpp (node-llama-cpp 3.22.1) on the quantized model.
// Our C# quantizer must produce byte-identical tensors; our engine the same greedy tokens.
//
//   scripts/build-llama-cpp.sh                       # once; builds llama-quantize outside the repo
//   cd tests/CompactAI.Tests/Goldens/reference && node make-quantized-goldens.mjs [model.gguf] [out.json]
//
// Env: LLAMA_CPP_BIN   folder holding llama-quantize (default $LLAMA_CPP_DIR/build/bin,
//                      LLAMA_CPP_DIR default ~/.cache/compactai/llama.cpp)
//      QUANT_OUT_DIR   where the quantized GGUFs go (default /tmp/compactai-ref; never the repo)

import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import {fileURLToPath} from "node:url";
import {execFileSync, spawnSync} from "node:child_process";
import {loadReference, runCase, stringify} from "./make-goldens.mjs";
import {readGguf} from "./gguf-tensors.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const TYPES = ["F16", "Q8_0", "Q4_0"];
const PROMPTS = ["Once upon a time", "Lily and Ben", "One day, a little boy named Tim"];

const modelPath = path.resolve(here, process.argv[2] ?? "../../../../../shared/models/stories260K.gguf");
const outPath = path.resolve(here, process.argv[3] ?? "../stories260K.quantized.json");
const llamaDir = process.env.LLAMA_CPP_DIR ?? path.join(os.homedir(), ".cache/compactai/llama.cpp");
const binDir = process.env.LLAMA_CPP_BIN ?? path.join(llamaDir, "build/bin");
const outDir = process.env.QUANT_OUT_DIR ?? "/tmp/compactai-ref";
const quantize = path.join(binDir, "llama-quantize");
if (!fs.existsSync(quantize)) throw new Error(`${quantize} not found: run scripts/build-llama-cpp.sh first`);
fs.mkdirSync(outDir, {recursive: true});

let quantizeCommit = null;
try {
    quantizeCommit = execFileSync("git", ["-C", llamaDir, "rev-parse", "HEAD"], {encoding: "utf8"}).trim();
} catch { /* not a git checkout */ }

const base = path.basename(modelPath, ".gguf");
const variants = [];
let generator = null;
for (const type of TYPES) {
    const outFile = path.join(outDir, `${base}-${type}.gguf`);
    // --pure: no per-tensor mixture (token_embd/output/attn_v... all get the requested type).
    const args = ["--pure", modelPath, outFile, type, "2"];
    const run = spawnSync(quantize, args, {encoding: "utf8"});
    if (run.status !== 0) throw new Error(`llama-quantize failed:\n${run.stderr}\n${run.stdout}`);
    const log = run.stdout + run.stderr;
    const fallbacks = [...log.matchAll(/warning: (\S+)\s+- ncols\s+(\d+) not divisible by\s+(\d+).*?falling back to\s+(\S+)/g)]
        .map(m => `${m[1]}: ncols ${m[2]} not divisible by ${m[3]} -> ${m[4]}`);

    const g = readGguf(outFile);
    const tensors = g.tensors.map(t => ({name: t.name, type: t.type, dims: t.dims, sha256: t.sha256}));

    const ref = await loadReference(outFile);
    generator ??= ref.generator;
    const cases = [];
    for (const prompt of PROMPTS) {
        const c = await runCase(ref, prompt, {maxTokens: 32});
        cases.push({prompt: c.prompt, prompt_ids: c.prompt_ids, output_ids: c.output_ids, text: c.text, top5: c.top5});
    }
    await ref.context.dispose();
    await ref.model.dispose();
    await ref.llama.dispose();

    const kept = {};
    for (const t of tensors) kept[t.type] = (kept[t.type] ?? 0) + 1;
    console.error(`${type}: tensor types ${JSON.stringify(kept)}; ${cases.map(c => JSON.stringify(c.text.slice(0, 40))).join(" | ")}`);
    variants.push({
        type,
        quantize_command: `llama-quantize --pure ${path.basename(modelPath)} ${base}-${type}.gguf ${type} 2`,
        file_type: g.kv["general.file_type"],
        tensor_type_counts: kept,
        fallbacks,
        tensors,
        cases
    });
}

const golden = {
    generator: `${generator}; quantized by llama-quantize built from llama.cpp ${quantizeCommit ?? "(unknown commit)"} via scripts/build-llama-cpp.sh`,
    model: path.basename(modelPath),
    notes: "sha256 is over each tensor's raw data bytes only (ne0*..., no alignment padding). 1-D norm weights stay F32 " +
        "(llama-quantize never quantizes them). Tensors whose ne0 is not a multiple of the 32-element block " +
        "(ffn_down, ne0 = 172) fall back to F16 in Q8_0/Q4_0 even with --pure (see fallbacks). Cases: prompt_ids = BOS + " +
        "tokenize(prompt), output_ids = up to 32 greedy tokens (EOS excluded), top5 = full-vocabulary softmax of the raw " +
        "logits after the prompt; computed on CPU with the node-llama-cpp prebuilt binaries.",
    variants
};
fs.writeFileSync(outPath, stringify(golden) + "\n");
console.error(`wrote ${outPath}`);
