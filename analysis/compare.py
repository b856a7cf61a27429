"""Our runs beside the papers' published numbers, row by row.

    from analysis.compare import compare
    from analysis.records import load_paper, load_records
    cmp = compare(load_paper(), load_records("runs/"))       # one row per paper row

For every row of ``results/paper/results.csv`` the matching runs (``analysis.records.matches``)
give our mean +- sample std (ddof=1) and n. Where the paper prints its std and n, our
mean is tested against the paper's by two-sample t-tests from summary statistics
(``analysis.stats.from_stats``: Welch's, and Student's as DIA uses), the Welch p-values of
one paper table are Holm-corrected together (``p_holm``), and ``seeds_needed`` says how
many runs per arm a Welch test would need to detect the observed difference with power
0.8 at alpha 0.05 (sds: ours and the paper's).

Which of our numbers: ``which='best'`` (default) takes each run's best test accuracy over
epochs, as the released CIFAR code reports it (official-code.md: the papers' numbers are
best-of-epochs); ``which='final'`` the last epoch's. Both are in every record. DIA Table
XI's per-class metrics ``acc_<class>`` (``acc_pneumonia``, ``acc_normal``) read the record's
per-class accuracies of that same epoch, matched by class-folder name; ``acc_all`` is top-1.
The detection tables' ``box_*`` / ``mask_*`` metrics read the record's COCO metrics of the
final evaluation or of the best epoch (``analysis.records``: ``final_box_ap``, ``best_mask_ap75``, ...).

Runs are chosen per row in this order: full-scale runs if any exist, else smoke runs
(``smoke`` True: shown, never comparable); among them, those trained with the paper's
recipe if any (``recipe_note`` flags a row whose runs used another recipe). Only runs with
status ``done`` give accuracies; ``diverged`` runs are counted (the papers print 'nan'
for a numerical explosion) and ``running`` ones reported.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .records import DETECTION_METRICS, STAND_IN_DATASETS, matches
from .stats import from_stats, holm, seeds_needed

__all__ = ["compare", "runs_for", "expected_recipe", "implemented", "number", "COMPARE_COLUMNS"]

TIME_METRICS = {"epoch_time_h": 3600.0}  # metric -> seconds per unit

COMPARE_COLUMNS = [
    "paper", "table", "dataset", "backbone", "depth", "model", "variant", "metric", "row",
    "paper_mean_str", "paper_std_str", "paper_n_str", "pmark", "paper_mean", "paper_std", "paper_n",
    "ours_values", "ours_seeds", "ours_mean", "ours_std", "ours_n", "n_diverged", "n_running",
    "smoke", "stand_in", "recipes", "recipe_note", "delta",
    "t_welch", "p_welch", "df_welch", "t_student", "p_student", "p_holm", "seeds_needed",
    "status", "note", "paper_gflops", "ours_gmacs",
]


def number(s: Any) -> float:
    """A printed number ('0.20', '', 'nan') as a float (NaN when blank or not a number)."""
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")


def expected_recipe(row: Mapping[str, Any]) -> str | None:
    """The training preset (``experiments.recipes``) a paper row's number came from, or None
    where no preset is known (DIA's ImageNet-scale tables)."""
    paper, backbone = row.get("paper"), row.get("backbone")
    if row.get("dataset") == "coco":  # detection: MMDetection's 1x (DLA Sec. 4.2: at batch 8)
        return "mmdet_1x_b8" if paper == "dla" else "mmdet_1x"
    if paper in ("ela", "dla"):
        return "imagenet" if backbone == "resnet_imagenet" else "cifar"
    if paper == "dia":
        if backbone == "resnet":
            return "dia_resnet"
        if str(backbone).startswith("wrn"):
            return "dia_wrn"
        if str(backbone).startswith("resnext"):
            return "dia_resnext"
        if str(backbone).startswith("vit_"):  # DIA Table IX: [55]'s settings, read as DeiT's
            return "deit"
    return None


def implemented(model: str) -> bool:
    """Whether the repository builds the paper's ``model`` (A^2, AA, RLA are not)."""
    from models.zoo import FAMILIES

    return model == "resnet" or model in FAMILIES


def runs_for(row: Mapping[str, Any], runs: pd.DataFrame) -> pd.DataFrame:
    """All runs (any status, smoke or not) that count for the paper row ``row``."""
    if runs is None or not len(runs):
        return runs.iloc[0:0] if runs is not None else pd.DataFrame()
    keep = [matches(row, r) for r in runs.to_dict("records")]
    return runs[np.asarray(keep, dtype=bool)]


def _value_column(metric: str, which: str) -> str | None:
    if metric in ("top1", "top5"):
        return f"{which}_{metric}"
    if metric == "acc_all":  # DIA Table XI's overall accuracy
        return f"{which}_top1"
    if metric in TIME_METRICS:
        return "epoch_time_mean_s"
    if metric in DETECTION_METRICS:  # COCO box/mask AP of a detection run (box_ap -> best_box_ap)
        return f"{which}_{metric}"
    return None


def _values(done: pd.DataFrame, metric: str, which: str) -> pd.Series:
    """Our value of ``metric`` per finished run (NaN where a run does not have it)."""
    if not len(done):
        return pd.Series(dtype=float)
    col = _value_column(metric, which)
    if col is not None:
        values = pd.to_numeric(done[col], errors="coerce")
        return values / TIME_METRICS[metric] if metric in TIME_METRICS else values
    if metric.startswith("acc_"):  # per-class accuracy: acc_<class name>
        name = metric[len("acc_"):]
        return done[f"{which}_class_acc"].map(lambda d: d.get(name, np.nan) if isinstance(d, dict) else np.nan)
    return pd.Series(np.nan, index=done.index)


def _select(row: Mapping[str, Any], matched: pd.DataFrame) -> tuple[pd.DataFrame, bool, str]:
    if not len(matched):
        return matched, False, ""
    real = matched[~matched["smoke"].astype(bool)]
    used, smoke = (real, False) if len(real) else (matched, True)
    want = expected_recipe(row)
    note = ""
    if want is not None:
        same = used[used["recipe"] == want]
        if len(same):
            used = same
        else:
            note = f"recipe {', '.join(sorted(map(str, used['recipe'].unique())))} (paper: {want})"
    return used, smoke, note


def _seeds(delta: float, sd_ours: float, sd_paper: float) -> float:
    if not (math.isfinite(delta) and delta != 0 and math.isfinite(sd_ours) and sd_ours > 0):
        return float("nan")
    sd = (sd_ours, sd_paper) if math.isfinite(sd_paper) and sd_paper > 0 else sd_ours
    try:
        return float(seeds_needed(delta, sd))
    except ValueError:
        return float("inf")


def compare(paper: pd.DataFrame, runs: pd.DataFrame | None, *, which: str = "best",
            alpha: float = 0.05) -> pd.DataFrame:
    """One row per row of ``paper`` (``load_paper()`` or a subset): the paper's printed
    numbers, ours, their difference and the tests (see module docstring)."""
    if which not in ("best", "final"):
        raise ValueError("which must be 'best' or 'final'")
    if runs is None:
        runs = pd.DataFrame()
    out = []
    for row in paper.to_dict("records"):
        matched = runs_for(row, runs) if len(runs) else pd.DataFrame()
        used, smoke, recipe_note = _select(row, matched)
        metric = row["metric"]
        status_col = used["status"] if len(used) else pd.Series(dtype=str)
        done = used[status_col == "done"] if len(used) else used
        values = pd.to_numeric(_values(done, metric, which), errors="coerce")
        ok = values.notna()
        vals = values[ok].to_numpy(dtype=float)
        seeds = done["seed"][ok].tolist() if len(done) else []
        n = int(len(vals))
        m = float(vals.mean()) if n else float("nan")
        s = float(vals.std(ddof=1)) if n > 1 else float("nan")
        pm, ps, pn = number(row["mean"]), number(row["std"]), number(row["n"])
        rec: dict[str, Any] = {k: row.get(k, "") for k in ("paper", "table", "dataset", "backbone", "depth", "model",
                                                             "variant", "metric", "row", "pmark", "note")}
        rec.update(
            paper_mean_str=row["mean"], paper_std_str=row["std"], paper_n_str=row["n"],
            paper_mean=pm, paper_std=ps, paper_n=pn,
            ours_values=tuple(float(v) for v in vals), ours_seeds=tuple(seeds),
            ours_mean=m, ours_std=s, ours_n=n,
            n_diverged=int((status_col == "diverged").sum()) if len(used) else 0,
            n_running=int((~status_col.isin(["done", "diverged"])).sum()) if len(used) else 0,
            smoke=bool(smoke and len(used)),
            stand_in=", ".join(sorted(set(used["dataset"]) & STAND_IN_DATASETS)) if len(used) else "",
            recipes=", ".join(sorted(map(str, used["recipe"].unique()))) if len(used) else "",
            recipe_note=recipe_note,
            delta=m - pm if n else float("nan"),
            t_welch=float("nan"), p_welch=float("nan"), df_welch=float("nan"),
            t_student=float("nan"), p_student=float("nan"), p_holm=float("nan"),
        )
        # FLOPs as the papers print them (multiply-accumulates, G): ours from the records,
        # after ELA's pruning (ELA Table 2's 4.4B / 8.1B are the pruned networks')
        macs = pd.to_numeric(done["macs_per_image_final"], errors="coerce") if len(done) else pd.Series(dtype=float)
        rec.update(paper_gflops=number(row.get("flops_g", "")),
                   ours_gmacs=float(macs.mean()) / 1e9 if macs.notna().any() else float("nan"))
        rec["seeds_needed"] = _seeds(rec["delta"], s, ps) if metric not in TIME_METRICS else float("nan")
        if not implemented(row["model"]):
            status = "not implemented"
        elif not len(used):
            status = "not yet run"
        elif n == 0 and rec["n_diverged"]:
            status = "diverged"
        elif n == 0:
            status = "running"
        elif metric in TIME_METRICS:
            status = "timing (hardware differs)"
        elif str(row["mean"]).strip().lower() == "nan":
            status = "no test: the paper's run diverged"
        elif not (math.isfinite(ps) and math.isfinite(pn) and math.isfinite(pm)):
            status = "no test: paper prints no std/n"
        elif n < 2 or not (s > 0 or ps > 0):
            status = "no test: fewer than 2 runs"
        else:
            w = from_stats(m, s, n, pm, ps, int(pn), equal_var=False)
            st = from_stats(m, s, n, pm, ps, int(pn), equal_var=True)
            rec.update(t_welch=w.t, p_welch=w.p, df_welch=w.df, t_student=st.t, p_student=st.p)
            status = "compared"
        rec["status"] = status
        out.append(rec)
    df = pd.DataFrame(out, columns=COMPARE_COLUMNS)
    # Holm within each paper table, full-scale and smoke comparisons separately
    for _, idx in df.groupby(["paper", "table", "smoke"]).groups.items():
        idx = [i for i in idx if math.isfinite(df.at[i, "p_welch"])]
        if idx:
            df.loc[idx, "p_holm"] = holm(df.loc[idx, "p_welch"].to_numpy(), alpha)[0]
    return df
