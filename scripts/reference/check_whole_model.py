"""Load a converted whole-model checkpoint into the plain network with strict=True and compare
its outputs with the DO-Conv model's (torch.load of the original whole-model file). Prints JSON.

Usage: check_whole_model.py ORIGINAL CONVERTED [--strip-prefix module.]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from whole_model_net import Net  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('original')
p.add_argument('converted')
p.add_argument('--strip-prefix', default='')
a = p.parse_args()
model = torch.load(a.original, map_location='cpu')
model = getattr(model, 'module', model).eval()
sd = torch.load(a.converted, map_location='cpu', weights_only=True)
keys = list(sd.keys())
if a.strip_prefix:
    sd = {k[len(a.strip_prefix):]: v for k, v in sd.items()}
plain = Net(plain=True).eval()
plain.load_state_dict(sd, strict=True)
x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(14))
with torch.no_grad():
    ref, y = model(x), plain(x)
rel = float((y - ref).abs().max() / ref.abs().max())
print(json.dumps({'keys': keys, 'relError': rel, 'type': type(sd).__name__}))
