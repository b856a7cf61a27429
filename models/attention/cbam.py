"""Convolutional Block Attention Module (Woo et al., "CBAM: Convolutional Block Attention
Module", ECCV 2018), channel then spatial attention, CBAM Eqs. (1)-(3)::

    F'  = M_c(F) * F,       F'' = M_s(F') * F'                                    (1)
    M_c(F) = sigmoid(W1 ReLU(W0 AvgPool(F)) + W1 ReLU(W0 MaxPool(F)))            (2)
    M_s(F) = sigmoid(BN(f7x7([AvgPool_c(F); MaxPool_c(F)])))                      (3)

W0: C -> C/r, W1: C/r -> C shared by both pooled descriptors; f7x7 a 2 -> 1 conv without
bias followed by a one-channel BatchNorm (as in the CBAM release; Eq. (3) of the paper
omits the BN). Built from timm's ``CbamModule`` (``rd_divisor=1``, explicit
``rd_channels = C // r`` so that no rounding to multiples of 8 happens).

Choices and what pins them (parameters per block: 2C^2/r [+ C/r + C biases] + 98 + 2):

* reduction r = 16 (CBAM paper).
* ``bias=False`` on CIFAR: ELA Table 1 lists CBAM with the SE counts, 0.24/0.27,
  0.66/0.68, 1.28/1.30M at ResNet-20/56/110; with MLP biases ResNet-110 would have
  1.29/1.31M (1.2861M / 1.3092M), so the biases are off. DIA Table IV (ResNet164 1.93M,
  WRN52-4 12.16M, ResNeXt101 8x32 32.61M) is matched with or without them.
* ``bias=True`` on ImageNet (``_SAM_DEFAULTS`` in models/zoo.py): the released CBAM
  code uses nn.Linear with biases and ELA/DLA Table 2 copy CBAM's own ImageNet numbers
  (28.1M / 49.3M, matched either way).
* spatial kernel 7 (CBAM paper, its best setting).

Records the channel map ``M_c`` ([B, C], 'channel') and the spatial map ``M_s``
([B, 1, H, W], 'spatial').
"""
from __future__ import annotations

import torch
from timm.layers.cbam import CbamModule

from . import register_attn

__all__ = ["CBAM"]


@register_attn("cbam")
class CBAM(CbamModule):
    def __init__(self, channels: int, reduction: int = 16, bias: bool = False, spatial_kernel: int = 7):
        super().__init__(channels, rd_channels=max(1, channels // reduction), rd_divisor=1,
                         spatial_kernel_size=spatial_kernel, mlp_bias=bias)

    def _mlp(self, v: torch.Tensor) -> torch.Tensor:
        """W1 ReLU(W0 v), shared by both pooled descriptors (Eq. 2)."""
        return self.channel.fc2(self.channel.act(self.channel.fc1(v)))

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        avg, mx = x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
        m_c = self.channel.gate(self._mlp(avg) + self._mlp(mx))
        x = x * m_c
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        m_s = self.spatial.gate(self.spatial.conv(pooled))
        if state is not None and state.recording:
            state.record("channel", m_c.flatten(1))
            state.record("spatial", m_s)
        return x * m_s
