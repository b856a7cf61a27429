"""Non-local block (Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018 /
arXiv:1711.07971), embedded-Gaussian form, in the shape the GCNet paper's Mask R-CNN
comparison uses it (Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks
and Beyond", 2019, its "+1NL" row; printed as "NL" in ELA Table 5 and DLA Table 3)::

    f(x_i, x_j) = exp(theta(x_i)^T phi(x_j) / sqrt(C'))      # Eq. 3 (embedded Gaussian) + scale
    y_i = sum_j f(x_i, x_j) g(x_j) / sum_j f(x_i, x_j)      # Eq. 1 with C(x) = sum_j f (Eq. 2-3):
                                                            #   a softmax over all positions j
    z_i = BN(W_z y_i) + x_i                                 # Eq. 6, residual connection

``theta``, ``phi``, ``g``: 1x1 convs C -> C' with bias, C' = C / ``reduction`` (= C/2, the
bottleneck of Sec. 3.3); ``W_z``: 1x1 conv C' -> C WITHOUT bias followed by a BatchNorm whose
weight and bias start at zero (Sec. 4.1: BN after W_z, its scale initialised to zero), so the
block starts as the identity. The 1/sqrt(C') inside the softmax is not in the NL paper's Eq. 3:
it is mmcv's ``NonLocal2d`` default (``use_scale=True``, scale 1/sqrt(inter channels)), the
implementation of the GCNet/MMDetection code base; ``use_scale=False`` gives Eq. 3 as printed.
Initialisation as mmcv's ``init_weights`` with a norm layer: theta/phi/g weights N(0, 0.01),
biases 0; W_z Kaiming-normal (fan-out, as mmcv's ConvModule); BN weight and bias 0.

Parameters (C' = C / r): 3 (C C' + C') + C' C + 2 C = 4 C C' + 3 C' + 2 C; with r = 2:
2 C^2 + 3.5 C, i.e. 2,100,736 at C = 1024 (stage c4 of ResNet-50/101).

Built on timm's ``NonLocalAttn`` (same theta/phi/g/W_z/BN structure and softmax attention),
overridden where it differs from the block above: timm scales by 1/sqrt(C) (in channels), not
1/sqrt(C'), and its W_z has a bias (redundant before a BN, +C parameters); ``NonLocal`` sets
the scale from C' and builds W_z without bias. Records nothing in a read-out (its attention
is an HW x HW matrix per image, no per-block map).

Placement (family ``nl``, models ``nl_resnet50_imagenet`` / ``nl_resnet101_imagenet``): ONE
block in the whole network, after residual block n-2 of stage c4 (stage index 2), i.e.
between its last two blocks: "right before the last residual block of res4" (NL paper
Sec. 6, the Mask R-CNN experiments; GCNet's "+1NL"). The family puts no module into the
blocks' slots; its ``setup`` hook places the block in the ``post`` slot of that one block
(``NonLocalAfterBlock``, called as ``module(x, identity, state)``). Stage and block are
options: ``attn_kwargs={'stage': 2, 'after_block': -2}`` (defaults); ``attn_stages`` /
``attn_blocks`` of ``models.zoo.build`` do not apply to this family.

ImageNet weights: the NL and GCNet detectors fine-tune an ImageNet-pretrained ResNet WITHOUT
the block (the block is added at fine-tuning, starting as the identity). Loading a state
dict that has none of the block's keys (the plain ResNet's checkpoint) therefore keeps the
block at its initialisation instead of failing as missing keys (a load pre-hook); a state
dict with some but not all of them still fails, as any strict load.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.layers import NonLocalAttn

from ..backbone import ResidualBlock, ResNetBackbone
from ..family import Family, register_family
from ..registry import ConfigError
from . import register_attn

__all__ = ["NonLocal", "NonLocalAfterBlock", "NLOptions", "NLPlacement", "place_non_local", "nl_parameters",
           "NL_BACKBONES"]

#: named backbones with a registered ``nl_<backbone>`` model (ELA Table 5 / DLA Table 3 rows)
NL_BACKBONES = ("resnet50_imagenet", "resnet101_imagenet")


def nl_parameters(channels: int, reduction: int = 2) -> int:
    """4 C C' + 3 C' + 2 C with C' = C // reduction (see the module docstring)."""
    inter = channels // reduction
    return 4 * channels * inter + 3 * inter + 2 * channels


@register_attn("nl")
class NonLocal(NonLocalAttn):
    """Embedded-Gaussian non-local block, called as ``module(x, state=None)`` (the ``attn``
    slot's convention); attributes ``t`` (theta), ``p`` (phi), ``g``, ``z`` (W_z), ``norm``."""

    def __init__(self, channels: int, reduction: int = 2, use_scale: bool = True):
        if reduction < 1 or channels // reduction < 1:
            raise ConfigError(f"NL reduction {reduction} is invalid for {channels} channels: use 1..{channels}")
        inter = channels // reduction
        super().__init__(channels, use_scale=use_scale, rd_channels=inter)
        self.inter_channels = inter
        self.scale = inter ** -0.5 if use_scale else 1.0
        self.z = nn.Conv2d(inter, channels, kernel_size=1, bias=False)
        self.reset_parameters()
        self.register_load_state_dict_pre_hook(_keep_init_when_absent)

    def reset_parameters(self):
        super().reset_parameters()  # Kaiming-normal fan-out on every conv, BN weight and bias 0
        for conv in (self.t, self.p, self.g):
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        return super().forward(x)


class NonLocalAfterBlock(NonLocal):
    """The same block in a residual block's ``post`` slot (``module(x, identity, state)``, see
    ``models.backbone``): it acts on the block's output; the shortcut is not used."""

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None, state=None) -> torch.Tensor:
        return super().forward(x)


def _keep_init_when_absent(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                           error_msgs) -> None:
    """A state dict without any key of this block (a backbone pretrained without it) loads
    with the block at its current values (the identity at initialisation)."""
    if any(k.startswith(prefix) for k in state_dict):
        return
    for name, value in module.state_dict().items():
        state_dict[prefix + name] = value


# --------------------------------------------------------------------------- family
@dataclass(frozen=True)
class NLOptions:
    """The block's own options (``attn_kwargs``)."""

    reduction: int = 2
    use_scale: bool = True


@dataclass(frozen=True)
class NLPlacement:
    """Where the one block goes: after block ``after_block`` (Python index, -2 = second to
    last) of stage ``stage`` (0-based; 2 = c4 of an ImageNet ResNet); and the block's options."""

    reduction: int = 2
    use_scale: bool = True
    stage: int = 2
    after_block: int = -2


def _no_block_module(block: ResidualBlock, options: NLOptions) -> None:
    """The family fills no block slot by itself: ``place_non_local`` places its one block."""
    return None


def place_non_local(net: ResNetBackbone, options: NLPlacement = NLPlacement()) -> None:
    """Put one ``NonLocalAfterBlock`` into the ``post`` slot of block ``after_block`` of stage
    ``stage``: it sees that block's output, before the next block."""
    if not 0 <= options.stage < len(net.stages):
        raise ConfigError(f"NL stage {options.stage} does not exist: this network has stages 0..{len(net.stages) - 1}")
    blocks = net.stages[options.stage].blocks
    n = len(blocks)
    if not -n <= options.after_block < n:
        raise ConfigError(f"NL after_block={options.after_block} is invalid for stage {options.stage} of {n} blocks: "
                          f"use {-n}..{n - 1}")
    block = blocks[options.after_block % n]
    block.post = NonLocalAfterBlock(block.out_channels, options.reduction, options.use_scale)


register_family(Family(
    "nl", _no_block_module, slot="post", setup=place_non_local, module_options=NLOptions,
    stage_options=NLPlacement, backbone_filter=lambda name: name in NL_BACKBONES,
    description="NL: one embedded-Gaussian non-local block after block n-2 of stage c4 (Wang et al. 2018, GCNet)",
))
