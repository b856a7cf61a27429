"""DIA Figure 8 rebuilt from diffusion records: FID against training steps, one panel per batch
size, UViT and DIA-UViT (records of ``experiments.diffusion_run``, ``kind == 'diffusion'``).

    from analysis.diffusion_figures import fig8_from_runs
    fig8_from_runs("runs", "results/figures")      # -> dia_fig8.png, dia_fig8.pdf

A smoke record's FID is on the stand-in features (its record says so in ``fid.label``); the
figure then carries the smoke banner and names the feature extractor on its y axis.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt


from .figures import save
from .records import read_record
from .tables import SMOKE_BANNER

__all__ = ["fid_curves", "draw_fig8", "load_diffusion_records", "fig8_from_runs", "NAMES"]

#: legend names of the two networks
NAMES = {False: "UViT", True: "DIA-UViT"}


def load_diffusion_records(out_root: str | Path, table: str = "dia.fig8") -> list[dict[str, Any]]:
    """Every diffusion record under ``out_root`` whose ``planned`` rows include ``table``
    (unreadable records are skipped with a warning, as ``analysis.records.read_record`` does)."""
    recs = []
    for p in sorted(Path(out_root).glob("*/record.json")):
        rec = read_record(p)
        if rec is not None and rec.get("kind") == "diffusion" and any(e.get("table") == table for e in rec.get("planned", [])):
            recs.append(rec)
    return recs


def fid_curves(records: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, tuple[list[int], list[float]]]]:
    """batch size -> legend name -> (steps, FIDs), from each record's ``evals``. Two records of
    the same (batch, model) -- seeds -- are an error: Fig 8 draws one curve each."""
    out: dict[int, dict[str, tuple[list[int], list[float]]]] = {}
    for rec in records:
        name = NAMES[bool(rec["dia"])]
        per = out.setdefault(int(rec["batch_size"]), {})
        if name in per:
            raise ValueError(f"two {name} records at batch {rec['batch_size']}; pass one run per curve (seed 0)")
        evals = sorted(rec.get("evals", []), key=lambda e: e["step"])
        per[name] = ([int(e["step"]) for e in evals], [float(e["fid"]) for e in evals])
    return dict(sorted(out.items()))


def draw_fig8(records: Sequence[Mapping[str, Any]], out_dir: str | Path, name: str = "dia_fig8"
              ) -> tuple[list[Path], dict[tuple[int, str], tuple[list[float], list[float]]]]:
    """Draw and save (PNG, PDF); returns the paths and, per (batch, legend name), the (x, y)
    data of the line as drawn (read back from the axes)."""
    if not records:
        raise ValueError("no diffusion records to draw; train them with python -m experiments.diffusion_run "
                         "--table dia.fig8")
    curves = fid_curves(records)
    smoke = any(r.get("smoke") for r in records)
    kinds = sorted({r.get("fid", {}).get("features", "?") for r in records})
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    drawn: dict[tuple[int, str], tuple[list[float], list[float]]] = {}
    for ax, (batch, per) in zip(axes[0], curves.items()):
        for label in ("UViT", "DIA-UViT"):
            if label not in per:
                continue
            steps, fids = per[label]
            (line,) = ax.plot(steps, fids, marker="o", ms=3, label=label,
                              color="tab:blue" if label == "UViT" else "tab:red")
            drawn[(batch, label)] = (list(map(float, line.get_xdata())), list(map(float, line.get_ydata())))
        ax.set_title(f"batch {batch}")
        ax.set_xlabel("training steps")
        ax.set_ylabel(f"FID ({', '.join(kinds)} features)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("DIA Fig 8: FID of UViT with and without DIA" + (f"\n{SMOKE_BANNER}" if smoke else ""))
    fig.tight_layout()
    return save(fig, out_dir, name), drawn


def fig8_from_runs(out_root: str | Path, out_dir: str | Path) -> list[Path]:
    """DIA Fig 8 from the records under ``out_root``."""
    paths, _ = draw_fig8(load_diffusion_records(out_root), out_dir)
    return paths
