// Generates ../bpe-pretokenizers.json: llama.cpp's token ids for a fixed corpus under every BPE pre-tokenizer
// (tokenizer.ggml.pre) CompactAI supports, computed through node-llama-cpp 3.22.1 (prebuilt CPU binaries, vocab only;
// never downloads or compiles anything).
//
// The vocabularies are the GPT-2 vocabulary of shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf with tokenizer.ggml.pre
// replaced; the C# tests write them (see ../README-bpe.md):
//
//   COMPACTAI_BPE_VOCAB_DIR=/tmp/compactai-bpe-vocabs dotnet test tests/CompactAI.Tests --filter "FullyQualifiedName~BpePreTokenizerGolden"
//   cd tests/CompactAI.Tests/Goldens/reference && node make-bpe-goldens.mjs /tmp/compactai-bpe-vocabs/*.gguf
//
// Each GGUF's pre-tokenizer name is read from its own metadata; a file without tokenizer.ggml.pre is recorded as
// "(missing)"; one named "gpt-2-extended" (general.name) gets "+extended" appended. Corpus = the cases below + every case of ggml-vocab-gpt-2.gguf.inp. Tokenization is llama_tokenize
// with add_special = false and parse_special = false (model.tokenize(text, false)); the "special" section repeats a few
// texts with parse_special = true.

import path from "node:path";
import fs from "node:fs";
import {fileURLToPath} from "node:url";
import {execFileSync} from "node:child_process";

const here = path.dirname(fileURLToPath(import.meta.url));

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";

const NLC_VERSION = JSON.parse(fs.readFileSync(path.join(here, "node_modules/node-llama-cpp/package.json"), "utf8")).version;

const OWN_CORPUS = [
    "",
    " ",
    "  ",
    "\n",
    "a",
    "Hello world",
    " Hello world",
    "Hello  world",
    "   leading spaces",
    "trailing spaces   ",
    "trailing space and newline \n",
    "tabs\tand\t\ttabs\t",
    "new\nlines\n\n\nmany\n",
    "windows\r\nline\r\n\r\nendings",
    " \n \n\t \n",
    "mixed \t \n  whitespace  \t end",
    "1234567",
    "3.14159",
    "1 12 123 1234 12345 123456",
    "phone 555-0123, year 2024! price $1,299.99",
    "x=1e10+0x1F; y=-42",
    "DON'T",
    "don't won't can't",
    "I'm you're we've they'll he'd it's",
    "I'M YOU'RE WE'VE THEY'LL HE'D IT'S",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE",
    "rock 'n' roll O'Neil's",
    "café naïve résumé Ångström",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "こんにちは世界、カタカナ",
    "你好，世界！我爱编程。",
    "안녕하세요 세계",
    "مرحبا بالعالم، كيف حالك؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "ภาษาไทย สวัสดี",
    "😀🎉👍🏽 👨‍👩‍👧‍👦 family",
    "🦙 llama 🚀 rocket ❤️ heart",
    "₿ € £ ¥ © ® ™ ∑ ∞ √",
    "def foo(x):\n    return x * 2\n",
    "if (a && b) {\n\tprintf(\"%d\\n\", a);\n}\n",
    "    int main() { return 0; }    ",
    "<html><body class=\"x\">text</body></html>",
    "a_b-c.d/e\\f|g~h`i^j$k@l#m%n&o*p",
    "~~~ ||| $$$ +++ <=> ^^^ ``` ...",
    "foo/bar//baz\n/path\r\n",
    "Hello世界Привет123abcÀÉ",
    "x²+y³=z⁴ ½ ⅓ Ⅻ ①②",
    "NBSP\u00a0here\u2003em\u3000ideographic\u0085nel",
    "zero\u200bwidth joiner\u200d",
    "combining e\u0301 a\u0308 \u0915\u094d\u0937",
    "deseret \u{10437}\u{10438} adlam \u{1E900}\u{1E901} gothic \u{10330}",
    "\u01c4 \u01c5 \u01f1 title-case \u1f88",
    "HelloWorld camelCase XMLHttpRequest iPhone",
    "ÉCOLE École ÜBER über",
    "<|endoftext|> is special",
    "\u1f5f\u1f7d \u1fbe \u1fd3 \u2126 \u212a \u212b \u00c5", // singleton decompositions: must not be normalized
    // Cases that tell the pre-tokenizers apart (whitespace before newlines, non-ASCII digits and punctuation, ...).
    "a  \n\n  b",
    "x \r\n\r\n y \n",
    "  \n  \n  ",
    "a                    b",
    "Hello\u00a0\u00a0world\u2009!",
    "\u00abquoted\u00bb \u2014 dash\u2026 \u00bfqu\u00e9? \u00a1s\u00ed! \u201cfancy\u201d \u2018x\u2019s",
    "\u0663\u0664\u0665 \u0661\u0662\u0663\u0664 \u0966\u0967\u0968\u0969 \uff11\uff12\uff13\uff14",
    "\uff21\uff22\uff23\uff11\uff12\uff13\uff01\uff1f \u3001\u3002 \u300c\u5f15\u7528\u300d",
    "abc123def 10,000,000 v1.2.3-beta 0.5e-3",
    "it'sn't we'd've Y'ALL'RE",
    "\u0411\u043e\u043b\u044c\u0448\u043e\u0439123\u0442\u0435\u043a\u0441\u0442!!!\n\n",
    "\u4e2d\u6587English\ud55c\uad6d\uc5b4\u65e5\u672c\u8a9e\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u{20000}\u{20001} CJK ext B, \u{1F600}\u{1F601}!",
    "\t\tindented\n\t\t\tmore\n",
    "...!!!???;;;:::",
    "$100 + 200% = <html> ^_^ ~/path | `cmd`",
    "line1\rline2\r\rline3",
    "\u000b\u000c\u001c\u001f\u007f\u0000 controls",
    "x\u1c89y \u{1FA89} z\u0897w \u2427\u2428!", // Unicode 16 additions: unassigned in llama.cpp's tables
    "call <tool_call>{\"a\": 1}</tool_call> and <|im_start|>user", // user-defined / control texts (extended vocabularies)
];

const SPECIAL_CORPUS = [
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    " <|endoftext|> <|endoftext|>\n",
    "<|im_start|>user\nHi<tool_call>{\"a\": 1}<|im_end|>\n<|im_start|>assistant",
    " <tool_call> <tool_call><|endoftext|><|im_end|>",
];

function readInpCases() {
    const inp = fs.readFileSync(path.join(here, "../../../../../shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf.inp"), "utf8");
    const parts = inp.split("\n__ggml_vocab_test__\n");
    if (parts[parts.length - 1] !== "") throw new Error("unexpected .inp tail");
    return parts.slice(0, -1);
}

function llamaCppCommit() {
    try {
        const heads = execFileSync("git", ["bundle", "list-heads", path.join(here, "node_modules/node-llama-cpp/llama/gitRelease.bundle")], {encoding: "utf8"});
        return heads.trim().split(/\s+/)[0];
    } catch {
        return null;
    }
}

// JSON with arrays of numbers kept on one line.
function stringify(value) {
    return JSON.stringify(value, null, 1)
        .replace(/\[\s+([-0-9,\s]+?)\s+\]/g, (_, inner) => "[" + inner.split(/,\s*/).join(",") + "]");
}

async function main() {
    const ggufs = process.argv.slice(2).filter(a => a.endsWith(".gguf"));
    const outPath = path.resolve(here, process.argv.slice(2).find(a => a.endsWith(".json")) ?? "../bpe-pretokenizers.json");
    if (ggufs.length === 0) throw new Error("usage: node make-bpe-goldens.mjs vocab.gguf... [out.json]");

    const {getLlama, LlamaLogLevel} = await import("node-llama-cpp");
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
        logLevel: LlamaLogLevel.error, maxThreads: 2
    });

    const corpus = [...OWN_CORPUS, ...readInpCases()];
    const pre = {};
    const addBos = {};
    const special = {};
    const eog = {};
    for (const file of ggufs) {
        const model = await llama.loadModel({modelPath: path.resolve(file), vocabOnly: true});
        // "+extended": the vocabulary with extra tokens appended (general.name "gpt-2-extended", see BpeVocabFiles.cs).
        const name = (model.fileInfo.metadata?.tokenizer?.ggml?.pre ?? "(missing)") +
            (model.fileInfo.metadata?.general?.name === "gpt-2-extended" ? "+extended" : "");
        if (name in pre) throw new Error(`two files with pre-tokenizer ${name}`);
        pre[name] = corpus.map(text => Array.from(model.tokenize(text, false)));
        addBos[name] = model.tokens.shouldPrependBosToken;
        if (name === "gpt-2" || name === "gpt-2+extended")
            special[name] = SPECIAL_CORPUS.map(text => ({text, ids: Array.from(model.tokenize(text, true))}));
        const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
        eog[name] = [];
        for (let id = 0; id < nVocab; id++)
            if (model.isEogToken(id)) eog[name].push(id);
        console.error(`${name}: ${pre[name].reduce((n, ids) => n + ids.length, 0)} tokens, add_bos ${addBos[name]}`);
        await model.dispose();
    }

    const release = llama.llamaCppRelease;
    const commit = llamaCppCommit();
    const sortedPre = Object.fromEntries(Object.keys(pre).sort().map(k => [k, pre[k]]));
    const golden = {
        generator: `node-llama-cpp ${NLC_VERSION} (llama.cpp ${release.repo} release ${release.release}` +
            (commit != null ? `, commit ${commit}` : "") + `; ${llama.buildType} CPU binaries, vocab only)`,
        notes: "Vocabulary: ggml-vocab-gpt-2.gguf with tokenizer.ggml.pre set to each key ('(missing)': key removed). " +
            "pre[name][i] = llama_tokenize(corpus[i], add_special=false, parse_special=false). " +
            "'+extended': the same vocabulary with the extra tokens of BpeVocabFiles.cs appended. " +
            "add_bos[name] = llama_vocab_get_add_bos. eog[name] = ids with llama_vocab_is_eog. " +
            "special[name] = tokenize(text, parse_special=true).",
        corpus,
        add_bos: Object.fromEntries(Object.keys(addBos).sort().map(k => [k, addBos[k]])),
        eog: Object.fromEntries(Object.keys(eog).sort().map(k => [k, eog[k]])),
        special,
        pre: sortedPre
    };
    fs.writeFileSync(outPath, stringify(golden) + "\n");
    console.error(`wrote ${outPath}`);
    await llama.dispose();
}

await main();
