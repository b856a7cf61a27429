"""Self-adaptive Pooling Enhanced attention Module, "SPEM" (Zhong, Wen, "Mix-pooling
strategy for attention mechanism", arXiv:2208.10322, 2022, DIA reference [18]; its
release names the proceedings version "SPEM: Self-adaptive Pooling Enhanced Attention
Module for Image Recognition", MultiMedia Modeling 2023).

SPEM replaces global average pooling by a learned mix of global max- and min-pooling
and produces the gate with per-channel affine maps only::

    u   = w_p (.) GMP(x) + b_p,    v = w_p (.) GMinP(x) + b_p     # shared per-channel affine
    p_i = lambda_i^2 / (lambda_1^2 + lambda_2^2)                  # self-adaptive pooling weights
    m   = w_m (.) (p_1 u + p_2 v) + b_m                           # mixed descriptor, affine
    out = x * sigmoid(u + v) * sigmoid(m)

w_p, w_m start at 0, b_p, b_m at -1 and lambda at 1/2. The paper gives the max/min
mix in words; the exact form above is a fact read from the authors' release
(Qrange-group/SPEM, CIFAR ResNet with bottleneck blocks), written here independently.
The release also adds ``alpha * sum over blocks of (lambda_1^2 + lambda_2^2)`` (alpha =
0.1) to the training loss; :meth:`SPEM.regularizer` returns one block's term for a
trainer that wants to reproduce it (the module cannot change the loss itself).

Parameters per block: 4C + 2. Pinned by DIA Table IV (CIFAR-100): ResNet164 1.76M
(1.7597M), WRN52-4 12.09M (12.0869M), ResNeXt101 8x32 32.18M (32.1777M).

Records the gate ``sigmoid(u + v) * sigmoid(m)`` ([B, C], 'channel').
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_attn

__all__ = ["SPEM"]


@register_attn("spem")
class SPEM(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.pool_weight = nn.Parameter(torch.zeros(channels))
        self.pool_bias = nn.Parameter(torch.full((channels,), -1.0))
        self.mix_weight = nn.Parameter(torch.zeros(channels))
        self.mix_bias = nn.Parameter(torch.full((channels,), -1.0))
        self.lam = nn.Parameter(torch.full((2,), 0.5))

    def mixing(self) -> torch.Tensor:
        """(p_1, p_2): the normalised squares of lambda."""
        sq = self.lam.pow(2)
        return sq / sq.sum()

    def regularizer(self) -> torch.Tensor:
        """lambda_1^2 + lambda_2^2, the release's per-block loss term (weighted by alpha = 0.1)."""
        return self.lam.pow(2).sum()

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        u = x.amax((2, 3)) * self.pool_weight + self.pool_bias
        v = x.amin((2, 3)) * self.pool_weight + self.pool_bias
        p = self.mixing()
        m = (p[0] * u + p[1] * v) * self.mix_weight + self.mix_bias
        a = torch.sigmoid(u + v) * torch.sigmoid(m)
        if state is not None and state.recording:
            state.record("channel", a)
        return x * a[:, :, None, None]
