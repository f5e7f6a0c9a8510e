#!/usr/bin/python3
"""make_nemo_fixtures.py OUTDIR - NeMo `.nemo` archives and Hydra YAML configs.

A `.nemo` file is a tar (plain or gzip) holding ./model_config.yaml (an
OmegaConf/Hydra config whose `_target_` keys name the classes NeMo
instantiates) and ./model_weights.ckpt (torch.save of the state dict).
Benign configs follow the shape of NeMo's published ASR configs
(Conformer-CTC); the state dicts are written by torch.save (python3-torch).
Nothing is ever loaded: the malicious pickle is written opcode by opcode.
"""
import gzip
import io
import os
import sys
import tarfile

import torch

BENIGN_CONFIG = """\
sample_rate: 16000
log_prediction: true
ctc_reduction: mean_batch
skip_nan_grad: false
train_ds:
  manifest_filepath: null
  sample_rate: ${model.sample_rate}
  batch_size: 16
  shuffle: true
tokenizer:
  dir: null
  type: bpe
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
  normalize: per_feature
  window_size: 0.025
  window_stride: 0.01
  window: hann
  features: 80
  n_fft: 512
  log: true
  frame_splicing: 1
  dither: 1.0e-05
  pad_to: 0
  pad_value: 0.0
spec_augment:
  _target_: nemo.collections.asr.modules.SpectrogramAugmentation
  freq_masks: 2
  time_masks: 10
  freq_width: 27
  time_width: 0.05
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
  feat_out: -1
  n_layers: 2
  d_model: 64
  subsampling: striding
  subsampling_factor: 4
  ff_expansion_factor: 4
  self_attention_model: rel_pos
  n_heads: 4
  conv_kernel_size: 31
  dropout: 0.1
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 64
  num_classes: 128
  vocabulary: []
optim:
  name: adamw
  lr: 2.0
  betas: [0.9, 0.98]
  weight_decay: 0.001
  sched:
    name: NoamAnnealing
    d_model: 64
    warmup_steps: 10000
    min_lr: 1.0e-06
defaults: &defaults
  activation:
    _target_: torch.nn.ReLU
  loss:
    _target_: nemo.collections.asr.losses.CTCLoss
    num_classes: 128
head:
  <<: *defaults
  optimizer:
    _target_: torch.optim.AdamW
    _partial_: true
    lr: 0.001
target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE
nemo_version: 1.23.0
"""

EVIL_PICKLE = b"cos\nsystem\n(S'id'\ntR."


def state_dict_bytes():
    torch.manual_seed(0)
    sd = {"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.arange(4, dtype=torch.float32)}
    bio = io.BytesIO()
    torch.save(sd, bio)
    return bio.getvalue()


def tar_bytes(members, gz=False):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            ti.uname = ti.gname = "nemo"
            t.addfile(ti, io.BytesIO(data))
    if not gz:
        return raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        g.write(raw.getvalue())
    return out.getvalue()


def main():
    out = sys.argv[1]
    rows = []

    def write(rel, data, outcome, threats, what):
        p = os.path.join(out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        rows.append((rel, outcome, threats, what))

    ckpt = state_dict_bytes()
    good = [("./model_config.yaml", BENIGN_CONFIG.encode()), ("./model_weights.ckpt", ckpt)]
    write("benign/conformer.nemo", tar_bytes(good), "ALLOWED", "-",
          "NeMo-shaped tar: Conformer-CTC config with nemo.collections and torch targets, torch.save weights")
    write("benign/conformer_gz.nemo", tar_bytes(good, gz=True), "ALLOWED", "-", "the same, gzip-compressed tar")
    write("benign/model_config.yaml", BENIGN_CONFIG, "ALLOWED", "-",
          "the config alone: anchors, merge keys, _partial_ on an allowed target")
    write("benign/plain.yaml", "name: demo\nitems:\n  - 1\n  - two\nnested: {a: 1, b: [x, y]}\n", "ALLOWED", "-",
          "plain YAML without Hydra keys")
    write("benign/broken_plain.yaml", "name: demo\nitems: [1, 2\nother: {\n", "ALLOWED", "-",
          "invalid YAML without _target_: not a finding")

    def evil_config(target, extra=""):
        return BENIGN_CONFIG.replace("nemo.collections.asr.modules.ConvASRDecoder", target) + extra

    write("malicious/os_system.nemo",
          tar_bytes([("./model_config.yaml", evil_config("os.system", "").encode()), ("./model_weights.ckpt", ckpt)]),
          "BLOCKED", "MG-NEMO-100", "decoder _target_: os.system inside a .nemo tar (CVE-2025-23304)")
    write("malicious/builtins_eval.yaml",
          "model:\n  decoder:\n    _target_: builtins.eval\n    _args_:\n      - \"__import__('os').system('id')\"\n",
          "BLOCKED", "MG-NEMO-100", "_target_: builtins.eval with _args_")
    write("malicious/popen_partial.yaml",
          "encoder:\n  _target_: subprocess.Popen\n  _partial_: true\n  args: [sh, -c, id]\n",
          "BLOCKED", "MG-NEMO-100", "_target_: subprocess.Popen with _partial_")
    write("malicious/pickle_loads.yaml", "x:\n  _target_: pickle.loads\n  _args_: [!!binary gASVAAAAAAAAAAAu]\n",
          "BLOCKED", "MG-NEMO-100", "_target_: pickle.loads")
    write("malicious/alias_target.yaml",
          "names:\n  t: &t os.system\nencoder:\n  _target_: *t\n  command: id\n",
          "BLOCKED", "MG-NEMO-100", "_target_ given through an alias")
    write("malicious/alias_key.yaml",
          "keys:\n  k: &k _target_\nencoder:\n  *k : os.system\n  command: id\n",
          "BLOCKED", "MG-NEMO-100", "the _target_ key itself given through an alias")
    write("malicious/python_tag.yaml", "model: !!python/object/apply:os.system [\"id\"]\n",
          "BLOCKED", "MG-NEMO-100", "PyYAML python/object/apply tag")
    write("malicious/legacy_cls.yaml", "encoder:\n  cls: os.system\n  params:\n    command: id\n",
          "BLOCKED", "MG-NEMO-100", "NeMo legacy cls/params form")
    write("malicious/restore_from.yaml",
          "encoder:\n  _target_: nemo.collections.asr.models.EncDecCTCModel.restore_from\n  restore_path: /tmp/x\n",
          "BLOCKED", "MG-NEMO-100", "an allowed prefix but a loader name (denyname)")
    write("malicious/dup_ckpt.nemo",
          tar_bytes(good + [("./model_weights.ckpt", EVIL_PICKLE)]), "BLOCKED", "MG-ARV-402,MG-PKL-100",
          "model_weights.ckpt twice; the second copy (kept by extraction) is a malicious pickle")
    write("malicious/slip.nemo",
          tar_bytes([("../model_config.yaml", BENIGN_CONFIG.encode()), ("./model_weights.ckpt", ckpt)]),
          "BLOCKED", "MG-ARV-403", "a member named ../model_config.yaml")
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        laughs += "%s: &%s [%s]\n" % (cur, cur, ", ".join(["*" + prev] * 9))
    write("malformed/billion_laughs.yaml", laughs, "BLOCKED", "MG-NEMO-400",
          "aliases expanding to 9^9 nodes")
    write("malformed/broken_target.yaml", "encoder:\n  _target_: nemo.collections.asr.modules.ConformerEncoder\n"
          "  feat_in: [80\n  bad: {\n", "BLOCKED", "MG-NEMO-400", "invalid YAML that mentions _target_")
    write("malformed/undefined_alias.yaml", "encoder:\n  _target_: *nowhere\n", "BLOCKED", "MG-NEMO-400",
          "an alias to an anchor never defined")

    with open(os.path.join(out, "expected.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
