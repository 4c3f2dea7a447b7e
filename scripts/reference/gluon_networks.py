"""Torch mirrors of GluonCV's ResNetV1, ResNetV2 and ResNeXt (gluoncv/model_zoo/resnet.py, resnext.py)
with module paths equal to GluonCV's structural parameter names (features.N..., body.K, output), so a
state_dict maps onto a save_parameters file by renaming BatchNorm weight/bias to gamma/beta."""
import torch
from torch import nn


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5)


class BasicBlockV1(nn.Module):
    def __init__(self, cin, channels, stride, downsample):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, channels, 3, stride, 1, bias=False), bn(channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, 1, 1, bias=False), bn(channels))
        self.downsample = nn.Sequential(nn.Conv2d(cin, channels, 1, stride, bias=False), bn(channels)) if downsample else None

    def forward(self, x):
        r = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.body(x) + r)


class BottleneckV1(nn.Module):
    """GluonCV BottleneckV1: the stride is on the first 1x1 conv, and both 1x1 convs have biases."""

    def __init__(self, cin, channels, stride, downsample, groups=1, width=None, bias=True):
        super().__init__()
        w = width or channels // 4
        s1, s2 = (stride, 1) if groups == 1 and width is None else (1, stride)
        self.body = nn.Sequential(nn.Conv2d(cin, w, 1, s1, bias=bias), bn(w), nn.ReLU(),
                                  nn.Conv2d(w, w, 3, s2, 1, groups=groups, bias=False), bn(w), nn.ReLU(),
                                  nn.Conv2d(w, channels, 1, 1, bias=bias), bn(channels))
        self.downsample = nn.Sequential(nn.Conv2d(cin, channels, 1, stride, bias=False), bn(channels)) if downsample else None

    def forward(self, x):
        r = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.body(x) + r)


class BasicBlockV2(nn.Module):
    def __init__(self, cin, channels, stride, downsample):
        super().__init__()
        self.bn1 = bn(cin)
        self.conv1 = nn.Conv2d(cin, channels, 3, stride, 1, bias=False)
        self.bn2 = bn(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.downsample = nn.Conv2d(cin, channels, 1, stride, bias=False) if downsample else None

    def forward(self, x):
        a = torch.relu(self.bn1(x))
        r = x if self.downsample is None else self.downsample(a)
        return self.conv2(torch.relu(self.bn2(self.conv1(a)))) + r


class BottleneckV2(nn.Module):
    def __init__(self, cin, channels, stride, downsample):
        super().__init__()
        w = channels // 4
        self.bn1 = bn(cin)
        self.conv1 = nn.Conv2d(cin, w, 1, 1, bias=False)
        self.bn2 = bn(w)
        self.conv2 = nn.Conv2d(w, w, 3, stride, 1, bias=False)
        self.bn3 = bn(w)
        self.conv3 = nn.Conv2d(w, channels, 1, 1, bias=False)
        self.downsample = nn.Conv2d(cin, channels, 1, stride, bias=False) if downsample else None

    def forward(self, x):
        a = torch.relu(self.bn1(x))
        r = x if self.downsample is None else self.downsample(a)
        y = self.conv1(a)
        y = self.conv2(torch.relu(self.bn2(y)))
        return self.conv3(torch.relu(self.bn3(y))) + r


class GluonResNet(nn.Module):
    def __init__(self, version, block, layers, classes=1000, groups=1, width_per_group=4):
        super().__init__()
        bottleneck = block == 'bottleneck'
        channels = [64, 256, 512, 1024, 2048] if bottleneck else [64, 64, 128, 256, 512]
        feats = []
        if version == 2:
            feats.append(nn.BatchNorm2d(3, eps=1e-5))  # scale=False, center=False: gamma 1, beta 0
        feats += [nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        cin = channels[0]
        for i, n in enumerate(layers):
            stride = 1 if i == 0 else 2
            out = channels[i + 1]
            blocks = []
            for j in range(n):
                s, ds, c = (stride, out != cin, cin) if j == 0 else (1, False, out)
                if version == 1 and groups > 1:
                    w = int((out // 4) * width_per_group / 64) * groups
                    blocks.append(BottleneckV1(c, out, s, ds, groups=groups, width=w, bias=False))
                elif version == 1:
                    blocks.append((BottleneckV1 if bottleneck else BasicBlockV1)(c, out, s, ds))
                else:
                    blocks.append((BottleneckV2 if bottleneck else BasicBlockV2)(c, out, s, ds))
            feats.append(nn.Sequential(*blocks))
            cin = out
        if version == 2:
            feats += [bn(cin), nn.ReLU()]
        feats.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*feats)
        self.output = nn.Linear(cin, classes)

    def forward(self, x):
        return self.output(torch.flatten(self.features(x), 1))
