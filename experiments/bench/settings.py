"""What one benchmark measurement is (``Settings``), where its record goes, and which models a
bench measures (``plan``)."""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from models import ConfigError

from ..records import ROOT

__all__ = ["Settings", "split_name", "host_tag", "record_path", "table_models", "plan", "ROOT", "EPOCH_IMAGES",
           "PIPELINES", "TABLES", "FULL", "QUICK", "ELA_PRUNING"]

EPOCH_IMAGES = 50_000  # one CIFAR-10/100 training epoch
PIPELINES = ("reference", "fast")
#: The tables whose rows make the default model set.
TABLES = ("ela.table1", "dla.table1", "ela.fig4")
#: The full-size settings (issue 8); anything smaller is recorded as reduced.
FULL = {"batch_size": 128, "warmup": 20, "steps": 130, "repeats": 3}
QUICK = {"families": ("resnet", "mrla_b", "mrla_l", "ela"), "depths": (20,), "batch_size": 32, "warmup": 2,
         "steps": 4, "repeats": 3}
ELA_PRUNING = ("controller", "half", "none")


@dataclass
class Settings:
    """Everything that decides one measurement (and the command line that repeats it)."""

    model: str
    pipeline: str
    device: str  # "cpu" or "cuda" (resolved)
    batch_size: int = 128
    warmup: int = 20
    steps: int = 130
    repeats: int = 3
    dataset: str = "auto"
    data_root: str = "data"
    workers: int | None = None
    threads: int | None = None
    compile: bool = False
    amp: bool = True
    channels_last: bool = True
    ela_pruning: str = "controller"
    seed: int = 0
    out: str = "results/bench"
    tag: str | None = None

    @property
    def family(self) -> str:
        return split_name(self.model)[0]

    @property
    def depth(self) -> int:
        return split_name(self.model)[1]

    @property
    def variant(self) -> str:
        return self.pipeline + ("-compile" if self.compile and self.pipeline == "fast" else "")

    def argv(self) -> list[str]:
        """Options of ``python -m experiments.bench`` that measure exactly this configuration."""
        a = ["--models", self.model, "--pipelines", self.pipeline, "--device", self.device,
             "--batch-size", str(self.batch_size), "--warmup", str(self.warmup), "--steps", str(self.steps),
             "--repeats", str(self.repeats), "--dataset", self.dataset, "--data-root", self.data_root,
             "--seed", str(self.seed), "--out", self.out]
        if self.workers is not None:
            a += ["--workers", str(self.workers)]
        if self.threads is not None:
            a += ["--threads", str(self.threads)]
        if self.tag:
            a += ["--tag", self.tag]
        if self.compile:
            a.append("--compile")
        if not self.amp:
            a.append("--no-amp")
        if not self.channels_last:
            a.append("--no-channels-last")
        if self.family == "ela":
            a += ["--ela-pruning", self.ela_pruning]
        return a


_NAME = re.compile(r"^(?:(?P<family>[a-z0-9_]+?)_)?resnet(?P<depth>\d+)$")


def split_name(model: str) -> tuple[str, int]:
    """``mrla_b_resnet56`` -> ('mrla_b', 56); ``resnet20`` -> ('resnet', 20)."""
    m = _NAME.match(model)
    if not m:
        raise ConfigError(f"{model!r} is not a CIFAR ResNet model name (<family>_resnet<depth> or resnet<depth>)")
    return m.group("family") or "resnet", int(m.group("depth"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "unknown"


def host_tag(device: str) -> str:
    """The folder under --out: the GPU's name on a GPU (comparable across hosts), else the hostname."""
    if device == "cuda" and torch.cuda.is_available():
        return _slug(torch.cuda.get_device_name(0))
    return _slug(socket.gethostname())


def record_path(s: Settings) -> Path:
    tag = s.tag or host_tag(s.device)
    return Path(s.out) / tag / f"{s.model}.{s.variant}.{s.device}.bs{s.batch_size}.json"


def table_models() -> list[tuple[str, int, str]]:
    """(family, depth, model) of the rows of ELA Table 1, DLA Table 1 and ELA Fig. 4, in order."""
    from ..tables import get_table

    seen, out = set(), []
    for t in TABLES:
        for row in get_table(t).rows:
            if row.model not in seen:
                seen.add(row.model)
                out.append((row.family, row.depth, row.model))
    return out


def plan(models: Iterable[str] | None, depths: Iterable[int]) -> list[str]:
    """Model names to measure. Family names (``mrla_b``) expand over ``depths``; without
    ``models`` the rows of the tables (``TABLES``) at ``depths`` (DLA-B only at 20, as printed);
    full names (``mrla_b_resnet56``) are taken as given."""
    from models import list_models

    depths = list(depths)
    if not models:
        return [m for _, d, m in table_models() if d in depths]
    known = set(list_models())
    out = []
    for m in models:
        names = [m] if m in known else [f"resnet{d}" if m == "resnet" else f"{m}_resnet{d}" for d in depths]
        for n in names:
            if n not in known:
                raise ConfigError(f"no model {n!r}; give table families (resnet, se, eca, dia, cbam, bam, mrla_b, "
                                  f"mrla_l, ela, dla_b, dla_l) or registry names (`./reproduce.sh list models`)")
            split_name(n)
            if n not in out:
                out.append(n)
    return out
