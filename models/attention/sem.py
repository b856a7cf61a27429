"""Switchable Excitation Module, "SEM" (Zhong, Wen, Qin, "Switchable Self-attention
Module", arXiv:2209.05680, 2022; DIA reference [19]).

SEM squeezes with global average pooling, lets a decision layer weight three excitation
operators, and multiplies their gates::

    y   = GAP(x)                                  # [B, C]
    s   = sigmoid(W_s y + b_s)                    # decision: one weight per operator, [B, 3]
    e1  = s_1 * (W_2 ReLU(W_1 y + b_1) + b_2)     # SE excitation, C -> C/r -> C
    e2  = s_2 * C1D_k(y)                          # ECA excitation, k from ECA-Net Eq. (12)
    e3  = s_3 * (w (.) y + b)                     # IE excitation (per-channel affine)
    out = x * sigmoid(e1) * sigmoid(e2) * sigmoid(e3)

The paper describes the squeeze / decision / excitation structure in words; the exact
layers above (biases, the three operators, the product of the three sigmoid gates, w
initialised to 0 and b to -1) are facts read from the authors' release
(Qrange-group/SEM, CIFAR ResNet, bottleneck blocks), written here independently.

Parameters per block (h = round(C / r), k the ECA kernel): 2Ch + 6C + h + 3 + k.

Choices and what pins them, DIA Table IV (CIFAR-100): the release sets
h = round(planes / 4) with planes = C / 4 on bottlenecks, i.e. r = 16: ResNet164 SEM
1.97M (1.7273M + 0.2427M = 1.9700M). On WRN52-4 (12.44M) and ResNeXt101 8x32
(34.09M) the counts need h = C / 4 (12.4391M, 34.0925M; r = 16 would give 12.18M and
32.67M), the same ratio DIA's SE uses there; ``_SAM_DEFAULTS`` sets r = 4 for those
backbone kinds.

Records the product of the three gates ([B, C], 'channel').
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_attn
from .eca import eca_kernel_size

__all__ = ["SEM"]


@register_attn("sem")
class SEM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, gamma: float = 2, beta: float = 1):
        super().__init__()
        hidden = max(1, round(channels / reduction))
        k = eca_kernel_size(channels, gamma, beta)
        self.decision = nn.Linear(channels, 3)
        self.se = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.eca = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)
        self.ie_weight = nn.Parameter(torch.zeros(channels))
        self.ie_bias = nn.Parameter(torch.full((channels,), -1.0))

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        y = x.mean((2, 3))
        s = torch.sigmoid(self.decision(y))
        e1 = self.se(y) * s[:, 0:1]
        e2 = self.eca(y.unsqueeze(1)).squeeze(1) * s[:, 1:2]
        e3 = (y * self.ie_weight + self.ie_bias) * s[:, 2:3]
        a = torch.sigmoid(e1) * torch.sigmoid(e2) * torch.sigmoid(e3)
        if state is not None and state.recording:
            state.record("channel", a)
        return x * a[:, :, None, None]
