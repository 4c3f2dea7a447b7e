"""Load a fused checkpoint into a plain torchvision ResNet (ordinary nn.Conv2d) with strict=True,
run it, and compare with the DO-Conv reference outputs. Prints one JSON line."""
import argparse
import json
import sys

import numpy as np
import torch

from networks import build

p = argparse.ArgumentParser()
p.add_argument('--ckpt', required=True)
p.add_argument('--spec', required=True, help='JSON network spec (see networks.py)')
p.add_argument('--input', required=True)
p.add_argument('--expected', required=True)
p.add_argument('--key', default=None, help='nested key holding the state dict')
p.add_argument('--strip-prefix', default='')
a = p.parse_args()

try:
    # The strictest loader: proves the file holds nothing but data. torch 1.13's weights_only
    # unpickler rejects Python floats (BINFLOAT), so checkpoints with scalar metadata fall back.
    obj, weights_only = torch.load(a.ckpt, map_location='cpu', weights_only=True), True
except Exception:
    obj, weights_only = torch.load(a.ckpt, map_location='cpu'), False
sd = obj[a.key] if a.key else obj
if a.strip_prefix:
    sd = {k[len(a.strip_prefix):] if k.startswith(a.strip_prefix) else k: v for k, v in sd.items()}
dtypes = sorted({str(v.dtype) for v in sd.values() if torch.is_tensor(v)})
net = build(json.loads(a.spec))
net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
net.eval()
x = torch.from_numpy(np.load(a.input))
with torch.no_grad():
    y = net(x).numpy()
ref = np.load(a.expected)
rel = float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30))
top1 = bool((y.argmax(1) == ref.argmax(1)).all())
print(json.dumps({'weightsOnly': weights_only, 'relError': rel, 'top1Agree': top1, 'dtypes': dtypes, 'shape': list(y.shape)}))
sys.exit(0)
