"""A Keras-named DO-Conv ResNet50 (keras.applications naming: conv1_conv, conv2_block1_1_conv, ...,
predictions) as a Keras 2 save_weights() HDF5 file written with h5py, every conv a DOConv2D (kernel
(D_mul, C_in/g, C_out), bias, D (M*N, D_mul, C_in); 1x1 layers without D), and the outputs a torch
mirror of keras/applications/resnet.py gives with the kernels fused by a NumPy transcription of
do_conv_tensorflow.py. Usage: make_keras_cases.py OUTDIR"""
import json
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
EPS = 1.001e-5


def keras_fuse(kernel, D, groups):
    """do_conv_tensorflow.py: DoW = reshape(einsum('msi,sio->mio', D + diag, reshape(W, (D_mul, C_in, C_out/g))))."""
    d_mul, ipg, c_out = kernel.shape
    mn = D.shape[0]
    c_in = ipg * groups
    M = int(round(mn ** 0.5))
    diag = np.zeros((mn, d_mul), np.float32)
    for s in range(mn * (d_mul // mn)):
        diag[s % mn, s] = 1
    W = kernel.reshape(d_mul, c_in, c_out // groups)
    K = np.einsum('msi,sio->mio', D + diag[:, :, None], W).reshape(M, M, ipg, c_out)
    return np.ascontiguousarray(np.transpose(K, (3, 2, 0, 1)))


class Block(nn.Module):
    """block1: stride on the first 1x1; every conv has a bias; BN epsilon 1.001e-5."""

    def __init__(self, cin, filters, stride, shortcut):
        super().__init__()
        self.c0 = nn.Conv2d(cin, 4 * filters, 1, stride) if shortcut else None
        self.b0 = nn.BatchNorm2d(4 * filters, eps=EPS) if shortcut else None
        self.c1, self.b1 = nn.Conv2d(cin, filters, 1, stride), nn.BatchNorm2d(filters, eps=EPS)
        self.c2, self.b2 = nn.Conv2d(filters, filters, 3, 1, 1), nn.BatchNorm2d(filters, eps=EPS)
        self.c3, self.b3 = nn.Conv2d(filters, 4 * filters, 1), nn.BatchNorm2d(4 * filters, eps=EPS)

    def forward(self, x):
        s = x if self.c0 is None else self.b0(self.c0(x))
        y = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(y)))
        return torch.relu(s + self.b3(self.c3(y)))


class KerasResNet50(nn.Module):
    def __init__(self, classes=1000, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64, eps=EPS)
        self.pool = nn.MaxPool2d(3, 2, 1)  # ZeroPadding2D(1) + MaxPool(3, 2) after a ReLU: the same
        self.stages = nn.ModuleList()
        cin = 64
        for i, (f, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            self.stages.append(nn.ModuleList([Block(cin if j == 0 else 4 * f, f, (1 if i == 0 else 2) if j == 0 else 1, j == 0) for j in range(n)]))
            cin = 4 * f
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            for b in stage:
                x = b(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def keras_layers(net):
    """(keras layer name, torch conv or BN or Linear) in the order keras.applications builds them."""
    yield 'conv1_conv', net.conv1
    yield 'conv1_bn', net.bn1
    for i, stage in enumerate(net.stages):
        for j, b in enumerate(stage):
            n = f'conv{i + 2}_block{j + 1}'
            if b.c0 is not None:
                yield f'{n}_0_conv', b.c0
            for k in (1, 2, 3):
                yield f'{n}_{k}_conv', getattr(b, f'c{k}')
                yield f'{n}_{k}_bn', getattr(b, f'b{k}')
            if b.c0 is not None:
                yield f'{n}_0_bn', b.b0
    yield 'predictions', net.fc


class BlockV2(nn.Module):
    """block2: pre-activation; 1x1 conv shortcut (stride 1) on a stage's first block, a 1x1 max-pool
    shortcut where the block strides; _1_conv and _2_conv without bias, _0_conv and _3_conv with."""

    def __init__(self, cin, filters, stride, conv_shortcut):
        super().__init__()
        self.preact = nn.BatchNorm2d(cin, eps=EPS)
        self.c0 = nn.Conv2d(cin, 4 * filters, 1) if conv_shortcut else None
        self.stride = stride
        self.c1, self.b1 = nn.Conv2d(cin, filters, 1, bias=False), nn.BatchNorm2d(filters, eps=EPS)
        self.c2, self.b2 = nn.Conv2d(filters, filters, 3, stride, 1, bias=False), nn.BatchNorm2d(filters, eps=EPS)
        self.c3 = nn.Conv2d(filters, 4 * filters, 1)

    def forward(self, x):
        p = torch.relu(self.preact(x))
        s = self.c0(p) if self.c0 is not None else (nn.functional.max_pool2d(x, 1, self.stride) if self.stride > 1 else x)
        y = torch.relu(self.b1(self.c1(p)))
        y = torch.relu(self.b2(self.c2(y)))
        return s + self.c3(y)


class KerasResNet50V2(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3)
        self.stages = nn.ModuleList()
        cin = 64
        for f, n, stride1 in ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)):
            blocks = [BlockV2(cin, f, 1, True)] + [BlockV2(4 * f, f, 1, False) for _ in range(n - 2)] + [BlockV2(4 * f, f, stride1, False)]
            self.stages.append(nn.ModuleList(blocks))
            cin = 4 * f
        self.post_bn = nn.BatchNorm2d(2048, eps=EPS)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(nn.functional.pad(self.conv1(x), (1, 1, 1, 1)), 3, 2)  # ZeroPadding2D + MaxPooling2D
        for stage in self.stages:
            for b in stage:
                x = b(x)
        x = torch.relu(self.post_bn(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def keras_layers_v2(net):
    yield 'conv1_conv', net.conv1
    for i, stage in enumerate(net.stages):
        for j, b in enumerate(stage):
            n = f'conv{i + 2}_block{j + 1}'
            yield f'{n}_preact_bn', b.preact
            if b.c0 is not None:
                yield f'{n}_0_conv', b.c0
            yield f'{n}_1_conv', b.c1
            yield f'{n}_1_bn', b.b1
            yield f'{n}_2_conv', b.c2
            yield f'{n}_2_bn', b.b2
            yield f'{n}_3_conv', b.c3
    yield 'post_bn', net.post_bn
    yield 'predictions', net.fc


def save(name, net, layers, seed):
    rng = np.random.default_rng(seed)
    with h5py.File(os.path.join(out, f'{name}.h5'), 'w') as f, torch.no_grad():
        names = ['input_1', 'conv1_pad']
        f.create_group('input_1').attrs['weight_names'] = np.array([], dtype='S1')
        f.create_group('conv1_pad').attrs['weight_names'] = np.array([], dtype='S1')
        for lname, m in layers:
            g = f.create_group(lname)
            inner = g.create_group(lname)
            weights = []
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                vals = {'gamma': rng.uniform(0.5, 1.0, c), 'beta': rng.normal(0, 0.1, c), 'moving_mean': rng.normal(0, 0.1, c), 'moving_variance': rng.uniform(0.75, 1.25, c)}
                for k, v in vals.items():
                    inner.create_dataset(f'{k}:0', data=v.astype(np.float32))
                    weights.append(f'{lname}/{k}:0')
                m.weight.copy_(torch.from_numpy(vals['gamma'].astype(np.float32)))
                m.bias.copy_(torch.from_numpy(vals['beta'].astype(np.float32)))
                m.running_mean.copy_(torch.from_numpy(vals['moving_mean'].astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(vals['moving_variance'].astype(np.float32)))
            elif isinstance(m, nn.Linear):
                inner.create_dataset('kernel:0', data=m.weight.numpy().T.copy())
                inner.create_dataset('bias:0', data=m.bias.numpy())
                weights += [f'{lname}/kernel:0', f'{lname}/bias:0']
            else:
                k = m.kernel_size[0]
                mn = k * k
                kernel = (m.weight.numpy().reshape(m.out_channels, m.in_channels, mn).transpose(2, 1, 0)).copy()  # (D_mul, ipg, C_out)
                inner.create_dataset('kernel:0', data=kernel)
                weights.append(f'{lname}/kernel:0')
                if m.bias is not None:
                    inner.create_dataset('bias:0', data=m.bias.numpy())
                    weights.append(f'{lname}/bias:0')
                if mn > 1:
                    D = rng.normal(0, 0.05, (mn, mn, m.in_channels)).astype(np.float32)
                    inner.create_dataset('D:0', data=D)
                    weights.append(f'{lname}/D:0')
                    m.weight.copy_(torch.from_numpy(keras_fuse(kernel, D, 1)))
            g.attrs['weight_names'] = np.array([w.encode() for w in weights])
            names.append(lname)
        f.attrs['layer_names'] = np.array([n.encode() for n in names])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.11.0'
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(out, f'{name}.input.npy'), x.numpy().transpose(0, 2, 3, 1).copy())  # NHWC, as Keras feeds it
    np.save(os.path.join(out, f'{name}.expected.npy'), y.numpy())
    with torch.no_grad():  # the same network in float64: how well-conditioned the float32 reference is
        np.save(os.path.join(out, f'{name}.expected64.npy'), net.double()(x.double()).numpy())
    net.float()
    return {'name': name, 'file': f'{name}.h5', 'input': f'{name}.input.npy', 'expected': f'{name}.expected.npy'}


torch.manual_seed(90)
v1 = KerasResNet50().eval()
torch.manual_seed(92)
v2 = KerasResNet50V2().eval()
cases = [save('keras_resnet50', v1, keras_layers(v1), 90), save('keras_resnet50_v2', v2, keras_layers_v2(v2), 92)]
json.dump({'cases': cases}, open(os.path.join(out, 'keras_manifest.json'), 'w'))
print([c['name'] for c in cases])
