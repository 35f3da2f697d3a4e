// Generates ../stories260K.greedy.json: reference tokenization, greedy continuation and next-token
// probabilities for stories260K, computed by llama.cpp through node-llama-cpp 3.22.1 (prebuilt CPU
// binaries from @node-llama-cpp/linux-x64; never downloads or compiles anything).
//
//   cd tests/CompactAI.Tests/Goldens/reference && npm ci && node make-goldens.mjs [model.gguf] [out.json]
//
// Defaults: model = ../../../../../shared/models/stories260K.gguf (relative to this folder),
//           out   = ../stories260K.greedy.json
//
// The reference helpers (loadReference, runCase) are shared with make-quantized-goldens.mjs.

import path from "node:path";
import fs from "node:fs";
import {fileURLToPath} from "node:url";
import {execFileSync} from "node:child_process";

const here = path.dirname(fileURLToPath(import.meta.url));

// Must be set before node-llama-cpp is imported: it reads these at module load.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";

export const NLC_VERSION = JSON.parse(
    fs.readFileSync(path.join(here, "node_modules/node-llama-cpp/package.json"), "utf8")).version;

export const PROMPTS = [
    "Once upon a time",
    "Lily and Ben",
    "The cat sat on the",
    "One day, a little boy named Tim",
    "She was very happy because",
    "In the park",
    "The sun",
    "Mom said"
];

// Greedy and "raw distribution" sampler settings: no top-k (0 = whole vocabulary), no top-p/min-p,
// temperature 0 (= argmax, no temperature sampler in the chain, so the returned probabilities are the
// plain softmax of the raw logits, i.e. the temperature-1 distribution).
const RAW = {temperature: 0, topK: 0, topP: 1, minP: 0};

function llamaCppCommit() {
    const bundle = path.join(here, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
    try {
        const heads = execFileSync("git", ["bundle", "list-heads", bundle], {encoding: "utf8"});
        return heads.trim().split(/\s+/)[0];
    } catch {
        return null;
    }
}

export async function loadReference(modelPath, {contextSize = 256} = {}) {
    const {getLlama, LlamaLogLevel} = await import("node-llama-cpp");
    const llama = await getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        logLevel: LlamaLogLevel.error,
        maxThreads: 2
    });
    const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
    const context = await model.createContext({contextSize, batchSize: contextSize, sequences: 1, threads: 2});
    const sequence = context.getSequence();
    const release = llama.llamaCppRelease;
    const commit = llamaCppCommit();
    const generator = `node-llama-cpp ${NLC_VERSION} (llama.cpp ${release.repo} release ${release.release}` +
        (commit != null ? `, commit ${commit}` : "") + `; ${llama.buildType} CPU binaries from @node-llama-cpp/linux-x64, gpu: ${llama.gpu})`;
    return {llama, model, context, sequence, generator};
}

/**
 * Runs one case on a cleared sequence.
 * prompt_ids = BOS (if the model prepends one) + tokenize(prompt) with special-token parsing off.
 */
export async function runCase(ref, prompt, {maxTokens = 48, withLogits = false} = {}) {
    const {model, sequence} = ref;
    await sequence.clearHistory();

    const textIds = model.tokenize(prompt, false);
    const promptIds = (model.tokens.shouldPrependBosToken && model.tokens.bos != null)
        ? [model.tokens.bos, ...textIds]
        : [...textIds];

    const input = promptIds.map((t, i) => i < promptIds.length - 1
        ? t
        : [t, {generateNext: {token: true, probabilities: true, logits: withLogits, options: RAW}}]);
    const res = await sequence.controlledEvaluate(input);
    const first = res[res.length - 1].next;

    const probs = first.probabilities; // Map<token, p>, sorted desc, whole vocabulary
    const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (nVocab != null && probs.size !== nVocab)
        throw new Error(`probabilities cover ${probs.size} of ${nVocab} tokens (top-k still active?)`);
    const top5 = [...probs.entries()].slice(0, 5).map(([id, p]) => ({id, p: round(p, 8)}));

    let logitsFirst = null;
    if (withLogits) {
        const n = probs.size;
        logitsFirst = new Array(n);
        for (const [id, l] of first.logits) logitsFirst[id] = l;
        // Cross-check: the addon's probabilities must equal a float64 softmax over all raw logits.
        const max = Math.max(...logitsFirst);
        const sum = logitsFirst.reduce((s, l) => s + Math.exp(l - max), 0);
        for (const {id, p} of top5) {
            const mine = Math.exp(logitsFirst[id] - max) / sum;
            if (Math.abs(mine - p) > 1e-5) throw new Error(`softmax mismatch for ${id}: ${mine} vs ${p}`);
        }
    }

    const outputIds = [];
    let next = first.token;
    while (outputIds.length < maxTokens && next != null && !model.isEogToken(next)) {
        outputIds.push(next);
        if (outputIds.length === maxTokens) break;
        const step = await sequence.controlledEvaluate([[next, {generateNext: {token: true, options: RAW}}]]);
        next = step[0].next.token;
    }

    return {
        prompt,
        prompt_ids: promptIds,
        output_ids: outputIds,
        text: model.detokenize(outputIds),
        top5,
        ...(logitsFirst != null ? {logits_first: logitsFirst} : {})
    };
}

export function round(x, digits) {
    return Number(x.toPrecision(digits));
}

const KNOWN_TOKENS = [403, 407, 261, 378];
const KNOWN_GREEDY_40 = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
    411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426];

async function main() {
    const modelPath = path.resolve(here, process.argv[2] ?? "../../../../../shared/models/stories260K.gguf");
    const outPath = path.resolve(here, process.argv[3] ?? "../stories260K.greedy.json");

    const ref = await loadReference(modelPath);
    const cases = [];
    for (const [i, prompt] of PROMPTS.entries()) {
        const c = await runCase(ref, prompt, {maxTokens: 48, withLogits: i === 0});
        cases.push(c);
        console.error(`${JSON.stringify(prompt)} -> ${c.output_ids.length} tokens: ${JSON.stringify(c.text)}`);
    }

    // Self-check against the facts recorded in shared/README.md.
    const c0 = cases[0];
    if (path.basename(modelPath) === "stories260K.gguf") {
        if (JSON.stringify(c0.prompt_ids) !== JSON.stringify([1, ...KNOWN_TOKENS]))
            throw new Error(`unexpected prompt_ids ${c0.prompt_ids}`);
        if (JSON.stringify(c0.output_ids.slice(0, 40)) !== JSON.stringify(KNOWN_GREEDY_40))
            throw new Error(`greedy continuation differs from the known reference: ${c0.output_ids}`);
    }

    const golden = {
        generator: ref.generator,
        model: path.basename(modelPath),
        notes: "prompt_ids = BOS + tokenize(prompt, parse_special=false). output_ids: greedy (argmax) continuation, " +
            "at most 48 tokens, stops before EOS (EOS excluded). text = llama_detokenize(output_ids) on its own, so the " +
            "SentencePiece leading space of the first piece is dropped ('\u2581were' -> 'were'). " +
            "top5: next-token probabilities after the whole prompt, " +
            "full-vocabulary softmax of the raw logits (temperature 1, no top-k/top-p/min-p), 8 significant digits. " +
            "logits_first (first case only): raw logits for every vocabulary id at that step, indexed by token id. " +
            "Context size 256, CPU, 2 threads.",
        cases
    };
    fs.writeFileSync(outPath, stringify(golden) + "\n");
    console.error(`wrote ${outPath}`);
    await ref.context.dispose();
    await ref.model.dispose();
    await ref.llama.dispose();
}

// JSON with arrays of numbers kept on one line (readable diffs, compact files).
export function stringify(value) {
    return JSON.stringify(value, null, 2)
        .replace(/\[\s+([-0-9.eE,\s]+?)\s+\]/g, (_, inner) => "[" + inner.split(/,\s*/).join(", ") + "]")
        .replace(/\{\s+"id": (\d+),\s+"p": ([-0-9.eE]+)\s+\}/g, "{\"id\": $1, \"p\": $2}");
}

if (process.argv[1] != null && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
    await main();
