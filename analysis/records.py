"""Run records (``<runs>/<run_name>/record.json``, written by ``experiments.run``) as tidy tables,
and the keys that tie a run to the papers' rows in ``results/paper/results.csv``.

    from analysis.records import load_records, load_curves, load_ela_decisions
    runs = load_records("runs/")          # one row per run
    curves = load_curves("runs/")         # one row per (run, epoch)
    kl = load_ela_decisions("runs/")      # one row per (ELA run, pruning window, layer)

Which paper rows a run stands for is what the planner knew when it planned the run: the
record's ``planned`` list (``experiments.tables.planned_rows``: table id, row label and the
row's key in results.csv), recomputed from the registry for records written before the
field existed. ``matches`` joins a paper row of a registered table to the runs that list
it, nothing else. Only runs that no table plans (made by hand with ``./reproduce.sh run``)
and rows of tables the registry does not plan are matched by their settings:

A run is described the way a paper row is (``paper_keys``): ``paper_model`` (the attention
family, ``resnet`` for a plain network), ``backbone`` (``resnet`` = the CIFAR bottleneck
ResNet, ``resnet_imagenet``, ``wrn52_4``, ``resnext101_8x32d``), ``depth``, the dataset,
and ``tokens``: the settings that the papers' ``variant`` column names (``r=16``,
``no_bn``, ``pruning=threshold``, ``cdf=normal``, ``cell=lstm``, ``stages_removed=3``, ...),
with the family's defaults filled in. ``matches(row, run)`` decides whether a run counts
for a paper row: same model, backbone, depth and dataset, every token of the row
satisfied, and no setting of the run that differs from its default left unexplained by
the row (a no-BN run never counts for a row with BN). Smoke runs on a stand-in dataset
(``fake``, ``fashionmnist``, ``fashionmnist10``, ``fmnistcoco``) count for the rows of every dataset, always marked smoke.

Unreadable or malformed files are skipped with a warning, never fatal: a half-written
folder of a running sweep must not stop a report.
"""
from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from experiments.records import ROOT

__all__ = [
    "RECORD", "STAND_IN_DATASETS", "ROOT", "PAPER_CSV", "DETECTION_METRICS",
    "find_records", "read_record", "paper_keys", "parse_variant", "matches",
    "load_records", "load_curves", "load_ela_decisions", "load_paper", "records_frame",
]


PAPER_CSV = ROOT / "results" / "paper" / "results.csv"
RECORD = "record.json"
#: Datasets the smoke profile trains on in place of the papers' (no CIFAR/ImageNet offline).
STAND_IN_DATASETS = frozenset({"fake", "fashionmnist", "fashionmnist10", "fmnistcoco"})  # fmnistcoco: detection

# settings named by the papers' variant column; value = the group a run's
# non-default setting belongs to (a row token of the same group explains it)
_TOKEN_GROUP = {
    "r": "r", "activation": "activation", "cells": "cells", "cell": "cell", "norm": "norm",
    "no_bn": "no_bn", "no_skip": "no_skip", "no_augment": "no_augment",
    "stages_removed": "stages_removed", "pruning": "pruning", "cdf": "mapping", "qm": "mapping",
    "blocks": "blocks", "attn_pick": "attn_pick", "share": "share", "share_bn": "share_bn",
    "dsu_form": "dsu_form", "refresh": "refresh", "kv_when_pruned": "kv_when_pruned", "scope": "scope",
    "detector": "detector",
}
# settings that change the model without a column in results.csv (DIA Figs 10 and 15, DLA/ELA
# readings): with a non-default value the run counts for no row that does not name them
_STRUCTURAL = {"attn_blocks": ("blocks", None), "attn_pick": ("attn_pick", "first"), "share": ("share", None),
               "share_bn": ("share_bn", False)}
_ATTN_STRUCTURAL = ("dsu_form", "refresh", "kv_when_pruned")
_ATTN_TOKENS = {"reduction": "r", "activation": "activation", "cells": "cells", "cell": "cell", "norm": "norm"}
_FLAGS = ("no_bn", "no_skip", "no_augment")
#: COCO metrics of a detection record (``rec[which]["bbox"|"segm"][key]``) -> the metric names
#: of results.csv (``box_ap``, ``mask_ap75``, ...) and the record columns ``<which>_<metric>``.
COCO_KEYS = {"AP": "ap", "AP50": "ap50", "AP75": "ap75", "APS": "aps", "APM": "apm", "APL": "apl"}
COCO_TASKS = {"bbox": "box", "segm": "mask"}
DETECTION_METRICS = tuple(f"{t}_{m}" for t in COCO_TASKS.values() for m in COCO_KEYS.values())


# --------------------------------------------------------------------------- reading
def find_records(root: str | Path) -> list[Path]:
    """Every ``record.json`` under ``root`` (recursively), sorted; [] if ``root`` does not exist."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(root.rglob(RECORD))


def read_record(path: str | Path) -> dict[str, Any] | None:
    """The parsed record, or None (with a warning) if it is unreadable or lacks a config."""
    path = Path(path)
    try:
        with open(path) as f:
            rec = json.load(f)
        if not isinstance(rec, dict) or not isinstance(rec.get("config"), dict) or "model" not in rec["config"]:
            raise ValueError("no config with a model")
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        warnings.warn(f"skipping unreadable run record {path}: {exc}", stacklevel=2)
        return None
    rec["_path"] = str(path)
    return rec


def _records(source: str | Path | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, (str, Path)):
        out = [read_record(p) for p in find_records(source)]
        return [r for r in out if r is not None]
    return [dict(r) for r in source]


# --------------------------------------------------------------------------- paper keys
@functools.lru_cache(maxsize=None)
def _spec(name: str) -> dict[str, Any]:
    from models.zoo import model_spec

    return model_spec(name)


@functools.lru_cache(maxsize=None)
def _family_defaults(family: str | None, kind: str | None) -> dict[str, Any]:
    """Default attention options of a family on a backbone of ``kind``: its declared option
    sets' defaults, then its per-kind defaults (``models.family.Family.option_defaults``)."""
    from models.zoo import FAMILIES

    fam = FAMILIES.get(family) if family is not None else None
    return {} if fam is None else fam.option_defaults(kind)


def _backbone_label(kind: str | None, spec: Mapping[str, Any]) -> str | None:
    if kind == "cifar":
        return {"bottleneck": "resnet", "basic": "resnet_basic", "preact": "preresnet"}.get(spec.get("block"), "resnet")
    if kind == "imagenet":
        return "resnet_imagenet"
    if kind == "wrn":
        return f"wrn{spec.get('depth')}_{spec.get('widen')}"
    if kind == "resnext":
        return f"resnext{spec.get('depth')}_{spec.get('cardinality')}x{spec.get('base_width')}d"
    if kind == "vit":  # DIA Table IX: timm's architecture names the backbone
        return spec.get("arch")
    return kind


def paper_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """How the papers would name the run of ``config`` (a record's ``config``).

    Returns ``paper_model``, ``family``, ``backbone``, ``depth``, ``tokens`` (setting ->
    effective value, defaults filled in), ``nondefault`` (groups of settings that differ
    from the defaults) and ``variant`` (those settings as the papers' variant string,
    e.g. ``'no_bn;r=16'``; '' for the default model). Unknown model names give
    ``paper_model=None`` (the run matches no paper row).
    """
    name = str(config.get("model"))
    mk = dict(config.get("model_kwargs") or {})
    try:
        spec = {**_spec(name)}
    except Exception:  # a name this checkout does not register (ConfigError)
        return {"paper_model": None, "family": None, "backbone": None, "depth": None,
                "tokens": {}, "nondefault": (), "variant": ""}
    for k in ("kind", "family", "depth", "block", "widen", "cardinality", "base_width"):
        if k in mk:
            spec[k] = mk[k]
    family, kind = spec.get("family"), spec.get("kind")
    attn = dict(mk.get("attn_kwargs") or {})
    defaults = _family_defaults(family, kind)
    tokens: dict[str, Any] = {
        "no_bn": mk.get("use_bn", True) is False,
        "no_skip": mk.get("skip", True) is False,
        "no_augment": config.get("augment", True) is False,
    }
    nondefault = {f for f in _FLAGS if tokens[f]}
    if config.get("scale") == "smoke":
        # the smoke scale trains CIFAR-style rows without augmentation (experiments.recipes.
        # SMOKE_LEARNING): a setting of the scale like its dataset, not the papers' no_augment
        # variant; such a run counts for a row and for its no_augment twin (DIA Table XVII) alike
        nondefault.discard("no_augment")
    if config.get("detector"):  # a detection run: the detector is the papers' variant (detector=faster_rcnn)
        tokens["detector"] = str(config["detector"])
        nondefault.add("detector")
    for key, tok in _ATTN_TOKENS.items():
        if key in defaults or key in attn:
            tokens[tok] = attn.get(key, defaults.get(key))
            if key in attn and key in defaults and attn[key] != defaults[key]:
                nondefault.add(_TOKEN_GROUP[tok])
    for key, (tok, default) in _STRUCTURAL.items():
        tokens[tok] = mk.get(key, default)
        if tokens[tok] != default:
            nondefault.add(tok)
    for key in _ATTN_STRUCTURAL:
        if key in attn and key in defaults and attn[key] != defaults[key]:
            tokens[key] = attn[key]
            nondefault.add(key)
    stages = mk.get("attn_stages")
    if stages is not None:
        n_stages = 4 if kind == "imagenet" else 3
        removed = sorted(set(range(n_stages)) - {int(s) for s in stages})
        if removed:
            tokens["stages_removed"] = ",".join(str(s + 1) for s in removed)  # the papers count from 1
            nondefault.add("stages_removed")
    if family == "ela":
        pruning = {**(attn.get("pruning") or {}), **(config.get("pruning") or {})}
        method = pruning.get("method", "ebqm")
        mapping = pruning.get("mapping", "beta")
        mapping = "beta" if mapping == "bqm" else mapping
        # ELA Table 4's "Threshold-Based": raw KL < tau, or the table registry's reading of it
        from experiments.tables.ela_table4 import THRESHOLD_BASED

        threshold = method == "threshold" or (method == "ebqm" and all(
            pruning.get(k) == v for k, v in THRESHOLD_BASED.items()))
        tokens.update(pruning="threshold" if threshold else method, cdf=mapping,
                      qm="ebqm" if mapping == "beta" else mapping)
        if tokens["pruning"] != "ebqm":
            nondefault.add("pruning")
        if mapping != "beta" and not (threshold and mapping == THRESHOLD_BASED.get("mapping")):
            nondefault.add("mapping")
        if pruning.get("scope", "network") != "network":
            tokens["scope"] = pruning["scope"]
            nondefault.add("scope")
    parts = [f for f in _FLAGS if f in nondefault]
    for tok, group in _TOKEN_GROUP.items():
        if group in nondefault and tok in tokens and tok not in _FLAGS:
            if group == "mapping" and tok != ("qm" if tokens["cdf"] in ("gqm", "eqm", "bqm_classic") else "cdf"):
                continue
            parts.append(f"{tok}={tokens[tok]}")
    if spec.get("depth") is None and kind == "vit":  # a ViT's depth is its number of blocks
        from models.vit import VIT_ARCHS

        spec["depth"] = VIT_ARCHS[spec["arch"]]["depth"]
    return {"paper_model": family or "resnet", "family": family, "backbone": _backbone_label(kind, spec),
            "depth": int(spec["depth"]) if spec.get("depth") is not None else None,
            "tokens": tokens, "nondefault": tuple(sorted(nondefault)), "variant": ";".join(parts)}


def parse_variant(variant: str | float | None) -> dict[str, Any]:
    """A paper variant string (``'no_bn;r=16'``, ``'activation=tanh;cells=3'``) as tokens."""
    if variant is None or (isinstance(variant, float) and math.isnan(variant)):
        return {}
    out: dict[str, Any] = {}
    for part in str(variant).split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
        else:
            out[part] = True
    return out


def _same(value: Any, wanted: Any) -> bool:
    if wanted is True:
        return value is True
    if value is None:
        return str(wanted).lower() in ("none", "")
    return str(value).lower() == str(wanted).lower()


def _planned(rec: Mapping[str, Any]) -> frozenset[tuple]:
    """The (table id, dataset, backbone, depth, model, variant) rows the run stands for: the
    record's ``planned`` list, else the registry's answer for its config (empty for a run
    no table plans, or a config this checkout cannot read)."""
    entries = rec.get("planned")
    if entries is None:
        from experiments.config import RunConfig
        from experiments.tables import planned_rows

        try:
            entries = planned_rows(RunConfig.from_dict(dict(rec["config"])))
        except Exception:  # a config of another version of the code (unknown field, bad value)
            entries = []
    return frozenset(_row_key(e["table"], *e["key"]) for e in entries)


def _row_key(tid: str, dataset: Any, backbone: Any, depth: Any, model: Any, variant: Any) -> tuple:
    try:
        depth = int(float(depth))
    except (TypeError, ValueError):
        pass
    return (str(tid), str(dataset), str(backbone), depth, str(model), "" if variant is None else str(variant))


@functools.lru_cache(maxsize=1)
def _planned_tables() -> frozenset[str]:
    from experiments.tables import TABLE_IDS

    return frozenset(TABLE_IDS)


def matches(row: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """Whether ``run`` (a row of ``load_records``) counts for ``row`` (a paper row, or any
    mapping with model, backbone, depth, dataset and variant).

    A paper row of a registered table (``row`` has ``paper`` and ``table``) and a run some
    table planned: the run counts iff it lists the row (``planned``). Otherwise the settings
    decide (``paper_keys``)."""
    planned = run.get("planned")
    tid = f"{row.get('paper')}.{row.get('table')}"
    if planned and tid in _planned_tables():
        return _row_key(tid, row.get("dataset"), row.get("backbone"), row.get("depth"), row.get("model"),
                        row.get("variant")) in planned
    return _matches_settings(row, run)


def _matches_settings(row: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    if run.get("paper_model") is None or run.get("paper_model") != row.get("model"):
        return False
    if run.get("backbone") != row.get("backbone"):
        return False
    try:
        if int(float(run.get("depth"))) != int(float(row.get("depth"))):
            return False
    except (TypeError, ValueError):
        return False
    if run.get("dataset") != row.get("dataset"):
        if not (run.get("smoke") and run.get("dataset") in STAND_IN_DATASETS):
            return False
    wanted = parse_variant(row.get("variant"))
    tokens = run.get("tokens") or {}
    for k, v in wanted.items():
        if k not in _TOKEN_GROUP or not _same(tokens.get(k, False if v is True else None), v):
            return False
    explained = {_TOKEN_GROUP[k] for k in wanted if k in _TOKEN_GROUP}
    return set(run.get("nondefault") or ()) <= explained


# --------------------------------------------------------------------------- tables
def _get(d: Mapping[str, Any] | None, *keys: str, default: Any = np.nan) -> Any:
    for k in keys:
        if not isinstance(d, Mapping) or k not in d or d[k] is None:
            return default
        d = d[k]
    return d


def _class_acc(rec: Mapping[str, Any], which: str) -> dict[str, float] | float:
    """``{class name (lower case) or label index: top-1 %}`` of the final or best epoch, where
    the record has per-class accuracies (datasets with <= 10 classes); NaN otherwise."""
    accs = _get(rec, which, "test_class_acc", default=None)
    if not isinstance(accs, list):
        return np.nan
    names = list(_get(rec, "dataset", "classes", default=None) or [])
    names = [str(c).lower() for c in names] if len(names) == len(accs) else [str(i) for i in range(len(accs))]
    return {k: (np.nan if a is None else float(a)) for k, a in zip(names, accs)}


def _coco_metrics(rec: Mapping[str, Any]) -> dict[str, Any]:
    """``final_box_ap`` ... ``best_mask_apl``: a detection record's COCO metrics (``rec[which]
    ["bbox"|"segm"]["AP"|"AP50"|...]``, in %), NaN where the record has none (classification
    runs; ``segm`` outside Mask R-CNN)."""
    out = {}
    for which in ("final", "best"):
        for task, prefix in COCO_TASKS.items():
            for key, name in COCO_KEYS.items():
                v = _get(rec, which, task, key)
                try:
                    out[f"{which}_{prefix}_{name}"] = float(v)
                except (TypeError, ValueError):
                    out[f"{which}_{prefix}_{name}"] = np.nan
    return out


def _run_row(rec: Mapping[str, Any]) -> dict[str, Any]:
    cfg = rec["config"]
    keys = paper_keys(cfg)
    epochs = [e for e in rec.get("epochs") or [] if isinstance(e, Mapping)]
    times = np.array([e.get("epoch_time_s", np.nan) for e in epochs], dtype=float)
    ips = np.array([e.get("images_per_s", np.nan) for e in epochs], dtype=float)
    env = rec.get("environment") or {}
    ela = _get(rec, "callbacks", "ela_pruning", default=None)
    path = Path(rec.get("_path", ""))
    status = rec.get("status", "unknown")
    return {
        "run_name": rec.get("run_name", path.parent.name),
        "run_hash": rec.get("run_hash", ""),
        "model": cfg.get("model"),
        "dataset": cfg.get("dataset"),
        "recipe": cfg.get("recipe"),
        "scale": cfg.get("scale"),
        "smoke": bool(rec.get("smoke", cfg.get("scale") == "smoke")),
        "seed": rec.get("seed", cfg.get("seed")),
        "status": status,
        "diverged": bool(rec.get("diverged", status == "diverged")),
        "paper_model": keys["paper_model"],
        "family": keys["family"],
        "backbone": keys["backbone"],
        "depth": keys["depth"],
        "variant": keys["variant"],
        "tokens": keys["tokens"],
        "nondefault": keys["nondefault"],
        "planned": _planned(rec),
        "model_kwargs": json.dumps(cfg.get("model_kwargs") or {}, sort_keys=True),
        "pruning": json.dumps(cfg.get("pruning") or {}, sort_keys=True),
        "augment": cfg.get("augment", True),
        "params": rec.get("params", np.nan),
        "macs_per_image": rec.get("macs_per_image", np.nan),  # as built
        # after ELA's pruning (records before it was recorded: as built)
        "macs_per_image_final": rec.get("macs_per_image_final", rec.get("macs_per_image", np.nan)),
        "epochs_done": rec.get("epochs_done", len(epochs)),
        "epochs_total": rec.get("epochs_total", np.nan),
        "final_top1": _get(rec, "final", "test_top1"),
        "final_top5": _get(rec, "final", "test_top5"),
        "best_top1": _get(rec, "best", "test_top1"),
        "best_top5": _get(rec, "best", "test_top5"),
        "best_epoch": _get(rec, "best", "epoch"),
        **_coco_metrics(rec),
        "final_class_acc": _class_acc(rec, "final"),
        "best_class_acc": _class_acc(rec, "best"),
        "epoch_time_mean_s": float(np.nanmean(times)) if np.isfinite(times).any() else np.nan,
        "epoch_time_median_s": float(np.nanmedian(times)) if np.isfinite(times).any() else np.nan,
        "epoch_time_last_s": float(times[-1]) if len(times) else np.nan,
        "images_per_s": float(np.nanmean(ips)) if np.isfinite(ips).any() else np.nan,
        "train_time_s": rec.get("train_time_s", float(np.nansum(times)) if len(times) else np.nan),
        "ela_pruned": len(ela.get("pruned", [])) if isinstance(ela, Mapping) else np.nan,
        "ela_layers": ela.get("total_layers", np.nan) if isinstance(ela, Mapping) else np.nan,
        "device": env.get("device"),
        "hardware": env.get("gpu") or (f"cpu x{env.get('cpu_threads')}" if env else None),
        "torch": env.get("torch"),
        "git_commit": _get(rec, "git", "commit", default=None),
        "git_dirty": _get(rec, "git", "dirty", default=None),
        "run_dir": str(path.parent) if rec.get("_path") else "",
        "has_checkpoint": bool(rec.get("_path")) and (path.parent / "checkpoint.pt").exists(),
    }


RECORD_COLUMNS = list(_run_row({"config": {"model": "?"}, "planned": []}).keys())


def records_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``load_records`` for already-parsed records (dicts as in record.json)."""
    rows = []
    for rec in records:
        try:
            rows.append(_run_row(rec))
        except Exception as exc:  # malformed record: skip, like an unreadable file
            warnings.warn(f"skipping malformed run record {rec.get('_path', rec.get('run_name', '?'))}: {exc}",
                          stacklevel=2)
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    if len(df):
        # the same configuration copied twice (e.g. fetched from two machines): keep one,
        # preferring a finished record
        rank = df["status"].map({"done": 0, "diverged": 1}).fillna(2)
        df = (df.assign(_rank=rank).sort_values(["_rank", "run_dir"])
                .drop_duplicates(subset=["run_hash"], keep="first").drop(columns="_rank")
              if df["run_hash"].astype(bool).all() else df)
        df = df.sort_values(["model", "dataset", "variant", "seed", "run_name"], kind="stable").reset_index(drop=True)
    return df


def load_records(root: str | Path | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run under ``root`` (any depth): config keys, paper keys, status, smoke
    flag, params, final/best top-1/top-5, per-epoch time statistics, hardware, git commit.
    An empty frame with the same columns when there are no records."""
    return records_frame(_records(root))


def load_curves(root: str | Path | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, epoch): the run's keys and every per-epoch field
    (lr, train_loss, train_acc, test_loss, test_top1, test_top5, epoch_time_s, ...)."""
    keep = ["run_name", "model", "dataset", "seed", "smoke", "status", "paper_model", "backbone", "depth",
            "variant", "hardware"]
    rows = []
    for rec in _records(root):
        try:
            base = {k: v for k, v in _run_row(rec).items() if k in keep}
        except Exception as exc:
            warnings.warn(f"skipping malformed run record {rec.get('_path', '?')}: {exc}", stacklevel=2)
            continue
        base["no_skip"] = bool(paper_keys(rec["config"])["tokens"].get("no_skip"))
        for e in rec.get("epochs") or []:
            if isinstance(e, Mapping):
                rows.append({**base, **e})
    cols = keep + ["no_skip", "epoch", "lr", "train_loss", "train_acc", "test_loss", "test_top1", "test_top5",
                   "epoch_time_s", "eval_time_s", "images_per_s"]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = pd.Series(dtype=float)
    return df[cols + [c for c in df.columns if c not in cols]]


def load_ela_decisions(root: str | Path | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (ELA run, pruning window, layer): the window's KL divergence of the layer
    (ELA Eq. 11) as the controller measured it ("before EBQM"), the value EBQM mapped it to
    (``mapped``, Algorithm 1 line 6, recomputed from the recorded settings; NaN outside
    S_gamma or for the threshold/fixed methods), whether the layer was pruned before this
    window, pruned by it, and the mapping threshold mu."""
    from models.ebqm import PRESETS, select_pruned

    rows = []
    for rec in _records(root):
        ctl = _get(rec, "callbacks", "ela_pruning", default=None)
        if not isinstance(ctl, Mapping):
            continue
        settings = dict(ctl.get("settings") or {})
        preset, method = settings.get("preset", "cifar"), settings.get("method", "ebqm")
        options = {k: v for k, v in settings.items()
                   if k in ("alpha", "beta", "mu", "gamma", "mapping", "mapping_params", "quantile_method",
                            "on_degenerate") and v is not None}
        mu = options.get("mu", PRESETS.get(preset, {}).get("mu", np.nan))
        keys = {k: v for k, v in _run_row(rec).items()
                if k in ("run_name", "model", "dataset", "seed", "smoke", "depth", "paper_model", "variant")}
        pruned_before: set[str] = set()
        for d in ctl.get("decisions") or []:
            kl = {str(k): float(v) for k, v in (d.get("kl") or {}).items()}
            values = {**kl, **{n: -1.0 for n in pruned_before}}
            mapped: dict[str, float] = {}
            if method == "ebqm" and values:
                try:
                    sel = select_pruned(values, "ebqm", preset=preset, **options)
                    mapped = {str(k): float(m) for k, m in zip(sel.keys or list(values), sel.mapped)}
                except Exception as exc:
                    warnings.warn(f"could not recompute EBQM for {keys['run_name']}: {exc}", stacklevel=2)
            newly = set(d.get("newly_pruned") or [])
            for layer, value in kl.items():
                rows.append({**keys, "window": d.get("window"), "epoch": d.get("epoch"), "layer": layer,
                             "stage": int(layer.split(".")[0][1:]) if layer.startswith("s") else np.nan,
                             "kl": value, "mapped": mapped.get(layer, np.nan), "mu": mu, "method": method,
                             "pruned_before": layer in pruned_before, "newly_pruned": layer in newly})
            pruned_before |= set(d.get("pruned") or []) | newly
    cols = ["run_name", "model", "dataset", "seed", "smoke", "depth", "paper_model", "variant", "window", "epoch",
            "layer", "stage", "kl", "mapped", "mu", "method", "pruned_before", "newly_pruned"]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = pd.Series(dtype=float)
    return df[cols]


def load_paper(path: str | Path = PAPER_CSV) -> pd.DataFrame:
    """``results/paper/results.csv`` as printed: every column a string ('' where blank), so
    that a printed '0.20' keeps its precision (``analysis.stats.recompute_marks`` needs it)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
