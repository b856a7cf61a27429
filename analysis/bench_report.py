"""Reports of the training-throughput benchmark (``experiments.bench``) from its JSON records.

    ./reproduce.sh bench --quick                       # measures, then writes these reports
    python -m analysis.bench_report results/bench/vm   # rewrites them from the records there

Into the records' folder: ``summary.md`` (every record of the folder, fast/reference ratios,
the targets), ``ela_fig4.md`` and ``ela_fig4.png``/``.pdf`` (ELA Fig. 4: MRLA-B vs MRLA-L vs
ELA per-epoch time, % reduction vs MRLA-B; drawn by ``analysis.figures.epoch_time``).

Targets (checked and printed as PASS / FAIL / NOT MEASURED, never asserted): on an H100/H200 at
batch 128, (1) MRLA-B ResNet-56 one CIFAR-size epoch <= 1.5 s on the fast path; (2) fast >= 4x
the reference throughput for every model measured on both; (3) ELA's per-epoch time >= 30%
below MRLA-B's (ELA's claim; a FAIL is the measured finding that it is not).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from experiments.records import atomic_write_text

__all__ = ["load_records", "fig4_rows", "fig4_markdown", "fig4_panels", "Target", "evaluate_targets",
           "summary_markdown", "write_reports", "report", "main", "TARGETS", "FIG4"]

#: one CIFAR-10/100 training epoch: what experiments.bench extrapolates to (each record's epoch_images;
#: analysis may not import experiments.bench, docs/architecture.md)
EPOCH_IMAGES = 50_000
TARGET_GPUS = ("H100", "H200")
TARGETS = {
    "epoch": "MRLA-B ResNet-56 fast path: one CIFAR-size epoch <= 1.5 s (H100/H200, batch 128)",
    "ratio": "fast >= 4x reference throughput, every model measured on both (H100/H200, batch 128)",
    "ela": "ELA per-epoch time >= 30% below MRLA-B at every depth measured (H100/H200, fast path, batch 128)",
}
EPOCH_TARGET_S, RATIO_TARGET, ELA_TARGET_PCT = 1.5, 4.0, 30.0
FIG4 = {"mrla_b": "MRLA-B", "mrla_l": "MRLA-L", "ela": "ELA"}


# =========================================================================== reading records
def load_records(folder: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(Path(folder).glob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("kind") == "bench":
            rec["_path"] = str(p)
            out.append(rec)
    return out


def _gpu(rec: dict[str, Any]) -> str:
    return str((rec.get("environment") or {}).get("gpu") or "")


def _machine(rec: dict[str, Any]) -> str:
    env = rec.get("environment") or {}
    return env.get("gpu") or f"CPU {env.get('hostname', '?')} ({env.get('torch_threads', '?')} threads)"


def _on_target_gpu(rec: dict[str, Any]) -> bool:
    return rec.get("device") == "cuda" and any(g in _gpu(rec).upper() for g in TARGET_GPUS)


def _f(x, fmt: str, none: str = "-") -> str:
    return none if x is None else format(x, fmt)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# =========================================================================== ELA Fig. 4
def fig4_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (machine, pipeline variant, batch size, depth) with MRLA-B, MRLA-L and ELA
    per-epoch times and the % reduction of each vs MRLA-B: 100 * (t_B - t_X) / t_B
    (positive = less time than MRLA-B; None where a time is missing)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for r in records:
        if r.get("family") not in FIG4:
            continue
        key = (_machine(r), r["variant"], r["batch_size"], r["depth"])
        groups.setdefault(key, {})[r["family"]] = r
    return [_fig4_row(key, g) for key, g in sorted(groups.items(), key=lambda kv: kv[0])]


def _fig4_row(key: tuple, g: dict[str, dict]) -> dict[str, Any]:
    machine, variant, bs, depth = key
    t = {f: (g[f]["epoch_time_s"] if f in g else None) for f in FIG4}
    base = t["mrla_b"]

    def red(x):
        return None if base is None or x is None else 100.0 * (base - x) / base

    ela = (g.get("ela") or {}).get("ela") or {}
    return {"machine": machine, "variant": variant, "batch_size": bs, "depth": depth,
            "mrla_b_s": t["mrla_b"], "mrla_l_s": t["mrla_l"], "ela_s": t["ela"],
            "mrla_l_reduction_pct": red(t["mrla_l"]), "ela_reduction_pct": red(t["ela"]),
            "ela_pruned": ela.get("num_pruned"), "ela_layers": ela.get("total_layers"),
            "ela_method": ela.get("method")}


def fig4_markdown(rows: list[dict[str, Any]], records: list[dict[str, Any]] | None = None) -> str:
    body = _md_table(
        ["machine", "pipeline", "batch", "depth", "MRLA-B s/epoch", "MRLA-L s/epoch", "ELA s/epoch",
         "ELA layers pruned", "MRLA-L reduction vs MRLA-B", "ELA reduction vs MRLA-B"],
        [[r["machine"], r["variant"], str(r["batch_size"]), str(r["depth"]), _f(r["mrla_b_s"], ".3f"),
          _f(r["mrla_l_s"], ".3f"), _f(r["ela_s"], ".3f"),
          "-" if r["ela_pruned"] is None else f"{r['ela_pruned']}/{r['ela_layers']}",
          _f(r["mrla_l_reduction_pct"], ".1f") + ("%" if r["mrla_l_reduction_pct"] is not None else ""),
          _f(r["ela_reduction_pct"], ".1f") + ("%" if r["ela_reduction_pct"] is not None else "")]
         for r in rows])
    methods = sorted({(r.get("ela") or {}).get("choice", "") for r in records or [] if r.get("family") == "ela"})
    reduced = sorted({json.dumps(r.get("reduced")) for r in records or [] if r.get("reduced")})
    notes = [
        "# ELA Fig. 4 / Table 3 style: training time per CIFAR-size epoch",
        "",
        f"Seconds per epoch of {EPOCH_IMAGES:,} images of 32x32, EXTRAPOLATED from the median steady-state "
        "training throughput (experiments/bench.py; no evaluation). Reduction = 100 x (t_MRLA-B - t) / t_MRLA-B: "
        "positive = less time than MRLA-B. The papers' claim (ELA Fig. 4, CIFAR): MRLA-L 10-15% and ELA 30-35% "
        "less than MRLA-B; ELA Table 3 (ImageNet): ELA -29.7% (ResNet-50), -32.6% (ResNet-101).",
        "",
        body,
        "",
    ]
    if methods:
        notes += ["ELA pruned set: " + " / ".join(m for m in methods if m), ""]
    if reduced:
        notes += ["Reduced settings (not the full bench): " + "; ".join(reduced), ""]
    return "\n".join(notes)


def fig4_panels(rows: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """``fig4_rows`` as ``analysis.figures.epoch_time``'s panels: one per (machine, pipeline,
    batch), a bar per depth and method that has a time."""
    panels: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        bars = panels.setdefault(f"{r['machine']}\n{r['variant']}, batch {r['batch_size']}", [])
        bars += [{"depth": r["depth"], "model": label, "seconds": r[f"{f}_s"], "hardware": r["machine"]}
                 for f, label in FIG4.items() if r[f"{f}_s"] is not None]
    return {title: pd.DataFrame(bars) for title, bars in panels.items()}


def fig4_figure(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """``ela_fig4.png`` and ``ela_fig4.pdf`` in ``folder`` (``analysis.figures.epoch_time``)."""
    import matplotlib

    matplotlib.use("Agg")
    from .figures import epoch_time, save

    fig = epoch_time(None, panels=fig4_panels(rows), reduction=True,
                     title=f"ELA Fig. 4: training time per epoch ({EPOCH_IMAGES:,} images, extrapolated)")
    return save(fig, folder, "ela_fig4")


# =========================================================================== targets and summary
@dataclass
class Target:
    key: str
    description: str
    status: str  # PASS / FAIL / NOT MEASURED
    detail: str


def _pairs(records: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """(reference, fast) records of the same model, machine and batch size."""
    idx = {(r["model"], _machine(r), r["batch_size"], r["variant"]): r for r in records}
    out = []
    for (model, machine, bs, variant), fast in idx.items():
        if fast["pipeline"] != "fast":
            continue
        ref = idx.get((model, machine, bs, "reference"))
        if ref is not None:
            out.append((ref, fast))
    return out


def evaluate_targets(records: list[dict[str, Any]]) -> list[Target]:
    """The issue's three GPU targets over ``records`` (module docstring); information measured
    elsewhere (CPU, another GPU, another batch size) goes into the detail of NOT MEASURED."""
    on = [r for r in records if _on_target_gpu(r) and r["batch_size"] == 128]
    other = [r for r in records if r not in on]
    return [_epoch_target(on, other), _ratio_target(on, other), _ela_target(on, other)]


def _epoch_target(on: list[dict[str, Any]], other: list[dict[str, Any]]) -> Target:
    """(1) MRLA-B-56 epoch on the fast path."""
    hits = [r for r in on if r["model"] == "mrla_b_resnet56" and r["pipeline"] == "fast"]
    if hits:
        best = min(hits, key=lambda r: r["epoch_time_s"])
        ok = best["epoch_time_s"] <= EPOCH_TARGET_S
        detail = "; ".join(f"{_machine(r)} {r['variant']}: {r['epoch_time_s']:.3f} s" for r in hits)
        return Target("epoch", TARGETS["epoch"], "PASS" if ok else "FAIL",
                      f"best {best['epoch_time_s']:.3f} s ({best['variant']}) vs <= {EPOCH_TARGET_S} s; {detail}")
    info = [f"{_machine(r)} {r['variant']} batch {r['batch_size']}: {r['epoch_time_s']:.1f} s"
            for r in other if r["model"] == "mrla_b_resnet56" and r["pipeline"] == "fast"]
    return Target("epoch", TARGETS["epoch"], "NOT MEASURED",
                  "no fast-path MRLA-B ResNet-56 record at batch 128 on an H100/H200"
                  + (f" (elsewhere: {'; '.join(info)})" if info else ""))


def _ratios(recs: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    return [(f["model"], f["variant"], f["images_per_s"] / ref["images_per_s"]) for ref, f in _pairs(recs)]


def _ratio_target(on: list[dict[str, Any]], other: list[dict[str, Any]]) -> Target:
    """(2) fast / reference throughput."""
    rs = _ratios(on)
    if rs:
        bad = [f"{m} {v} {x:.2f}x" for m, v, x in rs if x < RATIO_TARGET]
        vals = [x for _, _, x in rs]
        return Target("ratio", TARGETS["ratio"], "FAIL" if bad else "PASS",
                      f"{len(rs)} pairs, ratio min {min(vals):.2f}x / median {statistics.median(vals):.2f}x / "
                      f"max {max(vals):.2f}x" + (f"; below {RATIO_TARGET}x: {', '.join(bad)}" if bad else ""))
    vals = [x for _, _, x in _ratios(other)]
    return Target("ratio", TARGETS["ratio"], "NOT MEASURED",
                  "no reference+fast pair at batch 128 on an H100/H200"
                  + (f" (elsewhere, {len(vals)} pairs: median {statistics.median(vals):.2f}x, range "
                     f"{min(vals):.2f}-{max(vals):.2f}x)" if vals else ""))


def _ela_rows(recs: list[dict[str, Any]], fast_only: bool = True) -> list[dict[str, Any]]:
    return [r for r in fig4_rows(recs) if r["ela_reduction_pct"] is not None
            and (not fast_only or r["variant"].startswith("fast"))]


def _ela_target(on: list[dict[str, Any]], other: list[dict[str, Any]]) -> Target:
    """(3) ELA vs MRLA-B."""
    rows = _ela_rows(on)
    if rows:
        bad = [f"depth {r['depth']} {r['variant']}: {r['ela_reduction_pct']:.1f}%" for r in rows
               if r["ela_reduction_pct"] < ELA_TARGET_PCT]
        txt = ", ".join(f"depth {r['depth']} {r['variant']}: {r['ela_reduction_pct']:.1f}% "
                        f"({r['ela_pruned']}/{r['ela_layers']} layers pruned)" for r in rows)
        return Target("ela", TARGETS["ela"], "FAIL" if bad else "PASS",
                      txt + ("; measured finding: ELA is NOT 30% faster than MRLA-B there" if bad else ""))
    info = [f"{r['machine']} {r['variant']} bs {r['batch_size']} depth {r['depth']}: "
            f"{r['ela_reduction_pct']:.1f}% ({r['ela_pruned']}/{r['ela_layers']} pruned)"
            for r in _ela_rows(other, fast_only=False)]
    return Target("ela", TARGETS["ela"], "NOT MEASURED",
                  "no MRLA-B + ELA fast-path records at batch 128 on an H100/H200"
                  + (f" (elsewhere: {'; '.join(info)})" if info else ""))


def _records_table(records: list[dict[str, Any]]) -> str:
    fast_over = {(f["model"], _machine(f), f["batch_size"], f["variant"]): f["images_per_s"] / ref["images_per_s"]
                 for ref, f in _pairs(records)}
    rows = []
    for r in sorted(records, key=lambda r: (_machine(r), r["batch_size"], r["depth"], r["model"], r["variant"])):
        ratio = fast_over.get((r["model"], _machine(r), r["batch_size"], r["variant"]))
        load = (r.get("environment") or {}).get("loadavg_before")
        rows.append([r["model"], r["variant"], _machine(r), str(r["batch_size"]),
                     f"{r['timing']['warmup_steps']}+{r['timing']['repeats']}x{r['timing']['measured_steps']}",
                     f"{r['images_per_s']:.1f}", f"{r['epoch_time_s']:.1f}", f"{r['peak_memory_mib']:.0f}",
                     "-" if ratio is None else f"{ratio:.2f}x",
                     "-" if not load else f"{load[0]:.2f}"])
    return _md_table(["model", "pipeline", "machine", "batch", "steps (warm-up+repeats x steps)", "images/s",
                      "s/epoch (extrap.)", "peak MiB", "fast/reference", "load avg (1 min)"], rows)


def summary_markdown(records: list[dict[str, Any]], targets: list[Target]) -> str:
    kinds = sorted({r["memory_kind"] for r in records})
    lines = ["# Training-throughput benchmark", "",
             f"Per-epoch time = {EPOCH_IMAGES:,} images / median steady-state throughput (extrapolated). "
             "Peak memory: " + " | ".join(kinds) + ".", "",
             _records_table(records), ""]
    if any(r["device"] == "cpu" for r in records):
        lines += ["CPU records: a fast/reference ratio pairs the two records as found in this folder, possibly "
                  "measured at different times; on a shared CPU the same measurement can vary several-fold with "
                  "the load of other jobs (load average column), so CPU ratios near 1 mean 'no difference "
                  "measurable here'. The GPU targets below need GPU records.", ""]
    lines += ["## Targets", ""]
    lines += [f"- **{t.status}** {t.description}: {t.detail}" for t in targets]
    lines.append("")
    return "\n".join(lines)


# =========================================================================== writing and printing
def write_reports(folder: Path) -> tuple[list[dict[str, Any]], list[Target]]:
    """summary.md, ela_fig4.md and ela_fig4.png/.pdf from every record in ``folder``."""
    folder = Path(folder)
    records = load_records(folder)
    targets = evaluate_targets(records)
    if not records:
        return records, targets
    atomic_write_text(folder / "summary.md", summary_markdown(records, targets))
    rows = fig4_rows(records)
    if rows:
        atomic_write_text(folder / "ela_fig4.md", fig4_markdown(rows, records))
        fig4_figure(rows, folder)
    return records, targets


def _print_records(folder: Path, records: list[dict[str, Any]], seconds: float) -> None:
    print(f"\n[bench] {len(records)} records in {folder}/ (summary.md, ela_fig4.md, ela_fig4.png, ela_fig4.pdf); "
          f"{seconds:.0f} s")
    for ref, f in _pairs(records):
        print(f"  fast/reference {f['model']:18s} {_machine(f)} bs {f['batch_size']}: "
              f"{f['images_per_s'] / ref['images_per_s']:.2f}x")
    for r in fig4_rows(records):
        print(f"  ELA Fig.4 depth {r['depth']:3d} {r['variant']:14s} bs {r['batch_size']}: MRLA-B "
              f"{_f(r['mrla_b_s'], '.2f')} s, MRLA-L {_f(r['mrla_l_s'], '.2f')} s "
              f"({_f(r['mrla_l_reduction_pct'], '.1f')}%), ELA {_f(r['ela_s'], '.2f')} s "
              f"({_f(r['ela_reduction_pct'], '.1f')}% less than MRLA-B)")


def _print_targets(targets: list[Target]) -> None:
    print("\ntargets:")
    for t in targets:
        print(f"  {t.status:12s} {t.description}\n               {t.detail}")


def report(folder: Path, *, started: float | None = None) -> tuple[list[dict[str, Any]], list[Target]]:
    """``write_reports`` and the console summary ``./reproduce.sh bench`` prints after measuring
    (``started``: the ``time.perf_counter()`` the elapsed time counts from)."""
    t0 = time.perf_counter() if started is None else started
    records, targets = write_reports(folder)
    if records:
        _print_records(Path(folder), records, time.perf_counter() - t0)
    _print_targets(targets)
    return records, targets


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.bench_report FOLDER...``: rewrite the reports from the records there."""
    p = argparse.ArgumentParser(prog="python -m analysis.bench_report",
                                description="summary.md, ela_fig4.md and ela_fig4.png/.pdf from the benchmark's "
                                            "records in each FOLDER (e.g. results/bench/<gpu or host>)")
    p.add_argument("folders", nargs="+", type=Path)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    for folder in args.folders:
        report(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
