"""CIFAR ResNets as the released code of DLA/DIANet builds them (official-code.md).

* ``bottleneck`` (the papers' "ResNet-20/56/110/164"): depth = 9n + 2, planes 16/32/64,
  expansion 4, so the stage outputs are 64/128/256 channels and the head is
  Linear(256, classes). This is why ELA/DLA Table 1 list ResNet-20 at 0.22M (CIFAR-10)
  and 0.24M (CIFAR-100) parameters.
* ``basic``: the original He et al. 6n + 2 ResNet (16/32/64 channels), offered for
  completeness; no paper table uses it.
* ``preact``: pre-activation bottleneck ResNet (He et al. 2016b; DIANet's PreResNet-164).

Stem conv3x3(in->16) [+ BN + ReLU for post-activation nets]; projection shortcut
(conv1x1 + BN) only where stride or width changes; post-activation blocks
conv1x1-BN-ReLU, conv3x3(stride)-BN-ReLU, conv1x1-BN, add, ReLU.

``use_bn=False`` removes every BatchNorm of the backbone (DIA Table XVI) and
``skip=False`` removes every identity path (DIA Figs 13-14).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .backbone import ResidualBlock, ResNetBackbone, Stage, conv_init_, norm2d
from .registry import ConfigError

__all__ = ["Bottleneck", "BasicBlock", "PreActBottleneck", "cifar_resnet", "blocks_per_stage", "PAPER_DEPTHS"]

#: Depths used in the papers' tables (bottleneck, 9n+2).
PAPER_DEPTHS = (20, 56, 83, 110, 164, 245, 326, 407)


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class Bottleneck(ResidualBlock):
    """Post-activation bottleneck (expansion 4); attention acts on the bn3 output."""

    expansion = 4
    last_norm = "bn3"

    def __init__(self, cin: int, planes: int, stride: int = 1, use_bn: bool = True, skip: bool = True,
                 groups: int = 1, width: int | None = None, out_channels: int | None = None):
        super().__init__(skip=skip)
        width = width or planes
        cout = out_channels or planes * self.expansion  # ResNeXt sets its output width directly
        self.in_channels, self.out_channels, self.branch_channels, self.stride = cin, cout, cout, stride
        self.conv1, self.bn1 = conv1x1(cin, width), norm2d(width, use_bn)
        self.conv2, self.bn2 = conv3x3(width, width, stride, groups), norm2d(width, use_bn)
        self.conv3, self.bn3 = conv1x1(width, cout), norm2d(cout, use_bn)
        self.downsample = (
            nn.Sequential(conv1x1(cin, cout, stride), norm2d(cout, use_bn))
            if stride != 1 or cin != cout else None
        )

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)


class BasicBlock(ResidualBlock):
    """Post-activation basic block (two 3x3 convs), expansion 1."""

    expansion = 1
    last_norm = "bn2"

    def __init__(self, cin: int, planes: int, stride: int = 1, use_bn: bool = True, skip: bool = True):
        super().__init__(skip=skip)
        self.in_channels, self.out_channels, self.branch_channels, self.stride = cin, planes, planes, stride
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), norm2d(planes, use_bn)
        self.conv2, self.bn2 = conv3x3(planes, planes), norm2d(planes, use_bn)
        self.downsample = (
            nn.Sequential(conv1x1(cin, planes, stride), norm2d(planes, use_bn))
            if stride != 1 or cin != planes else None
        )

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)


class PreActBottleneck(ResidualBlock):
    """Pre-activation bottleneck: BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1.

    The projection shortcut is a bare conv1x1 on the block input (He et al. 2016b);
    there is no ReLU after the addition. Attention acts on the conv3 output.
    """

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, use_bn: bool = True, skip: bool = True):
        super().__init__(skip=skip, post_act=False)
        cout = planes * self.expansion
        self.in_channels, self.out_channels, self.branch_channels, self.stride = cin, cout, cout, stride
        self.bn1, self.conv1 = norm2d(cin, use_bn), conv1x1(cin, planes)
        self.bn2, self.conv2 = norm2d(planes, use_bn), conv3x3(planes, planes, stride)
        self.bn3, self.conv3 = norm2d(planes, use_bn), conv1x1(planes, cout)
        self.downsample = conv1x1(cin, cout, stride) if stride != 1 or cin != cout else None

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(torch.relu(self.bn1(x)))
        out = self.conv2(torch.relu(self.bn2(out)))
        return self.conv3(torch.relu(self.bn3(out)))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)


_BLOCKS = {"bottleneck": (Bottleneck, 9), "basic": (BasicBlock, 6), "preact": (PreActBottleneck, 9)}


def blocks_per_stage(depth: int, block: str) -> int:
    """n for a depth of ``per_block * n + 2``; a one-line ConfigError otherwise."""
    if block not in _BLOCKS:
        raise ConfigError(f"unknown CIFAR block type {block!r}; use one of {', '.join(_BLOCKS)}")
    k = _BLOCKS[block][1]
    if depth < k + 2 or (depth - 2) % k != 0:
        valid = ", ".join(str(k * n + 2) for n in range(1, 7))
        hint = f" (the papers use {', '.join(map(str, PAPER_DEPTHS))})" if k == 9 else ""
        raise ConfigError(
            f"depth {depth} is not valid for {block} CIFAR ResNets: depth must be {k}n+2, "
            f"e.g. {valid}, ...{hint}"
        )
    return (depth - 2) // k


def cifar_resnet(
    depth: int = 20,
    block: str = "bottleneck",
    num_classes: int = 10,
    in_chans: int = 3,
    use_bn: bool = True,
    skip: bool = True,
) -> ResNetBackbone:
    """Build a CIFAR ResNet of the released code's shape (see module docstring)."""
    n = blocks_per_stage(depth, block)
    block_cls = _BLOCKS[block][0]
    preact = block == "preact"
    stem_layers: list[nn.Module] = [conv3x3(in_chans, 16)]
    if not preact:
        stem_layers += [norm2d(16, use_bn), nn.ReLU(inplace=True)]
    stem = nn.Sequential(*stem_layers)
    stages, cin = [], 16
    for s, (planes, stride) in enumerate(zip((16, 32, 64), (1, 2, 2))):
        blocks = []
        for i in range(n):
            blk = block_cls(cin, planes, stride if i == 0 else 1, use_bn=use_bn, skip=skip)
            blocks.append(blk)
            cin = blk.out_channels
        stages.append(Stage(s, blocks))
    final = nn.Sequential(norm2d(cin, use_bn), nn.ReLU(inplace=True)) if preact else None
    net = ResNetBackbone(stem, stages, num_classes, final=final)
    conv_init_(net)
    return net
