// Generates ../chat-renderings.json: every template of ../chat-templates.json rendered over a set of
// conversations by @huggingface/jinja (Hugging Face's JS Jinja, the engine node-llama-cpp 3.22.1 bundles,
// which reproduces transformers' apply_chat_template: trim_blocks=True, lstrip_blocks=True).
//
//   cd tests/CompactAI.Tests/Goldens/reference && npm ci && TZ=UTC node make-chat-goldens.mjs
//
// strftime_now reads the clock, so the clock is pinned to FIXED_NOW (UTC) to make Llama 3.2 reproducible;
// the C# tests render with a TimeProvider pinned to the same instant.

import path from "node:path";
import fs from "node:fs";
import {fileURLToPath} from "node:url";

process.env.TZ = "UTC";
const here = path.dirname(fileURLToPath(import.meta.url));
const {Template} = await import("@huggingface/jinja");
const JINJA_VERSION = JSON.parse(
    fs.readFileSync(path.join(here, "node_modules/@huggingface/jinja/package.json"), "utf8")).version;

export const FIXED_NOW = "2025-03-09T15:04:05Z";
const RealDate = Date;
const fixedMs = RealDate.parse(FIXED_NOW);
globalThis.Date = class extends RealDate {
    constructor(...args) { if (args.length === 0) super(fixedMs); else super(...args); }
    static now() { return fixedMs; }
};

const u = (content) => ({role: "user", content});
const a = (content) => ({role: "assistant", content});
const s = (content) => ({role: "system", content});

// Conversations every template is rendered over (with add_generation_prompt true and false).
const CONVERSATIONS = {
    "system-user": [s("You are a helpful assistant."), u("Hello! How are you?")],
    "user-only": [u("What is 2+2?")],
    "multi-turn": [u("Hi there"), a("Hello! How can I help you today?"), u("Tell me a joke.")],
    "system-multi-turn": [s("You are terse."), u("Capital of France?"), a("Paris."), u("And of Italy?")],
    "special-characters": [
        u("Line one\nLine two\n\n  indented\ttab \"double\" 'single' {{ not_a_tag }} {% raw %} <|im_end|> \\backslash"),
        a("  Ünïcödé — 日本語 ✓ 😀 \r\n spaced  "),
        u("   trailing spaces and newlines   \n\n"),
    ],
    "empty-content": [u(""), a(""), u("again")],
};

// Extra cases for templates with features beyond plain chat.
const TOOL = {
    type: "function",
    function: {
        name: "get_weather",
        description: "Get the current weather in a city.",
        parameters: {
            type: "object",
            properties: {city: {type: "string", description: "City name, e.g. Paris"}, celsius: {type: "boolean"}},
            required: ["city"],
        },
    },
};
const TOOL_CALL_TURNS = [
    u("What's the weather in Paris?"),
    {role: "assistant", content: "", tool_calls: [{type: "function", function: {name: "get_weather", arguments: {city: "Paris", celsius: true}}}]},
    {role: "tool", content: "{\"temperature\": 18, \"sky\": \"clear\"}"},
    u("Thanks! And tomorrow?"),
];
const THINKING_TURNS = [
    s("Think step by step."),
    u("What is 17*3?"),
    a("<think>\n17*3 = 51\n</think>\n\nIt is 51."),
    u("And 17*4?"),
];
const EXTRA_CASES = {
    "qwen2.5": [
        {name: "tools", messages: [s("You are a weather bot."), u("Weather in Paris?")], extra: {tools: [TOOL]}},
        {name: "tool-calls", messages: TOOL_CALL_TURNS, extra: {tools: [TOOL]}},
    ],
    "qwen3": [
        {name: "thinking-history", messages: THINKING_TURNS},
        {name: "thinking-disabled", messages: [u("Hi")], extra: {enable_thinking: false}},
        {name: "thinking-enabled", messages: [u("Hi")], extra: {enable_thinking: true}},
        {name: "last-turn-thinking", messages: [u("Q?"), a("<think>\nhmm\n</think>\n\nA.")]},
        {name: "reasoning-content", messages: [u("Q?"), {role: "assistant", content: "A.", reasoning_content: "because"}, u("Q2?")]},
        {name: "tools", messages: [s("You are a weather bot."), u("Weather in Paris?")], extra: {tools: [TOOL]}},
        {name: "tool-calls", messages: TOOL_CALL_TURNS, extra: {tools: [TOOL]}},
    ],
    "llama3.1": [
        {name: "date-string", messages: [s("Be kind."), u("Hi")], extra: {date_string: "01 Jan 2025"}},
        {name: "tools", messages: [s("You are a weather bot."), u("Weather in Paris?")], extra: {tools: [TOOL]}},
        {name: "tools-in-system", messages: [u("Weather in Paris?")], extra: {tools: [TOOL], tools_in_user_message: false}},
    ],
    "llama3.2": [
        {name: "date-string", messages: [s("Be kind."), u("Hi")], extra: {date_string: "01 Jan 2025"}},
        {name: "tools", messages: [s("You are a weather bot."), u("Weather in Paris?")], extra: {tools: [TOOL]}},
    ],
    "mistral-nemo": [
        {name: "tools", messages: [u("Weather in Paris?")], extra: {tools: [TOOL]}},
    ],
    "gemma3": [
        {name: "multimodal-content", messages: [
            {role: "system", content: [{type: "text", text: "You describe images."}]},
            {role: "user", content: [{type: "image"}, {type: "text", text: "  What is this?  "}]},
            {role: "assistant", content: [{type: "text", text: "A cat."}]},
            u("Thanks")]},
    ],
    "phi3.5": [
        {name: "empty-system", messages: [s(""), u("Hi")]},
    ],
    "gemma2": [
        {name: "assistant-first", messages: [a("I start."), u("No.")]},
    ],
};

const templates = JSON.parse(fs.readFileSync(path.join(here, "../chat-templates.json"), "utf8")).templates;
const builtins = JSON.parse(fs.readFileSync(path.join(here, "../chat-builtin-templates.json"), "utf8")).templates;

function render(source, context) {
    try {
        return {output: new Template(source).render(context)};
    } catch (e) {
        return {error: String(e.message ?? e)};
    }
}

function casesFor(tpl, kind) {
    const result = [];
    const add = (name, messages, extra, addGen) => {
        const context = {messages, add_generation_prompt: addGen, bos_token: tpl.bos_token, eos_token: tpl.eos_token, ...(extra ?? {})};
        result.push({
            kind, template: tpl.name, name, add_generation_prompt: addGen,
            bos_token: tpl.bos_token, eos_token: tpl.eos_token, messages, extra: extra ?? {},
            ...render(tpl.source, context),
        });
    };
    for (const [name, messages] of Object.entries(CONVERSATIONS))
        for (const addGen of [true, false]) add(name, messages, undefined, addGen);
    for (const c of EXTRA_CASES[tpl.name] ?? [])
        for (const addGen of [true, false]) add(c.name, c.messages, c.extra, addGen);
    return result;
}

const cases = [
    ...templates.flatMap((t) => casesFor(t, "model")),
    ...builtins.flatMap((t) => casesFor(t, "builtin")),
];
const out = {
    generator: `@huggingface/jinja ${JINJA_VERSION} (bundled with node-llama-cpp 3.22.1), new Template(source).render(context)`,
    fixed_now: FIXED_NOW,
    cases,
};
fs.writeFileSync(path.join(here, "../chat-renderings.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`${cases.length} renderings (${cases.filter((c) => c.error).length} errors) -> chat-renderings.json`);
