#!/usr/bin/env python3
"""Generates ../jinja-cases.json: small templates exercising the Jinja features chat templates use, rendered by Python
Jinja2 configured as transformers' apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, transformers' tojson / raise_exception). Each case records the output, or that rendering fails.

    python3 make-jinja-goldens.py     # needs jinja2 >= 3.1
"""
import json
import os

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

M = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]

CASES = [
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw
    ("ws-trim-blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("ws-lstrip-blocks", "line\n    {% if true %}\n    inside\n    {% endif %}\nafter", {}),
    ("ws-minus", "a   {{- 'b' -}}   c\n  {%- if true -%}  d  {%- endif %}", {}),
    ("ws-plus-disables-lstrip", "x\n    {%+ if true %}y{% endif %}", {}),
    ("ws-plus-disables-trim", "{% if true +%}\ny{% endif %}", {}),
    ("ws-expression-not-trimmed", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("ws-comment", "a\n  {# note #}\nb {#- strip -#}  c", {}),
    ("ws-trailing-newline-dropped", "text\n", {}),
    ("ws-two-trailing-newlines", "text\n\n", {}),
    ("ws-crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("raw-block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!", {}),
    ("indented-block-lines", "{% for m in messages %}\n    {{ m.role }}\n{% endfor %}", {"messages": M}),
    # literals and printing (Python str())
    ("print-none-bool", "{{ none }}|{{ true }}|{{ False }}|{{ None }}", {}),
    ("print-numbers", "{{ 42 }}|{{ -7 }}|{{ 1.5 }}|{{ 2.0 }}|{{ 1e3 }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1.5e-7 }}|{{ 10 / 4 }}|{{ 4 / 2 }}", {}),
    ("print-list-dict", "{{ [1, 'a', none, true, 2.5] }}|{{ {'k': 'v', 'n': [1]} }}|{{ ('t', 1) }}|{{ \"it's\" }}|{{ ['it\\'s'] }}", {}),
    ("string-escapes", "{{ 'a\\tb\\\\c\\'d\\\"e' }}|{{ \"x\\ny\" }}|{{ '\\u00e9\\x41' }}|{{ 'keep\\d' }}", {}),
    ("string-adjacent-concat", "{{ 'a' 'b' \"c\" }}", {}),
    # arithmetic and operators
    ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 7 / 2 }} {{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ 7.5 // 2 }} {{ -3 }} {{ true + 1 }}", {}),
    ("concat-tilde", "{{ 'n=' ~ 5 ~ none ~ true ~ undefined_var ~ [1] }}", {}),
    ("string-plus-and-times", "{{ 'ab' + 'cd' }}{{ '-' * 3 }}{{ [1] + [2] }}{{ [0] * 2 }}", {}),
    ("compare", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }} {{ {'a':1} == {'a':1} }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ none == none }} {{ undefined_x == undefined_y }}", {}),
    ("in-not-in", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 'x' in undefined_var }} {{ 'tool_calls' in messages[0] }}", {"messages": M}),
    ("and-or-not", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ not [] }} {{ not 'a' }} {{ not not 1 }} {{ [] or {} or 'last' }}", {}),
    ("conditional-expr", "{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} {{ 'y' if 0 }}|{{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("precedence-filter-minus", "{{ messages|length - 1 }} {{ not messages|length == 3 }} {{ 'x' + 'abc'|upper + 'y' }}", {"messages": M}),
    # variables, access, slicing
    ("member-and-index", "{{ messages[0].role }} {{ messages[1]['content'] }} {{ messages[-1].content }} {{ messages.0.role }} {{ 'abc'[1] }} {{ 'abc'[-1] }}", {"messages": M}),
    ("missing-key-undefined", "[{{ messages[0].nope }}][{{ messages[9] }}][{{ messages[0]['nope'] is defined }}][{{ messages[0].nope is undefined }}]", {"messages": M}),
    ("slices", "{{ [1,2,3,4,5][1:3] }} {{ [1,2,3,4,5][::-1] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3][-2:] }} {{ 'hello'[1:-1] }} {{ 'hello'[::-1] }} {{ [1,2,3][5:] }} {{ [1,2,3,4,5][3:0:-1] }} {{ 'abc'[:-1] }}", {}),
    ("unicode-len-slice", "{{ s|length }} {{ s[::-1] }} {{ s[1] }} {{ s|upper }}", {"s": "é😀ß"}),
    ("dict-methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys()|list }}{{ d.values()|list }}{{ d.get('a') }}{{ d.get('z', 'dflt') }}{{ d.get('z') }}", {"d": {"a": 1, "b": "two"}}),
    # statements
    ("if-elif-else", "{% for n in [1,2,3,4] %}{% if n == 1 %}one{% elif n == 2 %}two{% elif n == 3 %}three{% else %}many{% endif %},{% endfor %}", {}),
    ("for-loop-vars", "{% for x in 'abc'|list %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}|{% endfor %}", {}),
    ("for-else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in undefined_var %}x{% else %}undef-empty{% endfor %}", {}),
    ("for-filter", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}/{{ loop.length }} {% endfor %}", {"messages": M}),
    ("for-unpack", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for k, v in {'x': 1}|items %}{{ k }}{{ v }}{% endfor %}", {}),
    ("for-dict-and-string", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}|{% for c in 'hé' %}[{{ c }}]{% endfor %}", {}),
    ("for-break-continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("for-nested-loop", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("for-cycle", "{% for i in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("range-forms", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", {}),
    ("set-scoping", "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}in={{ x }} {% endfor %}out={{ x }}{% if true %}{% set x = 3 %}{% endif %} if={{ x }}", {}),
    ("set-namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.count }} {{ ns.found }}", {"messages": M}),
    ("set-tuple-and-block", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set block %}[{{ a + b }}]{% endset %}{{ block }}{{ block|length }}", {}),
    ("set-reassign-loop-var", "{% for t in [{'function': {'name': 'f'}}, {'name': 'g'}] %}{% if t.function is defined %}{% set t = t.function %}{% endif %}{{ t.name }}{% endfor %}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("macro-recursion", "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(3) }}", {}),
    ("filter-block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("generation-block-absent", "a{% if true %}b{% endif %}", {}),
    # tests
    ("tests-types", "{{ 's' is string }}{{ 1 is number }}{{ 1.5 is number }}{{ 1 is integer }}{{ 1.5 is float }}{{ true is boolean }}{{ none is none }}{{ [] is iterable }}{{ {} is mapping }}{{ [] is mapping }}{{ 's' is sequence }}{{ x is defined }}{{ x is undefined }}{{ range is callable }}", {}),
    ("tests-values", "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}{{ false is false }}{{ 0 is false }}{{ true is true }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ none is not none }}", {}),
    # filters
    ("filters-string", "[{{ '  pad  '|trim }}][{{ 'xxhixx'|trim('x') }}][{{ 'MiXed'|lower }}][{{ 'MiXed'|upper }}][{{ 'hello wORLD'|capitalize }}][{{ 'hello wORLD-foo(bar)'|title }}][{{ 'a-b-c'|replace('-', '+') }}][{{ 'aaa'|replace('a', 'b', 2) }}][{{ 'x'|center(5) }}][{{ 'one two  three'|wordcount }}]", {}),
    ("filters-length-count", "{{ 'abc'|length }} {{ [1,2]|count }} {{ {'a':1}|length }} {{ undefined_var|length }}", {}),
    ("filters-join", "{{ [1, 'a', none]|join }} {{ ['a','b']|join(', ') }} {{ messages|join('|', attribute='role') }} {{ 'abc'|join('-') }}", {"messages": M}),
    ("filters-first-last-list", "{{ [3,1,2]|first }} {{ [3,1,2]|last }} {{ 'abc'|first }} {{ 'ab'|list }} {{ {'a': 1}|list }} {{ []|first is defined }}", {}),
    ("filters-default", "[{{ undefined_var|default('d') }}][{{ none|default('d') }}][{{ ''|default('d') }}][{{ ''|default('d', true) }}][{{ 0|d('z', boolean=true) }}][{{ 'v'|default('d') }}]", {}),
    ("filters-int-float-string", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 3|float }} {{ 12|string + 'x' }} {{ none|string }} {{ [1]|string }} {{ '0x1A'|int(base=16) }}", {}),
    ("filters-items-dictsort", "{% for k, v in {'b': 2, 'a': 1}|items %}{{ k }}{{ v }}{% endfor %} {{ {'b': 2, 'A': 1, 'c': 0}|dictsort }} {{ {'b': 2, 'a': 1}|dictsort(by='value', reverse=true) }}", {}),
    ("filters-selectattr-map", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }} {{ messages|selectattr('content')|list|length }} {{ messages|map(attribute='missing', default='?')|list }} {{ ['a','b']|map('upper')|list }}", {"messages": M}),
    ("filters-select-reject", "{{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('odd')|list }} {{ [0,1,'',none,'x']|select|list }} {{ ['a','code_interpreter','b']|reject('equalto', 'code_interpreter')|join(', ') }} {{ [1,5,3]|select('gt', 2)|list }}", {}),
    ("filters-sort-unique-minmax-sum", "{{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ ['b','A','c']|sort(case_sensitive=true) }} {{ [3,1,2]|sort(reverse=true) }} {{ messages|sort(attribute='role')|map(attribute='role')|list }} {{ [1,2,1,'a','A']|unique|list }} {{ [3,1,2]|min }} {{ [3,1,2]|max }} {{ [1,2,3]|sum }} {{ [[1],[2]]|sum(start=[]) }}", {"messages": M}),
    ("filters-reverse-abs-round", "{{ [1,2,3]|reverse|list }} {{ 'abc'|reverse }} {{ -3|abs }} {{ (-3)|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(0, 'floor') }}", {}),
    ("filters-indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('> ') }}", {}),
    ("filters-tojson", "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ [1, 2.5, none, true, 'é\"\\n']|tojson }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ []|tojson(indent=2) }}|{{ {}|tojson }}", {"d": {"z": {"n": [1, {"k": "v"}]}, "a": "<tag>&'"}}),
    ("filters-chained", "{{ messages|map(attribute='content')|map('lower')|join('/')|upper|replace('/', ' | ') }}", {"messages": M}),
    ("filters-safe-escape-attr", "{{ '<b>'|safe }} {{ '<a href=\"x\">&\\''|e }} {{ messages[0]|attr('role') }}", {"messages": M}),
    # string methods
    ("methods-strip", "[{{ '  x  '.strip() }}][{{ '\\n\\nx\\n'.lstrip('\\n') }}][{{ 'x\\n\\n'.rstrip('\\n') }}][{{ 'xyxhiyx'.strip('xy') }}][{{ '  x'.lstrip() }}]", {}),
    ("methods-split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '<think>r</think>ans'.split('</think>')[-1] }} {{ 'x'.split('</think>')[0] }} {{ 'a b  c'.split(none, 1) }}", {}),
    ("methods-affixes-case", "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}{{ 'Hi There'.upper() }}{{ 'Hi There'.lower() }}{{ \"they're bill's\".title() }}{{ 'hELLO'.capitalize() }}", {}),
    ("methods-splitlines", "{{ 'a\\nb\\r\\nc\\rd\\n'.splitlines() }} {{ ''.splitlines() }} {{ '\\n\\nx'.splitlines() }}", {}),
    ("methods-misc", "{{ 'a-b-a'.replace('a', 'x') }} {{ 'a-b-a'.replace('a', 'x', 1) }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }}", {}),
    # undefined semantics
    ("undefined-prints-empty", "[{{ nope }}][{{ nope|string }}][{{ nope|trim }}][{{ nope|upper }}][{{ nope is defined }}][{{ not nope }}][{{ nope|length }}][{{ nope|list }}]", {}),
    ("undefined-in-if-and-for", "{% if nope %}x{% else %}falsy{% endif %}{% for x in nope %}{{ x }}{% endfor %}{% if nope is not defined %} undefined{% endif %}", {}),
    # errors (the reference raises; CompactAI must throw ChatTemplateException)
    ("error-raise-exception", "before{{ raise_exception('Custom failure: ' ~ 3) }}after", {}),
    ("error-undefined-attribute", "{{ nope.attr }}", {}),
    ("error-undefined-arithmetic", "{{ nope + 1 }}", {}),
    ("error-add-str-int", "{{ 'a' + 1 }}", {}),
    ("error-unknown-filter", "{{ 'a'|no_such_filter }}", {}),
    ("error-unknown-test", "{{ 'a' is no_such_test }}", {}),
    ("error-call-non-callable", "{{ 'a'() }}", {}),
    ("error-set-attr-on-dict", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("error-division-by-zero", "{{ 1 // 0 }}", {}),
    ("error-tojson-undefined", "{{ nope|tojson }}", {}),
    ("error-compare-types", "{{ 1 < 'a' }}", {}),
    ("error-unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
]

# Mixed expressions and whitespace-heavy multi-line templates over a richer context (differential checks).
V = {'messages': [{'role': 'system', 'content': 'S'}, {'role': 'user', 'content': 'U1 <think>x</think>'}, {'role': 'assistant', 'content': 'A1\n\n'}, {'role': 'user', 'content': '  U2  '}], 'd': {'a': 1, 'b': [1, 2, {'c': None}], 'e': 'é'}, 'n': 5, 'f': 2.5, 's': 'Hello, World', 'empty': '', 'lst': [3, 1, 2], 't': True}
CASES += [
    ('mixed-00', "{{ messages|length }}{{ messages[1:]|length }}{{ messages[:-1]|map(attribute='role')|join(',') }}", V),
    ('mixed-01', "{{ (messages|selectattr('role','equalto','user')|list)[-1].content }}", V),
    ('mixed-02', "{{ messages|rejectattr('role','in',['system','user'])|list|length }}", V),
    ('mixed-03', "{{ d }} {{ d.b }} {{ d['b'][2].c }} {{ d.b.2.c is none }}", V),
    ('mixed-04', '{{ d|tojson(indent=2, sort_keys=true) }}', V),
    ('mixed-05', '{{ d.e|tojson }} {{ d.e|tojson(ensure_ascii=true) }}', V),
    ('mixed-06', '{{ n * f }} {{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ -n }} {{ n ** 2 }} {{ f ** 2 }} {{ 2 ** -1 }}', V),
    ('mixed-07', "{{ n > 3 and n < 10 }} {{ n if n > 10 else 'small' }} {{ not n }}", V),
    ('mixed-08', "{{ s.lower().replace('world', 'there').title() }}", V),
    ('mixed-09', "{{ s.split(', ') }} {{ s[0:5] }} {{ s[-5:] }} {{ s|length }} {{ s|wordcount }}", V),
    ('mixed-10', '{{ s|truncate(5) }}', V),
    ('mixed-11', "{{ lst|sort|join('-') }} {{ lst|sort(reverse=true)|first }} {{ lst|max }} {{ lst|sum }}", V),
    ('mixed-12', "{{ lst|map('string')|join }} {{ lst|batch(2)|list }}", V),
    ('mixed-13', '{% for x in lst|sort %}{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}', V),
    ('mixed-14', '{% for m in messages %}{{ loop.index }}{{ m.role[0]|upper }}{% endfor %}', V),
    ('mixed-15', "{% for m in messages if m.role == 'user' %}{{ m.content|trim }};{% endfor %}", V),
    ('mixed-16', '{% set ns = namespace(i=0) %}{% for m in messages %}{% set ns.i = ns.i + m.content|length %}{% endfor %}{{ ns.i }}', V),
    ('mixed-17', "{{ messages[1].content.split('</think>')[-1].lstrip() }}|{{ messages[1].content.split('<think>')[0].rstrip() }}", V),
    ('mixed-18', "{% if 'think' in messages[1].content %}yes{% endif %}", V),
    ('mixed-19', "{{ messages[2].content|trim|length }} {{ messages[2].content.strip('\\n') }}", V),
    ('mixed-20', '{% for k, v in d.items() %}{{ k }}:{{ v is mapping }}{{ v is iterable }}{{ v is string }} {% endfor %}', V),
    ('mixed-21', "{{ d|length }} {{ d.keys()|list }} {{ d|list }} {{ 'a' in d }} {{ 1 in d.b }}", V),
    ('mixed-22', "{{ t }} {{ t|string }} {{ t and 'x' }} {{ t|int }} {{ true|tojson }} {{ none|tojson }}", V),
    ('mixed-23', "{{ empty or 'fallback' }} {{ empty|default('d', true) }} {{ empty is string }}", V),
    ('mixed-24', "{{ [1,2,3]|select('even')|list }} {{ range(5)|reject('odd')|list }} {{ range(3)|list|reverse|list }}", V),
    ('mixed-25', '{{ "a\\tb"|tojson }} {{ "\\u2028"|tojson }} {{ "ctrl\\x01"|tojson }}', V),
    ('mixed-26', '{{ 10 / 3 }} {{ 1 / 3 }} {{ 2 / 3 * 3 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 123456789.123 }}', V),
    ('mixed-27', "{{ 3.0 }} {{ 3.0|int }} {{ '3'|float }} {{ 7.0 // 2 }} {{ -7.5 % 2 }}", V),
    ('mixed-28', '{% macro m(a, b=none) %}{{ a }}{% if b %}+{{ b }}{% endif %}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} {{ m(a=3) }}', V),
    ('mixed-29', "{{ 'x' ~ 1 ~ 2.0 ~ none }}{{ [1] ~ {'a': 1} }}", V),
    ('mixed-30', "{{ {'a': {'b': 2}}['a']['b'] }} {{ {'a': 1}.get('a') }} {{ {'a': 1}['z'] is defined }}", V),
    ('mixed-31', "{{ 'abc'.startswith('b') }} {{ 'abc'.endswith(('c', 'x')) }} {{ 'a b'.split(' ') }} {{ ''.split() }} {{ ''.split(',') }}", V),
    ('mixed-32', '{{ \'AbC\'|lower }} {{ \'a-b c\'|title }} {{ "o\'neil macDonald"|title }} {{ \'hello\'|capitalize }}', V),
    ('mixed-33', "{{ '  lots   of   space  '|trim }}|{{ '\\n x \\n'|trim }}|", V),
    ('mixed-34', "{{ messages|map(attribute='content')|map('trim')|join('|') }}", V),
    ('mixed-35', '{{ messages[0] == messages[0] }} {{ messages[0] == messages[1] }} {{ messages[0] != {} }}', V),
    ('mixed-36', '{{ lst[1] }} {{ lst[-1] }} {{ lst[5] is defined }} {{ lst|first }} {{ lst|last }}', V),
    ('mixed-37', '{% set a = [1, 2] %}{% set b = a + [3] %}{{ b }} {{ a }}', V),
    ('mixed-38', '{% for i in range(2) %}{% for j in range(2) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}', V),
    ('mixed-39', '{% set x %}  block  {% endset %}[{{ x }}]', V),
    ('mixed-40', '{{ "%s" }} {{ \'{}\' }} {{ \'{{ raw }}\' }}', V),
    ('mixed-41', "{{ 5|string|length }} {{ (5 ~ '')|length }} {{ 12345|string|reverse }}", V),
    ('mixed-42', '{{ 1 is divisibleby 1 }} {{ none is defined }} {{ d.zz is undefined }} {{ messages is sequence }} {{ 3 is number }} {{ t is boolean }} {{ 1.0 is integer }}', V),
    ('mixed-43', "{{ lst|unique|list }} {{ ['b', 'a', 'B']|unique|list }} {{ ['b','a','B']|sort(case_sensitive=true) }}", V),
    ('mixed-44', "{{ 'x'|indent(2, true) }} {{ [1, [2, [3]]]|tojson }} {{ {'k': [1, 'v']}|tojson(indent=1) }}", V),
    ('multiline-00', '{%- for i in range(3) -%}\n  {{ i }}\n{%- endfor %}', V),
    ('multiline-01', "{% for m in messages %}\n    {% if m.role == 'user' %}\n        U: {{ m.content }}\n    {% elif m.role == 'assistant' %}\n        A: {{ m.content }}\n    {% else %}\n        S: {{ m.content }}\n    {% endif %}\n{% endfor %}", V),
    ('multiline-02', "  {% if true %}  x  {% endif %}  \n  {{ 'y' }}  \n\t{# tab comment #}\tz", V),
    ('multiline-03', '{% for m in messages %}{{ m.role }}\n{% endfor %}\nend', V),
    ('multiline-04', '{%- set x = 1 -%}\n   value: {{ x }}   \n{%- if x %}\n\n   yes\n{% endif -%}\n\ndone', V),
    ('multiline-05', '{{- "a" -}}\n   {{- "b" }}\n   {{ "c" -}}\n   d', V),
    ('multiline-06', '{% raw %}\n  {{ keep }}\n{% endraw %}\nafter', V),
    ('multiline-07', '{%- macro render(m) -%}\n<{{ m.role }}>\n{{- m.content|trim -}}\n</{{ m.role }}>\n{% endmacro -%}\n{%- for m in messages %}{{ render(m) }}{% endfor %}', V),
    ('multiline-08', "{% set ns = namespace(found=false) %}\n{% for m in messages %}\n  {% if m.role == 'assistant' %}\n    {% set ns.found = true %}\n  {% endif %}\n{% endfor %}\nfound={{ ns.found }}", V),
    ('multiline-09', '{% for key, value in d|dictsort %}\n{{ key }} = {{ value }}\n{% else %}\nnothing\n{% endfor %}', V),
    ('multiline-10', 'line1 {# comment -#}\n   line2\n{#- comment #} line3', V),
    ('multiline-11', '{%+ if true %}a{% endif %}\n    {%+ if true %}b{% endif %}', V),
    ('multiline-12', '{% filter upper -%}\n  hello {{ s }}\n{%- endfilter %}', V),
    ('multiline-13', "{%- if messages[0]['role'] == 'system' -%}\n    {%- set system = messages[0]['content'] -%}\n{%- endif -%}\n[{{ system }}]\n{{- '\\n' -}}\n{{ messages|length }}\n", V),
]

def run(source, variables):
    try:
        return {"output": env.from_string(source).render(**variables)}
    except jinja2.exceptions.TemplateError as e:
        return {"error": f"{type(e).__name__}: {e}"}
    except (TypeError, ZeroDivisionError, ValueError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


cases = []
for name, source, variables in CASES:
    cases.append({"name": name, "source": source, "variables": variables, **run(source, variables)})

with open(os.path.join(HERE, "..", "jinja-cases.json"), "w", encoding="utf-8") as f:
    json.dump({"generator": f"Python Jinja2 {jinja2.__version__}, ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loopcontrols) with transformers' tojson and raise_exception",
               "cases": cases}, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(cases)} cases ({sum('error' in c for c in cases)} errors) -> jinja-cases.json")
for c in cases:
    print(c["name"], "=>", repr(c.get("output", c.get("error"))))
