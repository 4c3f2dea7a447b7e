"""Generate DO-Conv test checkpoints with real PyTorch, plus the reference outputs they must give.

Usage: make_cases.py OUTDIR [--only NAME,...]
Writes OUTDIR/<case>.pth, <case>.input.npy, <case>.expected.npy and OUTDIR/manifest.json.
Cases: full-size ResNet-18/50/101/152 and ResNeXt-50 32x4d with every conv a DO-Conv, in the zip
and legacy formats; float16 and bfloat16 checkpoints; a DataParallel training checkpoint with
`module.` prefixes, an optimizer and a numpy scalar; tensors that are views into shared storage.
"""
import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from doconv_reference import randomize, swap_convs  # noqa: E402
from networks import SPECS, build  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('outdir')
p.add_argument('--only', default='')
args = p.parse_args()
os.makedirs(args.outdir, exist_ok=True)
torch.set_num_threads(max(1, os.cpu_count() or 1))

cases = []


def doconv_net(arch, seed, num_classes=1000):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = randomize(swap_convs(build({**SPECS[arch], 'num_classes': num_classes})), g)
    return net.eval()


def reference(net, name, seed, size=(224, 224), batch=2, suffix=''):
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed + 1000))
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(args.outdir, f'{name}.input{suffix}.npy'), x.numpy())
    np.save(os.path.join(args.outdir, f'{name}.expected{suffix}.npy'), y.numpy())


def add(name, arch, obj, legacy=False, num_classes=1000, **extra):
    path = os.path.join(args.outdir, f'{name}.pth')
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    cases.append({'name': name, 'arch': arch, 'file': f'{name}.pth', 'format': 'pytorch-legacy' if legacy else 'pytorch-zip',
                  'spec': {**SPECS[arch], 'num_classes': num_classes}, 'input': f'{name}.input.npy',
                  'expected': f'{name}.expected.npy', **extra})


def wanted(name):
    return not args.only or name in args.only.split(',')


for i, arch in enumerate(['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnext50_32x4d']):
    for legacy in (False, True):
        name = f'{arch}_{"legacy" if legacy else "zip"}'
        if not wanted(name):
            continue
        net = doconv_net(arch, 10 + i)
        reference(net, name, 10 + i)
        # a non-square input as well (the ResNets end in global pooling, so any size >= 32 works)
        reference(net, name, 10 + i, size=(160, 224), suffix='160x224')
        add(name, arch, net.state_dict(), legacy=legacy, dtype='float32', nonSquare=True)

# Structures torchvision names cannot tell apart (v1) or that lack shortcuts (Plain)
for i, arch in enumerate(['resnet50_v1', 'plain18']):
    name = f'{arch}_zip'
    if not wanted(name):
        continue
    net = doconv_net(arch, 70 + i)
    reference(net, name, 70 + i)
    add(name, arch, net.state_dict(), dtype='float32')

# 10 classes, as a fine-tuned network has
for i, arch in enumerate(['resnet18', 'resnext50_32x4d']):
    name = f'{arch}_c10'
    if not wanted(name):
        continue
    net = doconv_net(arch, 20 + i, num_classes=10)
    reference(net, name, 20 + i)
    add(name, arch, net.state_dict(), num_classes=10, dtype='float32')

# Reduced-precision checkpoints: the reference runs in float32 on the rounded parameters.
for dtype_name, dtype in (('float16', torch.float16), ('bfloat16', torch.bfloat16)):
    name = f'resnet18_{dtype_name}'
    if not wanted(name):
        continue
    net = doconv_net('resnet18', 30)
    low = copy.deepcopy(net).to(dtype)
    net.load_state_dict({k: v.float() for k, v in low.state_dict().items()})
    reference(net, name, 30)
    add(name, 'resnet18', low.state_dict(), dtype=dtype_name)

# A DataParallel training checkpoint: nested, `module.` prefixes, optimizer state, numpy scalar.
name = 'resnet18_training'
if wanted(name):
    net = doconv_net('resnet18', 40)
    reference(net, name, 40)
    dp = torch.nn.DataParallel(net)
    opt = torch.optim.SGD(dp.parameters(), lr=0.1, momentum=0.9)
    # one step with zero gradients fills the momentum buffers without changing the weights
    for q in dp.parameters():
        if q.requires_grad:
            q.grad = torch.zeros_like(q)
    opt.step()
    add(name, 'resnet18', {'epoch': 7, 'arch': 'resnet18', 'best_acc1': np.float64(0.5), 'state_dict': dp.state_dict(),
                           'optimizer': opt.state_dict()}, dtype='float32', stateDictKey='state_dict', prefix='module.')

# Tensors that are views: every parameter a slice of one shared flat storage, fc.weight transposed.
name = 'resnet18_views'
if wanted(name):
    net = doconv_net('resnet18', 50)
    reference(net, name, 50)
    sd = net.state_dict()
    total = sum(v.numel() for v in sd.values() if v.is_floating_point())
    flat = torch.empty(total)
    views, at = {}, 0
    for k, v in sd.items():
        if v.is_floating_point():
            views[k] = flat[at:at + v.numel()].view(v.shape)
            views[k].copy_(v)
            at += v.numel()
        else:
            views[k] = v
    views['fc.weight'] = sd['fc.weight'].t().contiguous().t()
    add(name, 'resnet18', views, dtype='float32')

# Every dtype the reader handles, in both formats, with the values numpy sees (bf16 widened to f32).
for legacy in (False, True):
    name = f'dtypes_{"legacy" if legacy else "zip"}'
    if not wanted(name):
        continue
    g = torch.Generator().manual_seed(60)
    base = torch.randn(3, 5, generator=g) * 100
    tensors = {
        'f32': base.clone(), 'f16': base.half(), 'bf16': base.bfloat16(), 'f64': base.double(),
        'i64': (base * 1e6).long(), 'i32': base.int(), 'i16': base.short(), 'i8': base.clamp(-128, 127).char(),
        'u8': base.abs().clamp(0, 255).byte(), 'bool': base > 0,
        'sliced': base[1:, 2:],                      # storage offset and non-contiguous rows
        'transposed': base.t(),                      # non-contiguous strides
        'scalar': torch.tensor(3.5),                 # 0-d tensor
        'empty': torch.zeros(0, 4),
    }
    path = os.path.join(args.outdir, f'{name}.pth')
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    np.savez(os.path.join(args.outdir, f'{name}.values.npz'),
             **{k: (v.float() if v.dtype == torch.bfloat16 else v).numpy().copy(order='C') for k, v in tensors.items()})
    cases.append({'name': name, 'file': f'{name}.pth', 'format': 'pytorch-legacy' if legacy else 'pytorch-zip',
                  'values': f'{name}.values.npz', 'dtypes': {k: str(v.dtype).replace('torch.', '') for k, v in tensors.items()}})

h = hashlib.sha256(open(__file__, 'rb').read()).hexdigest()
with open(os.path.join(args.outdir, 'manifest.json'), 'w') as f:
    json.dump({'generator': h, 'torch': torch.__version__, 'cases': cases}, f, indent=1)
print(json.dumps({'cases': [c['name'] for c in cases]}))
