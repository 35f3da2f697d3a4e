#!/usr/bin/env python3
"""Generates ../chat-tool-renderings.json: real chat templates of the tool-calling families, copied from llama.cpp's
models/templates/*.jinja, rendered with tools, tool calls and tool results by Python Jinja2 configured as transformers'
apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson,
raise_exception, strftime_now pinned to FIXED_NOW).

The messages and tools are in the shape CompactChatClient gives a template (ToolCalling.Messages / ToolCalling.Tools), which
is Hugging Face's and llama.cpp's: an assistant turn carries tool_calls [{id, type, function: {name, arguments: dict}}], a
result is {role: tool, content, tool_call_id, name}, tools are [{type: function, function: {name, description, parameters}}].

    LLAMA_CPP=$HOME/.cache/compactai/llama.cpp python3 make-tool-goldens.py     # needs jinja2 >= 3.1
"""
import datetime
import json
import os
import subprocess

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_CPP = os.environ.get("LLAMA_CPP", os.path.expanduser("~/.cache/compactai/llama.cpp"))
FIXED_NOW = "2025-03-09T15:04:05Z"
fixed_now = datetime.datetime.fromisoformat(FIXED_NOW.replace("Z", "+00:00"))

# (name, file in models/templates, bos_token, eos_token): the special tokens of the models these templates ship with.
TEMPLATES = [
    ("qwen2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("qwen3", "Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>"),
    ("hermes2-pro", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("hermes3", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("llama3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama3.3", "meta-llama-Llama-3.3-70B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("phi3.5", "microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>"),
    ("gemma2", "google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"},
                                                   "celsius": {"type": "boolean"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a time zone.",
    "parameters": {"type": "object", "properties": {"zone": {"type": "integer"}}, "required": ["zone"]}}}


def call(id_, name, arguments):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(id_, name, content):
    return {"role": "tool", "content": content, "tool_call_id": id_, "name": name}


CASES = [
    ("tools", [{"role": "system", "content": "You are a weather bot."}, {"role": "user", "content": "Weather in Paris?"}], [WEATHER, TIME]),
    ("tools-user-only", [{"role": "user", "content": "What time is it in zone 2?"}], [WEATHER, TIME]),
    ("round-trip", [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("abcDEF123", "get_weather", {"city": "Paris", "celsius": True})]},
        tool("abcDEF123", "get_weather", "{\"temperature\": 18, \"sky\": \"clear\"}"),
    ], [WEATHER]),
    ("parallel", [
        {"role": "user", "content": "Weather in Paris and the time in zone 1?"},
        {"role": "assistant", "content": "", "tool_calls": [call("abcDEF123", "get_weather", {"city": "Paris"}), call("xyzXYZ789", "get_time", {"zone": 1})]},
        tool("abcDEF123", "get_weather", "sunny"),
        tool("xyzXYZ789", "get_time", "14:05"),
        {"role": "assistant", "content": "Sunny, and it is 14:05."},
        {"role": "user", "content": "Thanks!"},
    ], [WEATHER, TIME]),
]


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: fixed_now.strftime(fmt)

commit = subprocess.run(["git", "-C", LLAMA_CPP, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
templates, cases = [], []
for name, file, bos, eos in TEMPLATES:
    with open(os.path.join(LLAMA_CPP, "models", "templates", file), encoding="utf-8") as f:
        source = f.read()
    templates.append({"name": name, "file": "models/templates/" + file, "bos_token": bos, "eos_token": eos, "source": source})
    for case, messages, tools in CASES:
        variables = {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": True, "bos_token": bos, "eos_token": eos}
        try:
            result = {"output": env.from_string(source).render(**variables)}
        except jinja2.exceptions.TemplateError as e:
            result = {"error": str(e)}
        cases.append({"template": name, "name": case, "messages": messages, "tools": tools, **result})

out = {
    "generator": f"Python Jinja2 {jinja2.__version__} as transformers' apply_chat_template (make-tool-goldens.py)",
    "llama_cpp_commit": commit,
    "fixed_now": FIXED_NOW,
    "templates": templates,
    "cases": cases,
}
with open(os.path.join(HERE, "..", "chat-tool-renderings.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(cases)} renderings ({sum('error' in c for c in cases)} errors) of {len(templates)} templates -> chat-tool-renderings.json")
