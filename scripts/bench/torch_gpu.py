"""Images/s of a fused network in torch eager mode on CUDA (float32, TF32 off, as onnxruntime and
WebGPU compute), batches 1/32/128. Usage: torch_gpu.py FUSED.pth SPEC"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from networks import build  # noqa: E402

if not torch.cuda.is_available():
    print(json.dumps({'error': 'no CUDA device'}))
    sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
net = build(json.loads(sys.argv[2]))
net.load_state_dict(torch.load(sys.argv[1]))
net = net.eval().cuda()
out = {'device': torch.cuda.get_device_name()}
with torch.no_grad():
    for batch in (1, 32, 128):
        x = torch.randn(batch, 3, 224, 224, device='cuda')
        for _ in range(5):
            net(x)
        torch.cuda.synchronize()
        runs = max(5, 256 // batch)
        t = time.perf_counter()
        for _ in range(runs):
            net(x)
        torch.cuda.synchronize()
        out[batch] = batch * runs / (time.perf_counter() - t)
print(json.dumps(out))
