"""ELA after pruning: which ELA layers a measurement prunes (``--ela-pruning``, the package
docstring) and the input batches the choice needs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from models import ConfigError

from .pipelines import endless

__all__ = ["kl_batches", "init_kl", "select_ela_pruned"]

BatchesFn = Callable[[int], list]


def kl_batches(dataset: str, data_root: str, device: torch.device, n: int, batch: int, seed: int):
    """``n`` fixed training batches (CPU-drawn, the same on every device and pipeline)."""
    from .. import data as D

    info = D.dataset_info(dataset)
    x, y = D.load_uint8(dataset, data_root, train=True, subset=2048 if dataset == "fake" else None)
    gb = D.GpuBatches(x, y, info, batch_size=batch, train=True, drop_last=True)
    out = []
    for xb, _ in endless(lambda: gb.epoch(seed)):
        out.append(xb.to(device))
        if len(out) == n:
            return out
    return out


def init_kl(model: torch.nn.Module, batches: list[torch.Tensor]) -> dict[str, float]:
    """Per-layer KL (ELA Eq. 11) of the initialised network, averaged over ``batches``."""
    from models.ela import ela_layers

    layers = ela_layers(model)
    sums: dict[str, list[float]] = {}
    for name, layer in layers.items():
        layer.layer_name = name
        layer.kl_sink = lambda n, kl: sums.setdefault(n, []).append(float(kl))
    model.train()
    try:
        with torch.no_grad():
            for x in batches:
                model(x)
    finally:
        for layer in layers.values():
            layer.kl_sink = None
    return {n: sum(v) / len(v) for n, v in sums.items()}


def select_ela_pruned(model: torch.nn.Module, how: str, batches_fn: BatchesFn) -> dict[str, Any]:
    """Mark ELA layers of ``model`` pruned according to ``how`` (package docstring); returns what
    was done. ``batches_fn(n)`` gives n input batches on the model's device."""
    from models.ela import ela_layers, prune

    layers = ela_layers(model)
    info: dict[str, Any] = {"method": how, "kv_when_pruned": next(iter(layers.values())).kv_when_pruned,
                            "total_layers": len(layers)}
    choose = _CHOICES.get(how) or next((f for p, f in _PREFIXED.items() if how.startswith(p)), None)
    if choose is None:
        raise ConfigError(f"--ela-pruning {how!r}: use controller, half, none, record:PATH or layers:s0.b1,...")
    names = choose(model, how, batches_fn, info)
    prune(model, names)
    pruned = [n for n, l in layers.items() if l.pruned]
    info.update(pruned=pruned, num_pruned=len(pruned), active_layers=len(layers) - len(pruned))
    return info


def _none(model: torch.nn.Module, how: str, batches_fn: BatchesFn, info: dict[str, Any]) -> list[str]:
    info["choice"] = "no layer pruned (ELA = MRLA-B plus the KL bookkeeping hooks)"
    return []


def _controller(model: torch.nn.Module, how: str, batches_fn: BatchesFn, info: dict[str, Any]) -> list[str]:
    """The project's pruning controller through its decisions, on one batch per window epoch."""
    from models.ela import ELAPruning, ela_layers
    from models.kl import PAPER_EPOCHS

    cb = next((c for c in model.training_callbacks() if isinstance(c, ELAPruning)), None)
    if cb is None:
        raise ConfigError("the ELA model has no pruning controller")
    cb.on_train_start(model, PAPER_EPOCHS[cb.preset])  # the paper's schedule: windows unscaled
    epochs = [e for a, b in cb.windows for e in range(a, b + 1)]
    batches = batches_fn(len(epochs))
    model.train()
    for e, x in zip(epochs, batches):
        cb.on_epoch_start(e - 1, model)
        with torch.no_grad():
            model(x)
        cb.on_epoch_end(e - 1, model, {})
    info["choice"] = (f"the project's ELA pruning controller (models.ela.ELAPruning, preset {cb.preset!r}: "
                      f"{cb.settings()}) run through its {len(cb.windows)} decisions; KL of each window epoch "
                      f"measured on ONE batch of {batches[0].shape[0]} training images by the initialised "
                      f"network (train mode, no gradients), not by the trained one")
    info["decisions"] = cb.record()["decisions"]
    return [n for n, l in ela_layers(model).items() if l.pruned]


def _half(model: torch.nn.Module, how: str, batches_fn: BatchesFn, info: dict[str, Any]) -> list[str]:
    kl = init_kl(model, batches_fn(2))
    names = []
    for s in sorted({n.split(".")[0] for n in kl}):
        stage = sorted((v, n) for n, v in kl.items() if n.startswith(s + "."))
        names += [n for _, n in stage[: len(stage) // 2]]
    info["choice"] = ("per stage, the half (rounded down) of the non-first layers with the lowest KL "
                      "(ELA Eq. 11) measured by the initialised network on 2 training batches")
    info["kl"] = kl
    return names


def _from_record(model: torch.nn.Module, how: str, batches_fn: BatchesFn, info: dict[str, Any]) -> list[str]:
    rec = json.loads(Path(how[len("record:"):]).read_text())
    info["choice"] = f"the final pruned set of the training run {how[len('record:'):]}"
    return list(rec["callbacks"]["ela_pruning"]["pruned"])


def _explicit(model: torch.nn.Module, how: str, batches_fn: BatchesFn, info: dict[str, Any]) -> list[str]:
    info["choice"] = "explicit layer list"
    return [n for n in how[len("layers:"):].split(",") if n]


_CHOICES = {"none": _none, "controller": _controller, "half": _half}
_PREFIXED = {"record:": _from_record, "layers:": _explicit}
