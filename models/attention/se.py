"""Squeeze-and-Excitation (Hu et al. 2018), DIA Table II column "SENet":
h_t = sigmoid(W2 ReLU(W1 GAP(a_t))), x_{t+1} = x_t + a_t * h_t.

CIFAR (released DLA/DIANet code): reduction 16, both linear layers without bias.
The SENet paper's ImageNet module keeps the biases (``bias=True``, the zoo's default on
ImageNet backbones); the released MRLA/DLA ImageNet code has none (``bias=False``: ELA/DLA
Table 2's SE rows, SE-ResNet-50/101 = 28,071,976 / 49,292,328 parameters).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_attn


@register_attn("se")
class SE(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, bias: bool = False):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=bias), nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=bias),
        )

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        h = torch.sigmoid(self.fc(x.mean((2, 3))))
        if state is not None and state.recording:
            state.record("channel", h)
        return x * h[:, :, None, None]
