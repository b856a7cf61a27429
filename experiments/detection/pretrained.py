"""Which ImageNet run a detection row's backbone starts from, and where its weights are.

ELA (Sec. 4.2), DLA (Sec. 4.2) and DIA (Sec. IV-C) fine-tune ImageNet-pretrained backbones of
the same method on COCO. Here the detection row of method X starts from this repository's own
ImageNet run of X: the classification config with the row's backbone, family and module
settings, ImageNet, recipe 'imagenet', seed 0 (``imagenet_config``, ``Row.pretraining_row``).
Its run hash is that of the paper's ImageNet row where the settings agree (ELA Table 2, DLA
Table 2, DIA Table VIII: the same run, trained once); backbones no ImageNet table plans (DIA's
ResNet-101 and SGE rows) are planned all the same and made with the ``./reproduce.sh run``
command the error names.

A detection run says where its weights come from in ``RunConfig.pretrained`` (an identity
field): the full profile plans ``run:<ImageNet run name>``; a user passes a checkpoint path
(``./reproduce.sh run ... --pretrained PATH``); None trains from scratch (the smoke profile,
whose ImageNet runs see 1-channel Fashion-MNIST and cannot seed a 3-channel detector, and
``--pretrained none`` on a table, for debugging). ``resolve_pretrained`` turns it into the
file the run loads, or raises a one-line ConfigError naming the missing run, the tables that
train it and the command that makes it, before the detection run writes anything.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from models import ConfigError

from ..config import RunConfig
from ..tables import planned_rows
from ..tables.base import PRETRAINED_RUN, Row

__all__ = ["imagenet_config", "imagenet_checkpoint", "resolve_pretrained", "pretrained_runs", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"


def imagenet_config(row: Row) -> RunConfig:
    """The ImageNet classification run whose weights the detection ``row`` starts from."""
    return row.pretraining_row().config("full", 0)


def _command(cfg: RunConfig, out_root: str | Path) -> str:
    args = ["./reproduce.sh", "run", "--model", cfg.model, "--dataset", cfg.dataset, "--recipe", cfg.recipe,
            "--seed", str(cfg.seed), "--out-root", str(out_root)]
    if cfg.model_kwargs:
        args += ["--model-kwargs", json.dumps(cfg.model_kwargs, sort_keys=True)]
    return shlex.join(args)


def imagenet_checkpoint(row: Row, out_root: str | Path = "runs") -> Path:
    """``<out_root>/<run_name>/checkpoint.pt`` of the finished ImageNet run of ``row``'s method;
    a one-line ConfigError when that run is missing or unfinished."""
    return _finished_checkpoint(imagenet_config(row), out_root, row.label)


def _finished_checkpoint(cfg: RunConfig, out_root: str | Path, who: str) -> Path:
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
    raise ConfigError(f"{who} starts from the ImageNet run {cfg.run_name} ({made_by}): {state} in {run_dir}; "
                      f"make it with `{_command(cfg, out_root)}`, pass --pretrained PATH for your own weights, "
                      f"or --pretrained none to train from scratch")


def pretrained_runs(cfg: RunConfig) -> list[RunConfig]:
    """The ImageNet run configs a detection config names (``run:<name>``), found among the
    detection rows' pre-training rows of every registered table; [] for a path or None."""
    from ..tables import all_tables

    if not (cfg.pretrained or "").startswith(PRETRAINED_RUN):
        return []
    name = cfg.pretrained[len(PRETRAINED_RUN):]
    for table in all_tables():
        for row in table.rows:
            if row.detector:
                pre = imagenet_config(row)
                if pre.run_name == name:
                    return [pre]
    return []


def resolve_pretrained(cfg: RunConfig) -> Path | None:
    """The checkpoint file a detection run's backbone loads (None: from scratch); a one-line
    ConfigError when it is missing. ``run:<name>`` is looked up under the run's ``out_root``."""
    if cfg.pretrained is None:
        return None
    if "pretrained_backbone" in cfg.model_kwargs:
        raise ConfigError("both --pretrained and model_kwargs['pretrained_backbone'] are set; keep one")
    if cfg.pretrained.startswith(PRETRAINED_RUN):
        runs = pretrained_runs(cfg)
        if runs:
            return _finished_checkpoint(runs[0], cfg.out_root, f"{cfg.model} ({cfg.detector})")
        path = Path(cfg.out_root) / cfg.pretrained[len(PRETRAINED_RUN):] / CHECKPOINT
        if path.is_file():
            return path
        raise ConfigError(f"--pretrained {cfg.pretrained}: no {path}; name a finished run under --out-root, "
                          f"a checkpoint file, or none")
    path = Path(cfg.pretrained).expanduser()
    if not path.is_file():
        raise ConfigError(f"--pretrained {cfg.pretrained}: no such checkpoint file; pass a path to a state dict or "
                          f"checkpoint.pt, or none to train from scratch")
    return path
