"""torchvision networks from a small JSON spec, shared by the generator and the cross-check loader."""
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


def build(spec):
    block = BasicBlock if spec['block'] == 'basic' else Bottleneck
    return ResNet(block, spec['layers'], num_classes=spec.get('num_classes', 1000),
                  groups=spec.get('groups', 1), width_per_group=spec.get('width_per_group', 64))


SPECS = {
    'resnet18': {'block': 'basic', 'layers': [2, 2, 2, 2]},
    'resnet50': {'block': 'bottleneck', 'layers': [3, 4, 6, 3]},
    'resnet101': {'block': 'bottleneck', 'layers': [3, 4, 23, 3]},
    'resnet152': {'block': 'bottleneck', 'layers': [3, 8, 36, 3]},
    'resnext50_32x4d': {'block': 'bottleneck', 'layers': [3, 4, 6, 3], 'groups': 32, 'width_per_group': 4},
}
