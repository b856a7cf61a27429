"""Every named model of the three papers: backbone x attention family.

A name is ``<family>_<backbone>`` (``se_resnet56``, ``dia_resnet164``,
``dia_srm_wrn52_4``, ``cbam_resnet50_imagenet``) or just ``<backbone>`` for the plain
network. ``create_model(name, num_classes=100, attn_kwargs={"reduction": 8}, ...)``
overrides any argument of :func:`build`.

Families (:mod:`models.family`) are registered by the modules that implement them
(``register_family``); backbones are the table below. ``build`` is also registered under
the generic names ``cifar_resnet``, ``imagenet_resnet``, ``wrn`` and ``resnext`` for
depths and widths that have no name of their own
(``create_model('cifar_resnet', depth=29, block='basic')``).
"""
from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

import torch.nn as nn

from .attach import attach
from .attention import create_attn
from .backbone import ResidualBlock, ResNetBackbone
from .cifar_resnet import PAPER_DEPTHS, cifar_resnet
from .family import FAMILIES, Family, on_register, register_family
from .imagenet_resnet import imagenet_resnet
from .registry import ConfigError, register_model

__all__ = ["Family", "register_family", "build", "BACKBONES", "FAMILIES", "takes_drop_path"]


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
def sam_family(name: str, share: bool = False, prefix: str = "", **defaults) -> Family:
    """A family built from a block attention module of ``models.attention``."""

    def make(block: ResidualBlock, options: dict[str, Any]) -> nn.Module:
        return create_attn(name, block.branch_channels, **options)

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
    fam = None
    if family is not None:
        fam = FAMILIES.get(family)
        if fam is None:
            raise ConfigError(f"unknown attention family {family!r}; use one of {', '.join(sorted(FAMILIES))}")
        backbone_kwargs = {**fam.backbone_defaults.get(kind, {}), **backbone_kwargs}
    net = builders[kind](**backbone_kwargs)
    if fam is None:
        if attn_kwargs:
            raise ConfigError("attn_kwargs given for a plain backbone: choose a model with attention")
        return net
    module_options, stage_options = fam.resolve(kind, attn_kwargs)
    attach(
        net,
        functools.partial(fam.make, options=module_options),
        slot=fam.slot,
        stages=attn_stages,
        blocks=attn_blocks,
        pick=attn_pick,
        share=fam.share if share is None else share,
        share_bn=share_bn,
    )
    if fam.setup is not None:
        fam.setup(net, stage_options)
    return net


# --------------------------------------------------------------------------- registration
#: Modules that register families on import (one concept per module).
FAMILY_MODULES: tuple[str, ...] = ("dia", "mrla", "dla", "ela")

#: Block attention modules attachable per block, and those DIA shares per stage (Table III).
PER_BLOCK_SAMS = ("se", "eca", "cbam", "bam", "srm", "spa", "sge", "gc", "sem", "spem")
DIA_SHARED_SAMS = ("se", "eca", "cbam", "srm", "spa")

#: Modules that register models of their own, outside ``build`` (timm's ViT, DIA Table IX;
#: U-ViT with and without DIA, DIA Fig 8).
MODEL_MODULES: tuple[str, ...] = ("vit", "uvit")


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
        if spec["kind"] in kinds:
            register_model(bname, builder=functools.partial(build, **spec))
    for kind in sorted(kinds):
        generic = {"cifar": "cifar_resnet", "imagenet": "imagenet_resnet"}.get(kind, kind)
        register_model(generic, builder=functools.partial(build, kind))
    for fam in FAMILIES.values():
        _register_family_models(fam)
    on_register(_register_family_models)  # families registered later (a module imported after the zoo)
    for mod in MODEL_MODULES:
        importlib.import_module(f"{__package__}.{mod}")


#: Named backbones registered with only some families: those the papers use on them.
#: Every other combination is built through the generic names, e.g.
#: ``create_model('cifar_resnet', depth=407, family='mrla_b')``.
LIMITED_BACKBONES: dict[str, tuple[str, ...]] = {
    **{f"resnet{d}": ("se", "dia", "dia_light") for d in (245, 326, 407)},  # DIA Tables XIII, XVI
    **{name: PER_BLOCK_SAMS for name, spec in BACKBONES.items() if spec.get("block") == "basic"},  # no table
}


def _register_family_models(fam: Family) -> None:
    kinds = set(_backbone_builders())
    for bname, spec in BACKBONES.items():
        if spec["kind"] not in kinds or fam.name not in LIMITED_BACKBONES.get(bname, (fam.name,)):
            continue
        if fam.backbone_filter is None or fam.backbone_filter(bname):
            register_model(f"{fam.name}_{bname}", builder=functools.partial(build, family=fam.name, **spec))


#: Per-backbone-kind defaults of the block attention modules (see each module's docstring).
_SAM_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # On ImageNet backbones SE and CBAM keep the MLP biases of the SENet and CBAM papers;
    # the CIFAR tables need them off (ELA/DLA Table 1). ELA/DLA Table 2's SE rows pass
    # bias=False, the released MRLA/DLA ImageNet SE (experiments.tables.base.RELEASED_IMAGENET_SE).
    "se": {"imagenet": {"bias": True}, "wrn": {"reduction": 4}, "resnext": {"reduction": 4}},
    "cbam": {"imagenet": {"bias": True}},
    # WRN52-4 and ResNeXt101 8x32 appear only in DIA Table IV, whose SE (12.42M, 34.03M),
    # SEM (12.44M, 34.09M) and ResNeXt SPA (52.95M) counts need C -> C/4 bottlenecks.
    "sem": {"wrn": {"reduction": 4}, "resnext": {"reduction": 4}},
    "spa": {"resnext": {"reduction": 4}},
}

_register_all()


def takes_drop_path(family: str) -> bool:
    """Whether the family's attention modules take DropPath (the layer-attention branches
    of MRLA, DLA and ELA; official-code.md)."""
    fam = FAMILIES.get(family)
    return fam is not None and fam.takes_drop_path


def model_spec(name: str) -> dict[str, Any]:
    """The build arguments behind a registered name: ``{'kind': ..., 'family': ..., ...}``."""
    from .registry import model_entry

    entry = model_entry(name)
    spec = dict(getattr(entry, "keywords", {}))
    if getattr(entry, "args", ()):
        spec.setdefault("kind", entry.args[0])
    return spec
