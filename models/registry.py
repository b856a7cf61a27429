"""Model registry: ``register_model``, ``create_model``, ``list_models``.

Modelled on torchvision's ``models/_api.py`` and timm's registry: builders register
themselves at import time under a unique name; a duplicate name is an error and an
unknown name is a one-line error that names the closest valid names.
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

import torch.nn as nn

__all__ = ["ConfigError", "register_model", "create_model", "list_models", "model_entry"]


class ConfigError(ValueError):
    """Invalid user input (unknown name, invalid depth or hyperparameter).

    The message is one line that names the problem and the fix; the command-line
    entry point prints it without a traceback.
    """


_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str | None = None, *, builder: Callable[..., nn.Module] | None = None):
    """Register ``builder`` under ``name`` (decorator or direct call).

    Raises ``ValueError`` when the name is already taken: two models must never
    silently shadow each other.
    """

    def _add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"model {key!r} is already registered; pick another name")
        _MODELS[key] = fn
        return fn

    if builder is not None:
        return _add(builder)
    return _add


def _suggest(name: str, choices: list[str], n: int = 3) -> str:
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not close:
        close = [c for c in choices if name.split("_")[0] in c][:n]
    return ", ".join(close) if close else "see `./reproduce.sh list models`"


def model_entry(name: str) -> Callable[..., nn.Module]:
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; closest valid names: {_suggest(name, sorted(_MODELS))}"
        ) from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with keyword overrides (num_classes, ...)."""
    return model_entry(name)(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered names matching the shell-style ``pattern``."""
    _ensure_loaded()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def _ensure_loaded() -> None:
    # The zoo registers everything on import; importing here keeps `registry`
    # importable on its own (for the modules that register).
    from . import zoo  # noqa: F401
