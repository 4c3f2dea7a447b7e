"""A small DO-Conv network for the whole-model (torch.save(model)) test files.

`Net(plain=False)` uses the reference DOConv2d; `Net(plain=True)` is the same network with
ordinary nn.Conv2d layers, the network a fused checkpoint must load into with strict=True.
It has nested `_modules`, a conv without bias (bias registered as None), a persistent and a
non-persistent buffer, and a tensor held as a plain attribute (not part of state_dict()).
"""
import torch
from torch import nn

from doconv_reference import DOConv2d


def conv(plain, cin, cout, k, **kw):
    return nn.Conv2d(cin, cout, k, **kw) if plain else DOConv2d(cin, cout, k, **kw)


class Block(nn.Module):
    def __init__(self, plain, channels):
        super().__init__()
        self.conv = conv(plain, channels, channels, 3, padding=1, groups=2, bias=True)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)) + x)


class Net(nn.Module):
    def __init__(self, plain=False):
        super().__init__()
        self.conv1 = conv(plain, 3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.body = nn.Sequential(Block(plain, 4), conv(plain, 4, 6, 1, bias=True), nn.ReLU())
        self.fc = nn.Linear(6, 5)
        self.register_buffer('scale', torch.tensor([0.5]))
        self.register_buffer('scratch', torch.zeros(3), persistent=False)
        self.plain_attribute = torch.ones(2)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.body(x).mean(dim=(2, 3))
        return self.fc(x) * self.scale


class Holder:
    """A plain object (not a module) holding tensors in its __dict__."""

    def __init__(self):
        self.weights = {'a': torch.ones(2), 'b': torch.arange(3.0)}


class TensorList(list):
    """A list subclass: pickled with its items as the object's list items (APPENDS)."""


class Slotted:
    """An object whose tensors sit in __slots__: pickled state (None, {slot: value})."""
    __slots__ = ('t',)

    def __init__(self, t):
        self.t = t


class AttributesOnly(nn.Module):
    """A module whose only tensor is a plain attribute: its state_dict() is empty."""

    def __init__(self):
        super().__init__()
        self.table = torch.ones(4)
