"""GluonCV-named DO-Conv .params files (NDArray V2 records, written here byte by byte) and the outputs
they must give. Every conv with a kernel larger than 1x1 is a DOConv2D (weight + D); the kernel the
Gluon reference hands to its conv op is computed by a NumPy transcription of do_conv_gluoncv.py
(weight transposed to (M, N, ipg, C_out), the Keras einsum 'msi,sio->mio', transposed back) and run
in a torch mirror of the GluonCV network.

Usage: make_gluon_cases.py OUTDIR  ->  <case>.params, .input.npy, .expected.npy, gluon_manifest.json
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gluon_networks import GluonResNet  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def gluon_fuse(weight, D):
    """do_conv_gluoncv.py, transcribed: W = weight as (MN, ipg, C_out); DoW = einsum(D + diag, W reshaped)."""
    c_out, ipg, M, N = weight.shape
    mn = M * N
    c_in = D.shape[2]
    g = c_in // ipg
    W = np.transpose(weight, (2, 3, 1, 0)).reshape(mn, ipg, c_out)
    Dt = D + np.eye(mn, dtype=np.float32).reshape(mn, mn, 1)
    W2 = W.reshape(mn, c_in, c_out // g)
    K = np.einsum('msi,sio->mio', Dt, W2).reshape(M, N, ipg, c_out)
    return np.ascontiguousarray(np.transpose(K, (3, 2, 0, 1)))


def write_params(path, arrays):
    with open(path, 'wb') as f:
        f.write(struct.pack('<QQQ', 0x112, 0, len(arrays)))
        for _, a in arrays:
            a = np.ascontiguousarray(a, dtype=np.float32)
            f.write(struct.pack('<Iii', 0xF993FAC9, 0, a.ndim))
            f.write(struct.pack(f'<{a.ndim}q', *a.shape))
            f.write(struct.pack('<iii', 1, 0, 0))
            f.write(a.tobytes())
        f.write(struct.pack('<Q', len(arrays)))
        for name, _ in arrays:
            b = name.encode()
            f.write(struct.pack('<Q', len(b)))
            f.write(b)


def make(name, version, block, layers, seed, **kw):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = GluonResNet(version, block, layers, **kw).eval()
    arrays = []
    bn_modules = {n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    with torch.no_grad():
        for mname, m in net.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.75, 1.25, c).astype(np.float32)))
                if mname == 'features.0' and version == 2:
                    continue  # the input BN: gamma 1 and beta 0 in the network
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.0, c).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))
        for pname, t in net.state_dict().items():
            owner, _, leaf = pname.rpartition('.')
            if leaf == 'num_batches_tracked':
                continue
            mod = dict(net.named_modules())[owner]
            if owner in bn_modules:
                gname = {'weight': 'gamma', 'bias': 'beta'}.get(leaf, leaf)
                value = t.numpy()
                if owner == 'features.0' and version == 2 and leaf == 'weight':
                    value = rng.uniform(0.5, 1.5, 3).astype(np.float32)  # stored, but fix_gamma ignores it
                arrays.append((f'{owner}.{gname}', value))
            elif isinstance(mod, torch.nn.Conv2d) and leaf == 'weight' and t.shape[2] * t.shape[3] > 1:
                mn = t.shape[2] * t.shape[3]
                D = rng.normal(0, 0.05, (mn, mn, mod.in_channels)).astype(np.float32)
                weight = t.numpy().copy()
                arrays.append((pname, weight))
                arrays.append((f'{owner}.D', D))
                t.copy_(torch.from_numpy(gluon_fuse(weight, D)))
            else:
                arrays.append((pname, t.numpy().copy()))
    write_params(os.path.join(out, f'{name}.params'), arrays)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(out, f'{name}.input.npy'), x.numpy())
    np.save(os.path.join(out, f'{name}.expected.npy'), y.numpy())
    return {'name': name, 'file': f'{name}.params', 'arch': name, 'input': f'{name}.input.npy', 'expected': f'{name}.expected.npy'}


cases = [
    make('resnet50_v1', 1, 'bottleneck', [3, 4, 6, 3], 80),
    make('resnet50_v2', 2, 'bottleneck', [3, 4, 6, 3], 81),
    make('resnext50_32x4d', 1, 'bottleneck', [3, 4, 6, 3], 82, groups=32, width_per_group=4),
    make('resnet18_v1', 1, 'basic', [2, 2, 2, 2], 83),
    make('resnet18_v2', 2, 'basic', [2, 2, 2, 2], 84),
]
json.dump({'cases': cases}, open(os.path.join(out, 'gluon_manifest.json'), 'w'), indent=1)
print(json.dumps([c['name'] for c in cases]))
