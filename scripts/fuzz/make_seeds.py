"""Writes the seed files of the fuzz tier (test/fuzz/fuzz.test.ts) into test/data/fuzz-seeds/:
one small DO-Conv network (the DO-Conv authors' MNIST sample: conv1..conv3, 3x3, 1 -> 8 -> 8 -> 10
channels, every layer a DOConv2d with D_mul = M*N = 9) in every format a reader of doconv-zoo takes.

  pickle/legacy.pth      torch.save(..., _use_new_zipfile_serialization=False) of a wrapped checkpoint
                         (state_dict, epoch, accuracy, arch, a tensor view sharing conv1.W's storage)
  zip/zip.pth            torch.save(state_dict) (zip format)
  hdf5/keras.h5          a Keras 2 save_weights() layout written with h5py (kernel, bias, D per layer;
                         conv2's datasets chunked with shuffle + deflate + fletcher32)
  params/gluon.params    a GluonCV DOConv2D NDArray list (weight, D, bias)
  npy/input.npy          a (1, 1, 28, 28) float32 batch, as `predict --input` takes
  npz/fused.npz          np.savez of the fused state dict
  safetensors/fused.safetensors, onnx/tiny.onnx, tfjs/model.json + shard: doconv-zoo's own writers
                         (node dist/cli/main.js convert; run `npm run build` first)
  registry/              `doconv-zoo registry add` of zip.pth (manifest.json + artifacts/tiny.pth)
  tar/tfjs.tar, tar/tfjs.tar.gz: the tfjs folder as a registry archive artifact would hold it

Deterministic (fixed seeds); run from the repository root with Debian's python3 (torch 1.13, h5py):
  /usr/bin/python3 scripts/fuzz/make_seeds.py
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from mxnet_params import write_params  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'test', 'data', 'fuzz-seeds')
CLI = os.path.join(ROOT, 'dist', 'cli', 'main.js')
CHANNELS = [(1, 8), (8, 8), (8, 10)]
MN = 9


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def doconv_state_dict():
    """conv{i}.W (C_out, C_in, D_mul), .D and .d_diag (C_in, M*N, D_mul), .bias: do_conv_pytorch.py's names."""
    g = torch.Generator().manual_seed(1234)
    sd = {}
    for i, (cin, cout) in enumerate(CHANNELS, 1):
        sd[f'conv{i}.W'] = torch.randn(cout, cin, MN, generator=g) * 0.2
        sd[f'conv{i}.D'] = torch.randn(cin, MN, MN, generator=g) * 0.05
        sd[f'conv{i}.d_diag'] = torch.eye(MN).reshape(1, MN, MN).repeat(cin, 1, 1)
        sd[f'conv{i}.bias'] = torch.randn(cout, generator=g) * 0.1
    return sd


def fused(sd):
    """DoW = einsum('ims,ois->oim', D + d_diag, W) reshaped to (C_out, C_in, 3, 3), as the reference fuses."""
    out = {}
    for i, (cin, cout) in enumerate(CHANNELS, 1):
        D = sd[f'conv{i}.D'] + sd[f'conv{i}.d_diag']
        out[f'conv{i}.weight'] = torch.einsum('ims,ois->oim', D, sd[f'conv{i}.W']).reshape(cout, cin, 3, 3).contiguous()
        out[f'conv{i}.bias'] = sd[f'conv{i}.bias']
    return out


def write_pytorch(sd):
    torch.save(sd, path('zip', 'zip.pth'))
    wrapped = {'state_dict': sd, 'epoch': 3, 'best_acc': 0.9125, 'arch': 'doconv_mnist_sample',
               'view': sd['conv1.W'][:, :, :3], 'history': [(1, 0.5), (2, 0.75), (3, 0.9125)]}
    torch.save(wrapped, path('pickle', 'legacy.pth'), _use_new_zipfile_serialization=False)


def write_keras(sd):
    """Keras naming: layer group conv{i}/conv{i}/kernel:0 (D_mul, C_in, C_out), bias:0, D:0 (M*N, D_mul, C_in)."""
    with h5py.File(path('hdf5', 'keras.h5'), 'w') as f:
        names = []
        for i, (cin, cout) in enumerate(CHANNELS, 1):
            lname = f'conv{i}'
            inner = f.create_group(lname).create_group(lname)
            kernel = sd[f'conv{i}.W'].numpy().transpose(2, 1, 0).copy()
            D = sd[f'conv{i}.D'].numpy().transpose(1, 2, 0).copy()
            extra = {'chunks': True, 'compression': 'gzip', 'shuffle': True, 'fletcher32': True} if i == 2 else {}
            inner.create_dataset('kernel:0', data=kernel, **extra)
            inner.create_dataset('bias:0', data=sd[f'conv{i}.bias'].numpy())
            inner.create_dataset('D:0', data=D, **extra)
            f[lname].attrs['weight_names'] = np.array([f'{lname}/{w}:0'.encode() for w in ('kernel', 'bias', 'D')])
            names.append(lname)
        f.attrs['layer_names'] = np.array([n.encode() for n in names])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.11.0'


def write_gluon(sd):
    """MXNet NDArray list (magic 0x112): GluonCV DOConv2D weight (C_out, C_in, 3, 3) and D (M*N, M*N, C_in)."""
    arrays = []
    for i, (cin, cout) in enumerate(CHANNELS, 1):
        W = sd[f'conv{i}.W'].numpy().reshape(cout, cin, 3, 3)
        arrays.append((f'arg:conv{i}_weight', W))
        arrays.append((f'arg:conv{i}_D', sd[f'conv{i}.D'].numpy().transpose(1, 2, 0).copy()))
        arrays.append((f'arg:conv{i}_bias', sd[f'conv{i}.bias'].numpy()))
    write_params(path('params', 'gluon.params'), arrays)


def write_numpy(sd):
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(99)).numpy()
    np.save(path('npy', 'input.npy'), x)
    np.savez(path('npz', 'fused.npz'), **{k: v.numpy() for k, v in fused(sd).items()})


def cli(*args):
    subprocess.run(['node', CLI, *args, '-q'], check=True, cwd=ROOT)


def write_with_doconv_zoo():
    zip_pth = path('zip', 'zip.pth')
    cli('convert', zip_pth, '-o', path('safetensors', 'fused.safetensors'))
    cli('convert', zip_pth, '-o', path('onnx', 'tiny.onnx'))
    tfjs = os.path.join(OUT, 'tfjs')
    shutil.rmtree(tfjs, ignore_errors=True)
    cli('convert', zip_pth, '--to', 'tfjs', '-o', tfjs)
    registry = os.path.join(OUT, 'registry')
    shutil.rmtree(registry, ignore_errors=True)
    os.makedirs(registry)
    cli('registry', 'add', zip_pth, '--name', 'tiny', '--registry', registry, '--license', 'MIT')


def write_tars():
    """The tfjs folder as plain tar and as tar.gz, with fixed mtimes and owners (reproducible bytes)."""
    tfjs = os.path.join(OUT, 'tfjs')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name in sorted(os.listdir(tfjs)):
            info = t.gettarinfo(os.path.join(tfjs, name), arcname=f'tiny/{name}')
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, '', ''
            with open(os.path.join(tfjs, name), 'rb') as fh:
                t.addfile(info, fh)
    data = buf.getvalue()
    with open(path('tar', 'tfjs.tar'), 'wb') as f:
        f.write(data)
    import gzip
    with open(path('tar', 'tfjs.tar.gz'), 'wb') as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def main():
    if not os.path.exists(CLI):
        sys.exit(f'{CLI} is missing: run npm run build first')
    sd = doconv_state_dict()
    write_pytorch(sd)
    write_keras(sd)
    write_gluon(sd)
    write_numpy(sd)
    write_with_doconv_zoo()
    write_tars()
    total = 0
    for d, _, files in os.walk(OUT):
        for n in files:
            total += os.path.getsize(os.path.join(d, n))
            print(f'{os.path.relpath(os.path.join(d, n), OUT)}: {os.path.getsize(os.path.join(d, n))} bytes')
    print(f'total {total} bytes')


if __name__ == '__main__':
    main()
