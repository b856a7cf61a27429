"""Placing attention modules into a backbone's block slots, per block or shared per stage.

``attach(net, make, ...)`` fills the ``attn`` slot (residual-branch attention: SE, ECA,
CBAM, ..., DIA units) or the ``post`` slot (layer attention after the block: MRLA,
DLA, ELA) of chosen blocks. With ``share=True`` one module is built per stage and every
selected block of the stage uses the same parameters: the Dense-and-Implicit Attention
unit (DIA section III-A, Fig 4). BatchNorm layers inside a shared module are NOT
shared by default (DIA section VI-B2: SRM only works with per-layer BN); ``share_bn``
shares them too, running statistics included (DIA Fig 15).
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .backbone import ResidualBlock, ResNetBackbone
from .registry import ConfigError

__all__ = ["attach", "tie_parameters", "select_blocks"]


def tie_parameters(prototype: nn.Module, share_bn: bool = False) -> nn.Module:
    """A module that uses ``prototype``'s parameters; its BatchNorms stay its own
    (fresh statistics, own affine parameters) unless ``share_bn``.

    ``model.parameters()`` de-duplicates shared tensors, so parameter counts and the
    optimiser see each shared weight once.
    """
    if share_bn or not any(isinstance(m, _BatchNorm) for m in prototype.modules()):
        return prototype
    clone = copy.deepcopy(prototype)
    for mod, proto in zip(clone.modules(), prototype.modules()):
        if isinstance(mod, _BatchNorm):
            mod.reset_parameters()
            continue
        for name in list(mod._parameters):
            mod._parameters[name] = proto._parameters[name]
        for name in list(mod._buffers):
            mod._buffers[name] = proto._buffers[name]
    return clone


def select_blocks(n: int, count: int | None, pick: str = "first") -> list[int]:
    """Indices of the blocks of an ``n``-block stage that carry attention (DIA Fig 10).

    ``pick='first'`` takes the first ``count`` blocks, ``'spread'`` spaces them evenly.
    """
    if count is None:
        return list(range(n))
    if not 0 <= count <= n:
        raise ConfigError(f"attn_blocks={count} is invalid for a stage of {n} blocks: use 0..{n}")
    if pick == "first":
        return list(range(count))
    if pick == "spread":
        return sorted({int(round(i)) for i in np.linspace(0, n - 1, count)}) if count else []
    raise ConfigError(f"unknown block pick {pick!r}; use 'first' or 'spread'")


def attach(
    net: ResNetBackbone,
    make: Callable[[ResidualBlock], nn.Module],
    *,
    slot: str = "attn",
    stages: Sequence[int] | None = None,
    blocks: int | None = None,
    pick: str = "first",
    share: bool = False,
    share_bn: bool = False,
) -> ResNetBackbone:
    """Fill ``slot`` of the selected blocks with modules built by ``make(block)``.

    ``stages`` selects stages by index (0-based; DIA Table XV removes the unit from
    chosen stages), ``blocks`` how many blocks per stage carry attention (DIA Fig 10).
    """
    if slot not in ("attn", "post"):
        raise ValueError(f"slot must be 'attn' or 'post', not {slot!r}")
    n_stages = len(net.stages)
    chosen = range(n_stages) if stages is None else stages
    for s in chosen:
        if not 0 <= s < n_stages:
            raise ConfigError(f"stage {s} does not exist: this network has stages 0..{n_stages - 1}")
    for s in chosen:
        stage = net.stages[s]
        idx = select_blocks(len(stage.blocks), blocks, pick)
        if not idx:
            continue
        prototype = make(stage.blocks[idx[-1]]) if share else None
        for i in idx:
            blk = stage.blocks[i]
            module = tie_parameters(prototype, share_bn) if share else make(blk)
            setattr(blk, slot, module)
    return net
