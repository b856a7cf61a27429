"""ImageNet ResNet-18/34/50/101 in torchvision's layout (He et al. 2016; v1.5 puts the
stride of a bottleneck on its 3x3 conv), built from the same blocks as the CIFAR nets so
that every attention module attaches at the same points.

ELA/DLA Table 2 list ResNet-50 at 25.6M and ResNet-101 at 44.5M parameters (1000 classes).
``deep_stem`` is the MRLA-B ImageNet stem (official-code.md): three 3x3 convs
3->32 (stride 2), 32->32, 32->64, each with BN + ReLU, then the max-pool.
``zero_init_last_bn`` starts the last BN of every residual branch (bn2 of a basic block,
bn3 of a bottleneck) at weight 0, so each block begins as its shortcut: the released
ImageNet MRLA-B, MRLA-L and DLA-L code does this (``zero_init_last_bn=True`` in MRLA's
``resnet_mrla_base.py`` / ``resnet_mrla_light.py`` and DLA's ``resnet_dla_l.py``), and the
layer-attention families make it their ImageNet default; the papers do not mention it.
"""
from __future__ import annotations

import torch.nn as nn

from .backbone import ResNetBackbone, Stage, conv_init_, norm2d
from .cifar_resnet import BasicBlock, Bottleneck
from .registry import ConfigError

__all__ = ["imagenet_resnet", "imagenet_stem", "IMAGENET_LAYERS"]

IMAGENET_LAYERS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def imagenet_stem(in_chans: int, deep: bool, use_bn: bool) -> nn.Sequential:
    if not deep:
        return nn.Sequential(
            nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False), norm2d(64, use_bn),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1),
        )
    layers: list[nn.Module] = []
    for cin, cout, stride in ((in_chans, 32, 2), (32, 32, 1), (32, 64, 1)):
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), norm2d(cout, use_bn),
                   nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    return nn.Sequential(*layers)


def imagenet_resnet(
    depth: int = 50,
    num_classes: int = 1000,
    in_chans: int = 3,
    deep_stem: bool = False,
    use_bn: bool = True,
    skip: bool = True,
    zero_init_last_bn: bool = False,
) -> ResNetBackbone:
    if depth not in IMAGENET_LAYERS:
        raise ConfigError(
            f"depth {depth} is not an ImageNet ResNet depth here: use one of "
            f"{', '.join(map(str, IMAGENET_LAYERS))}"
        )
    block_cls, layers = IMAGENET_LAYERS[depth]
    stages, cin = [], 64
    for s, (planes, n, stride) in enumerate(zip((64, 128, 256, 512), layers, (1, 2, 2, 2))):
        blocks = []
        for i in range(n):
            blk = block_cls(cin, planes, stride if i == 0 else 1, use_bn=use_bn, skip=skip)
            blocks.append(blk)
            cin = blk.out_channels
        stages.append(Stage(s, blocks))
    net = ResNetBackbone(imagenet_stem(in_chans, deep_stem, use_bn), stages, num_classes)
    conv_init_(net)
    if zero_init_last_bn:
        for stage in stages:
            for blk in stage.blocks:
                last = blk.bn3 if isinstance(blk, Bottleneck) else blk.bn2
                if isinstance(last, nn.BatchNorm2d):
                    nn.init.zeros_(last.weight)
    return net
