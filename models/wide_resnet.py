"""Wide Residual Networks for CIFAR (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016).

WRN-d-k: a conv3x3(in->16) stem, three stages of n = (d - 4) / 6 pre-activation wide
basic blocks of widths 16k / 32k / 64k (strides 1 / 2 / 2), a final BN-ReLU, global
average pooling and Linear(64k, classes). A block is::

    pre = ReLU(BN1(x))
    branch   = conv3x3(stride)(pre) -> BN2 -> ReLU -> Dropout(p) -> conv3x3  [-> BN: branch_bn]
    shortcut = x                          if the width and stride are unchanged
             = conv1x1(stride)(pre)       otherwise (the projection reads the pre-activated input)
    out = branch + shortcut               (no ReLU after the addition)

This is the layout of the WRN paper and of DIANet's release (gbup-group/DIANet,
models/cifar/dia_wrn.py; its recipe trains WRN52-4 with dropout 0.3, official-code.md,
which the training config passes as ``dropout``).

Parameter count pinned by DIA Table IV (CIFAR-100): WRN52-4 "Org" = 12.07M; this
builder gives 12,072,500 (n = 8 blocks per stage, widths 64/128/256).

``branch_bn`` appends a BatchNorm to the residual branch so that an attention module
sees a normalised branch output, as on the bottleneck nets (whose branch ends in bn3).
DIANet's released WRN does this in its attention model (a BN after conv2 in every
block, +7,168 parameters on WRN52-4). DIA Table IV's WRN52-4 counts for "DIA-LSTM"
(12.30M; 12.29M without) and "DIA-LSTM (Light)" (12.11M; 12.10M without) include it,
while "Org" (12.07M) does not. It is off by default, so the plain backbone matches "Org";
results/paper/params.csv passes ``branch_bn=True`` for the two DIA rows.

``use_bn=False`` removes every BatchNorm (DIA Table XVI) and ``skip=False`` every
identity path (DIA Figs 13-14); with ``skip=False`` the projection convs stay (they are
parameters of the block) but their output is not added.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .backbone import ResidualBlock, ResNetBackbone, Stage, StageState, conv_init_, norm2d
from .cifar_resnet import conv1x1, conv3x3
from .registry import ConfigError

__all__ = ["WideBasicBlock", "wide_resnet", "wrn_blocks_per_stage"]


class WideBasicBlock(ResidualBlock):
    """Pre-activation wide basic block (WRN "B(3,3)"); attention acts on the conv2 output
    (or on the extra BN after it with ``branch_bn``)."""

    expansion = 1
    last_norm = "bn3"  # an Identity without ``branch_bn``: then nothing to scale

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0, use_bn: bool = True,
                 skip: bool = True, branch_bn: bool = False):
        super().__init__(skip=skip, post_act=False)
        self.in_channels, self.out_channels, self.branch_channels, self.stride = cin, cout, cout, stride
        self.bn1, self.conv1 = norm2d(cin, use_bn), conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = norm2d(cout, use_bn), conv3x3(cout, cout)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.bn3 = norm2d(cout, use_bn) if branch_bn else nn.Identity()
        self.downsample = conv1x1(cin, cout, stride) if stride != 1 or cin != cout else None

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn1(x))

    def branch_from(self, pre: torch.Tensor) -> torch.Tensor:
        out = self.drop(torch.relu(self.bn2(self.conv1(pre))))
        return self.bn3(self.conv2(out))

    def shortcut_from(self, x: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(pre)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch_from(self.preact(x))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_from(x, self.preact(x))

    def forward(self, x: torch.Tensor, state: StageState) -> torch.Tensor:
        # Same as ResidualBlock.forward, except that ReLU(BN1(x)) is computed once and
        # shared by the branch and the projection shortcut: calling branch() and
        # shortcut() separately would run BN1 twice per batch (double running-stat update).
        pre = self.preact(x)
        identity = self.shortcut_from(x, pre)
        out = self.branch_from(pre)
        if self.attn is not None:
            out = self.attn(out, state)
        if self.skip:
            out = out + identity
        if self.post is not None:
            out = self.post(out, identity, state)
        return out


#: WRN depths named in the papers (DIA: WRN52-4) and in the WRN paper.
WRN_PAPER_DEPTHS = (16, 22, 28, 40, 52)


def wrn_blocks_per_stage(depth: int) -> int:
    """n for depth = 6n + 4; a one-line ConfigError naming valid depths otherwise."""
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6 != 0:
        raise ConfigError(
            f"depth {depth} is not valid for a Wide ResNet: depth must be 6n+4, "
            f"e.g. 10, {', '.join(map(str, WRN_PAPER_DEPTHS))} (DIA uses 52)"
        )
    return (depth - 4) // 6


def wide_resnet(
    depth: int = 52,
    widen: int = 4,
    dropout: float = 0.0,
    num_classes: int = 10,
    in_chans: int = 3,
    use_bn: bool = True,
    skip: bool = True,
    branch_bn: bool = False,
) -> ResNetBackbone:
    """WRN-``depth``-``widen`` for 32x32 inputs (see the module docstring).

    ``dropout`` is the in-block dropout between the two convs (WRN paper; 0.3 in the
    DIA recipe), not a dropout before the classifier.
    """
    n = wrn_blocks_per_stage(depth)
    if not isinstance(widen, int) or widen < 1:
        raise ConfigError(f"widen {widen!r} is not valid for a Wide ResNet: use a positive integer, e.g. 4 or 10")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout {dropout!r} is not valid: use a probability in [0, 1), e.g. 0.3")
    stem = conv3x3(in_chans, 16)
    stages, cin = [], 16
    for s, (width, stride) in enumerate(zip((16 * widen, 32 * widen, 64 * widen), (1, 2, 2))):
        blocks = []
        for i in range(n):
            blk = WideBasicBlock(cin, width, stride if i == 0 else 1, dropout=dropout, use_bn=use_bn,
                                 skip=skip, branch_bn=branch_bn)
            blocks.append(blk)
            cin = width
        stages.append(Stage(s, blocks))
    final = nn.Sequential(norm2d(cin, use_bn), nn.ReLU(inplace=True))
    net = ResNetBackbone(stem, stages, num_classes, final=final)
    conv_init_(net)
    return net
