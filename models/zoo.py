"""Every named model of the three papers: backbone x attention family.

A name is ``<family>_<backbone>`` (``se_resnet56``, ``dia_resnet164``,
``dia_srm_wrn52_4``, ``cbam_resnet50_imagenet``) or just ``<backbone>`` for the plain
network. ``create_model(name, num_classes=100, attn_kwargs={"reduction": 8}, ...)``
overrides any argument of :func:`build`.

Families are registered by the modules that implement them (``register_family``);
backbones are the table below. ``build`` is also registered under the generic names
``cifar_resnet``, ``imagenet_resnet``, ``wrn`` and ``resnext`` for depths and widths
that have no name of their own (``create_model('cifar_resnet', depth=29, block='basic')``).
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

from .attach import attach
from .attention import create_attn
from .backbone import ResidualBlock, ResNetBackbone
from .cifar_resnet import PAPER_DEPTHS, cifar_resnet
from .imagenet_resnet import imagenet_resnet
from .registry import ConfigError, register_model

__all__ = ["Family", "register_family", "build", "BACKBONES", "FAMILIES"]


# --------------------------------------------------------------------------- backbones
def _backbone_builders() -> dict[str, Callable[..., ResNetBackbone]]:
    builders: dict[str, Callable[..., ResNetBackbone]] = {
        "cifar": cifar_resnet,
        "imagenet": imagenet_resnet,
    }
    for kind, (mod, fn) in {"wrn": ("wide_resnet", "wide_resnet"), "resnext": ("resnext", "cifar_resnext")}.items():
        try:
            builders[kind] = getattr(importlib.import_module(f"{__package__}.{mod}"), fn)
        except ModuleNotFoundError:
            pass
    return builders


#: Named backbones: name -> builder kind and its arguments.
BACKBONES: dict[str, dict[str, Any]] = {
    **{f"resnet{d}": dict(kind="cifar", depth=d, block="bottleneck") for d in PAPER_DEPTHS},
    **{f"resnet{d}_basic": dict(kind="cifar", depth=d, block="basic") for d in (20, 32, 44, 56, 110)},
    "preresnet164": dict(kind="cifar", depth=164, block="preact"),
    "wrn52_4": dict(kind="wrn", depth=52, widen=4),
    "resnext101_8x32d": dict(kind="resnext", depth=101, cardinality=8, base_width=32),
    **{f"resnet{d}_imagenet": dict(kind="imagenet", depth=d) for d in (18, 34, 50, 101)},
}


# --------------------------------------------------------------------------- families
@dataclass(frozen=True)
class Family:
    """An attention family: how to build its module for one block, and where it goes.

    ``make(block, **kwargs)`` returns the module for ``block``; ``slot`` is ``'attn'``
    (on the residual branch) or ``'post'`` (after the block: layer attention);
    ``share`` builds one module per stage (DIA); ``setup(net, **kwargs)`` adds
    stage-level parts after attaching; ``defaults`` are per-backbone-kind default
    kwargs (e.g. ``{"imagenet": {"bias": True}}``); ``backbones`` restricts which named
    backbones get a registered variant (None: all).
    """

    name: str
    make: Callable[..., nn.Module]
    slot: str = "attn"
    share: bool = False
    setup: Callable[..., None] | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    backbones: tuple[str, ...] | None = None
    description: str = ""


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    if family.name in FAMILIES:
        raise ValueError(f"attention family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def sam_family(name: str, share: bool = False, prefix: str = "", **defaults) -> Family:
    """A family built from a block attention module of ``models.attention``."""

    def make(block: ResidualBlock, **kwargs) -> nn.Module:
        return create_attn(name, block.branch_channels, **kwargs)

    label = f"{prefix}{name}"
    return Family(label, make, share=share, defaults=defaults,
                  description=("shared per stage (DIA) " if share else "") + name.upper())


# --------------------------------------------------------------------------- build
def build(
    kind: str = "cifar",
    *,
    family: str | None = None,
    attn_kwargs: dict[str, Any] | None = None,
    attn_stages: tuple[int, ...] | list[int] | None = None,
    attn_blocks: int | None = None,
    attn_pick: str = "first",
    share: bool | None = None,
    share_bn: bool = False,
    **backbone_kwargs,
) -> ResNetBackbone:
    """Backbone of ``kind`` with the attention ``family`` attached.

    ``attn_stages`` (0-based stage indices) and ``attn_blocks`` (blocks per stage that
    carry attention, ``attn_pick`` 'first' or 'spread') serve DIA Table XV and Fig 10;
    ``share`` overrides the family's sharing (a per-block DIA-LSTM, a shared SE);
    ``share_bn`` shares the BatchNorms of a shared module too (DIA Fig 15).
    """
    builders = _backbone_builders()
    if kind not in builders:
        raise ConfigError(f"unknown backbone kind {kind!r}; use one of {', '.join(sorted(builders))}")
    net = builders[kind](**backbone_kwargs)
    if family is None:
        if attn_kwargs:
            raise ConfigError("attn_kwargs given for a plain backbone: choose a model with attention")
        return net
    fam = FAMILIES.get(family)
    if fam is None:
        raise ConfigError(f"unknown attention family {family!r}; use one of {', '.join(sorted(FAMILIES))}")
    kwargs = {**fam.defaults.get(kind, {}), **(attn_kwargs or {})}
    attach(
        net,
        functools.partial(fam.make, **kwargs),
        slot=fam.slot,
        stages=attn_stages,
        blocks=attn_blocks,
        pick=attn_pick,
        share=fam.share if share is None else share,
        share_bn=share_bn,
    )
    if fam.setup is not None:
        fam.setup(net, **kwargs)
    return net


# --------------------------------------------------------------------------- registration
#: Modules that register families on import (one concept per module).
FAMILY_MODULES: tuple[str, ...] = ("dia",)

#: Block attention modules attachable per block, and those DIA shares per stage (Table III).
PER_BLOCK_SAMS = ("se", "eca", "cbam", "bam", "srm", "spa", "sge", "gc")
DIA_SHARED_SAMS = ("se", "eca", "cbam", "srm", "spa")


def _register_all() -> None:
    from .attention import list_attn

    available = set(list_attn())
    for sam in PER_BLOCK_SAMS:
        if sam in available:
            register_family(sam_family(sam, **_SAM_DEFAULTS.get(sam, {})))
    for sam in DIA_SHARED_SAMS:
        if sam in available:
            register_family(sam_family(sam, share=True, prefix="dia_", **_SAM_DEFAULTS.get(sam, {})))
    for mod in FAMILY_MODULES:
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{mod}":
                raise
    kinds = set(_backbone_builders())
    for bname, spec in BACKBONES.items():
        if spec["kind"] not in kinds:
            continue
        register_model(bname, builder=functools.partial(build, **spec))
        for fam in FAMILIES.values():
            if fam.backbones is None or bname in fam.backbones:
                register_model(f"{fam.name}_{bname}", builder=functools.partial(build, family=fam.name, **spec))
    for kind in sorted(kinds):
        generic = {"cifar": "cifar_resnet", "imagenet": "imagenet_resnet"}.get(kind, kind)
        register_model(generic, builder=functools.partial(build, kind))


#: Per-backbone-kind defaults of the block attention modules (see each module's docstring).
_SAM_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}

_register_all()
