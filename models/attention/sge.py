"""Spatial Group-wise Enhance (Li, Hu, Yang, "Spatial Group-wise Enhance: Improving
Semantic Feature Learning in Convolutional Networks", arXiv:1905.09646, 2019), the SGE
unit of its section 3. The channels are split into G groups; in each group, with
x_i the C/G-dim feature at position i of the m = H*W positions::

    g     = (1/m) sum_i x_i                        # group descriptor (global average pool)
    c_i   = g . x_i                                # similarity of each position to it
    c^_i  = (c_i - mu_c) / (sigma_c + eps)         # normalised over the m positions
    a_i   = gamma * c^_i + beta                    # one (gamma, beta) per group
    out_i = x_i * sigmoid(a_i)

Choices: G = 64 groups (the SGE default for ResNets); gamma starts at 0 and beta at 1
as in the released code, so every gate starts at sigmoid(1); sigma_c is the population
standard deviation (the release uses the unbiased one, NaN on a 1 x 1 map). When C is not a multiple of G the
module uses gcd(C, G) groups, so it attaches to any block (e.g. 16-channel basic blocks).

Parameters: 2 per group, 128 per block at G = 64; no paper table lists an SGE
classification count (DIA Table X uses SGE only for detection), and "almost nothing"
is what the backbone count shows: SGE-ResNet-50 = 25.56M + 16 * 128 = 25.56M.

Records the gate averaged over the groups ([B, 1, H, W], 'spatial').
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register_attn

__all__ = ["SGE"]


@register_attn("sge")
class SGE(nn.Module):
    def __init__(self, channels: int, groups: int = 64, eps: float = 1e-5):
        super().__init__()
        self.groups = math.gcd(channels, groups)
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(1, self.groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, self.groups, 1, 1))

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        b, c, h, w = x.shape
        xg = x.reshape(b, self.groups, c // self.groups, h, w)
        sim = (xg * xg.mean((3, 4), keepdim=True)).sum(2)                 # c_i: [B, G, H, W]
        flat = sim.flatten(2)
        norm = (flat - flat.mean(2, keepdim=True)) / (flat.std(2, correction=0, keepdim=True) + self.eps)
        gate = torch.sigmoid(norm.view_as(sim) * self.weight + self.bias)  # [B, G, H, W]
        if state is not None and state.recording:
            state.record("spatial", gate.mean(1, keepdim=True))
        return (xg * gate.unsqueeze(2)).reshape(b, c, h, w)
