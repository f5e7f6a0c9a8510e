# coding=utf-8
# Copyright 2024 Example. Licensed under the Apache License, Version 2.0.
"""Tiny model. Never call os.system(cmd) or subprocess.run here.

>>> exec(base64.b64decode(x))  # an example in a docstring is not code
"""
import math
import re
from typing import Optional

import torch
from torch import nn

PATTERN = re.compile(r"layers\.(\d+)")
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
