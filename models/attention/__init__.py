"""Block attention modules (SAMs) the papers compare with, by name.

``create_attn(name, channels, **kwargs)`` builds one module for a residual branch with
``channels`` channels. Every module is called as ``module(x, state=None)`` (see
``models.backbone``) and returns ``x`` recalibrated, same shape; when
``state.recording`` it records its attention map with ``state.record(kind, map)``.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

from ..registry import ConfigError

__all__ = ["register_attn", "create_attn", "list_attn"]

_ATTN: dict[str, Callable[..., nn.Module]] = {}


def register_attn(name: str):
    def _add(cls):
        if name in _ATTN:
            raise ValueError(f"attention {name!r} is already registered")
        _ATTN[name] = cls
        return cls

    return _add


def create_attn(name: str, channels: int, **kwargs) -> nn.Module:
    _load()
    if name not in _ATTN:
        raise ConfigError(f"unknown attention {name!r}; use one of {', '.join(sorted(_ATTN))}")
    return _ATTN[name](channels, **kwargs)


def list_attn() -> list[str]:
    _load()
    return sorted(_ATTN)


def _load() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
