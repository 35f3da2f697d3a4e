// Generates ../arch-goldens.json: for each tiny synthetic model family (random F32 weights written by our own
// deterministic `compactai synth`), llama.cpp's tokenization, next-token raw logits and greedy continuation,
// computed through node-llama-cpp 3.22.1 (prebuilt CPU binaries; never downloads or compiles anything).
//
//   for s in llama qwen2 qwen3 gemma gemma2 gemma3 phi3; do
//     dotnet src/CompactAI.Cli/bin/Debug/net10.0/CompactAI.Cli.dll synth --shape tiny-$s --type f32 --seed 1 --out /tmp/arch/tiny-$s.gguf
//   done
//   cd tests/CompactAI.Tests/Goldens/reference && node make-arch-goldens.mjs [/tmp/arch] [out.json]
//
// The file's sha256 is recorded so the C# test can check that our writer still produces the very same model.

import path from "node:path";
import fs from "node:fs";
import crypto from "node:crypto";
import {fileURLToPath} from "node:url";
import {loadReference, stringify} from "./make-goldens.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

export const FAMILIES = ["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3"];
// Each family at context 128; tiny-phi3 (LongRoPE, original context 256) also at 512, where llama.cpp switches to the
// long factors (it pads the context to a multiple of 256 first: 128 runs as 256, still the short factors).
// llama-q4_k_m: a Q4_K_M file (llama-quantize's mix: Q4_K, Q6_K, Q8_0 fallbacks) for the quantized kernels, written by
//   compactai synth --shape small-llama --type q4_k_m --seed 1 --out /tmp/arch/small-llama-q4_k_m.gguf
const RUNS = [...FAMILIES.map(family => ({name: family, family, context: 128})), {name: "phi3-long", family: "phi3", context: 512},
    {name: "llama-q4_k_m", family: "llama", shape: "small-llama", type: "q4_k_m", context: 128}];
export const PROMPTS = ["Hello world, this is a test of the", "def fibonacci(n):\n    return"];
const FIXED_IDS = [0, 1, 100, 1000, 5000, 10000, 20000, 30000, 40000, 50000, 50256, 262];
const TOP = 12;
const GREEDY = 16;
const RAW = {temperature: 0, topK: 0, topP: 1, minP: 0};

function sha256(file) {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

async function runCase(ref, prompt, stepwise = false) {
    const {model, sequence} = ref;
    await sequence.clearHistory();
    const textIds = model.tokenize(prompt, false);
    const promptIds = (model.tokens.shouldPrependBosToken && model.tokens.bos != null)
        ? [model.tokens.bos, ...textIds]
        : [...textIds];

    const input = promptIds.map((t, i) => i < promptIds.length - 1
        ? t
        : [t, {generateNext: {token: true, logits: true, options: RAW}}]);
    // stepwise: one token per decode call, so llama.cpp runs its matrix-vector kernels throughout (see the notes).
    if (stepwise) for (const t of input.slice(0, -1)) await sequence.controlledEvaluate([t]);
    const res = await sequence.controlledEvaluate(stepwise ? input.slice(-1) : input);
    const first = res[res.length - 1].next;

    const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    const logits = new Array(nVocab);
    for (const [id, l] of first.logits) logits[id] = l;
    for (let i = 0; i < nVocab; i++)
        if (logits[i] === undefined) throw new Error(`logit of ${i} missing (${first.logits.size} of ${nVocab})`);

    const order = logits.map((l, id) => id).sort((a, b) => logits[b] - logits[a] || a - b);
    const top = order.slice(0, TOP).map(id => ({id, logit: logits[id]}));
    const fixed = FIXED_IDS.filter(id => id < nVocab).map(id => ({id, logit: logits[id]}));
    if (first.token !== order[0]) throw new Error(`greedy token ${first.token} is not the argmax ${order[0]}`);

    // Greedy continuation: every token is fed back, end-of-generation tokens included (no early stop).
    const outputIds = [first.token];
    while (outputIds.length < GREEDY) {
        const step = await sequence.controlledEvaluate([[outputIds[outputIds.length - 1], {generateNext: {token: true, options: RAW}}]]);
        outputIds.push(step[0].next.token);
    }
    return {prompt, prompt_ids: promptIds, top_logits: top, fixed_logits: fixed, output_ids: outputIds};
}

async function main() {
    const dir = path.resolve(process.argv[2] ?? "/tmp/arch");
    const outPath = path.resolve(here, process.argv[3] ?? "../arch-goldens.json");
    const models = [];
    let generator = null;
    for (const {name, family, context, shape = `tiny-${family}`, type} of RUNS) {
        const file = path.join(dir, type ? `${shape}-${type}.gguf` : `${shape}.gguf`);
        const ref = await loadReference(file, {contextSize: context});
        generator = ref.generator;
        const cases = [];
        for (const prompt of PROMPTS) cases.push(await runCase(ref, prompt, Boolean(type)));
        models.push({name, family, shape, ...(type ? {type} : {}), context, file: path.basename(file), sha256: sha256(file), cases});
        console.error(`${name}: ${cases.map(c => `[${c.prompt_ids.length} ids] -> ${c.output_ids.join(" ")}`).join(" | ")}`);
        await ref.context.dispose();
        await ref.model.dispose();
        await ref.llama.dispose();
    }
    const golden = {
        generator,
        notes: "Models: `compactai synth --shape tiny-<family> --type f32 --seed 1` (vocabulary ggml-vocab-gpt-2.gguf). " +
            "prompt_ids = (BOS if the model adds one) + tokenize(prompt, parse_special=false). top_logits: the 12 highest raw " +
            "next-token logits after the prompt (ties by id); fixed_logits: raw logits of fixed ids. output_ids: 16 greedy " +
            "(argmax) tokens, each fed back (no stop at end-of-generation). context: the context size asked for (llama.cpp " +
            "pads it to a multiple of 256); one sequence, CPU, 2 threads. Quantized models (`type`) evaluate the prompt one token " +
            "per decode call: for 4+ rows llama.cpp runs Q4_K through its repacked (8x8 interleaved) GEMM, whose arithmetic " +
            "differs from its own matrix-vector path by up to 7e-3 on these logits; ours reproduces the matrix-vector path.",
        models
    };
    const text = stringify(golden).replace(/\{\s+"id": (\d+),\s+"logit": ([-0-9.eE]+)\s+\}/g, "{\"id\": $1, \"logit\": $2}");
    fs.writeFileSync(outPath, text + "\n");
    console.error(`wrote ${outPath}`);
}

await main();
