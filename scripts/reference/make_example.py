"""Make the bundled example: a CIFAR-style DO-Conv ResNet-20 (networks.CifarResNet with every conv a
DOConv2d), saved by torch.save, with an input batch and the DO-Conv network's output on it.

Usage: make_example.py OUTDIR  ->  doconv_resnet20_cifar.pth, .input.npy, .expected.npy
The weights are random (seeded) with non-trivial D and BatchNorm statistics: a format example and a
numerical check, not a trained model.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from doconv_reference import randomize, swap_convs  # noqa: E402
from networks import SPECS, build  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(2006)
net = randomize(swap_convs(build(SPECS['cifar_resnet20'])), torch.Generator().manual_seed(2006)).eval()
x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(12030))
with torch.no_grad():
    y = net(x)
torch.save(net.state_dict(), os.path.join(out, 'doconv_resnet20_cifar.pth'))
np.save(os.path.join(out, 'doconv_resnet20_cifar.input.npy'), x.numpy())
np.save(os.path.join(out, 'doconv_resnet20_cifar.expected.npy'), y.numpy())
print('wrote', out)
