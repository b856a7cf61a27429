"""Spatial Pyramid Attention (Guo, Ma, Sansom, McGuire, Kalaani, Chen, Tang, Yang, Fu,
"SPANet: Spatial Pyramid Attention Network for Enhanced Image Recognition", ICME 2020),
the SPA block of its section 3::

    p   = [vec(AAP_1(x)); vec(AAP_2(x)); vec(AAP_4(x))]     # pyramid of adaptive average
                                                            # pools, 1 + 4 + 16 = 21C values
    a   = sigmoid(W2 ReLU(W1 p)),   W1: 21C -> C/r,  W2: C/r -> C, no biases
    out = x * a

Choices and what pins them (parameters per block: 22C^2/r): pyramid (1, 2, 4), no
biases, reduction r. DIA Table IV (CIFAR-100):

* WRN52-4 SPA 13.02M = 12.07M + 22/16 * 8 * (64^2 + 128^2 + 256^2): r = 16 (the SPANet
  default; r = 4 would give 15.85M);
* ResNeXt101 8x32 SPA 52.95M = 32.14M + 22/4 * 11 * (128^2 + 256^2 + 512^2) = 52.95M:
  r = 4 (r = 16 would give 37.34M), so ``_SAM_DEFAULTS`` sets r = 4 for ResNeXt;
* ResNet164 SPA 1.96M is NOT matched: r = 16 gives 3.86M (r = 4: 10.24M). No SPA
  variant found (ICME or TMM release, any r) gives 1.96M; see docs/models.md.

The TMM version of SPANet (a learned weighted sum of the three pyramid levels followed by
an SE-style 1x1 MLP) is a different module and is not the one DIA's counts describe.

Records the channel attention ``a`` ([B, C], 'channel').
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_attn

__all__ = ["SPA"]


@register_attn("spa")
class SPA(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, pyramid: tuple[int, ...] = (1, 2, 4),
                 bias: bool = False):
        super().__init__()
        self.pyramid = tuple(pyramid)
        hidden = max(1, channels // reduction)
        cells = sum(s * s for s in self.pyramid)
        self.fc = nn.Sequential(
            nn.Linear(cells * channels, hidden, bias=bias), nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=bias),
        )

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        p = torch.cat([F.adaptive_avg_pool2d(x, s).flatten(1) for s in self.pyramid], dim=1)
        a = torch.sigmoid(self.fc(p))
        if state is not None and state.recording:
            state.record("channel", a)
        return x * a[:, :, None, None]
