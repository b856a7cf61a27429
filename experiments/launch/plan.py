"""Planning: a table's runs with this machine's execution settings, and the data they need."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Mapping

from models import ConfigError

from ..config import RunConfig
from ..data import DATASETS, dataset_spec
from ..records import ROOT
from ..tables import Planned, Table

__all__ = ["ROOT", "state_dir", "default_data_root", "prepare", "cli_args", "check_data", "check_pretrained"]


def state_dir(out_root: str | Path, table_id: str, profile: str) -> Path:
    return Path(out_root).resolve() / "_launch" / f"{table_id}-{profile}"


def default_data_root(dataset: str, data_root: str | None) -> str:
    """``data_root`` resolved, or the dataset's default under ``<repo>/data`` (its spec's ``default_root``)."""
    if data_root:
        return str(Path(data_root).expanduser().resolve())
    spec = DATASETS.get(dataset)
    return str(spec.default_root(ROOT / "data") if spec is not None else ROOT / "data")


def prepare(table: Table, profile: str, *, seeds: int | None = None, limit: int | None = None,
            data_root: str | None = None, out_root: str = "runs", epochs: int | None = None,
            train_subset: int | None = None, test_subset: int | None = None,
            workers: int | None = None, drop_path: float | None = None, amp: bool = False,
            pretrained: str = "auto") -> list[Planned]:
    """The table's runs with the execution settings of this machine.

    ``epochs``/``train_subset``/``test_subset`` override the profile's scale, ``drop_path``
    the recipe's DropPath on layer-attention branches (0.2 by default, the released
    command's), ``amp`` trains under bf16 autocast on the GPU fast path (fp32 by default);
    all change the runs' identity, hence their folders. ``pretrained``: 'auto' keeps each
    detection row's planned ImageNet weights (the full profile: this repository's ImageNet run of
    the row's method), 'none' trains the detection rows from scratch (new runs). ``limit`` keeps
    the first N runs (seed-major order).
    """
    if pretrained not in ("auto", "none"):
        raise ConfigError(f"--pretrained {pretrained!r}: use auto (the ImageNet runs of this repository) or none "
                          f"(from scratch); a checkpoint of your own goes to one run: ./reproduce.sh run --pretrained PATH")
    plans = table.plan(profile, seeds)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        plans = plans[:limit]
    out_root = str(Path(out_root).expanduser().resolve())
    if workers is None:
        workers = 0 if profile == "smoke" else max(1, min(8, (os.cpu_count() or 2) - 1))
    identity = {k: v for k, v in (("epochs", epochs), ("train_subset", train_subset), ("test_subset", test_subset),
                                  ("drop_path", drop_path), ("amp", amp or None)) if v is not None}
    out = []
    for p in plans:
        scratch = {"pretrained": None} if pretrained == "none" and p.cfg.detector else {}
        cfg = dataclasses.replace(p.cfg, **identity, **scratch, out_root=out_root, workers=workers, progress=False,
                                  data_root=default_data_root(p.cfg.dataset, data_root))
        out.append(dataclasses.replace(p, cfg=cfg))
    return out


def cli_args(cfg: RunConfig) -> list[str]:
    """``python -m experiments.run`` arguments that rebuild ``cfg`` exactly."""
    args = []
    for f in dataclasses.fields(RunConfig):
        v = getattr(cfg, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(v, bool):
            args.append(flag if v else "--no-" + f.name.replace("_", "-"))
        elif isinstance(v, dict):
            if v:
                args += [flag, json.dumps(v, sort_keys=True)]
        elif v is not None:
            args += [flag, str(v)]
    return args


def check_pretrained(table: Table, plans: list[Planned], queued: Mapping[str, str] | None = None) -> None:
    """One-line ConfigError when ImageNet runs that detection rows start from are not finished.
    ``queued``: ``run:<ImageNet run>`` -> the SLURM job that trains it (``slurm.pretrained_jobs``);
    those are waited for (the detection arrays are submitted with an afterok dependency on
    them), the others still refuse."""
    from ..detection.pretrained import resolve_pretrained

    missing: dict[str, ConfigError] = {}
    for p in plans:
        if p.cfg.detector and p.cfg.pretrained and p.cfg.pretrained not in missing:
            try:
                resolve_pretrained(p.cfg)
            except ConfigError as exc:
                missing[p.cfg.pretrained] = exc
    missing = {k: e for k, e in missing.items() if k not in (queued or {})}
    if missing:
        first = next(iter(missing.values()))
        raise ConfigError(f"{table.id}: {len(missing)} ImageNet run(s) that its detection rows start from are neither "
                          f"finished nor queued on SLURM (launch their ImageNet tables first: with --executor slurm "
                          f"this table is then queued behind their jobs, afterok; or --pretrained none to train "
                          f"from scratch). First: {first}")


def check_data(table: Table, plans: list[Planned], profile: str, queued: Mapping[str, str] | None = None) -> None:
    """One-line ConfigError naming the missing dataset, where it is expected and how to get it
    (each dataset's ``DatasetSpec.check_available``, once per dataset and root); first the
    ImageNet runs detection rows start from (``check_pretrained``, ``queued`` as there)."""
    check_pretrained(table, plans, queued)
    for cfg in {(p.cfg.dataset, p.cfg.data_root): p.cfg for p in plans if p.cfg.detector}.values():
        from ..detection.train import detection_root  # the tree the run reads (the offline set made if absent)

        dataset_spec(cfg.dataset).check_available(detection_root(cfg))
    for ds, root in dict.fromkeys((p.cfg.dataset, p.cfg.data_root) for p in plans if not p.cfg.detector):
        try:
            dataset_spec(ds).check_available(root)
        except ConfigError as exc:
            advice = ("" if profile == "smoke" else
                      f" Nothing was run or faked: pass --data-root with the folder that holds it, or use "
                      f"--profile smoke for the same rows on Fashion-MNIST.")
            name = DATASETS[ds].display if ds in DATASETS else ds
            raise ConfigError(f"{table.id} (--profile {profile}) needs {name}: {exc}{advice}") from None
