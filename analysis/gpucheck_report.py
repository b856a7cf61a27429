"""The GPU check's summary (``gpucheck.md``) from its records: path checks, the benchmark's
targets (``analysis.bench_report``), packing speed-ups, and the short training runs with means,
standard deviations and Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``).

    python -m analysis.gpucheck_report results/bench/nvidia-h200
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from experiments.records import atomic_write_text

from .bench_report import write_reports

__all__ = ["load", "paths_markdown", "profile_markdown", "packing_markdown", "accuracy_rows", "accuracy_markdown", "summary_markdown",
           "report", "main"]


def load(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the checks of ``folder`` merged, its packing records). Each check writes its own
    ``gpucheck-<start time>.json``; the merged record takes each part from the latest check that
    has a result for it (not skipped), the hardware from the latest check, and lists them all."""
    folder = Path(folder)
    checks = [json.loads(p.read_text()) for p in sorted(folder.glob("gpucheck-*.json"))]
    if not checks:
        raise FileNotFoundError(f"no gpucheck-*.json in {folder}: run `./reproduce.sh gpucheck` first")
    merged: dict[str, Any] = {**checks[-1], "parts": {}, "checks": []}
    for c in checks:
        merged["checks"].append({"started": c["started"], "elapsed_s": c.get("elapsed_s"), "parts": list(c["parts"]),
                                 "command": c.get("command"), "budget_s": c["budget_s"]})
        for name, part in c["parts"].items():
            if "result" in part or name not in merged["parts"]:
                merged["parts"][name] = {**part, "started": c["started"]}
    packing = [json.loads(p.read_text()) for p in sorted(folder.glob("packing.*.json"))]
    return merged, packing


def _verdict(ok: Any) -> str:
    return {True: "ok", False: "FAIL", None: "skipped"}[ok]


def _result(rec: dict[str, Any], part: str) -> Any:
    p = rec.get("parts", {}).get(part)
    if p is None:
        return None
    return p.get("result", p)


def paths_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | path | first-step rel. diff (tol) | mean rel. drift (tol) | s | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if "max_abs_diff" in r:
            lines.append(f"| (data) | {r['path']} | max abs diff {r['max_abs_diff']:.3g} over {r['images']} images "
                         f"(tol {r['tolerance']:g}) | - | - | {_verdict(r['ok'])} |")
        elif "first_rel_diff" in r:
            lines.append(f"| {r['model']} | {r['path']} | {r['first_rel_diff']:.2e} ({r['tolerance_first']:.0e}) | "
                         f"{r['mean_rel_drift']:.2e} ({r['tolerance_drift']:.0e}) | {r['seconds']:.1f} | "
                         f"{_verdict(r['ok'])} |")
        else:
            why = r.get("error") or r.get("skipped") or ""
            lines.append(f"| {r.get('model', '')} | {r.get('path', '')} | {why} | - | - | {_verdict(r.get('ok'))} |")
    return "\n".join(lines)


def packing_markdown(packing: list[dict[str, Any]]) -> str:
    """One line per (model, k) of the packing records."""
    lines = ["| model | batch | k | aggregate images/s | speed-up vs k=1 | per process |", "|---|---|---|---|---|---|"]
    for p in packing:
        one = (p["by_k"].get("1") or {}).get("images_per_s")
        for d in p.get("detail", []):
            if "images_per_s" not in d:
                lines.append(f"| {p['model']} | {p['batch_size']} | {d['k']} | {d.get('skipped') or d.get('error')} "
                             f"| - | - |")
                continue
            up = f"{d['images_per_s'] / one:.2f}x" if one else "-"
            per = ", ".join(f"{v:,.0f}" for v in d["per_process_images_per_s"])
            lines.append(f"| {p['model']} | {p['batch_size']} | {d['k']} | {d['images_per_s']:,.0f} | {up} | {per} |")
    best = [f"{p['model']}: best k = {p['best_k']}" for p in packing if p.get("best_k")]
    return "\n".join(lines) + ("\n\n" + "; ".join(best) + " (the smallest k within 5% of the highest aggregate)"
                               if best else "")


def accuracy_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per comparison: each arm's top-1 values, mean, std, and Welch's t-test between the arms."""
    from scipy import stats

    out = []
    for comparison in dict.fromkeys(r["comparison"] for r in rows):
        arms: dict[str, list[float]] = {}
        for r in rows:
            if r["comparison"] == comparison and r.get("test_top1") is not None:
                arms.setdefault(r["arm"], []).append(float(r["test_top1"]))
        names = list(arms)
        row: dict[str, Any] = {"comparison": comparison, "arms": arms,
                               "epochs": next(r["epochs"] for r in rows if r["comparison"] == comparison)}
        for a, v in arms.items():
            row[f"{a}_mean"] = statistics.fmean(v)
            row[f"{a}_std"] = statistics.stdev(v) if len(v) > 1 else None
        if len(names) == 2 and all(len(arms[a]) > 1 for a in names):
            t = stats.ttest_ind(arms[names[1]], arms[names[0]], equal_var=False)
            row.update(t=float(t.statistic), p=float(t.pvalue))
        out.append(row)
    return out


def accuracy_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| comparison | epochs | arm | n | top-1 mean | std | values | Welch p |", "|---|---|---|---|---|---|---|---|"]
    for r in accuracy_rows(rows):
        for i, (arm, v) in enumerate(r["arms"].items()):
            std = r[f"{arm}_std"]
            p = f"{r['p']:.3f}" if i == 1 and r.get("p") is not None else ""
            lines.append(f"| {r['comparison'] if i == 0 else ''} | {r['epochs']} | {arm} | {len(v)} | "
                         f"{r[f'{arm}_mean']:.2f} | {'-' if std is None else f'{std:.2f}'} | "
                         f"{', '.join(f'{x:.2f}' for x in v)} | {p} |")
    skipped = sum(1 for r in rows if r.get("skipped"))
    return "\n".join(lines) + (f"\n\n{skipped} planned runs skipped (time budget spent)." if skipped else "")


def profile_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | wall ms/step | kernel ms/step | GPU busy | kernels/step | images/s | top host op | "
             "top kernel |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        busy = r.get("gpu_busy_fraction")
        host = r["top_host_ops"][0] if r.get("top_host_ops") else {}
        kern = (r.get("top_kernels") or [{}])[0]
        lines.append(f"| {r['model']} | {r['wall_ms_per_step']:.1f} | {r['kernel_ms_per_step'] or 0:.1f} | "
                     f"{'-' if busy is None else f'{busy:.0%}'} | {r['kernels_per_step'] or 0:.0f} | "
                     f"{r['images_per_s']:,.0f} | {host.get('op', '-')} ({host.get('self_cpu_ms_per_step', 0):.1f} ms) | "
                     f"{kern.get('kernel', 'not recorded')[:60]} |")
    return "\n".join(lines)


def summary_markdown(rec: dict[str, Any], packing: list[dict[str, Any]], targets: list[Any]) -> str:
    hw = rec["hardware"]
    head = [f"# GPU check: {hw.get('gpu_name') or 'CPU (reduced sizes)'}", "",
            f"torch {hw['torch']}, torchvision {hw['torchvision']}, CUDA {hw.get('cuda') or '-'}, "
            f"cuDNN {hw.get('cudnn') or '-'}, Python {hw['python']}, {hw['cpus']} CPUs.", "", "Checks:"]
    for c in rec.get("checks", []):
        head.append(f"- {c['started']}: parts {', '.join(c['parts'])}; {c.get('elapsed_s') or 0:.0f} s of a "
                    f"{c['budget_s']:.0f} s budget; `{' '.join(c.get('command') or [])}`")
    for name, p in rec.get("parts", {}).items():
        if "error" in p or "skipped" in p:
            head.append(f"- part `{name}`: {p.get('error') or p.get('skipped')}")
    prof = _result(rec, "profile")
    body = ["## 1. CUDA paths against the CPU fp32 reference (same initial weights, same batches)", "",
            paths_markdown(_result(rec, "paths") or []), "",
            "## 2. Where a fast-path step's time goes (torch.profiler, batch 128)", "",
            profile_markdown(prof) if isinstance(prof, list) else "(not run)", "",
            "## 3. Speed targets (`experiments.bench`; details in summary.md)", ""]
    body += [f"- **{t.status}** {t.description}: {t.detail}" for t in targets] or ["(not measured)"]
    body += ["", "## 4. Several runs sharing the GPU (packing)", "", packing_markdown(packing) if packing else
             "(not measured)", "", "## 5. Short Fashion-MNIST runs (complete runs of the training engine)", "",
             accuracy_markdown(_result(rec, "accuracy")) if isinstance(_result(rec, "accuracy"), list)
             else "(not run)", ""]
    return "\n".join(head + [""] + body)


def report(folder: Path) -> str:
    """Write ``gpucheck.md`` (and the bench reports) in ``folder``; returns the markdown."""
    folder = Path(folder)
    rec, packing = load(folder)
    _, targets = write_reports(folder)
    text = summary_markdown(rec, packing, targets)
    atomic_write_text(folder / "gpucheck.md", text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m analysis.gpucheck_report FOLDER (with gpucheck-*.json)", file=sys.stderr)
        return 2
    print(report(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
