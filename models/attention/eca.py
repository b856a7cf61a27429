"""Efficient Channel Attention (Wang et al., "ECA-Net: Efficient Channel Attention for
Deep Convolutional Neural Networks", CVPR 2020).

Follows ECA-Net Eq. (9) and Eq. (12)::

    y     = GAP(x)                           # [B, C], channel descriptor
    w     = sigmoid(C1D_k(y))                # Eq. (9): 1-D conv across channels, no bias
    k     = psi(C) = | log2(C) / gamma + b / gamma |_odd,   gamma = 2, b = 1   (Eq. 12)
    out   = x * w

Kernel size rule as released (official-code.md, "ECA"): ``t = int(abs((log2(C) + b) /
gamma))``, ``k = t`` if ``t`` is odd else ``t + 1``; e.g. k = 3 for C = 64 and k = 5
for C = 128, 256, 512, 1024, 2048. (timm's ``EcaModule`` clamps k to at least 3; the
rule above differs from it only for C < 8, so the kernel is computed here and passed
to timm explicitly.)

Choices and what pins them: no reduction, no bias, k adaptive as above. The module has
k weights per block, so ECA networks have the backbone's count to the published
rounding: ELA/DLA Table 1 (ResNet-20/56/110: 0.22/0.24, 0.59/0.61, 1.15/1.17M),
DIA Table IV (ResNet164 1.73M, WRN52-4 12.07M, ResNeXt101 8x32 32.14M) and ELA/DLA
Table 2 (ImageNet ResNet-50 25.6M, ResNet-101 44.5M).

Records its channel attention ``w`` ([B, C]) as ``'channel'``.
"""
from __future__ import annotations

import math

import torch
from timm.layers import EcaModule

from . import register_attn

__all__ = ["ECA", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """ECA-Net Eq. (12) as released: the odd kernel size nearest above |(log2 C + b) / gamma|."""
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


@register_attn("eca")
class ECA(EcaModule):
    """ECA on a ``channels``-wide residual branch; ``kernel_size`` overrides Eq. (12)."""

    def __init__(self, channels: int, kernel_size: int | None = None, gamma: float = 2, beta: float = 1):
        k = kernel_size if kernel_size is not None else eca_kernel_size(channels, gamma, beta)
        super().__init__(channels=None, kernel_size=k)
        self.channels = channels

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        y = x.mean((2, 3)).unsqueeze(1)  # [B, 1, C]: channels as a 1-D sequence
        w = self.gate(self.conv(y)).squeeze(1)
        if state is not None and state.recording:
            state.record("channel", w)
        return x * w[:, :, None, None]
