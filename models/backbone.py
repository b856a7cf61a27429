"""The residual-network skeleton every model of the three papers shares.

A network is ``stem -> stages -> head``. A *stage* is a run of blocks with one spatial
size (DIA section II: "a group of consecutive layers with identical spatial
dimensions"); it is the unit at which DIA shares its attention module, MRLA resets its
keys and values and DLA resets its DSU state. So a stage owns a fresh
:class:`StageState` for every forward pass and hands it to each block.

Every residual block computes (DIA Table II)::

    a_t  = F(x_t)                      # residual branch, ending in its last BN
    a_t  = attn(a_t, state)            # block attention: SE/ECA/CBAM/... or a DIA slot
    x'   = act(a_t + shortcut(x_t))    # skip connection (can be switched off, DIA Fig 13-14)
    x'   = post(x', shortcut(x_t), state)  # layer attention after the block (MRLA/DLA/ELA)

``attn`` and ``post`` are empty slots the zoo fills; the backbones know nothing about
attention. Any module placed in a slot is called as ``module(x, state)`` (``post`` as
``module(x, identity, state)``), so stateful modules (DIA-LSTM, MRLA) keep their
recurrent state in ``state.memory`` and stateless ones ignore it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

__all__ = [
    "StageState",
    "ResidualBlock",
    "Stage",
    "ResNetBackbone",
    "norm2d",
    "conv_init_",
    "scale_residual_init_",
]


def norm2d(channels: int, use_bn: bool = True) -> nn.Module:
    """BatchNorm2d, or Identity for the no-BatchNorm analysis (DIA Table XVI)."""
    return nn.BatchNorm2d(channels) if use_bn else nn.Identity()


@dataclass
class StageState:
    """Per-forward state of one stage, created fresh at the stage's first block.

    ``memory`` holds what stateful attention carries from block to block (DIA-LSTM's
    (h, c), MRLA-B's keys and values, DLA's DSU context); it starts empty, which is the
    "reset at each stage" of DIA (h0 = c0 = 0), MRLA and DLA. ``readout`` is ``None``
    unless the caller asked for attention maps; :meth:`record` is then a no-op, so the
    read-out costs nothing when not requested.
    """

    stage: int
    block: int = 0
    memory: dict[str, Any] = field(default_factory=dict)
    readout: list[dict[str, Any]] | None = None

    @property
    def recording(self) -> bool:
        return self.readout is not None

    def record(self, kind: str, value: torch.Tensor) -> None:
        if self.readout is not None:
            self.readout.append(
                {"stage": self.stage, "block": self.block, "kind": kind, "value": value.detach()}
            )


class ResidualBlock(nn.Module):
    """Base of all residual blocks: subclasses define ``branch`` and ``shortcut``.

    Attributes set by subclasses: ``in_channels``, ``out_channels`` (block output) and
    ``branch_channels`` (channels of the residual branch output, where block attention
    acts), ``stride``. ``skip=False`` drops the identity path (DIA Figs 13-14);
    ``post_act`` is False for pre-activation blocks (no ReLU after the addition).
    """

    in_channels: int
    out_channels: int
    branch_channels: int
    stride: int
    #: attribute name of the residual branch's last normalisation (``scale_residual_init_``); None: none
    last_norm: str | None = None

    def __init__(self, skip: bool = True, post_act: bool = True):
        super().__init__()
        self.skip = skip
        self.post_act = post_act
        self.attn: nn.Module | None = None
        self.post: nn.Module | None = None

    def branch(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: StageState) -> torch.Tensor:
        identity = self.shortcut(x)
        out = self.branch(x)
        if self.attn is not None:
            out = self.attn(out, state)
        if self.skip:
            out = out + identity
        if self.post_act:
            out = torch.relu(out)
        if self.post is not None:
            out = self.post(out, identity, state)
        return out


class Stage(nn.Module):
    """A run of blocks sharing one spatial size; owns the per-forward StageState.

    ``shared`` holds modules shared by all blocks of the stage and not belonging to any
    single block (e.g. DLA's per-stage depthwise conv); they are reachable by blocks as
    ``state.memory['shared']``.
    """

    def __init__(self, index: int, blocks: list[ResidualBlock]):
        super().__init__()
        self.index = index
        self.blocks = nn.ModuleList(blocks)
        self.shared = nn.ModuleDict()

    @property
    def out_channels(self) -> int:
        return self.blocks[-1].out_channels

    def forward(self, x: torch.Tensor, readout: list | None = None) -> torch.Tensor:
        state = StageState(stage=self.index, readout=readout)
        if len(self.shared):
            state.memory["shared"] = self.shared
        for i, block in enumerate(self.blocks):
            state.block = i
            x = block(x, state)
        return x


def conv_init_(module: nn.Module) -> None:
    """Initialisation of the released CIFAR code (official-code.md, "Init"):
    conv weights N(0, sqrt(2 / (k*k*out_channels))), BN weight 1 and bias 0;
    Linear and Conv1d keep PyTorch's defaults.
    """
    for m in module.modules():
        if getattr(m, "keep_init", False):
            continue
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def scale_residual_init_(module: nn.Module) -> int:
    """Start the last BN of every residual branch at 1/sqrt(B) (weight; bias stays 0), B = the
    number of residual blocks of ``module``: each block then adds ~1/B of a unit variance to the
    residual stream, so the stream and the logits start at unit scale at any depth (the idea of
    zero/"SkipInit"-style starts, De & Smith 2020; Goyal et al. 2017 start it at 0). The branches
    found: every ``ResidualBlock`` with a skip connection and a ``last_norm`` that is a BN
    (bottleneck bn3, basic bn2), and every module with a ``last_norm`` outside blocks (the
    layer-attention branches of MRLA/DLA/ELA: their BN). The papers and the released code do NOT
    do this; only the smoke profile's CIFAR-style rows (``RunConfig.residual_init='scaled'``,
    ``experiments.recipes.SMOKE_LEARNING``) use it. Returns the number of BNs scaled.
    """
    blocks = [m for m in module.modules() if isinstance(m, ResidualBlock)]
    if not blocks:
        return 0
    gain = 1.0 / math.sqrt(len(blocks))
    scaled = 0
    for m in module.modules():
        name = getattr(m, "last_norm", None)
        if name is None or (isinstance(m, ResidualBlock) and not m.skip):
            continue
        bn = getattr(m, name)
        if isinstance(bn, nn.BatchNorm2d) and bn.affine:
            nn.init.constant_(bn.weight, gain)
            scaled += 1
    return scaled


class ResNetBackbone(nn.Module):
    """``stem -> stages -> (final norm/act) -> global average pool -> linear``.

    The head pools adaptively: on 32x32 CIFAR inputs this is exactly the released
    ``AvgPool2d(8)``, and it also accepts 28x28 Fashion-MNIST or 96x96 STL-10 images.

    ``forward(x, return_attention=True)`` returns ``(logits, readout)`` where readout
    is the list of per-block records written through :meth:`StageState.record`.
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: list[Stage],
        num_classes: int,
        final: nn.Module | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.final = final if final is not None else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = stages[-1].out_channels
        self.head_drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes)
        #: training callbacks a family adds (ELA's pruning controller), see training_callbacks
        self.callbacks: list = []
        #: True when some parameters may get no gradient in a step (pruned ELA layers)
        self.has_unused_parameters = False

    def training_callbacks(self) -> list:
        """Callbacks the training loop must call (``experiments.engine.Callback``)."""
        return list(self.callbacks)

    def blocks(self):
        """All residual blocks, in order."""
        for stage in self.stages:
            yield from stage.blocks

    def forward_features(self, x: torch.Tensor, readout: list | None = None) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x, readout)
        return self.final(x)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        readout: list | None = [] if return_attention else None
        x = self.forward_features(x, readout)
        x = torch.flatten(self.pool(x), 1)
        logits = self.fc(self.head_drop(x))
        if return_attention:
            return logits, readout
        return logits


BlockFactory = Callable[..., ResidualBlock]
