#!/usr/bin/env python3
"""Cross-checks ../chat-renderings.json (rendered by @huggingface/jinja) against Python Jinja2 configured exactly as
transformers' apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
tojson, raise_exception and strftime_now, tools=None and documents=None).

    python3 check-chat-goldens-jinja2.py        # needs jinja2 >= 3.1; prints the cases where the two references differ
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, "..", name), encoding="utf-8") as f:
        return json.load(f)


renderings = load("chat-renderings.json")
fixed_now = datetime.datetime.fromisoformat(renderings["fixed_now"].replace("Z", "+00:00"))


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return fixed_now.strftime(fmt)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now


def render(source, case):
    try:
        variables = {"messages": case["messages"], "tools": None, "documents": None, "add_generation_prompt": case["add_generation_prompt"],
                     "bos_token": case["bos_token"], "eos_token": case["eos_token"], **case["extra"]}
        return {"output": env.from_string(source).render(**variables)}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


sources = {t["name"]: t["source"] for t in load("chat-templates.json")["templates"]}
sources.update({"builtin:" + t["name"]: t["source"] for t in load("chat-builtin-templates.json")["templates"]})
differences = 0
for case in renderings["cases"]:
    key = ("builtin:" if case["kind"] == "builtin" else "") + case["template"]
    got = render(sources[key], case)
    want = {k: case[k] for k in ("output", "error") if k in case}
    if got != want:
        differences += 1
        print(f"DIFF {key}/{case['name']}/gen={case['add_generation_prompt']}\n  jinja2: {got!r}\n  hf.js:  {want!r}")
print(f"{len(renderings['cases'])} cases, {differences} differences between Python Jinja2 {jinja2.__version__} and @huggingface/jinja")
sys.exit(1 if differences else 0)
