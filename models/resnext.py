"""ResNeXt for CIFAR (Xie et al., "Aggregated Residual Transformations for Deep Neural
Networks", CVPR 2017), in the layout of DIANet's release, which DIA Table IV uses.

depth = 9n + 2: a conv3x3(in->s)-BN-ReLU stem, three stages of n post-activation
bottlenecks (strides 1 / 2 / 2), global average pooling and a linear classifier.
With ``b = base_width``, ``C = cardinality`` and ``w = widen``, stage ``i`` (0, 1, 2) has

* bottleneck width ``D_i = C * b * 2**i`` (C groups of ``b * 2**i`` channels; "8x32d" is
  C = 8, b = 32), split as conv1x1(D) - BN - ReLU - grouped conv3x3(D, groups=C, stride)
  - BN - ReLU - conv1x1(out) - BN;
* block output ``out_i = w * b * 2**i`` channels; projection shortcut conv1x1 + BN only
  where width or stride change; ReLU after the addition;
* stem width ``s = b``.

So the bottleneck width is C/w times the output width (2x for 8x32d, w = 4).

Why this layout (DIA Table IV pins "ResNeXt101,8x32" "Org" at 32.14M on CIFAR-100):

* DIANet's repository builds its ResNeXt from the popular pytorch-classification CIFAR
  ResNeXt (bearpaw; itself from prlz77/ResNeXt.pytorch) with ``depth=101, cardinality=8,
  widen_factor=4``. That code sets ``D = cardinality * out // widen_factor`` with
  outputs ``64w * 2**i`` and a 64-channel stem, i.e. the formula above with b = 64: its
  "ResNeXt-29, 8x64d" has 34.43M parameters (the number bearpaw and Xie et al. report),
  which this builder reproduces with ``cifar_resnext(29, 8, 64)``.
* For "8x32" DIANet's copy halves every channel width (32-channel stem, outputs
  128 / 256 / 512, classifier Linear(512, classes)), which is b = 32 here. Depth 101
  (n = 11), C = 8, b = 32, w = 4 gives 32,138,244 parameters with 100 classes = 32.14M,
  matching the table (gbup-group/DIANet, models/cifar/dia_resnext.py). Table IV's other
  ResNeXt counts fit these widths too: DIA-LSTM 33.01M (cells of sizes 128/256/512),
  CBAM 32.61M (r = 16), SE 34.03M (only with r = 4, bias-free).
* The layout of Xie et al.'s CIFAR nets and of prlz77 keeps the 64-channel stem and the
  256 / 512 / 1024 outputs whatever the base width: 101 layers at 8x32d would have
  47.50M parameters; with outputs 128 / 256 / 512 and a 64-channel stem 32.15M. Neither
  matches 32.14M, which needs the 32-channel stem as well.

``use_bn=False`` removes every BatchNorm (DIA Table XVI), ``skip=False`` every identity
path (DIA Figs 13-14).
"""
from __future__ import annotations

import torch.nn as nn

from .backbone import ResNetBackbone, Stage, conv_init_, norm2d
from .cifar_resnet import Bottleneck, conv3x3
from .registry import ConfigError

__all__ = ["ResNeXtBottleneck", "cifar_resnext", "resnext_blocks_per_stage"]


class ResNeXtBottleneck(Bottleneck):
    """Post-activation ResNeXt bottleneck (type C: grouped 3x3 conv); attention acts on
    the output of its last BN, before the addition. The CIFAR bottleneck with
    ``cardinality`` groups, inner ``width`` and output width ``cout`` set directly."""

    def __init__(self, cin: int, cout: int, width: int, cardinality: int, stride: int = 1,
                 use_bn: bool = True, skip: bool = True):
        super().__init__(cin, width, stride, use_bn, skip, groups=cardinality, width=width, out_channels=cout)
        self.cardinality, self.width = cardinality, width


def resnext_blocks_per_stage(depth: int) -> int:
    """n for depth = 9n + 2; a one-line ConfigError naming valid depths otherwise."""
    if not isinstance(depth, int) or depth < 11 or (depth - 2) % 9 != 0:
        raise ConfigError(
            f"depth {depth} is not valid for a CIFAR ResNeXt: depth must be 9n+2, "
            f"e.g. 11, 20, 29, 38, 47, 56, ..., 101 (DIA uses 101, Xie et al. 29)"
        )
    return (depth - 2) // 9


def cifar_resnext(
    depth: int = 101,
    cardinality: int = 8,
    base_width: int = 32,
    widen: int = 4,
    num_classes: int = 10,
    in_chans: int = 3,
    use_bn: bool = True,
    skip: bool = True,
) -> ResNetBackbone:
    """CIFAR ResNeXt-``depth`` ``cardinality`` x ``base_width``d (see the module docstring)."""
    n = resnext_blocks_per_stage(depth)
    for name, value in (("cardinality", cardinality), ("base_width", base_width), ("widen", widen)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} {value!r} is not valid for a CIFAR ResNeXt: use a positive integer")
    stem_width = base_width
    stem = nn.Sequential(conv3x3(in_chans, stem_width), norm2d(stem_width, use_bn), nn.ReLU(inplace=True))
    stages, cin = [], stem_width
    for s, stride in enumerate((1, 2, 2)):
        width = cardinality * base_width * 2 ** s
        cout = widen * base_width * 2 ** s
        blocks = []
        for i in range(n):
            blk = ResNeXtBottleneck(cin, cout, width, cardinality, stride if i == 0 else 1,
                                    use_bn=use_bn, skip=skip)
            blocks.append(blk)
            cin = cout
        stages.append(Stage(s, blocks))
    net = ResNetBackbone(stem, stages, num_classes)
    conv_init_(net)
    return net
