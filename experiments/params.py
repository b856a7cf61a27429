"""Our parameter and FLOP counts beside the papers' published ones (`./reproduce.sh params`).

The published numbers are transcribed, exactly as printed, in ``results/paper/params.csv``
(one row per model row of each in-scope table, with our registry name and the kwargs
that select the paper's variant). A row agrees when our count, rounded to the number of
decimals the paper printed, equals the printed number. FLOPs are counted with
``torch.utils.flop_counter`` on the meta device and reported as multiply-accumulates
(the convention of ELA/DLA Table 2: ResNet-50 = 4.1B).

Detectors (ELA Table 5, DLA Table 3; dataset ``coco``, 80 classes): a row whose ``kwargs``
has a ``detector`` key (``faster_rcnn`` | ``mask_rcnn`` | ``retinanet``) is counted on
``models.detection.create_detector(detector, model, num_classes=80,
backbone_kwargs=<the other kwargs>)``, built on the meta device (no weights allocated).
Parameters are counted as MMDetection reports them: mmcv's ``get_model_complexity_info``
counts the parameters with ``requires_grad`` only, and MMDetection's ResNet freezes the stem
and stage 1 (``frozen_stages=1``) when it is built, so the frozen parameters are NOT counted.
The papers' numbers confirm it: counted this way ResNet-50 Faster/Mask R-CNN give
41,531,812 / 44,175,349 = the printed 41.5M / 44.2M, and every ResNet, SE, ECA, MRLA-L and ELA
detector row agrees; counting every parameter (frozen stem + stage 1 included, 225,344 more
for ResNet-50) gives 41.8M / 44.4M and none of the plain ResNet rows agrees. (The GC rows
fit mmdet's GCNet models counted whole instead, as the GCNet paper counts: see
results/paper/params_differences.csv.) The detection tables print no FLOPs.

Tables that print no counts but whose models are new here (``UNPRINTED``: DIA Table IX, the
ViT-S/16 and ViT-B/16 rows) get one report line per row with our parameter count and forward
GMACs at the paper's resolution beside empty published cells, status ``NOT PRINTED`` and the
reason; they are built from the table module's rows, not from params.csv (a transcription of
printed numbers only).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from models import ConfigError, count_parameters, create_model, list_models
from models.detection import create_detector

from .data import DATASETS
from .records import ROOT

PAPER_PARAMS = ROOT / "results" / "paper" / "params.csv"
#: Every disagreement we found and could explain (or show to be the paper's own).
KNOWN_DIFFERENCES = ROOT / "results" / "paper" / "params_differences.csv"

PAPERS = ("ela", "dla", "dia")

#: (paper, table id, why) of tables counted here although the paper prints no counts
UNPRINTED = (("dia", "dia.table9", "DIA Table IX prints no parameter or FLOP counts: our count only"),)
NOT_PRINTED = "NOT PRINTED"


def unprinted_rows(paper: str | None = None, table: str | None = None) -> pd.DataFrame:
    """``UNPRINTED`` tables' rows in params.csv's columns (published cells empty), from the
    table modules (full profile: the paper's dataset and model kwargs)."""
    from .tables import get_table

    out = []
    for pp, tid, why in UNPRINTED:
        t = get_table(tid)
        if (paper is not None and paper != pp) or (table is not None and table != t.name):
            continue
        for r in t.rows:
            kwargs = dict(r.model_kwargs)
            out.append({"paper": pp, "table": t.name, "dataset": r.dataset,
                        "num_classes": str(DATASETS[r.dataset].info.num_classes), "row": r.label, "model": r.model,
                        "kwargs": json.dumps(kwargs) if kwargs else "", "params_m": "", "flops_g": "", "note": why})
    return pd.DataFrame(out, columns=load_paper_params().columns)


def load_paper_params(path: Path = PAPER_PARAMS) -> pd.DataFrame:
    """The transcription, every field as text (so "0.40" keeps its printed rounding)."""
    if not path.exists():
        raise ConfigError(f"published parameter counts not found at {path}: the repository is incomplete")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_known_differences(path: Path = KNOWN_DIFFERENCES) -> dict[tuple[str, str, str, str], str]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {(r.paper, r.table, r.dataset, r.row): r.reason for r in df.itertuples()}


def decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def agrees(ours: float, printed: str) -> bool:
    """True when ``ours`` rounded like ``printed`` gives ``printed`` (half a unit of the
    last printed digit either side)."""
    tol = 0.5 * 10 ** -decimals(printed)
    return abs(ours - float(printed)) <= tol + 1e-9


def _build(row: pd.Series) -> torch.nn.Module:
    """The row's network on the meta device: a classifier, or the detector named by the
    ``detector`` key of its kwargs (the other kwargs go to the backbone)."""
    kwargs = json.loads(row["kwargs"]) if row["kwargs"] else {}
    detector = kwargs.pop("detector", None)
    with torch.device("meta"):
        if detector is not None:
            return create_detector(detector, row["model"], num_classes=int(row["num_classes"]), backbone_kwargs=kwargs)
        return create_model(row["model"], num_classes=int(row["num_classes"]), **kwargs)


def flops_resolution(dataset: str) -> int:
    """Input resolution of the papers' FLOP counts on ``dataset``: its ``DatasetSpec.paper_resolution``
    (224 for a dataset this repository does not load)."""
    spec = DATASETS.get(dataset)
    return spec.paper_resolution if spec is not None else 224


def count_macs(model: torch.nn.Module, resolution: int, in_chans: int = 3) -> float:
    """Forward multiply-accumulates for one image (FlopCounterMode counts 2 per MAC)."""
    was_training = model.training
    model.eval()
    with torch.device("meta"):
        x = torch.empty(1, in_chans, resolution, resolution)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2


@dataclass
class Check:
    status: str
    ours_params_m: float | None = None
    ours_gmacs: float | None = None
    reason: str = ""


def check_row(row: pd.Series, flops: bool = True, known: dict | None = None) -> Check:
    if not row["model"]:
        return Check("NOT IMPLEMENTED", reason=row["note"] or "method not implemented in this repository")
    if row["model"] not in list_models():
        return Check("MISSING", reason=f"model {row['model']!r} is not registered")
    model = _build(row)
    params_m = count_parameters(model) / 1e6
    macs = None
    if not row["params_m"] and not row["flops_g"]:  # nothing printed (UNPRINTED): our counts only
        if flops:
            macs = count_macs(model, flops_resolution(row["dataset"])) / 1e9
        return Check(NOT_PRINTED, params_m, macs, row["note"])
    if flops and row["flops_g"]:
        macs = count_macs(model, flops_resolution(row["dataset"])) / 1e9
    bad = []
    if row["params_m"] and not agrees(params_m, row["params_m"]):
        bad.append("params")
    if macs is not None and not agrees(macs, row["flops_g"]):
        bad.append("FLOPs")
    if bad:
        reason = (known or {}).get((row["paper"], row["table"], row["dataset"], row["row"]), "")
        return Check("MISMATCH", params_m, macs, f"{' and '.join(bad)}: {reason or 'UNEXPLAINED'}")
    return Check("ok", params_m, macs, row["note"])


def params_report(paper: str | None = None, table: str | None = None, flops: bool = True) -> pd.DataFrame:
    """One line per published row: paper's counts, ours, and the verdict."""
    df = load_paper_params()
    if paper is not None:
        if paper not in PAPERS:
            raise ConfigError(f"unknown paper {paper!r}; use one of {', '.join(PAPERS)}")
        df = df[df["paper"] == paper]
    extra = unprinted_rows(paper, table)
    if len(extra):
        df = pd.concat([df, extra], ignore_index=True)
    if table is not None:
        df = df[df["table"] == table]
        if df.empty:
            raise ConfigError(f"no published parameter counts for table {table!r}; see results/paper/params.csv")
    known = load_known_differences()
    out = []
    for _, row in df.iterrows():
        c = check_row(row, flops, known)
        out.append({
            "paper": row["paper"], "table": row["table"], "dataset": row["dataset"], "row": row["row"],
            "model": row["model"] or "-",
            "paper_params_m": row["params_m"],
            "ours_params_m": "" if c.ours_params_m is None else f"{c.ours_params_m:.4f}",
            "paper_gflops": row["flops_g"],
            "ours_gmacs": "" if c.ours_gmacs is None else f"{c.ours_gmacs:.3f}",
            "status": c.status, "reason": c.reason,
        })
    return pd.DataFrame(out)
