"""Which ImageNet run a detection row's backbone starts from, and where its weights are.

ELA (Sec. 4.2), DLA (Sec. 4.2) and DIA (Sec. V-C) fine-tune ImageNet-pretrained backbones of
the same method on COCO. Here the detection row of method X starts from this repository's own
ImageNet run of X: the classification config with the row's backbone, family and module
settings, ImageNet, recipe 'imagenet', seed 0 (``imagenet_config``). Its run hash is that of
the paper's ImageNet row where the settings agree (ELA Table 2, DLA Table 2, DIA Table VIII:
the same run, trained once); backbones no ImageNet table plans (DIA's ResNet-101 and SGE rows)
are planned all the same and made with the ``./reproduce.sh run`` command the error names.

``imagenet_checkpoint`` finds the finished run's ``checkpoint.pt`` (the last epoch's weights)
or raises a one-line ConfigError naming the run, the tables that train it and the command that
makes it. The smoke profile starts from scratch: its ImageNet runs see 1-channel Fashion-MNIST
and cannot seed a 3-channel detector.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from models import ConfigError

from ..config import RunConfig
from ..tables import planned_rows
from ..tables.base import Row

__all__ = ["imagenet_config", "imagenet_checkpoint", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"


def imagenet_config(row: Row) -> RunConfig:
    """The ImageNet classification run whose weights the detection ``row`` starts from."""
    if not row.detector:
        raise ConfigError(f"row {row.label!r} is not a detection row (no detector)")
    pre = Row(label=row.label, family=row.family, backbone=row.backbone, depth=row.depth, dataset="imagenet",
              recipe="imagenet", model_kwargs=row.model_kwargs, resources="imagenet")
    return pre.config("full", 0)


def _command(cfg: RunConfig, out_root: str | Path) -> str:
    args = ["./reproduce.sh", "run", "--model", cfg.model, "--dataset", cfg.dataset, "--recipe", cfg.recipe,
            "--seed", str(cfg.seed), "--out-root", str(out_root)]
    if cfg.model_kwargs:
        args += ["--model-kwargs", json.dumps(cfg.model_kwargs, sort_keys=True)]
    return shlex.join(args)


def imagenet_checkpoint(row: Row, out_root: str | Path = "runs") -> Path:
    """``<out_root>/<run_name>/checkpoint.pt`` of the finished ImageNet run of ``row``'s method;
    a one-line ConfigError when that run is missing or unfinished."""
    cfg = imagenet_config(row)
    run_dir = Path(out_root) / cfg.run_name
    status = None
    record = run_dir / "record.json"
    if record.is_file():
        try:
            status = json.loads(record.read_text()).get("status")
        except (OSError, ValueError):
            status = "unreadable"
    ckpt = run_dir / CHECKPOINT
    if status == "done" and ckpt.is_file():
        return ckpt
    tables = sorted({f"{e['table']} ('{e['row']}')" for e in planned_rows(cfg)})
    made_by = f"trained by {', '.join(tables)}" if tables else "no ImageNet table plans it"
    state = "not found" if status is None else f"status {status!r}" + ("" if ckpt.is_file() else ", no checkpoint")
    raise ConfigError(f"{row.label} starts from the ImageNet run {cfg.run_name} ({made_by}): {state} in {run_dir}; "
                      f"make it with `{_command(cfg, out_root)}`, pass --pretrained PATH for your own weights, "
                      f"or --pretrained none to train from scratch")
