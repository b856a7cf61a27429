"""The picture figures of the papers, one per registered figure module, from trained checkpoints.

    from analysis import visual
    fig, data = visual.draw("ela.fig3", runs, data_root="data", n=2)   # runs: analysis.records.load_records
    paths = visual.module_figures(runs, "results/figures")              # every figure below, PNG and PDF

| figure | module | what is drawn | runs |
|---|---|---|---|
| ELA Fig. 2(a) | ``experiments/tables/ela_fig2a.py`` | MRLA-B layer-attention softmax, ResNet-56 stage 2 | MRLA-B-56 CIFAR-100 |
| DLA Fig. 2 | ``experiments/tables/dla_fig2.py`` | stage-3 attention, MRLA-B vs DLA-B, ResNet-56 | MRLA-B-56, DLA-B-56 |
| DIA Fig. 11 | ``experiments/tables/dia_fig11.py`` | random-forest Gini importance of h_n for h_t | DIA-LSTM-164, SE-164 |
| ELA Fig. 3 | ``experiments/tables/ela_fig3.py`` | Score-CAM of six consecutive layers, KL under each | MRLA-B-101 ImageNet |
| ELA Fig. 5 | ``experiments/tables/ela_fig5.py`` | Score-CAM of pruned layers, before / after removal | ELA-101 ImageNet |
| DIA Fig. 9 | ``experiments/tables/dia_fig9.py`` | Grad-CAM and softmax score, ResNet50 / SE / DIA-LSTM | DIA Table XI's runs |

Which run draws a row of a figure: a finished run with a checkpoint that the figure planned
(the record's ``planned`` names the figure's row), full-scale before smoke; failing that, the
closest finished run of the same method (``figures.pick_run``: the row's depth, then its
dataset), so a set of smoke runs of other depths still draws every figure, labelled with the
run's own model and marked smoke. A row with no such run is drawn as a panel that names the
command that makes it; ``require_run`` raises that as a one-line error instead.

CAM maps come from the pytorch-grad-cam package (``pytorch_grad_cam``: ``GradCAM``,
``ScoreCAM``), at the layers ``TARGET_LAYERS`` names per backbone family (the class-level
Grad-CAM layer) or at a given block (ELA's per-layer maps). Every map is in [0, 1] (min-max
per image) at the input's spatial size.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import textwrap
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from experiments.tables import get_table
from experiments.tables.base import Row
from models import ConfigError

from . import figures as F
from .records import matches
from .tables import SMOKE_BANNER

__all__ = ["FIGURE_IDS", "FILE_STEMS", "TARGET_LAYERS", "target_layer", "block_layer", "cam_maps", "attention_kl",
           "figure_runs", "require_run", "pruned_pairs", "draw", "module_figures", "make_command"]

#: the figure modules drawn here, in report order
FIGURE_IDS = ("ela.fig2a", "ela.fig3", "ela.fig5", "dla.fig2", "dia.fig9", "dia.fig11")
#: the file name (without extension) each figure is saved under
FILE_STEMS = {"ela.fig2a": "ela_fig2a_layer_attention", "ela.fig3": "ela_fig3_score_cam",
              "ela.fig5": "ela_fig5_pruning_feature_maps", "dla.fig2": "dla_fig2_layer_attention",
              "dia.fig9": "dia_fig9_grad_cam", "dia.fig11": "dia_fig11_gini_importance"}

#: The class-level CAM layer per backbone family (a dotted attribute path; negative indices
#: count from the end): the output of the last block of the last stage for the post-activation
#: ResNets (CIFAR bottleneck ResNet, ImageNet ResNet, ResNeXt: torchvision's ``layer4[-1]``),
#: the final BN-ReLU for the pre-activation wide ResNet.
TARGET_LAYERS = {"resnet": "stages.-1.blocks.-1", "resnet_imagenet": "stages.-1.blocks.-1",
                 "resnext": "stages.-1.blocks.-1", "wrn": "final"}


def _family(backbone: str) -> str:
    for fam in ("resnet_imagenet", "resnext", "wrn"):
        if str(backbone).startswith(fam):
            return fam
    return "resnet" if str(backbone).startswith("resnet") else str(backbone)


def target_layer(model: nn.Module, backbone: str) -> nn.Module:
    """The module ``TARGET_LAYERS`` names for ``backbone`` (a runs frame's backbone column:
    resnet, resnet_imagenet, wrn52_4, resnext101_8x32d)."""
    fam = _family(backbone)
    if fam not in TARGET_LAYERS:
        raise ConfigError(f"no CAM target layer for backbone {backbone!r}; known families: "
                          f"{', '.join(TARGET_LAYERS)} (add one to analysis.visual.TARGET_LAYERS)")
    mod: Any = model
    for part in TARGET_LAYERS[fam].split("."):
        mod = mod[int(part)] if part.lstrip("-").isdigit() else getattr(mod, part)
    return mod


def block_layer(model: nn.Module, stage: int, block: int) -> nn.Module:
    """Block ``block`` of stage ``stage`` (both from 0): its output is the layer's feature map."""
    try:
        return model.stages[stage].blocks[block]
    except (AttributeError, IndexError) as exc:
        raise ConfigError(f"the model has no block {block} in stage {stage} (0-based)") from exc


def cam_maps(model: nn.Module, x: torch.Tensor, layer: nn.Module, targets: Sequence[int], *,
             method: str = "gradcam", batch_size: int = 64) -> np.ndarray:
    """CAM of ``layer`` for class ``targets[i]`` of image ``x[i]``: [N, H, W] in [0, 1] (pytorch-grad-cam
    min-max normalises each map and resizes it to the input). ``method``: 'gradcam' or 'scorecam'."""
    from pytorch_grad_cam import GradCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    methods = {"gradcam": GradCAM, "scorecam": ScoreCAM}
    if method not in methods:
        raise ConfigError(f"unknown CAM method {method!r}; use one of {', '.join(methods)}")
    was = model.training
    model.eval()
    try:
        # ScoreCAM reports its masked passes with a tqdm bar on stderr: kept out of reports and notebooks
        with methods[method](model=model, target_layers=[layer]) as cam, contextlib.redirect_stderr(io.StringIO()):
            if method == "scorecam":
                cam.batch_size = batch_size
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        model.train(was)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


@torch.no_grad()
def attention_kl(model: nn.Module, x: torch.Tensor, stage: int) -> dict[int, float]:
    """ELA Eq. 11 on ``x``: {block b: KL(P_{b-1} || P_b)} for every block b >= 1 of ``stage``
    with a 'layer_softmax' read-out (MRLA-B, ELA, DLA-B), mean over images and heads
    (``models.kl.layer_kl``); the value belongs to the later layer, as ELA Fig. 3 prints it."""
    from models.kl import layer_kl

    from .probes import readout

    soft = {r["block"]: r["value"].float() for r in readout(model, x)
            if r["kind"] == "layer_softmax" and r["stage"] == stage}
    out = {}
    for b in sorted(soft):
        if b - 1 in soft and soft[b - 1].shape[-1] < soft[b].shape[-1]:
            out[b] = float(layer_kl(soft[b - 1], soft[b]))
    return out


# --------------------------------------------------------------------------- which runs
def make_command(table_id: str, profile: str = "full") -> str:
    return f"./reproduce.sh {table_id}" + (" --profile smoke" if profile == "smoke" else "")


def _row_mapping(table_id: str, row: Row) -> dict[str, Any]:
    dataset, backbone, depth, model, variant = row.key
    paper, table = table_id.split(".")
    return {"paper": paper, "table": table, "dataset": dataset, "backbone": backbone, "depth": depth,
            "model": model, "variant": variant}


def figure_runs(table_id: str, runs: pd.DataFrame | None) -> list[tuple[Row, dict | None]]:
    """For every row of the figure: the run that draws it (a record row as a dict) or None."""
    table = get_table(table_id)
    out = []
    for row in table.rows:
        run = None
        if runs is not None and len(runs):
            ok = runs[(runs["status"] == "done") & runs["has_checkpoint"].astype(bool)]
            mine = ok[[matches(_row_mapping(table_id, row), r) for r in ok.to_dict("records")]] if len(ok) else ok
            if len(mine):
                mine = mine.assign(_smoke=mine["smoke"].astype(bool)).sort_values(["_smoke", "seed", "run_name"])
                run = mine.iloc[0].drop(labels="_smoke").to_dict()
            else:
                run = F.pick_run(runs, row.family, variant=row.variant, depth=row.depth, dataset=row.dataset)
        out.append((row, run))
    return out


def require_run(table_id: str, runs: pd.DataFrame | None, row_label: str | None = None) -> dict:
    """The run that draws ``row_label`` (default: the figure's first row); a one-line
    ConfigError naming the run and the command that makes it when there is none."""
    for row, run in figure_runs(table_id, runs):
        if row_label is None or row.label == row_label:
            if run is None:
                name = row.config("full", 0).run_name
                raise ConfigError(f"{table_id} needs a finished run with a checkpoint for '{row.label}' (e.g. {name}), "
                                  f"and none was found: make it with `{make_command(table_id)}` "
                                  f"(or `{make_command(table_id, 'smoke')}` for the smoke scale)")
            return run
    raise ConfigError(f"{table_id} has no row {row_label!r}; rows: "
                      + ", ".join(r.label for r in get_table(table_id).rows))


def _run_label(run: Mapping[str, Any]) -> str:
    return f"{F.MODEL_LABELS.get(run['paper_model'], run['paper_model'])}-{run['depth']}" + (
        " (smoke)" if run["smoke"] else "")


def _missing(table_id: str, row: Row) -> str:
    return f"{row.label}: not yet run ({make_command(table_id, 'smoke')})"


def _load(run: Mapping[str, Any], data_root: str | None, n: int, *, train: bool = False):
    from .probes import load_run_model, sample_batch

    model, _ = load_run_model(run["run_dir"])
    x, y = sample_batch(run["dataset"], data_root, n, train=train)
    return model, x, y


def _display(img: torch.Tensor) -> np.ndarray:
    """An input image for display: channel mean, min-max scaled to [0, 1]."""
    a = img.float().mean(0).cpu().numpy()
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _cam_grid(images: np.ndarray, rows: list[tuple[str, list[tuple[str, np.ndarray | None, str]]]], *,
              title: str, smoke: bool, notes: list[str]) -> plt.Figure:
    """One figure row per entry of ``rows``: (row title, [(panel title, map or None, text under it)]),
    the image of the row in column 0 (``images[i]``), each map overlaid on it."""
    ncols = 1 + max([len(r[1]) for r in rows] or [1])
    fig, axes = plt.subplots(max(1, len(rows)), ncols, figsize=(1.9 * ncols, 2.1 * max(1, len(rows))),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if not rows:
        axes[0, 0].text(0.5, 0.5, "not yet run", ha="center", va="center", transform=axes[0, 0].transAxes,
                        color="0.4", fontsize=10)
    for i, (row_title, panels) in enumerate(rows):
        img = images[i] if i < len(images) else None
        if img is not None:
            axes[i, 0].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(row_title, fontsize=8)
        for j, (ptitle, m, under) in enumerate(panels, start=1):
            ax = axes[i, j]
            if m is None:
                ax.text(0.5, 0.5, under or "not yet run", ha="center", va="center", transform=ax.transAxes,
                        fontsize=6, color="0.4", wrap=True)
            else:
                if img is not None:
                    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
                ax.imshow(m, cmap="jet", alpha=0.5, vmin=0, vmax=1)
                ax.set_xlabel(under, fontsize=7)
            if i == 0:
                ax.set_title(ptitle, fontsize=7)
    fig.suptitle(textwrap.fill(title, width=max(40, 22 * ncols)), y=0.99 if not smoke else 0.95, fontsize=9)
    if smoke:
        fig.text(0.5, 1.0, SMOKE_BANNER, ha="center", va="bottom", color="crimson", fontsize=10, weight="bold")
    fig.tight_layout()
    return _note(fig, notes)


def _note(fig: plt.Figure, notes: list[str]) -> plt.Figure:
    """Why a panel is missing or stands in for another, under the figure."""
    if notes:
        fig.text(0.01, -0.01, "\n".join(notes), fontsize=6, color="0.35", va="top")
    return fig


# --------------------------------------------------------------------------- the figures
def _layer_attention(table_id: str, runs, data_root, n, **_) -> tuple[plt.Figure, dict]:
    """ELA Fig. 2(a), DLA Fig. 2: layer-attention heatmaps of the module's STAGE, one per row."""
    from .probes import run_readout

    stage = importlib.import_module(f"experiments.tables.{table_id.replace('.', '_')}").STAGE
    table = get_table(table_id)
    got, notes, smoke = {}, [], False
    for k, (row, run) in enumerate(figure_runs(table_id, runs)):
        if run is None:
            notes.append(_missing(table_id, row))
            continue
        try:
            scores = run_readout(run["run_dir"], run["dataset"], data_root, n, "layer_attention_scores")
        except Exception as exc:  # data not on this machine, a checkpoint of another code version
            notes.append(f"{row.label}: {type(exc).__name__}: {exc}"[:200])
            continue
        s = stage if stage in scores else max(scores)  # a smaller smoke stand-in: its last stage
        if s != stage:
            notes.append(f"{_run_label(run)} has no stage {stage + 1}: stage {s + 1} drawn")
        prefix = f"({chr(97 + k)}) " if len(table.rows) > 1 else ""
        got[f"{prefix}{_run_label(run)}"] = {s: scores[s]}
        smoke |= bool(run["smoke"])
    fig = F.layer_attention(got, title=table.title, smoke=smoke)
    return _note(fig, notes), {k: next(iter(v.values())) for k, v in got.items()}


def _gini(table_id: str, runs, data_root, n, n_estimators: int = 50, **_) -> tuple[plt.Figure, dict]:
    """DIA Fig. 11: per model and stage, the Gini importance matrix (row t sums to 1 over n < t)."""
    from .probes import run_readout

    table = get_table(table_id)
    got, notes, smoke = {}, [], False
    for row, run in figure_runs(table_id, runs):
        if run is None:
            notes.append(_missing(table_id, row))
            continue
        try:
            got[_run_label(run)] = run_readout(run["run_dir"], run["dataset"], data_root, n, "gini_importance",
                                               n_estimators=n_estimators)
            smoke |= bool(run["smoke"])
        except Exception as exc:
            notes.append(f"{row.label}: {type(exc).__name__}: {exc}"[:200])
    fig = F.gini_importance(got, title=table.title, smoke=smoke)
    return _note(fig, notes), got


def _predicted(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        p = torch.softmax(model.eval()(x).float(), -1)
    return p.argmax(-1).cpu().numpy(), p.cpu().numpy()


def _one_run_cams(table_id: str, runs, data_root, n, body) -> tuple[plt.Figure, dict]:
    """ELA Figs. 3 and 5: the Score-CAM grid of the figure's one run. ``body(model, x, run,
    notes)`` -> (images, rows, data) of ``_cam_grid``; a missing run or a failure is a note."""
    ((row, run),) = figure_runs(table_id, runs)
    notes, images, rows, data = [], [], [], {}
    if run is None:
        notes.append(_missing(table_id, row))
    else:
        try:
            model, x, _ = _load(run, data_root, n)
            images, rows, data = body(model, x, run, notes)
        except Exception as exc:  # data not on this machine, a checkpoint of another code version
            notes.append(f"{row.label}: {type(exc).__name__}: {exc}"[:200])
    title = get_table(table_id).title + (f" — {_run_label(run)}" if run else "")
    return _cam_grid(images, rows, title=title, smoke=bool(run and run["smoke"]), notes=notes), data


def _ela_fig3(table_id: str, runs, data_root, n, *, stage: int | None = None, first_block: int | None = None,
              layers: int | None = None, **_) -> tuple[plt.Figure, dict]:
    """ELA Fig. 3: Score-CAM of consecutive layers of one stage, KL(F_{t-1}, F_t) under each."""
    from experiments.tables import ela_fig3 as mod

    stage = mod.STAGE if stage is None else stage
    first = mod.FIRST_BLOCK if first_block is None else first_block
    count = mod.LAYERS if layers is None else layers

    def body(model, x, run, notes):
        s = min(stage, len(model.stages) - 1)
        nblocks = len(model.stages[s].blocks)
        first_b = min(max(1, first), nblocks - 1)
        blocks = list(range(first_b, min(nblocks, first_b + count)))
        if s != stage or len(blocks) < count:
            notes.append(f"{_run_label(run)}: stage {s + 1}, blocks {blocks[0] + 1}-{blocks[-1] + 1} drawn "
                         f"(the run's network has {nblocks} blocks there)")
        pred, _ = _predicted(model, x)
        kl = attention_kl(model, x, s)
        maps = np.stack([cam_maps(model, x, block_layer(model, s, b), pred, method="scorecam") for b in blocks], 1)
        rows = [(f"image {i + 1}", [(f"F{b + 1} (stage {s + 1})", maps[i, j], f"KL {kl[b]:.3g}" if b in kl else "KL —")
                                    for j, b in enumerate(blocks)]) for i in range(len(x))]
        data = {"maps": maps, "kl": kl, "blocks": blocks, "stage": s, "run": run["run_name"],
                "input_shape": tuple(x.shape)}
        return [_display(img) for img in x], rows, data

    return _one_run_cams(table_id, runs, data_root, n, body)


def pruned_pairs(names: Sequence[str], pairs: int) -> list[tuple[int, int]]:
    """(stage, block) of the layers ELA Fig. 5 draws: the first ``pairs`` pairs of consecutive
    pruned blocks of a stage, else the first 2 * ``pairs`` pruned layers singly."""
    pruned = sorted((int(n[1:].split(".")[0]), int(n.split(".b")[1])) for n in names)
    found, used = [], set()
    for s, b in pruned:
        if (s, b + 1) in pruned and (s, b) not in used and len(found) < 2 * pairs:
            found += [(s, b), (s, b + 1)]
            used |= {(s, b), (s, b + 1)}
    return found or pruned[:2 * pairs]


def _ela_fig5(table_id: str, runs, data_root, n, *, pairs: int | None = None, **_) -> tuple[plt.Figure, dict]:
    """ELA Fig. 5: Score-CAM of pruned layers with their attention switched on (before) and off (after)."""
    from experiments.tables import ela_fig5 as mod
    from models.ela import ela_layers

    pairs = mod.PAIRS if pairs is None else pairs

    def body(model, x, run, notes):
        layers = ela_layers(model)
        chosen = pruned_pairs([k for k, v in layers.items() if v.pruned], pairs)
        if not chosen:
            notes.append(f"{_run_label(run)} pruned no attention layer: nothing to compare")
            return [], [], {}
        pred, _ = _predicted(model, x)
        after = np.stack([cam_maps(model, x, block_layer(model, s, b), pred, method="scorecam")
                          for s, b in chosen], 1)
        was = {k: v.pruned for k, v in layers.items()}
        try:
            for v in layers.values():
                v.pruned = False
            before = np.stack([cam_maps(model, x, block_layer(model, s, b), pred, method="scorecam")
                               for s, b in chosen], 1)
        finally:
            for k, v in layers.items():
                v.pruned = was[k]
        rows = []
        for i in range(len(x)):
            for tag, maps in (("before", before), ("after", after)):
                rows.append((f"image {i + 1}, {tag}",
                             [(f"stage {s + 1}, layer {b + 1}" if tag == "before" and i == 0 else "",
                               maps[i, j], tag) for j, (s, b) in enumerate(chosen)]))
        data = {"before": before, "after": after, "layers": chosen, "run": run["run_name"],
                "input_shape": tuple(x.shape)}
        return [img for img in (_display(t) for t in x) for _ in (0, 1)], rows, data

    return _one_run_cams(table_id, runs, data_root, n, body)


def _dia_fig9(table_id: str, runs, data_root, n, **_) -> tuple[plt.Figure, dict]:
    """DIA Fig. 9: Grad-CAM of the target class and its softmax score, one column per model."""
    from experiments.data import dataset_info
    from experiments.tables import dia_fig9 as mod

    table = get_table(table_id)
    found = figure_runs(table_id, runs)
    notes, data, smoke = [], {}, False
    x = y = None
    panels: list[list[tuple[str, np.ndarray | None, str]]] = []
    for row, run in found:
        if run is None:
            notes.append(_missing(table_id, row))
            panels.append([(row.label, None, "not yet run")] * max(1, n))
            continue
        try:
            model, xr, yr = _load(run, data_root, n * 8 if run["dataset"] == "chestxray" else n)
            classes = dataset_info(run["dataset"]).classes or ()
            if mod.TARGET_CLASS in classes:  # the paper's data: pneumonia images, target Pneumonia
                t = classes.index(mod.TARGET_CLASS)
                keep = (yr == t).nonzero().flatten()[:n]
                xr, yr = xr[keep], torch.full((len(keep),), t)
            if x is None:
                x, y = xr, yr
            cams = cam_maps(model, x, target_layer(model, run["backbone"]), y.tolist(), method="gradcam")
            _, prob = _predicted(model, x)
            score = prob[np.arange(len(y)), y.numpy()]
            data[_run_label(run)] = {"cam": cams, "score": score}
            panels.append([(_run_label(run), cams[i], f"softmax {score[i]:.3f}") for i in range(len(x))])
            smoke |= bool(run["smoke"])
        except Exception as exc:
            notes.append(f"{row.label}: {type(exc).__name__}: {exc}"[:200])
            panels.append([(row.label, None, "could not be drawn")] * max(1, n))
    images = [_display(img) for img in x] if x is not None else []
    k = len(images) or 1
    rows = [(f"image {i + 1}" + (f" (target {int(y[i])})" if y is not None else ""),
             [p[i] if i < len(p) else (p[0][0], None, "") for p in panels]) for i in range(k)]
    if x is not None:
        data["input_shape"] = tuple(x.shape)
    return _cam_grid(images, rows, title=table.title, smoke=smoke, notes=notes), data


DRAWERS: dict[str, Callable[..., tuple[plt.Figure, dict]]] = {
    "ela.fig2a": _layer_attention, "dla.fig2": _layer_attention, "dia.fig11": _gini,
    "ela.fig3": _ela_fig3, "ela.fig5": _ela_fig5, "dia.fig9": _dia_fig9,
}


def draw(table_id: str, runs: pd.DataFrame | None, *, data_root: str | None = "data", n: int | None = None,
         **options: Any) -> tuple[plt.Figure, dict]:
    """(figure, the numbers drawn) of one figure module. ``n``: images fed to the networks
    (default 64 for the read-out figures, 2 for the CAM figures); ``options`` go to the
    drawer (``stage``, ``first_block``, ``layers`` for ELA Fig. 3; ``pairs`` for Fig. 5;
    ``n_estimators`` for DIA Fig. 11)."""
    if table_id not in DRAWERS:
        raise ConfigError(f"{table_id!r} is not a picture figure drawn here; these are: {', '.join(FIGURE_IDS)}")
    if n is None:
        n = 2 if table_id in ("ela.fig3", "ela.fig5", "dia.fig9") else 64
    return DRAWERS[table_id](table_id, runs, data_root, n, **options)


def module_figures(runs: pd.DataFrame | None, out_dir: str | Path, *, data_root: str | None = "data",
                   n: int = 64, cam_n: int = 2, ids: Sequence[str] = FIGURE_IDS) -> list[Path]:
    """Every figure of ``ids`` saved as ``FILE_STEMS[id]``.png and .pdf in ``out_dir``."""
    paths: list[Path] = []
    for tid in ids:
        fig, _ = draw(tid, runs, data_root=data_root, n=cam_n if tid in ("ela.fig3", "ela.fig5", "dia.fig9") else n)
        paths += F.save(fig, out_dir, FILE_STEMS[tid])
    return paths
