"""The Python route for eval: torchvision ImageFolder + DataLoader (PIL decoding on worker processes)
+ the fused network in torch eager on CPU. Prints images/s, top-1 and each image's predicted class.
Usage: torch_eval.py FUSED.pth SPEC DIR THREADS WORKERS BATCH"""
import json
import os
import sys
import time

import torch
from torchvision import datasets, transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from networks import build  # noqa: E402

fused, spec, data, threads, workers, batch = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
net = build(spec)
net.load_state_dict(torch.load(fused))
net.eval()
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
loader = torch.utils.data.DataLoader(datasets.ImageFolder(data, tf), batch_size=batch, num_workers=workers)
t = time.perf_counter()
n = correct = 0
top1 = []
with torch.no_grad():
    for x, y in loader:
        pred = net(x).argmax(1)
        correct += (pred == y).sum().item()
        top1 += pred.tolist()
        n += len(y)
seconds = time.perf_counter() - t
files = [os.path.relpath(path, data) for path, _ in loader.dataset.samples]
print(json.dumps({'images': n, 'correct': correct, 'imagesPerSecond': n / seconds, 'top1': dict(zip(files, top1))}))
