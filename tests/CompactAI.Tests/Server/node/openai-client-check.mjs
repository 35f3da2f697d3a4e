// The official `openai` npm client against a running CompactAI server: tool calls (JSON and SSE), json_schema, logprobs
// and a refused request. Run by NodeOpenAIClientTests (which starts the servers); prints one JSON line of results and
// exits non-zero when a check fails.
//
//   TOOLS_URL=http://127.0.0.1:PORT/v1 PLAIN_URL=http://127.0.0.1:PORT/v1 API_KEY=... node openai-client-check.mjs
import OpenAI from "openai";
import assert from "node:assert/strict";

const tools = new OpenAI({baseURL: process.env.TOOLS_URL, apiKey: process.env.API_KEY});
const plain = new OpenAI({baseURL: process.env.PLAIN_URL, apiKey: process.env.API_KEY});
const model = "stories260K";
const results = {};
const weather = {
    type: "function",
    function: {
        name: "get_weather", description: "Weather in a city.",
        parameters: {type: "object", properties: {city: {type: "string", enum: ["Paris", "Rome", "Oslo"]}, celsius: {type: "boolean"}},
            required: ["city", "celsius"], additionalProperties: false},
    },
};
const user = [{role: "user", content: "Once upon a time"}];
const checkArgs = (json) => {
    const args = JSON.parse(json);
    assert.ok(["Paris", "Rome", "Oslo"].includes(args.city), json);
    assert.equal(typeof args.celsius, "boolean");
};

async function check(name, f) {
    try {
        results[name] = (await f()) ?? "ok";
    } catch (e) {
        results[name] = "FAIL: " + (e?.stack ?? e);
    }
}

await check("tool_call_json", async () => {
    const r = await tools.chat.completions.create({model, messages: user, tools: [weather],
        tool_choice: {type: "function", function: {name: "get_weather"}}, temperature: 0, max_tokens: 120});
    const c = r.choices[0];
    assert.equal(c.finish_reason, "tool_calls");
    assert.equal(c.message.tool_calls.length, 1);
    assert.equal(c.message.tool_calls[0].type, "function");
    assert.equal(c.message.tool_calls[0].function.name, "get_weather");
    assert.ok(c.message.tool_calls[0].id);
    checkArgs(c.message.tool_calls[0].function.arguments);
    // The call and its result go back in.
    const next = await tools.chat.completions.create({model, temperature: 0, max_tokens: 8, tools: [weather], tool_choice: "none",
        messages: [...user, c.message, {role: "tool", tool_call_id: c.message.tool_calls[0].id, content: "Sunny"}]});
    assert.notEqual(next.choices[0].finish_reason, "tool_calls");
    return c.message.tool_calls[0].function.arguments;
});

await check("tool_call_sse", async () => {
    const stream = await tools.chat.completions.create({model, messages: user, tools: [weather], tool_choice: "required",
        temperature: 0, max_tokens: 120, stream: true});
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        finish = choice.finish_reason ?? finish;
        for (const t of choice.delta?.tool_calls ?? []) {
            calls[t.index] ??= {id: "", name: "", arguments: ""};
            if (t.id) calls[t.index].id = t.id;
            if (t.function?.name) calls[t.index].name += t.function.name;
            if (t.function?.arguments) calls[t.index].arguments += t.function.arguments;
        }
    }
    assert.equal(finish, "tool_calls");
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, "get_weather");
    checkArgs(calls[0].arguments);
    return calls[0].arguments;
});

const person = {type: "json_schema", json_schema: {name: "person", strict: true, schema: {type: "object",
    properties: {name: {type: "string", maxLength: 12}, age: {type: "integer", minimum: 0, maximum: 120}}, required: ["name", "age"], additionalProperties: false}}};
const describe = [{role: "user", content: "Describe a person as JSON. Once upon a time"}];
const checkPerson = (text) => {
    const p = JSON.parse(text);
    assert.deepEqual(Object.keys(p).sort(), ["age", "name"]);
    assert.ok(Number.isInteger(p.age) && p.age >= 0 && p.age <= 120);
};

await check("json_schema_json", async () => {
    const r = await plain.chat.completions.create({model, messages: describe, response_format: person, temperature: 0, max_tokens: 120});
    checkPerson(r.choices[0].message.content);
    return r.choices[0].message.content;
});

await check("json_schema_sse", async () => {
    const stream = await plain.chat.completions.create({model, messages: describe, response_format: person, temperature: 0, max_tokens: 120, stream: true});
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    checkPerson(text);
    return text;
});

const checkLogprobs = (content, n) => {
    assert.equal(content.length, n);
    for (const t of content) {
        assert.equal(typeof t.token, "string");
        assert.ok(t.logprob <= 0);
        assert.ok(Array.isArray(t.bytes));
        assert.equal(t.top_logprobs.length, 3);
        assert.equal(t.top_logprobs[0].token, t.token); // greedy
    }
};

await check("logprobs_json", async () => {
    const r = await plain.chat.completions.create({model, messages: user, temperature: 0, max_tokens: 10, logprobs: true, top_logprobs: 3});
    checkLogprobs(r.choices[0].logprobs.content, 10);
    return r.choices[0].logprobs.content.map((t) => t.logprob.toFixed(4)).join(" ");
});

await check("logprobs_sse", async () => {
    const stream = await plain.chat.completions.create({model, messages: user, temperature: 0, max_tokens: 10, logprobs: true, top_logprobs: 3, stream: true});
    const content = [];
    for await (const chunk of stream) content.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    checkLogprobs(content, 10);
    return content.map((t) => t.logprob.toFixed(4)).join(" ");
});

await check("tools_nope_400", async () => {
    await assert.rejects(tools.chat.completions.create({model, messages: user, tools: "nope"}), (e) => e.status === 400 && e.param === "tools");
});

await check("no_tool_template_400", async () => {
    await assert.rejects(plain.chat.completions.create({model, messages: user, tools: [weather]}), (e) => e.status === 400 && e.code === "tools_not_supported");
});

console.log(JSON.stringify(results));
process.exit(Object.values(results).some((v) => typeof v === "string" && v.startsWith("FAIL")) ? 1 : 0);
