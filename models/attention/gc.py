"""Global Context block (Cao, Xu, Lin, Wei, Hu, "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", ICCV Workshops 2019 / arXiv:1904.11492), the GC
block of its section 4 (context modelling, transform, fusion)::

    alpha_j = exp(W_k x_j) / sum_m exp(W_k x_m)              # attention pooling, W_k: C -> 1
    ctx     = sum_j alpha_j x_j                              # [B, C]
    delta   = W_v2 ReLU(LN(W_v1 ctx))                        # bottleneck C -> C/r -> C
    out_i   = x_i + delta                                    # 'add' fusion (the paper's choice)

Built from timm's ``GlobalContext`` (``fuse_add``; its ``LayerNorm2d`` on the 1 x 1
context equals GCNet's LayerNorm over [C/r, 1, 1]). Every 1x1 conv has a bias, as in
the GCNet release; W_k is Kaiming-initialised (fan-in) and W_v2 (weight and bias)
starts at zero, so each block starts as the identity (GCNet's ``last_zero_init``).
``fusion='mul'`` is the paper's scaling alternative, ``x * sigmoid(delta)``.

Parameters per block (h = C/r): (C + 1) + (Ch + h) + 2h + (hC + C) = 2Ch + 2C + 3h + 1.

Choices and what pins them: r = 16, LayerNorm, add fusion, every block of every stage
("all GC", DLA Table 2). ELA/DLA Table 2 list GC-ResNet-50 at 29.4M, which this module
does NOT match: r = 16 on all 16 blocks gives 28.10M (on c3-c5 only, the GCNet paper's
setting, 28.08M); r = 4 gives 35.66M; the only subset/ratio combination within 29.35..29.45M
is r = 4 on stages c2-c4 without c5 (29.350M), which no paper describes. See docs/models.md.
(The detection rows of DLA Table 3, GC-Mask R-CNN R50 54.4M / R101 82.2M, i.e. +10.2M /
+19.0M over the plain detectors, are close to r = 4 on every block: +10.10M / +19.06M.)

Records the context weights ``alpha`` ([B, 1, H, W], 'spatial').
"""
from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import GlobalContext

from ..registry import ConfigError
from . import register_attn

__all__ = ["GC"]


@register_attn("gc")
class GC(GlobalContext):
    def __init__(self, channels: int, reduction: int = 16, fusion: str = "add"):
        if fusion not in ("add", "mul"):
            raise ConfigError(f"GC fusion {fusion!r} is invalid: use 'add' (GCNet default) or 'mul'")
        super().__init__(channels, use_attn=True, fuse_add=fusion == "add", fuse_scale=fusion == "mul",
                         rd_channels=max(1, channels // reduction))

    def reset_parameters(self):
        super().reset_parameters()
        if self.mlp_add is not None:
            nn.init.zeros_(self.mlp_add.fc2.bias)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        b, c, h, w = x.shape
        alpha = torch.softmax(self.conv_attn(x).flatten(1), dim=1)       # [B, HW]
        ctx = torch.bmm(x.flatten(2), alpha.unsqueeze(2)).view(b, c, 1, 1)
        if state is not None and state.recording:
            state.record("spatial", alpha.view(b, 1, h, w))
        if self.mlp_add is not None:
            return x + self.mlp_add(ctx)
        return x * self.gate(self.mlp_scale(ctx))
