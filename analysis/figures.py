"""The papers' figures rebuilt from our runs (seaborn/matplotlib; PNG and PDF).

From run records (DataFrames of ``analysis.records``):

* ``accuracy_vs_depth``: ELA Fig. 2(b) (CIFAR-100: ResNet, MRLA-B, MRLA-L, ELA) and DLA
  Fig. 4 (CIFAR-10/100: ResNet, SE, ECA, DIANet, MRLA-L, DLA-L); the paper's published
  points beside ours where a table prints them.
* ``epoch_time``: ELA Fig. 4, training time per epoch by depth (MRLA-B, MRLA-L, ELA).
* ``kl_distributions``: the KL divergences of ELA's measurement windows before EBQM and
  the values EBQM maps them to, with the threshold mu (ELA Sec. 3.3).
* ``no_skip_curves``: DIA Fig. 14, test accuracy and train loss without skip connections.

From a model and a batch (``analysis.probes``):

* ``layer_attention``: ELA Fig. 2(a), DLA Fig. 2 (mean softmax weight, layer x earlier layer);
  the registered figures ``ela.fig2a``, ``dla.fig2``, ``dia.fig11`` (and the CAM figures
  ``ela.fig3``, ``ela.fig5``, ``dia.fig9``) are drawn from their modules' runs by
  ``analysis.visual``, which uses these functions.
* ``attention_correlations``: DIA Fig. 2 (Pearson coefficients of channel attention maps).
* ``stage_gradients``: DIA Fig. 13 (per-stage gradient magnitudes).
* ``gini_importance``: DIA Fig. 11 (random-forest importance of h_n for h_t).

Every function returns a matplotlib Figure; ``save(fig, out_dir, name)`` writes
``name.png`` and ``name.pdf``. Smoke-run data are drawn, but the figure then says
"SMOKE RUN — not comparable with the paper"; a figure with no data says "not yet run".
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from experiments.tables.base import LABELS

from .compare import number, runs_for
from .tables import DATASET_NAMES, SMOKE_BANNER

__all__ = ["save", "accuracy_vs_depth", "epoch_time", "kl_distributions", "no_skip_curves", "layer_attention",
           "attention_correlations", "stage_gradients", "gini_importance", "record_figures", "figure_claim_evidence",
           "MODEL_LABELS",
           "pick_run", "layer_attention_from_runs", "correlations_from_runs", "gini_from_runs",
           "gradients_from_runs", "model_figures"]

#: Legend names: the papers' row labels (``experiments.tables.base.LABELS``), the plain
#: network named ResNet rather than the tables' "Org".
MODEL_LABELS = {**LABELS, "resnet": "ResNet"}


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def save(fig: plt.Figure, out_dir: str | Path, name: str, close: bool = True) -> list[Path]:
    """Write ``<out_dir>/<name>.png`` (150 dpi) and ``.pdf``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    if close:
        plt.close(fig)
    return paths


def _banner(fig: plt.Figure, smoke: bool) -> None:
    if smoke:
        fig.text(0.5, 1.0, SMOKE_BANNER, ha="center", va="bottom", color="crimson", fontsize=11, weight="bold")


def _empty(ax: plt.Axes, text: str = "not yet run") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4", fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def _runs_of(runs: pd.DataFrame, model: str, dataset: str, backbone: str, depth: int,
             variant: str = "") -> tuple[pd.DataFrame, bool]:
    """Finished runs for one point: full-scale ones if any, else smoke ones (flagged)."""
    if runs is None or not len(runs):
        return pd.DataFrame(), False
    m = runs_for({"model": model, "variant": variant, "dataset": dataset, "backbone": backbone, "depth": depth},
                 runs)
    m = m[m["status"] == "done"]
    real = m[~m["smoke"].astype(bool)]
    return (real, False) if len(real) else (m, bool(len(m)))


# --------------------------------------------------------------------------- from records
def accuracy_vs_depth(runs: pd.DataFrame | None, paper: pd.DataFrame | None = None, *,
                      models: Sequence[str] = ("resnet", "mrla_b", "mrla_l", "ela"),
                      datasets: Sequence[str] = ("cifar100",), depths: Sequence[int] = (20, 56, 110),
                      backbone: str = "resnet", paper_tables: Sequence[tuple[str, str]] = (("ela", "table1"),),
                      which: str = "best", title: str = "") -> plt.Figure:
    """Top-1 accuracy against depth, one panel per dataset: our mean ± std over seeds
    (solid), the paper's published values (dashed, hollow markers)."""
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4), squeeze=False)
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    any_smoke = False
    for ax, dataset in zip(axes[0], datasets):
        drawn = False
        for model in models:
            xs, ms, ss, line_smoke = [], [], [], False
            for d in depths:
                sel, smoke = _runs_of(runs, model, dataset, backbone, d)
                vals = pd.to_numeric(sel.get(f"{which}_top1", pd.Series(dtype=float)), errors="coerce").dropna()
                if len(vals):
                    line_smoke |= smoke
                    xs.append(d)
                    ms.append(vals.mean())
                    ss.append(vals.std(ddof=1) if len(vals) > 1 else 0.0)
            any_smoke |= line_smoke
            if xs:
                ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, color=palette[model],
                            label=f"{_label(model)} (ours{', smoke' if line_smoke else ''})")
                drawn = True
            if paper is not None:
                pts = paper[(paper["dataset"] == dataset) & (paper["model"] == model) & (paper["metric"] == "top1")
                            & (paper["variant"] == "") & (paper["backbone"] == backbone)
                            & paper[["paper", "table"]].apply(tuple, axis=1).isin(list(paper_tables))]
                pts = pts.assign(d=pts["depth"].map(number), m=pts["mean"].map(number)).dropna(subset=["d", "m"])
                pts = pts[pts["d"].isin(depths)].drop_duplicates("d").sort_values("d")
                if len(pts):
                    ax.plot(pts["d"], pts["m"], ls="--", marker="s", mfc="none", color=palette[model],
                            label=f"{_label(model)} (paper)")
                    drawn = True
        if not drawn:
            _empty(ax)
        else:
            ax.set_xticks(list(depths))
            ax.legend(fontsize=7, ncol=2)
        ax.set_xlabel("depth")
        ax.set_ylabel(f"top-1 accuracy (%), {which} epoch")
        ax.set_title(DATASET_NAMES.get(dataset, dataset))
    fig.suptitle(title or "Accuracy against depth", y=0.98 if not any_smoke else 0.93)
    _banner(fig, any_smoke)
    fig.tight_layout()
    return fig


def epoch_time(runs: pd.DataFrame | None, *, models: Sequence[str] = ("mrla_b", "mrla_l", "ela"),
               datasets: Sequence[str] = ("cifar10", "cifar100"), depths: Sequence[int] = (20, 56, 110),
               backbone: str = "resnet", title: str = "", panels: Mapping[str, pd.DataFrame] | None = None,
               reduction: bool = False) -> plt.Figure:
    """ELA Fig. 4: mean training time per epoch (s) by depth and model, one panel per
    dataset; bars are means over runs, whiskers their std; hardware in the legend title.
    ``panels`` ({panel title: rows of depth, model label, seconds, hardware}) draws those
    times instead of looking ``runs`` up per dataset (the benchmark's records);
    ``reduction`` labels the bars of the other models with their % change against ``models[0]``."""
    smoke = False
    if panels is None:
        got = {DATASET_NAMES.get(d, d): _epoch_rows(runs, models, d, depths, backbone) for d in datasets}
        smoke = any(s for _, s in got.values())
        panels = {name: pd.DataFrame(rows) for name, (rows, _) in got.items()}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (name, df) in zip(axes[0], panels.items()):
        if not len(df):
            _empty(ax)
        else:
            hue_order = [_label(m) for m in models if _label(m) in set(df["model"])]
            sns.barplot(df, x="depth", y="seconds", hue="model", errorbar="sd", ax=ax, hue_order=hue_order)
            if reduction:
                _label_reductions(ax, df, hue_order, _label(models[0]))
            ax.legend(title=", ".join(sorted(map(str, df["hardware"].unique()))), fontsize=7, title_fontsize=7)
        ax.set_ylabel("training time per epoch (s)")
        ax.set_title(name)
    fig.suptitle(title or "Training time per epoch", y=0.98 if not smoke else 0.93)
    _banner(fig, smoke)
    fig.tight_layout()
    return fig


def _epoch_rows(runs: pd.DataFrame | None, models: Sequence[str], dataset: str, depths: Sequence[int],
                backbone: str) -> tuple[list[dict], bool]:
    """(bars of ``epoch_time``'s panel of ``dataset``, whether a smoke run is among them)."""
    rows, any_smoke = [], False
    for model in models:
        for d in depths:
            sel, smoke = _runs_of(runs, model, dataset, backbone, d)
            for r in sel.to_dict("records"):
                if np.isfinite(r["epoch_time_mean_s"]):
                    any_smoke |= smoke
                    rows.append({"depth": d, "model": _label(model), "seconds": r["epoch_time_mean_s"],
                                 "hardware": r["hardware"]})
    return rows, any_smoke


def _label_reductions(ax: plt.Axes, df: pd.DataFrame, hue_order: list[str], base: str) -> None:
    """Over each bar of a model other than ``base``: its % change against ``base``'s mean at
    the same depth ("-30%": 30% less time); nothing where ``base`` has no bar."""
    means = df.groupby(["depth", "model"])["seconds"].mean()
    order = sorted(df["depth"].unique())
    for model, bars in zip(hue_order, ax.containers):
        for bar in [] if model == base else bars:
            x = bar.get_x() + bar.get_width() / 2
            t0, t = means.get((order[round(x)], base)), means.get((order[round(x)], model))
            if t0 is None or t is None or not t0:
                continue
            red = 100.0 * (t0 - t) / t0
            ax.annotate(f"-{red:.0f}%" if red >= 0 else f"+{-red:.0f}%", (x, bar.get_height()), xytext=(0, 1),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room for the labels


def kl_distributions(decisions: pd.DataFrame, *, max_runs: int = 4, title: str = "") -> plt.Figure:
    """KL divergences of every ELA pruning window before EBQM (left: raw KL per layer) and
    after (right: EBQM's mapped values on S_gamma, threshold mu dashed); colour = pruned at
    this window, kept, or pruned earlier. One row per run (at most ``max_runs``)."""
    runs = list(dict.fromkeys(decisions["run_name"])) if len(decisions) else []
    runs = runs[:max_runs]
    fig, axes = plt.subplots(max(1, len(runs)), 2, figsize=(10, 3.2 * max(1, len(runs))), squeeze=False)
    if not runs:
        _empty(axes[0, 0], "no ELA pruning records")
        _empty(axes[0, 1], "no ELA pruning records")
    colors = {"pruned here": "crimson", "kept": "steelblue", "pruned earlier": "0.6"}
    smoke = bool(len(decisions) and decisions["smoke"].astype(bool).any())
    for (ax_kl, ax_map), run in zip(axes, runs):
        d = decisions[decisions["run_name"] == run].copy()
        d["decision"] = np.where(d["newly_pruned"], "pruned here", np.where(d["pruned_before"], "pruned earlier", "kept"))
        d["window"] = d["window"].astype(int) + 1
        sns.stripplot(d, x="window", y="kl", hue="decision", palette=colors, ax=ax_kl, jitter=0.15, size=5)
        ax_kl.set_ylabel("KL divergence (Eq. 11)")
        ax_kl.set_title(f"{d['model'].iloc[0]}: before EBQM", fontsize=9)
        m = d.dropna(subset=["mapped"])
        if len(m):
            sns.stripplot(m, x="window", y="mapped", hue="decision", palette=colors, ax=ax_map, jitter=0.15, size=5,
                          order=sorted(d["window"].unique()))
            mu = d["mu"].dropna()
            if len(mu):
                ax_map.axhline(float(mu.iloc[0]), ls="--", color="k", lw=1, label=f"mu = {float(mu.iloc[0]):g}")
            ax_map.legend(fontsize=7)
        else:
            _empty(ax_map, "no EBQM mapping (threshold / fixed method)")
        ax_map.set_ylabel("mapped value y (Algorithm 1, line 6)")
        ax_map.set_title("after EBQM mapping", fontsize=9)
        if ax_kl.get_legend():
            ax_kl.legend(fontsize=7)
    fig.suptitle(title or "ELA: KL divergences per pruning window, before and after EBQM",
                 y=0.99 if not smoke else 0.96)
    _banner(fig, smoke)
    fig.tight_layout()
    return fig


def no_skip_curves(curves: pd.DataFrame, *, models: Sequence[str] | None = ("resnet", "se", "dia"),
                   title: str = "") -> plt.Figure:
    """DIA Fig. 14: test accuracy and train loss per epoch of runs without skip connections
    (``model_kwargs.skip=False``), mean over seeds with a ±sd band, one line per model."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    c = curves[curves["no_skip"].astype(bool)] if len(curves) else curves
    if models is not None and len(c):
        c = c[c["paper_model"].isin(models)]
    smoke = bool(len(c) and c["smoke"].astype(bool).any())
    if not len(c):
        _empty(ax_acc)
        _empty(ax_loss)
    else:
        c = c.assign(model=c["paper_model"].map(_label) + " " + c["depth"].astype(str), epoch=c["epoch"] + 1)
        sns.lineplot(c, x="epoch", y="test_top1", hue="model", errorbar="sd", ax=ax_acc, marker="o")
        sns.lineplot(c, x="epoch", y="train_loss", hue="model", errorbar="sd", ax=ax_loss, marker="o")
        ax_acc.set_ylabel("test top-1 accuracy (%)")
        ax_loss.set_ylabel("train loss")
        for ax in (ax_acc, ax_loss):
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax_acc.set_title("test accuracy, no skip connections", fontsize=10)
    ax_loss.set_title("train loss, no skip connections", fontsize=10)
    fig.suptitle(title or "Training without skip connections", y=0.99 if not smoke else 0.94)
    _banner(fig, smoke)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- from a model
def layer_attention(scores: Mapping[str, Mapping[int, np.ndarray]], *, stage: int | None = None,
                    title: str = "", smoke: bool = False) -> plt.Figure:
    """Heatmaps of mean layer-attention weights (``probes.layer_attention_scores``), one
    per model (``{'MRLA-B': scores, 'DLA-B': scores}``) and stage (or only ``stage``):
    row = attending layer, column = the earlier layer it retrieves from."""
    panels = [(name, s, m) for name, sc in scores.items() for s, m in sorted(sc.items())
              if stage is None or s == stage]
    return _stage_heatmaps(panels, label="{}", cmap="viridis", annotate=True, empty="no layer attention",
                           xlabel="retrieved layer", ylabel="layer", title=title or "Layer attention scores",
                           smoke=smoke)


def _stage_heatmaps(panels: list[tuple[str, int, np.ndarray]], *, label: str, cmap: str, annotate: bool, empty: str,
                    xlabel: str, ylabel: str, title: str, smoke: bool) -> plt.Figure:
    """One [0, 1] heatmap per (model name, stage, square matrix) in a row; rows and columns
    are labelled ``label.format(i + 1)``; NaN cells are masked; small matrices annotated
    when ``annotate``."""
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.6 * max(1, len(panels)), 3.4), squeeze=False)
    if not panels:
        _empty(axes[0, 0], empty)
    for ax, (name, s, m) in zip(axes[0], panels):
        labels = [label.format(i + 1) for i in range(m.shape[0])]
        annot = {"annot": True, "fmt": ".2f", "annot_kws": {"fontsize": 6}} if annotate and m.shape[0] <= 8 else {}
        sns.heatmap(pd.DataFrame(m, index=labels, columns=labels), ax=ax, vmin=0, vmax=1, cmap=cmap,
                    cbar=ax is axes[0, -1], mask=np.isnan(m), **annot)
        ax.set_title(f"{name}, stage {s + 1}", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.suptitle(title, y=0.99 if not smoke else 0.93)
    _banner(fig, smoke)
    fig.tight_layout()
    return fig


def attention_correlations(corr: Mapping[str, pd.DataFrame], *, title: str = "", smoke: bool = False) -> plt.Figure:
    """DIA Fig. 2: for each model (``{'SE': probes.attention_correlations(...)}``), the mean
    Pearson coefficient of every block pair per stage (heatmaps) and the distribution of
    the coefficients over samples and pairs per stage (violins, with the mean)."""
    names = list(corr)
    n_st = max([int(c["stage"].nunique()) for c in corr.values() if len(c)] or [1])
    fig, axes = plt.subplots(max(1, len(names)), n_st + 1, figsize=(3.3 * (n_st + 1), 3.2 * max(1, len(names))),
                             squeeze=False)
    if not names:
        _empty(axes[0, 0], "no channel attention")
    for row, name in zip(axes, names):
        c = corr[name]
        for ax, (s, part) in zip(row[:-1], sorted(c.groupby("stage"))):
            k = int(max(part["i"].max(), part["j"].max()) + 1)
            m = np.full((k, k), np.nan)
            np.fill_diagonal(m, 1.0)
            for (i, j), r in part.groupby(["i", "j"])["r"].mean().items():
                m[i, j] = m[j, i] = r
            sns.heatmap(m, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", cbar=False, square=True,
                        xticklabels=[str(i + 1) for i in range(k)], yticklabels=[str(i + 1) for i in range(k)])
            ax.set_title(f"{name}, stage {s + 1}: mean r {part['r'].mean():.2f}", fontsize=8)
        if len(c):
            sns.violinplot(c.assign(stage=c["stage"] + 1), x="stage", y="r", ax=row[-1], cut=0, inner="quartile")
            row[-1].axhline(0.85, ls="--", color="crimson", lw=1)
            row[-1].set_ylim(-1.05, 1.05)
            row[-1].set_title(f"{name}: r over samples and block pairs", fontsize=8)
        else:
            _empty(row[-1])
    fig.suptitle(title or "Pearson correlation of attention maps across blocks", y=0.99)
    _banner(fig, smoke)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))  # room for the title above the panels
    return fig


def stage_gradients(grads: Mapping[str, pd.DataFrame], *, title: str = "", smoke: bool = False) -> plt.Figure:
    """DIA Fig. 13: distributions of |gradient| at each stage's output per model
    (``{'ResNet': probes.stage_gradients(...), 'DIA-LSTM': ...}``), log scale."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    rows = [g.assign(model=name) for name, g in grads.items() if len(g)]
    if not rows:
        _empty(ax)
    else:
        df = pd.concat(rows, ignore_index=True)
        df = df.assign(log10_abs_grad=np.log10(df["abs_grad"].clip(lower=1e-30)))
        sns.violinplot(df, x="stage", y="log10_abs_grad", hue="model", ax=ax, cut=0, inner="quartile")
        ax.set_ylabel("log10 |gradient| at stage output")
    fig.suptitle(title or "Gradient distribution per stage (no skip connections)", y=0.99 if not smoke else 0.93)
    _banner(fig, smoke)
    fig.tight_layout()
    return fig


def gini_importance(mats: Mapping[str, Mapping[int, np.ndarray]], *, title: str = "",
                    smoke: bool = False) -> plt.Figure:
    """DIA Fig. 11: random-forest Gini importance of source hidden states h_n (columns) for
    each target h_t (rows), one heatmap per model and stage."""
    panels = [(name, s, m) for name, ms in mats.items() for s, m in sorted(ms.items())]
    return _stage_heatmaps(panels, label="h{}", cmap="magma", annotate=False, empty="not yet run",
                           xlabel="source h_n", ylabel="target h_t",
                           title=title or "Gini importance of earlier hidden states", smoke=smoke)


# --------------------------------------------------------------------------- all record figures
def record_figures(runs: pd.DataFrame, curves: pd.DataFrame, decisions: pd.DataFrame,
                   paper: pd.DataFrame | None, out_dir: str | Path, which: str = "best") -> list[Path]:
    """Every figure that needs only run records, saved into ``out_dir``."""
    paths = []
    paths += save(accuracy_vs_depth(runs, paper, which=which,
                                    title="ELA Fig. 2(b): top-1 accuracy against depth, CIFAR-100"),
                  out_dir, "ela_fig2b_accuracy_vs_depth")
    paths += save(accuracy_vs_depth(runs, paper, models=("resnet", "dia", "mrla_l", "dla_l"),
                                    datasets=("cifar10", "cifar100"), paper_tables=(("dla", "table1"),),
                                    which=which, title="DLA Fig. 4: testing accuracy against depth"),
                  out_dir, "dla_fig4_accuracy_vs_depth")
    paths += save(epoch_time(runs, title="ELA Fig. 4: training time per epoch"), out_dir, "ela_fig4_epoch_time")
    paths += save(kl_distributions(decisions), out_dir, "ela_kl_before_after_ebqm")
    paths += save(no_skip_curves(curves, title="DIA Fig. 14: training without skip connections"),
                  out_dir, "dia_fig14_no_skip")
    return paths


# --------------------------------------------------------------------------- from trained checkpoints
def pick_run(runs: pd.DataFrame | None, model: str, *, variant: str = "", depth: int | None = None,
             dataset: str | None = None) -> dict | None:
    """The finished run with a checkpoint that best stands for ``model``: full-scale before
    smoke, then the wanted depth, then the wanted dataset; None if there is none."""
    if runs is None or not len(runs):
        return None
    c = runs[(runs["paper_model"] == model) & (runs["status"] == "done") & runs["has_checkpoint"].astype(bool)
             & (runs["variant"].fillna("") == variant)]
    if not len(c):
        return None
    score = (c["smoke"].astype(bool).astype(int) * 4
             + (c["depth"] != depth).astype(int) * 2 * (depth is not None)
             + (c["dataset"] != dataset).astype(int) * (dataset is not None))
    return c.assign(_score=score).sort_values(["_score", "seed", "run_name"]).iloc[0].to_dict()


def _from_runs(runs, models, variant, depth, dataset, data_root, n, name, **kwargs):
    """{label: the read-out ``name`` (``probes.run_readout``, with ``kwargs``)} for the models
    that have a checkpoint; notes on the others."""
    from .probes import run_readout

    out, notes, smoke = {}, [], False
    for m in models:
        run = pick_run(runs, m, variant=variant, depth=depth, dataset=dataset)
        if run is None:
            notes.append(f"{_label(m)}: not yet run")
            continue
        try:
            label = f"{_label(m)}-{run['depth']}" + (" (smoke)" if run["smoke"] else "")
            out[label] = run_readout(run["run_dir"], run["dataset"], data_root, n, name, **kwargs)
            smoke |= bool(run["smoke"])
        except Exception as exc:  # data not on this machine, a checkpoint of another code version
            notes.append(f"{_label(m)}: {type(exc).__name__}: {exc}"[:160])
    return out, notes, smoke


def _note(fig: plt.Figure, notes: list[str]) -> plt.Figure:
    if notes:
        fig.text(0.01, -0.02, "; ".join(notes), fontsize=7, color="0.35", va="top")
    return fig


def layer_attention_from_runs(runs: pd.DataFrame | None, *, models: Sequence[str] = ("mrla_b", "ela"),
                              depth: int = 56, dataset: str = "cifar100", data_root: str | None = "data",
                              n: int = 64, stage: int | None = None, title: str = "") -> plt.Figure:
    """ELA Fig. 2(a) / DLA Fig. 2 from the runs' trained checkpoints."""
    got, notes, smoke = _from_runs(runs, models, "", depth, dataset, data_root, n, "layer_attention_scores")
    return _note(layer_attention(got, stage=stage, title=title, smoke=smoke), notes)


def correlations_from_runs(runs: pd.DataFrame | None, *, models: Sequence[str] = ("se", "eca"), depth: int = 164,
                           dataset: str = "cifar100", data_root: str | None = "data", n: int = 64,
                           title: str = "") -> plt.Figure:
    """DIA Fig. 2 from the runs' trained SE / ECA checkpoints."""
    got, notes, smoke = _from_runs(runs, models, "", depth, dataset, data_root, n, "attention_correlations")
    return _note(attention_correlations(got, title=title, smoke=smoke), notes)


def gini_from_runs(runs: pd.DataFrame | None, *, models: Sequence[str] = ("dia", "se"), depth: int = 164,
                   dataset: str = "cifar100", data_root: str | None = "data", n: int = 64,
                   n_estimators: int = 50, title: str = "") -> plt.Figure:
    """DIA Fig. 11 from the runs' trained DIA-LSTM (and SE, for contrast) checkpoints."""
    got, notes, smoke = _from_runs(runs, models, "", depth, dataset, data_root, n, "gini_importance",
                                   n_estimators=n_estimators)
    return _note(gini_importance(got, title=title, smoke=smoke), notes)


def gradients_from_runs(runs: pd.DataFrame | None, *, models: Sequence[str] = ("resnet", "se", "dia"),
                        variant: str = "no_skip", depth: int = 56, dataset: str = "cifar100",
                        data_root: str | None = "data", n: int = 64, title: str = "") -> plt.Figure:
    """DIA Fig. 13 from the runs' trained checkpoints without skip connections."""
    got, notes, smoke = _from_runs(runs, models, variant, depth, dataset, data_root, n, "stage_gradients")
    return _note(stage_gradients(got, title=title, smoke=smoke), notes)


def figure_claim_evidence(runs: pd.DataFrame | None, *, data_root: str | None = "data", n: int = 64,
                          runs_dir: str | Path | None = None) -> dict[str, dict[str, str]]:
    """The ``extra`` results of the claims that rest on read-outs of trained checkpoints (claim
    kind 'figure'), from the same runs the figures draw (``pick_run``: one checkpoint per model):
    ``dia.gradients_without_skip`` (DIA Fig. 13: DIA vs ResNet56 without skips,
    ``claims.gradient_figure_result``), ``dia.gini_se_local_dia_spread`` (DIA Fig. 11: SE vs
    DIA-LSTM ResNet164, ``claims.gini_figure_result``), ``ela.redundant_attention`` (ELA Fig.
    2(a): MRLA-B-56, ``claims.redundant_attention_result``), ``dla.dynamic_attention`` (DLA Fig. 2:
    MRLA-B-56 vs DLA-B-56, ``claims.dynamic_attention_result``) and
    ``dia.correlated_attention_maps`` (DIA Fig. 2: SE / ECA-ResNet164,
    ``claims.correlation_figure_result``); with ``runs_dir``, DIA Fig. 8's two claims
    from the diffusion records there (``claims.fid_figure_results``). A model without a run is
    left out, and the result then says "not yet run"; so does a result from a smoke checkpoint
    (its numbers in the detail)."""
    from experiments.tables.dla_fig2 import STAGE as DLA_FIG2_STAGE
    from experiments.tables.ela_fig2a import STAGE as ELA_FIG2A_STAGE

    from .claims import (correlation_figure_result, dynamic_attention_result, fid_figure_results,
                         gini_figure_result, gradient_figure_result, redundant_attention_result)

    smoke: dict[str, bool] = {}

    def per_model(models, variant, depth, name):
        got = {}
        for m in models:
            one, _, smoke[m] = _from_runs(runs, (m,), variant, depth, "cifar100", data_root, n, name)
            if one:
                got[m] = list(one.values())
        return got

    def full_scale(result, *models):
        """Smoke checkpoints show the read-out works, not what the papers claim: like the
        accuracy claims' smoke runs, "not yet run" (the numbers stay in the detail)."""
        if result["result"] == "not yet run" or not any(smoke.get(m) for m in models):
            return result
        return {"result": "not yet run", "detail": f"smoke runs only (not comparable): {result['detail']}"}

    grads = per_model(("dia", "resnet"), "no_skip", 56, "stage_gradients")
    gini = per_model(("dia", "se"), "", 164, "gini_importance")
    scores = per_model(("mrla_b", "dla_b"), "", 56, "layer_attention_scores")
    corrs = per_model(("se", "eca"), "", 164, "attention_correlations")
    out = {"dia.gradients_without_skip": full_scale(gradient_figure_result(grads), "dia", "resnet"),
           "dia.gini_se_local_dia_spread": full_scale(gini_figure_result(gini), "dia", "se"),
           "ela.redundant_attention": full_scale(redundant_attention_result(scores, stage=ELA_FIG2A_STAGE), "mrla_b"),
           "dla.dynamic_attention": full_scale(dynamic_attention_result(scores, stage=DLA_FIG2_STAGE),
                                               "mrla_b", "dla_b"),
           "dia.correlated_attention_maps": full_scale(correlation_figure_result(corrs), "se", "eca")}
    if runs_dir is not None:
        from .diffusion_figures import load_diffusion_records

        out.update(fid_figure_results(load_diffusion_records(runs_dir)))
    return out


def model_figures(runs: pd.DataFrame | None, out_dir: str | Path, data_root: str | None = "data",
                  n: int = 64, cam_n: int = 2) -> list[Path]:
    """Every figure that needs a trained model, from the best checkpoints in ``runs``: the
    registered picture figures (``analysis.visual``: ELA Figs. 2(a), 3, 5, DLA Fig. 2, DIA
    Figs. 9, 11; ``cam_n`` images for the CAM figures) and DIA Figs. 2 and 13."""
    from .visual import module_figures

    paths = module_figures(runs, out_dir, data_root=data_root, n=n, cam_n=cam_n)
    paths += save(correlations_from_runs(runs, data_root=data_root, n=n,
                                         title="DIA Fig. 2: Pearson correlation of attention maps across blocks"),
                  out_dir, "dia_fig2_attention_correlation")
    paths += save(gradients_from_runs(runs, data_root=data_root, n=n,
                                      title="DIA Fig. 13: gradients per stage without skip connections"),
                  out_dir, "dia_fig13_stage_gradients")
    return paths
