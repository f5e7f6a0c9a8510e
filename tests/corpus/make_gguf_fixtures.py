#!/usr/bin/python3
"""make_gguf_fixtures.py OUTDIR - writes GGUF fixtures (with chat templates)
and OUTDIR/expected.tsv.

Debian has no GGUF writer (python3-gguf is not packaged), so the files come
from a small writer that follows ggml-org/ggml docs/gguf.md: versions 1 (u32
counts and lengths), 2 and 3 (u64), all 13 metadata value types, tensor
infos, alignment padding and data.

Benign templates are the public chat templates of well-known models, copied
as published in their tokenizer_config.json (via llama.cpp's
models/templates where it keeps a copy): they must pass with no finding.
Malicious templates are the server-side template injection payloads seen in
the wild (CVE-2024-34359 and its relatives) and the usual ways of spelling
'__class__' without writing it.

When Debian's python3-jinja2 is installed, every template is also given to
jinja2's compiler (Environment.compile: parsed and compiled, never rendered) to prove the fixtures are what
they claim: the payloads compile (so a loader would run them) and the
broken templates do not. Deterministic: no randomness, no timestamps.
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q",
          I64: "<q", F64: "<d"}
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0 = 0, 1, 2, 8
TYPE_SIZE = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18), GGML_Q8_0: (32, 34)}

# ---------------------------------------------------------------- templates
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

LLAMA33 = r'''{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
'''

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}")

MISTRAL_NEMO = r'''{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS][" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST]" + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST]" + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}
        {{- "[TOOL_CALLS][" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- message["content"] + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS]{"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
'''

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
          " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

QWEN3 = r'''{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}'''

GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")

PHI35 = (
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")

DEEPSEEK_R1 = r'''{% if not add_generation_prompt is defined %}
{% set add_generation_prompt = false %}
{% endif %}
{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}
{%- for message in messages %}
{%- if message['role'] == 'system' %}
{% set ns.system_prompt = message['content'] %}
{%- endif %}
{%- endfor %}
{{bos_token}}
{{ns.system_prompt}}
{%- for message in messages %}
{%- if message['role'] == 'user' %}
{%- set ns.is_tool = false -%}
{{'<｜User｜>' + message['content']}}
{%- endif %}
{%- if message['role'] == 'assistant' and message['content'] is none %}
{%- set ns.is_tool = false -%}
{%- for tool in message['tool_calls']%}
{%- if not ns.is_first %}
{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}
{%- set ns.is_first = true -%}
{%- else %}
{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}
{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}
{%- endif %}
{%- endfor %}
{%- endif %}
{%- if message['role'] == 'assistant' and message['content'] is not none %}
{%- if ns.is_tool %}
{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}
{%- set ns.is_tool = false -%}
{%- else %}
{% set content = message['content'] %}
{% if '</think>' in content %}
{% set content = content.split('</think>')[-1] %}
{% endif %}
{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}
{%- endif %}
{%- endif %}
{%- if message['role'] == 'tool' %}
{%- set ns.is_tool = true -%}
{%- if ns.is_output_first %}
{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}
{%- set ns.is_output_first = false %}
{%- else %}
{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}
{%- endif %}
{%- endif %}
{%- endfor -%}
{% if ns.is_tool %}
{{'<｜tool▁outputs▁end｜>'}}
{% endif %}
{% if add_generation_prompt and not ns.is_tool %}
{{'<｜Assistant｜>'}}
{% endif %}'''

# Ordinary idioms in one template (written for these tests): each must pass.
IDIOMS = r'''{%- set ns = namespace(found=false, sys='', n=0) -%}
{%- for m in messages -%}
  {%- if m['role'] == 'system' -%}{%- set ns.found = true -%}{%- set ns.sys = ns.sys ~ m['content'] -%}{%- endif -%}
  {%- set ns.n = ns.n + 1 -%}
  {%- if loop.index0 > 100 -%}{%- break -%}{%- endif -%}
  {%- if m.content is none -%}{%- continue -%}{%- endif -%}
{%- endfor -%}
{%- set first = messages[0]['content'][::-1][::-1] -%}
{%- set head = messages[0].content.split('\n')[0] -%}
{%- set users = messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('\n') -%}
{%- macro render(m, prefix='') -%}{{ prefix ~ m.role|upper ~ ': ' ~ m.content|trim }}{%- endmacro -%}
{%- set banner -%}
Chat started {{ strftime_now('%d %b %Y') }}
{%- endset -%}
{%- for k, v in (tool_args or {}).items() -%}{{ k }}={{ v|tojson }}{%- endfor -%}
{%- for m in messages if m.role != 'system' -%}
{{ render(m, prefix='> ') }}{{ '%s (%d)' % (m.role, loop.index) }}{{ "{}/{}".format(loop.index, loop.length) }}
{%- generation -%}{{ m['content'] if m.role == 'assistant' else '' }}{%- endgeneration -%}
{%- endfor -%}
{% raw %}{{ this is text, not a tag: __class__ }}{% endraw %}
{# a comment may mention ''.__class__ #}
{%- call render(messages[-1]) -%}{%- endcall -%}
{%- filter upper -%}{{ ns.sys }}{%- endfilter -%}
{{ {'role': 'x', 'k': [1, 2, (3, 4)]}|tojson }}{{ 'See __init__.py for details' }}
{{ raise_exception('bad') if ns.n > 1000 else '' }}
{%- if add_generation_prompt is defined and add_generation_prompt -%}{{ '<|assistant|>' }}{%- endif -%}'''

# More ordinary idioms, each close to something flagged.
IDIOMS2 = (
    "{% set marker = '__END__' %}{{ marker }}{% set c = cycler('odd', 'even') %}{{ c.next() }}{{ c.current }}"
    "{% for k, v in tool.items() %}{{ tool[k] }}{% endfor %}"
    "{% for m in messages %}{{ messages[loop.index0]['role'] }}{{ loop.cycle('a', 'b') }}{% endfor %}"
    "{% for _ in range(3) %}-{% endfor %}{{ (messages|tojson)[0:5] }}{{ 'abc'[1] }}{{ messages[0].content[0] }}"
    "{{ messages|map(attribute='content')|map('trim')|join(' ') }}{{ messages|sort(attribute='role')|first }}"
    "{{ messages|groupby('role')|list|length }}{{ messages|sum(attribute='n', start=0) }}"
    "{% set ns = namespace(parts=[]) %}{% set ns.parts = ns.parts + ['x'] %}{{ ns.parts|join }}"
    "{{ x if x is defined else '' }}{{ -1 }}{{ 2 ** 3 // 2 }}{{ 'a' in 'abc' }}{{ not true }}"
    "{{ {'user': 'U', 'assistant': 'A'}[messages[0].role] }}{{ [1, 2, 3][-1] }}{{ 'x' * 3 }}"
    "{{ dict(role='user')|tojson }}{{ namespace(a=1).a }}{{ joiner(', ')() }}{{ lipsum(1, false) }}")

TEMPLATES = [
    ("llama2", LLAMA2, "Llama 2 chat (meta-llama/Llama-2-7b-chat-hf)"),
    ("llama3", LLAMA3, "Llama 3 (meta-llama/Meta-Llama-3-8B-Instruct)"),
    ("llama33_tools", LLAMA33, "Llama 3.3 with tools (meta-llama/Llama-3.3-70B-Instruct)"),
    ("mistral", MISTRAL, "Mistral (mistralai/Mistral-7B-Instruct-v0.1)"),
    ("mistral_nemo", MISTRAL_NEMO, "Mistral Nemo with tools (mistralai/Mistral-Nemo-Instruct-2407)"),
    ("chatml", CHATML, "ChatML (teknium/OpenHermes-2.5-Mistral-7B)"),
    ("qwen3", QWEN3, "Qwen3 (Qwen/Qwen3-0.6B): namespace, [::-1], split"),
    ("gemma2", GEMMA2, "Gemma 2 (google/gemma-2-2b-it)"),
    ("phi35", PHI35, "Phi-3.5 (microsoft/Phi-3.5-mini-instruct)"),
    ("deepseek_r1", DEEPSEEK_R1, "DeepSeek R1 distill (deepseek-ai/DeepSeek-R1-Distill-Qwen-32B)"),
    ("idioms", IDIOMS, "ordinary idioms: namespace, macros, set blocks, loop controls, raw, format"),
    ("idioms2", IDIOMS2, "idioms next to flagged ones: markers, cycler objects, key variables, attribute filters"),
]

EXEC = [
    ("subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "the classic MRO walk"),
    ("cycler_popen", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "cycler globals to os.popen"),
    ("joiner_globals", "{{ joiner.__init__.__globals__.os.system('id') }}", "joiner gadget"),
    ("namespace_globals", "{{ namespace.__init__.__globals__.os.popen('id').read() }}", "namespace gadget"),
    ("lipsum_globals", "{{ lipsum.__globals__['os'].popen('id').read() }}", "lipsum gadget (CVE-2024-34359 style)"),
    ("self_globals", "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}",
     "self.__init__.__globals__"),
    ("template_context", "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
     "private name of TemplateReference"),
    ("range_class", "{{ range.__class__.__mro__ }}", "range.__class__ chain"),
    ("attr_filter", "{{ ''|attr('__class__')|attr('__mro__') }}", "attr filter"),
    ("concat_plus", "{{ ''['__cla' + 'ss__'] }}", "name built with +"),
    ("concat_tilde", "{{ ''['__cla' ~ 'ss__']['__mro__'] }}", "name built with ~"),
    ("format_chars", "{{ ''['%c'|format(95)*2 + 'class' + '%c'|format(95)*2] }}", "name built with |format and *"),
    ("percent_chars", "{{ ''['%c%c%s%c%c' % (95, 95, 'class', 95, 95)] }}", "name built with %"),
    ("hex_escape", "{{ x['\\x5f\\x5fclass\\x5f\\x5f'] }}", "\\x5f escapes"),
    ("octal_escape", "{{ ''|attr('\\137\\137class\\137\\137') }}", "octal escapes in attr()"),
    ("unicode_escape", "{{ ''['\\u005f\\u005fclass\\u005f\\u005f'] }}", "\\u escapes"),
    ("named_escape", "{{ ''['\\N{LOW LINE}\\N{LOW LINE}class\\N{LOW LINE}\\N{LOW LINE}'] }}", "\\N{LOW LINE}"),
    ("map_attribute", "{{ messages|map(attribute='__class__')|list }}", "map(attribute=)"),
    ("map_attr", "{{ messages|map('attr', '__class__')|list }}", "map('attr', ...)"),
    ("selectattr_path", "{{ messages|selectattr('content.__class__')|list }}", "dotted attribute path"),
    ("set_variable", "{% set k = '__cla' ~ 'ss__' %}{{ ''[k] }}", "name kept in a variable"),
    ("namespace_field", "{% set ns = namespace(k='__globals__') %}{{ cycler.__init__[ns.k] }}",
     "name kept in a namespace"),
    ("dict_keys", "{{ ''[dict(__cla=1, ss__=2)|join] }}", "dict() keyword names joined"),
    ("join_list", "{{ ''[['__', 'class', '__']|join] }}", "|join of a list"),
    ("str_join", "{{ ''[''.join(['_', '_class_', '_'])] }}", "str.join"),
    ("reverse_slice", "{{ ''['__ssalc__'[::-1]] }}", "reversed with [::-1]"),
    ("reverse_filter", "{{ ''['__ssalc__'|reverse|join] }}", "|reverse"),
    ("lower_filter", "{{ ''['__CLASS__'|lower] }}", "|lower"),
    ("replace_filter", "{{ ''['**class**'|replace('**', '__')] }}", "|replace"),
    ("str_format", "{{ '{0.__class__.__mro__}'.format('') }}", "str.format walking attributes"),
    ("format_method", "{{ ''['{}{}class{}{}'.format('_', '_', '_', '_')] }}", "str.format building a name"),
    ("default_filter", "{{ ''[missing|default('__class__')] }}", "|default supplying the name"),
    ("conditional", "{{ ''['__class__' if true else 'x'] }}", "conditional expression"),
    ("loop_list", "{% for k in ['__class__'] %}{{ ''[k] }}{% endfor %}", "name from a loop over a list"),
    ("use_before_set",
     "{% for i in range(2) %}{% if i == 1 %}{{ ''[k] }}{% endif %}{% set k = '__class__' %}{% endfor %}",
     "variable used in a loop before its assignment"),
    ("macro_param", "{% macro get(o, k) %}{{ o[k] }}{% endmacro %}{{ get('', '__cla' ~ 'ss__') }}",
     "name passed to a macro"),
    ("set_block", "{% set k %}__class__{% endset %}{{ ''[k] }}", "name from a {% set %} block"),
    ("config_items", "{{ config.items() }}", "attribute of a Flask-only gadget"),
    ("gadget_item", "{{ lipsum['__globals__'] }}", "item of a gadget"),
    ("include", "{% include 'other.jinja' %}", "include reaches other templates"),
    ("import", "{% import 'macros.jinja' as m %}{{ m.x() }}", "import"),
    ("from_import", "{% from 'macros.jinja' import x %}{{ x() }}", "from ... import"),
    ("extends", "{% extends 'base.jinja' %}", "extends"),
    ("hidden_after_benign", CHATML + "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
     "payload appended to a real template"),
    ("ns_use_before_set",
     "{% set ns = namespace(k='') %}{% for i in range(2) %}{{ ''[ns.k] }}{% set ns.k = '__cla' ~ 'ss__' %}"
     "{% endfor %}", "namespace field used in a loop before it is set"),
    ("with_block", "{% with k = '__cla' ~ 'ss__' %}{{ ''[k] }}{% endwith %}", "name bound by with"),
    ("tuple_assign", "{% set a, b = '__class__', 1 %}{{ ''[a] }}", "name bound by tuple assignment"),
    ("filter_block", "{% filter attr('__class__') %}x{% endfilter %}", "attr() in a filter block"),
    ("private_attr", "{{ messages._private }}", "attribute starting with one underscore"),
    ("format_keyword", "{{ '{x.__class__}'.format(x=1) }}", "str.format keyword field walking attributes"),
    ("gadget_alias", "{% set c = cycler %}{{ c.foo }}", "a gadget under another name"),
    ("whitespace_control", "{%- for m in messages -%}{{- m.__class__ -}}{%- endfor -%}", "payload inside whitespace control"),
]

BAD = [
    ("built_in_loop",
     "{% set ns = namespace(k='') %}{% for c in ['_', '_', 'c', 'l', 'a', 's', 's', '_', '_'] %}"
     "{% set ns.k = ns.k ~ c %}{% endfor %}{{ ''[ns.k] }}", "key assembled character by character at render time"),
    ("lipsum_string", "{{ ''[(lipsum|string)[18] * 2 ~ 'class' ~ (lipsum|string)[18] * 2] }}",
     "characters taken from the text of a function"),
    ("dynamic_attr", "{{ ''|attr(messages[0]['content']) }}", "attr() with a name chosen by the input"),
    ("gadget_dynamic", "{{ lipsum[messages[0]['content']] }}", "gadget subscripted with input"),
    ("private_key", "{{ messages[0]['_meta'] }}", "a private-looking subscript"),
    ("macro_key", "{% macro k() %}__class__{% endmacro %}{{ ''[k()] }}", "key produced by a macro"),
    ("dunder_variable", "{{ __builtins__ }}", "a variable named like a Python internal"),
    ("stores_dunder", "{% set x = '__subclasses__' %}{{ x }}", "an internal name stored in a variable"),
]

BROKEN = [
    ("unclosed_if", "{% if messages %}{{ messages[0] }}", "if without endif"),
    ("bad_expression", "{{ messages[0]['content' }}", "unbalanced bracket"),
    ("unknown_tag", "{% exec 'id' %}", "tag Jinja does not know"),
    ("unterminated_string", "{{ 'abc }}", "string without its closing quote"),
    ("break_outside_loop", "{% break %}", "break outside a loop"),
    ("deep_nesting", "{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "nesting beyond the analysis budget"),
    ("broken_with_payload", "{{ ''.__class__ }}{% if %}", "does not parse, and carries a payload"),
]


# ------------------------------------------------------------------ writer
def gstr(s, v):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<I" if v == 1 else "<Q", len(s)) + s


def value(t, x, v):
    if t == STRING:
        return gstr(x, v)
    if t == ARRAY:
        et, items = x
        out = struct.pack("<I", et) + struct.pack("<I" if v == 1 else "<Q", len(items))
        return out + b"".join(value(et, i, v) for i in items)
    return struct.pack(SCALAR[t], x)


def nbytes(gtype, dims):
    blck, size = TYPE_SIZE.get(gtype, (1, 4))
    n = 1
    for d in dims:
        n *= d
    return n // blck * size


def gguf(kvs, tensors=(), version=3, alignment=32, data_fill=True, tensor_offsets=None, count_override=None,
         truncate=None):
    """kvs: (key, type, value); tensors: (name, dims, ggml type). Returns bytes."""
    cnt = "<I" if version == 1 else "<Q"
    nt, nkv = (len(tensors), len(kvs)) if count_override is None else count_override
    out = b"GGUF" + struct.pack("<I", version) + struct.pack(cnt, nt) + struct.pack(cnt, nkv)
    for key, t, x in kvs:
        out += gstr(key, version) + struct.pack("<I", t) + value(t, x, version)
    data = b""
    at = 0
    for i, (name, dims, gtype) in enumerate(tensors):
        off = at
        size = nbytes(gtype, dims)
        at += size + (alignment - size % alignment) % alignment
        if data_fill:
            data += bytes((i * 13 + k) & 0xFF for k in range(size))
            data += b"\0" * ((alignment - len(data) % alignment) % alignment)
        if tensor_offsets is not None:
            off = tensor_offsets[i]
        out += gstr(name, version) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack(cnt, d) for d in dims)
        out += struct.pack("<I", gtype) + struct.pack("<Q", off)
    if tensors:
        out += b"\0" * ((alignment - len(out) % alignment) % alignment)
        if data_fill:
            out += data
    return out[:truncate] if truncate else out


def base_kvs(template=None, key="tokenizer.chat_template", license_="Apache-2.0"):
    kvs = [("general.architecture", STRING, "llama"), ("general.name", STRING, "fixture"),
           ("general.license", STRING, license_), ("llama.context_length", U32, 4096),
           ("tokenizer.ggml.model", STRING, "llama"),
           ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<unk>", "<s>", "</s>", "hello", "__class__"])),
           ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, 0.0, -1.5, -2.0])),
           ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3, 1, 1]))]
    if template is not None:
        kvs.append((key, STRING, template))
    return kvs


TENSORS = [("token_embd.weight", [8, 4], GGML_F32), ("blk.0.attn_q.weight", [32, 2], GGML_Q8_0),
           ("output_norm.weight", [8], GGML_F16)]


def check_with_jinja(name, text, should_parse):
    try:
        import jinja2
    except ImportError:
        return
    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
    # transformers' {% generation %} tag: parse it as a plain block for this check
    text = text.replace("{%- generation -%}", "{%- if true -%}").replace("{%- endgeneration -%}", "{%- endif -%}")
    try:
        env.compile(text)  # parse and compile to a Python code object; never rendered
        ok = True
    except (jinja2.TemplateSyntaxError, SyntaxError, RecursionError):
        ok = False
    if ok != should_parse:
        sys.exit("fixture %s: jinja2 %s it" % (name, "parses" if ok else "does not parse"))


def main():
    out = sys.argv[1]
    rows = []

    def put(rel, blob, outcome, threats, what):
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(blob)
        rows.append("%s\t%s\t%s\t%s" % (rel, outcome, threats, what))

    # ---- benign: real templates, all three versions ----
    for i, (name, text, what) in enumerate(TEMPLATES):
        check_with_jinja(name, text, True)
        version = 3 if i % 3 else 2
        put("benign/%s.gguf" % name, gguf(base_kvs(text), TENSORS, version=version), "ALLOWED", "-",
            "%s, GGUF v%d" % (what, version))
    put("benign/v1_chatml.gguf", gguf(base_kvs(CHATML), TENSORS, version=1), "ALLOWED", "-",
        "GGUF v1 (u32 counts and lengths)")
    every = [("u8", U8, 1), ("i8", I8, -1), ("u16", U16, 2), ("i16", I16, -2), ("u32", U32, 3), ("i32", I32, -3),
             ("f32", F32, 0.5), ("bool", BOOL, True), ("str", STRING, "text"), ("u64", U64, 4), ("i64", I64, -4),
             ("f64", F64, 0.25), ("arr", ARRAY, (U8, [1, 2, 3])),
             ("nested", ARRAY, (ARRAY, [(STRING, ["a", "b"]), (I64, [1])])),
             ("general.alignment", U32, 64)]
    put("benign/every_type.gguf", gguf(base_kvs() + [("t." + k, t, x) if k != "general.alignment" else (k, t, x)
                                                     for k, t, x in every], TENSORS, alignment=64),
        "ALLOWED", "-", "all 13 value types, a nested array, alignment 64")
    put("benign/no_tensors.gguf", gguf(base_kvs(CHATML)), "ALLOWED", "-", "metadata only (a vocabulary file)")
    named = base_kvs(CHATML) + [("tokenizer.chat_template.tool_use", STRING, QWEN3),
                                ("tokenizer.chat_templates", ARRAY, (STRING, ["tool_use"]))]
    put("benign/named_templates.gguf", gguf(named, TENSORS), "ALLOWED", "-", "a named template beside the default")

    # ---- malicious templates ----
    for name, text, what in EXEC:
        check_with_jinja(name, text, True)
        put("malicious/ssti_%s.gguf" % name, gguf(base_kvs(text), TENSORS), "BLOCKED", "MG-GGUF-101", what)
    for name, text, what in BAD:
        check_with_jinja(name, text, True)
        put("malicious/suspicious_%s.gguf" % name, gguf(base_kvs(text), TENSORS), "BLOCKED", "MG-GGUF-102", what)
    for name, text, what in BROKEN:
        check_with_jinja(name, text, False)
        ids = "MG-GGUF-102,MG-GGUF-101" if "payload" in name else "MG-GGUF-102"
        put("malicious/template_%s.gguf" % name, gguf(base_kvs(text), TENSORS), "BLOCKED", ids, what)
    put("malicious/ssti_named_template.gguf",
        gguf(base_kvs(CHATML) + [("tokenizer.chat_template.rag", STRING, "{{ lipsum.__globals__.os.popen('id') }}")],
             TENSORS),
        "BLOCKED", "MG-GGUF-101", "payload in a named template (tokenizer.chat_template.rag)")
    put("malicious/ssti_v1.gguf", gguf(base_kvs("{{ cycler.__init__.__globals__ }}"), TENSORS, version=1),
        "BLOCKED", "MG-GGUF-101", "payload in a GGUF v1 file")

    # ---- malformed files ----
    good = gguf(base_kvs(CHATML), TENSORS)
    put("malformed/bad_version.gguf", b"GGUF" + struct.pack("<I", 4) + good[8:], "BLOCKED", "MG-GGUF-400",
        "version 4")
    put("malformed/big_endian.gguf", b"GGUF" + struct.pack(">I", 3) + good[8:], "BLOCKED", "MG-GGUF-400",
        "version read as 0x03000000 (big-endian file)")
    put("malformed/legacy_ggjt.gguf", b"tjgg" + struct.pack("<I", 3) + b"\0" * 64, "BLOCKED", "MG-GGUF-400",
        "GGJT magic: the format GGUF replaced")
    put("malformed/truncated_header.gguf", good[:12], "BLOCKED", "MG-GGUF-400", "ends inside the counts")
    put("malformed/kv_count_past_eof.gguf", gguf(base_kvs(CHATML), TENSORS, count_override=(3, 1 << 40)),
        "BLOCKED", "MG-GGUF-400", "2^40 metadata pairs declared")
    put("malformed/tensor_count_past_eof.gguf", gguf(base_kvs(CHATML), TENSORS, count_override=(1 << 33, 9)),
        "BLOCKED", "MG-GGUF-400", "2^33 tensors declared")
    kv_long = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 50) + b"general.name"
    put("malformed/key_length_past_eof.gguf", kv_long, "BLOCKED", "MG-GGUF-400", "key length 2^50")
    val_long = (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("general.name", 3) + struct.pack("<I", STRING) +
                struct.pack("<Q", 1 << 31) + b"abc")
    put("malformed/string_past_eof.gguf", val_long, "BLOCKED", "MG-GGUF-400", "string value length past the end")
    arr_long = (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("x", 3) + struct.pack("<II", ARRAY, U32) +
                struct.pack("<Q", 1 << 40) + b"\0" * 16)
    put("malformed/array_past_eof.gguf", arr_long, "BLOCKED", "MG-GGUF-400", "array count past the end")
    deep = (STRING, ["x"])
    for _ in range(6):
        deep = (ARRAY, [deep])
    put("malformed/array_too_deep.gguf", gguf(base_kvs() + [("deep", ARRAY, deep)]), "BLOCKED", "MG-GGUF-400",
        "arrays nested 7 deep")
    badtype = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("x", 3) + struct.pack("<I", 13) + b"\0" * 8
    put("malformed/unknown_value_type.gguf", badtype, "BLOCKED", "MG-GGUF-400", "value type 13")
    put("malformed/empty_key.gguf", gguf(base_kvs() + [("", U8, 1)]), "BLOCKED", "MG-GGUF-400", "empty key")
    put("malformed/duplicate_key.gguf",
        gguf(base_kvs(CHATML) + [("tokenizer.chat_template", STRING, LLAMA3)], TENSORS),
        "BLOCKED", "MG-GGUF-400", "tokenizer.chat_template twice (which one is rendered?)")
    put("malformed/template_not_string.gguf", gguf(base_kvs() + [("tokenizer.chat_template", U32, 7)], TENSORS),
        "BLOCKED", "MG-GGUF-400", "chat template of type u32")
    put("malformed/alignment_not_pow2.gguf",
        gguf(base_kvs(CHATML) + [("general.alignment", U32, 48)], TENSORS, alignment=48),
        "BLOCKED", "MG-GGUF-400", "general.alignment 48")
    put("malformed/alignment_wrong_type.gguf",
        gguf(base_kvs(CHATML) + [("general.alignment", U64, 32)], TENSORS),
        "BLOCKED", "MG-GGUF-400", "general.alignment as u64")
    put("malformed/five_dims.gguf", gguf(base_kvs(), [("t", [1, 1, 1, 1, 8], GGML_F32)]), "BLOCKED", "MG-GGUF-400",
        "5 dimensions")
    put("malformed/misaligned_offset.gguf", gguf(base_kvs(), TENSORS, tensor_offsets=[0, 3, 160]),
        "BLOCKED", "MG-GGUF-400", "tensor offset 3")
    put("malformed/offset_gap.gguf", gguf(base_kvs(), TENSORS, tensor_offsets=[0, 256, 320]),
        "BLOCKED", "MG-GGUF-400", "tensor offset not where the previous one ends")
    put("malformed/offset_overlap.gguf", gguf(base_kvs(), TENSORS, tensor_offsets=[0, 0, 96]),
        "BLOCKED", "MG-GGUF-400", "two tensors at offset 0")
    put("malformed/tensor_past_eof.gguf", gguf(base_kvs(), TENSORS, data_fill=False), "BLOCKED", "MG-GGUF-400",
        "tensor data missing")
    put("malformed/unknown_ggml_type.gguf", gguf(base_kvs(), [("t", [8], 99)]), "BLOCKED", "MG-GGUF-400",
        "ggml type 99")
    put("malformed/removed_ggml_type.gguf", gguf(base_kvs(), [("t", [32], 4)]), "BLOCKED", "MG-GGUF-400",
        "ggml type 4 (Q4_2, removed)")
    put("malformed/row_not_blocks.gguf", gguf(base_kvs(), [("t", [40, 2], GGML_Q4_0)], data_fill=False),
        "BLOCKED", "MG-GGUF-400", "Q4_0 row of 40 elements (blocks of 32)")
    neg = gguf(base_kvs(), [("t", [8], GGML_F32)])
    pos = neg.find(struct.pack("<IQ", 1, 8))
    neg = neg[:pos] + struct.pack("<IQ", 1, (1 << 64) - 8) + neg[pos + 12:]
    put("malformed/negative_dim.gguf", neg, "BLOCKED", "MG-GGUF-400", "dimension read as -8")
    put("malformed/elements_overflow.gguf", gguf(base_kvs(), [("t", [1 << 40, 1 << 40], GGML_F32)],
                                                 data_fill=False),
        "BLOCKED", "MG-GGUF-400", "2^80 elements")
    put("malformed/duplicate_tensor.gguf",
        gguf(base_kvs(), [("w", [8], GGML_F32), ("w", [8], GGML_F32)]), "BLOCKED", "MG-GGUF-400",
        "tensor name twice")
    put("malformed/long_tensor_name.gguf", gguf(base_kvs(), [("t" * 64, [8], GGML_F32)]), "BLOCKED",
        "MG-GGUF-400", "tensor name of 64 bytes")
    put("malformed/truncated_tensor_info.gguf", gguf(base_kvs(), TENSORS, data_fill=False)[:-40],
        "BLOCKED", "MG-GGUF-400", "ends inside the tensor infos")

    rows.sort()
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        f.write("# generated by tests/corpus/make_gguf_fixtures.py; do not edit\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
