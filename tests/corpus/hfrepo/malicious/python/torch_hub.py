import torch
m = torch.hub.load('attacker/repo', 'model')
