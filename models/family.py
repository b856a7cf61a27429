"""Attention families and their registry: ``Family``, ``FAMILIES``, ``register_family``.

A family is one kind of attention of the zoo (``se``, ``dia``, ``mrla_b``, ``ela``, ...):
how to build its module for one residual block (``make``), where the module goes
(``slot``), whether one module serves a whole stage (``share``), and which options it
takes, declared as typed option sets (frozen dataclasses):

* **module options** (``module_options``): passed to ``make(block, options)`` for every
  block that carries the family's module (``dim_per_head``, ``drop_path``, ``reduction``);
* **stage options** (``stage_options``): passed to ``setup(net, options)``, which adds the
  stage- or network-level parts after the modules are attached (DLA's cell per stage,
  MRLA-B's deep ImageNet stem, ELA's pruning controller).

An option may belong to both sets (DLA's ``refresh``): both get it, and its declared
defaults must agree. A family built from a block attention module of
``models.attention`` (``sam_family`` in the zoo) declares no module options
(``module_options=None``): its options go unchecked, as a dict, to that module.

Whether a family takes DropPath, or ELA's ``pruning`` settings, is read off the declared
options (``Family.takes``); nothing here inspects a function signature.

This module imports nothing of the zoo: the family modules (``models.dia``, ``dla``,
``mrla``, ``ela``) register here, and the zoo registers the ``<family>_<backbone>`` models
of every family, also of those registered after it (``on_register``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch.nn as nn

__all__ = ["Family", "FAMILIES", "register_family", "on_register", "option_defaults"]


def option_defaults(options: type | None) -> dict[str, Any]:
    """The declared options of an option set and their defaults (``{}`` for None)."""
    if options is None:
        return {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(options):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            raise TypeError(f"option {f.name!r} of {options.__name__} has no default")
    return out


@dataclass(frozen=True)
class Family:
    """An attention family: how to build its module for one block, and where it goes.

    ``make(block, options)`` returns the module for ``block`` (``options``: an instance of
    ``module_options``, or a dict when ``module_options`` is None); ``slot`` is
    ``'attn'`` (on the residual branch) or ``'post'`` (after the block: layer attention);
    ``share`` builds one module per stage (DIA); ``setup(net, options)`` adds stage-level
    parts after attaching (``options``: an instance of ``stage_options``); ``defaults``
    are per-backbone-kind default options (e.g. ``{"imagenet": {"bias": True}}``);
    ``backbone_defaults`` per-kind default kwargs of the backbone that the family's
    released code changes (DIANet's WRN adds a BN to every residual branch);
    ``backbone_filter(name)`` says which named backbones get a registered
    ``<family>_<backbone>`` variant (None: all).
    """

    name: str
    make: Callable[..., nn.Module]
    slot: str = "attn"
    share: bool = False
    setup: Callable[..., None] | None = None
    module_options: type | None = None
    stage_options: type | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    backbone_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    backbone_filter: Callable[[str], bool] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if (self.setup is None) != (self.stage_options is None):
            raise ValueError(f"family {self.name!r}: a setup hook and stage options go together")
        if self.module_options is None and self.stage_options is not None:
            raise ValueError(f"family {self.name!r}: stage options need declared module options")
        module, stage = option_defaults(self.module_options), option_defaults(self.stage_options)
        clash = [k for k in module.keys() & stage.keys() if module[k] != stage[k]]
        if clash:
            raise ValueError(f"family {self.name!r}: options {clash} have different module and stage defaults")
        if self.module_options is not None:
            for kind, opts in self.defaults.items():
                unknown = set(opts) - self.option_names()
                if unknown:
                    raise ValueError(f"family {self.name!r}: {kind} defaults name unknown options {sorted(unknown)}")

    def option_names(self) -> frozenset[str]:
        """Every declared option (module and stage)."""
        return frozenset(option_defaults(self.module_options)) | frozenset(option_defaults(self.stage_options))

    def takes(self, option: str) -> bool:
        """Whether ``option`` is a declared option (``'drop_path'``, ``'pruning'``)."""
        return option in self.option_names()

    @property
    def takes_drop_path(self) -> bool:
        """Whether the family's modules take DropPath (a module option)."""
        return "drop_path" in option_defaults(self.module_options)

    def option_defaults(self, kind: str | None = None) -> dict[str, Any]:
        """Default options on a backbone of ``kind``: the declared defaults (module, then
        stage options), then the family's per-kind defaults."""
        out = {**option_defaults(self.module_options), **option_defaults(self.stage_options)}
        out.update(self.defaults.get(kind or "", {}))
        return out

    def resolve(self, kind: str, attn_kwargs: Mapping[str, Any] | None) -> tuple[Any, Any]:
        """``attn_kwargs`` over the per-kind defaults, split into (module options, stage
        options); a TypeError names an option the family does not declare."""
        kwargs = {**self.defaults.get(kind, {}), **(attn_kwargs or {})}
        if self.module_options is None:
            return kwargs, None
        unknown = [k for k in kwargs if k not in self.option_names()]
        if unknown:
            raise TypeError(f"attention family {self.name!r} got an unexpected keyword argument {unknown[0]!r} "
                            f"(its options: {', '.join(sorted(self.option_names()))})")
        return _options(self.module_options, kwargs), _options(self.stage_options, kwargs)


def _options(options: type | None, kwargs: Mapping[str, Any]) -> Any:
    if options is None:
        return None
    names = option_defaults(options)
    return options(**{k: v for k, v in kwargs.items() if k in names})


# --------------------------------------------------------------------------- registry
FAMILIES: dict[str, Family] = {}
_LISTENERS: list[Callable[[Family], None]] = []


def register_family(family: Family) -> Family:
    """Add an attention family; every ``on_register`` listener (the zoo, which registers
    its ``<family>_<backbone>`` models) is told."""
    if family.name in FAMILIES:
        raise ValueError(f"attention family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    for listener in _LISTENERS:
        listener(family)
    return family


def on_register(listener: Callable[[Family], None]) -> None:
    """Call ``listener(family)`` for every family registered from now on."""
    _LISTENERS.append(listener)
