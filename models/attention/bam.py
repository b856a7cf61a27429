"""Bottleneck Attention Module (Park, Woo, Lee, Kweon, "BAM: Bottleneck Attention
Module", BMVC 2018), BAM Eqs. (1)-(4)::

    F' = F + F * M(F)                                                          (1)
    M(F) = sigmoid(M_c(F) + M_s(F))                                            (2)
    M_c(F) = MLP(AvgPool(F)),      C -> C/r -> C, one hidden layer             (3)
    M_s(F) = f3_1x1(f2_3x3(f1_3x3(f0_1x1(F)))),  C -> C/r -> C/r -> C/r -> 1   (4)

f1, f2 are 3x3 convolutions with dilation d; M_c is broadcast over H x W and M_s over
the channels, so ``M(F)`` is [B, C, H, W] and (1) is ``F * (1 + M(F))``.

Choices and what pins them (parameters per block with h = C/r:
3Ch + 18h^2 + 13h + C + 1):

* Placement: ELA compares with BAM on every block's residual branch, not only at the
  three stage transitions of the BAM paper: ELA Table 1 lists BAM-20 at 0.27/0.29M,
  BAM-56 at 0.73/0.75M and BAM-110 at 1.42/1.45M; two modules between stages would
  add only ~6k parameters. The zoo attaches this module per block.
* r = 16, dilation d = 4, two dilated convs (BAM paper defaults); every linear layer and
  conv has a bias (PyTorch defaults, as released).
* BatchNorm placement, ``norm``: ``'hidden'`` (default) is the released BAM code, a BN
  (+ ReLU) after the hidden Linear of M_c and after f0, f1, f2 of M_s; ``'output'`` is
  Eqs. (3)-(4) as printed, one BN on the output of M_c (C channels) and one on M_s
  (1 channel), ReLU between the layers. ELA Table 1 pins ``'hidden'``: it gives
  0.2664/0.2895, 0.7293/0.7524, 1.4236/1.4468M for ResNet-20/56/110 (CIFAR-10/100),
  all six published values; ``'output'`` gives 1.4318M = 1.43 at ResNet-110 CIFAR-10.
* Combination, ``combine``: ``'sum'`` (default) is Eq. (2); the released code computes
  ``1 + sigmoid(M_c * M_s)`` instead (``'product'``). Same parameters; which one ELA
  trained is not stated.

Records ``sigmoid(M_c)`` ([B, C], 'channel') and ``sigmoid(M_s)`` ([B, 1, H, W],
'spatial'), the two factors of the attention M(F).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import ConfigError
from . import register_attn

__all__ = ["BAM"]


@register_attn("bam")
class BAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4, num_dilated: int = 2,
                 norm: str = "hidden", combine: str = "sum"):
        super().__init__()
        if norm not in ("hidden", "output"):
            raise ConfigError(
                f"BAM norm {norm!r} is invalid: use 'hidden' (released code) or 'output' (paper Eqs. 3-4)")
        if combine not in ("sum", "product"):
            raise ConfigError(
                f"BAM combine {combine!r} is invalid: use 'sum' (paper Eq. 2) or 'product' (released code)")
        self.combine = combine
        h = max(1, channels // reduction)
        hidden_bn = norm == "hidden"

        def bn2d(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if hidden_bn else nn.Identity()

        # M_c, Eq. (3)
        self.channel_gate = nn.Sequential(
            nn.Linear(channels, h), nn.BatchNorm1d(h) if hidden_bn else nn.Identity(), nn.ReLU(inplace=True),
            nn.Linear(h, channels), nn.Identity() if hidden_bn else nn.BatchNorm1d(channels),
        )
        # M_s, Eq. (4)
        layers: list[nn.Module] = [nn.Conv2d(channels, h, 1), bn2d(h), nn.ReLU(inplace=True)]
        for _ in range(num_dilated):
            layers += [nn.Conv2d(h, h, 3, padding=dilation, dilation=dilation), bn2d(h), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(h, 1, 1), nn.Identity() if hidden_bn else nn.BatchNorm2d(1)]
        self.spatial_gate = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        m_c = self.channel_gate(x.mean((2, 3)))[:, :, None, None]  # [B, C, 1, 1]
        m_s = self.spatial_gate(x)                                  # [B, 1, H, W]
        m = torch.sigmoid(m_c + m_s) if self.combine == "sum" else torch.sigmoid(m_c * m_s)
        if state is not None and state.recording:
            state.record("channel", torch.sigmoid(m_c).flatten(1))
            state.record("spatial", torch.sigmoid(m_s))
        return x * (1 + m)
