"""Images/s of the fused network in torch eager mode on CPU. Usage: torch_eager.py FUSED.pth SPEC THREADS"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from networks import build  # noqa: E402

torch.set_num_threads(int(sys.argv[3]))
net = build(json.loads(sys.argv[2]))
net.load_state_dict(torch.load(sys.argv[1]))
net.eval()
out = {}
with torch.no_grad():
    for batch, runs in ((1, 20), (8, 5)):
        x = torch.randn(batch, 3, 224, 224)
        for _ in range(3):
            net(x)
        t = time.perf_counter()
        for _ in range(runs):
            net(x)
        out[batch] = batch * runs / (time.perf_counter() - t)
print(json.dumps(out))
