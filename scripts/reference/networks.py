"""Plain networks (ordinary nn.Conv2d) from a small JSON spec, shared by the generators and the
cross-check loader. The DO-Conv versions are these with every conv swapped (doconv_reference.py)."""
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class CifarBlock(nn.Module):
    def __init__(self, cin, cout, stride, groups=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, groups=groups)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class CifarResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016, section 4.2) with 1x1 projection shortcuts, torchvision-style names."""

    def __init__(self, blocks_per_stage=3, num_classes=10, in_channels=3, groups=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], 16
        for i, cout in enumerate((16, 32, 64)):
            blocks = [CifarBlock(cin, cout, 1 if i == 0 else 2, groups)] + [CifarBlock(cout, cout, 1, groups) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class PlainBlock(BasicBlock):
    """A BasicBlock without its shortcut: conv-BN-ReLU-conv-BN-ReLU (the paper's Plain network)."""

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class MnistSample(nn.Module):
    """The DO-Conv authors' MNIST sample: 3x3 stride-2 convs with ReLU between, global average pooling."""

    def __init__(self, widths=(32, 64), num_classes=10):
        super().__init__()
        chans = [1, *widths, num_classes]
        for i in range(len(chans) - 1):
            setattr(self, f'conv{i + 1}', nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1))
        self.n = len(chans) - 1

    def forward(self, x):
        for i in range(1, self.n + 1):
            x = getattr(self, f'conv{i}')(x)
            if i < self.n:
                x = torch.relu(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def build(spec):
    if spec.get('family') == 'cifar_resnet':
        return CifarResNet(spec.get('blocks_per_stage', 3), spec.get('num_classes', 10), spec.get('in_channels', 3), spec.get('groups', 1))
    if spec.get('family') == 'mnist_sample':
        return MnistSample(spec.get('widths', [32, 64]), spec.get('num_classes', 10))
    family = spec.get('family', 'resnet_v1b')
    block = BasicBlock if spec['block'] == 'basic' else Bottleneck
    if family == 'plain':
        block = PlainBlock
    net = ResNet(block, spec['layers'], num_classes=spec.get('num_classes', 1000),
                 groups=spec.get('groups', 1), width_per_group=spec.get('width_per_group', 64))
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for b in layer:
            if family == 'plain':
                b.downsample = None
            elif family == 'resnet_v1' and isinstance(b, Bottleneck) and b.conv2.stride != (1, 1):
                # GluonCV ResNetV1: the bottleneck strides its first 1x1 conv, not the 3x3
                b.conv1.stride, b.conv2.stride = b.conv2.stride, (1, 1)
    return net


SPECS = {
    'resnet18': {'block': 'basic', 'layers': [2, 2, 2, 2]},
    'resnet34': {'block': 'basic', 'layers': [3, 4, 6, 3]},
    'resnet50': {'block': 'bottleneck', 'layers': [3, 4, 6, 3]},
    'resnet101': {'block': 'bottleneck', 'layers': [3, 4, 23, 3]},
    'resnet152': {'block': 'bottleneck', 'layers': [3, 8, 36, 3]},
    'resnext50_32x4d': {'block': 'bottleneck', 'layers': [3, 4, 6, 3], 'groups': 32, 'width_per_group': 4},
    'resnet50_v1': {'family': 'resnet_v1', 'block': 'bottleneck', 'layers': [3, 4, 6, 3]},
    'plain18': {'family': 'plain', 'block': 'basic', 'layers': [2, 2, 2, 2]},
    'cifar_resnet20': {'family': 'cifar_resnet', 'blocks_per_stage': 3, 'num_classes': 10},
}
