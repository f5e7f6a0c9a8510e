#!/usr/bin/python3
"""gen_formats.py OUTDIR - inputs of the container and repository benchmarks
(bench/formats.sh), written with Debian's python3-torch, python3-sklearn and
python3-joblib, or by hand following the safetensors and GGUF specs. Nothing is
ever loaded. Existing inputs are kept (delete OUTDIR/formats to regenerate).

  torch_zip_2g.pt        a 2 GiB PyTorch zip checkpoint (torch.save, stored members)
  torch_legacy_1g.pt     a 1 GiB legacy checkpoint (_use_new_zipfile_serialization=False)
  forest.joblib.gz       a joblib dump of a RandomForestRegressor, gzip-compressed by joblib
  forest.pkl             the same forest pickled uncompressed (reference for gzip -d)
  checkpoints/           1,000 small real checkpoints
  repo_8b/               a folder shaped like an 8B model repository: 4 safetensors shards of
                         4 GiB (sparse files), their index, configs, a tokenizer with a chat
                         template, a model card, and a 4 GiB GGUF (sparse)
"""
import json
import os
import struct
import sys

OUT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "build/bench", "formats")
GiB = 1 << 30


def log(msg):
    print("gen_formats: " + msg, file=sys.stderr, flush=True)


def torch_checkpoints():
    import torch
    torch.manual_seed(0)
    p = os.path.join(OUT, "torch_zip_2g.pt")
    if not os.path.exists(p):
        log("writing " + p)
        sd = {"layer%02d.weight" % i: torch.zeros(64, 1 << 20 >> 2 << 2) for i in range(8)}  # 8 x 256 MiB
        torch.save(sd, p)
    p = os.path.join(OUT, "torch_legacy_1g.pt")
    if not os.path.exists(p):
        log("writing " + p)
        sd = {"layer%02d.weight" % i: torch.zeros(32, 1 << 20 >> 2 << 2) for i in range(8)}  # 8 x 128 MiB
        torch.save(sd, p, _use_new_zipfile_serialization=False)
    d = os.path.join(OUT, "checkpoints")
    if not os.path.isdir(d):
        log("writing 1,000 checkpoints into " + d)
        os.makedirs(d + ".tmp", exist_ok=True)
        for i in range(1000):
            m = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
            torch.save(m.state_dict(), os.path.join(d + ".tmp", "ckpt_%04d.pt" % i))
        os.rename(d + ".tmp", d)


def forest():
    p = os.path.join(OUT, "forest.joblib.gz")
    if os.path.exists(p):
        return
    import joblib
    import numpy as np
    import pickle
    from sklearn.ensemble import RandomForestRegressor
    log("fitting a random forest (about a minute)")
    rng = np.random.RandomState(0)
    X = rng.rand(200000, 8)
    y = X @ rng.rand(8) + rng.rand(200000)
    m = RandomForestRegressor(n_estimators=24, random_state=0, n_jobs=2).fit(X, y)
    with open(os.path.join(OUT, "forest.pkl"), "wb") as f:
        pickle.dump(m, f, protocol=4)
    joblib.dump(m, p + ".tmp", compress=("gzip", 3))
    os.rename(p + ".tmp", p)


def safetensors_shard(path, ntensors, total):
    """A real safetensors header for `ntensors` BF16 tensors filling `total`
    bytes; the data is a hole (sparse file), as a scan never reads it."""
    per = total // ntensors // 2 * 2
    header, off = {}, 0
    for i in range(ntensors):
        header["model.layers.%d.weight" % i] = {"dtype": "BF16", "shape": [per // 2], "data_offsets": [off, off + per]}
        off += per
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + off)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(path, template, size):
    """A GGUF v3 file: metadata including a 128k-token vocabulary and the chat
    template, one tensor info, and a sparse data section."""
    kv = []
    def add(key, vtype, payload):
        kv.append(gguf_string(key) + struct.pack("<I", vtype) + payload)
    add("general.architecture", 8, gguf_string("llama"))
    add("general.name", 8, gguf_string("bench-8b"))
    add("general.license", 8, gguf_string("apache-2.0"))
    add("llama.context_length", 4, struct.pack("<I", 8192))
    tokens = b"".join(gguf_string("tok%06d" % i) for i in range(128256))
    add("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 128256) + tokens)
    add("tokenizer.chat_template", 8, gguf_string(template))
    nel = (size - 4096) // 2
    tinfo = gguf_string("token_embd.weight") + struct.pack("<I", 1) + struct.pack("<Q", nel) + struct.pack("<I", 1) + struct.pack("<Q", 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(kv) + tinfo
    head += b"\x00" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + nel * 2)


LLAMA3_TEMPLATE = (
    "{{- bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")


def repo():
    d = os.path.join(OUT, "repo_8b")
    if os.path.isdir(d):
        return
    log("writing the 8B-shaped repository " + d)
    t = d + ".tmp"
    os.makedirs(t, exist_ok=True)
    weight_map = {}
    for s in range(4):
        name = "model-%05d-of-00004.safetensors" % (s + 1)
        safetensors_shard(os.path.join(t, name), 80, 4 * GiB)
        for i in range(80):
            weight_map["model.layers.%d.weight" % (s * 80 + i)] = name
    with open(os.path.join(t, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 16 * GiB}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(t, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                   "num_hidden_layers": 32, "vocab_size": 128256, "torch_dtype": "bfloat16"}, f, indent=2)
    with open(os.path.join(t, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 128000, "eos_token_id": 128009, "temperature": 0.6}, f, indent=2)
    with open(os.path.join(t, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE,
                   "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    vocab = {"tok%06d" % i: i for i in range(128256)}
    merges = ["tok%06d tok%06d" % (i, i + 1) for i in range(0, 200000, 2)]
    with open(os.path.join(t, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": merges}}, f)
    with open(os.path.join(t, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}, f)
    with open(os.path.join(t, "README.md"), "w") as f:
        f.write("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# bench-8b\n")
    gguf(os.path.join(t, "bench-8b.Q8_0.gguf"), LLAMA3_TEMPLATE, 4 * GiB)
    os.rename(t, d)


def main():
    os.makedirs(OUT, exist_ok=True)
    repo()
    torch_checkpoints()
    forest()


if __name__ == "__main__":
    main()
