"""Style-based Recalibration Module (Lee, Kim, Nam, "SRM: A Style-based Recalibration
Module for Convolutional Neural Networks", ICCV 2019), SRM section 3::

    mu_c    = (1 / HW) sum_hw x_chw                                   style pooling:
    sigma_c = sqrt((1 / HW) sum_hw (x_chw - mu_c)^2 + eps)            t_c = [mu_c, sigma_c]
    z_c     = w_c . t_c                                               style integration: channel-wise
    g_c     = sigmoid(BN(z)_c)                                        fully connected (CFC) + BN
    out     = x * g

The channel-wise fully connected layer is a grouped Conv1d (C groups, kernel 2, no bias):
2 weights per channel; the BN adds 2 more. As in the released SRM code the CFC weights
start at zero (every gate starts at sigmoid(BN(0)) = 0.5). sigma uses the population
variance of the paper's formula (finite also on a 1 x 1 map).

Choices and what pins them (parameters per block: 4C): DIA Table IV, CIFAR-100:
ResNet164 1.76M (1.7273M + 4 * 18 * 448 = 1.7595M; CFC alone would give 1.74M),
WRN52-4 12.09M and ResNeXt101 8x32 32.18M (outputs 128/256/512: + 4 * 11 * 896).

Inside a DIA unit (``dia_srm_*``) the CFC is shared per stage while every block keeps its
own BN (``models.attach.tie_parameters``; DIA section VI-B2): this is why DIA-SRM saves
only about half of SRM's parameters (DIA section III-B says ~40%).

Records the gate ``g`` ([B, C], 'channel').
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_attn

__all__ = ["SRM"]


@register_attn("srm")
class SRM(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.cfc = nn.Conv1d(channels, channels, kernel_size=2, groups=channels, bias=False)
        nn.init.zeros_(self.cfc.weight)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        flat = x.flatten(2)
        mu = flat.mean(2)
        sigma = (flat.var(2, correction=0) + self.eps).sqrt()
        z = self.cfc(torch.stack([mu, sigma], dim=2)).squeeze(2)  # [B, C]
        g = torch.sigmoid(self.bn(z))
        if state is not None and state.recording:
            state.record("channel", g)
        return x * g[:, :, None, None]
