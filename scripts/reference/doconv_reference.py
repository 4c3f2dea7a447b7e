"""A DO-Conv layer for PyTorch written from docs/doconv-layouts.md ("PyTorch" section).

It stores W, D, d_diag and bias under the same names, shapes and order as the authors'
DOConv2d (do_conv_pytorch_1_10.py), and computes the kernel the same way: D + d_diag, W reshaped
to (C_out/g, C_in, D_mul), einsum('ims,ois->oim'). Used only to generate test data.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class DOConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, D_mul=None, stride=1, padding=0,
                 dilation=1, groups=1, bias=False):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (kh, kw)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        mn = kh * kw
        self.D_mul = mn if D_mul is None or mn <= 1 else D_mul
        self.W = nn.Parameter(torch.empty(out_channels, in_channels // groups, self.D_mul))
        nn.init.kaiming_uniform_(self.W, a=math.sqrt(5))
        if mn > 1:
            self.D = nn.Parameter(torch.zeros(in_channels, mn, self.D_mul))
            eye = torch.eye(mn).reshape(1, mn, mn)
            diag = eye.repeat(in_channels, 1, self.D_mul // mn)
            if self.D_mul % mn != 0:
                diag = torch.cat([diag, torch.zeros(in_channels, mn, self.D_mul % mn)], dim=2)
            self.d_diag = nn.Parameter(diag, requires_grad=False)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-0.1, 0.1))
        else:
            self.register_parameter('bias', None)

    def fused_weight(self):
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        if kh * kw > 1:
            D = self.D + self.d_diag
            W = torch.reshape(self.W, (self.out_channels // self.groups, self.in_channels, self.D_mul))
            return torch.reshape(torch.einsum('ims,ois->oim', D, W), shape)
        return torch.reshape(self.W, shape)

    def forward(self, x):
        return F.conv2d(x, self.fused_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


def swap_convs(module):
    """Replace every nn.Conv2d in `module` by a DOConv2d with the same hyper-parameters."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, DOConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                           stride=child.stride, padding=child.padding, dilation=child.dilation,
                                           groups=child.groups, bias=child.bias is not None))
        else:
            swap_convs(child)
    return module


def randomize(module, generator):
    """Non-trivial D and BatchNorm statistics, so a wrong pairing or a missed term shows up."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, DOConv2d) and hasattr(m, 'D'):
                m.D.copy_(torch.randn(m.D.shape, generator=generator) * 0.05)
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return module
