"""The benchmark record of a smoke-table launch: wall time and every row's final top-1.

    /usr/bin/time -f %e ./reproduce.sh table1 --profile smoke --out-root /tmp/t1   # prints the wall seconds
    python -m experiments.bench.smoke_table --table ela.table1 --out-root /tmp/t1 --wall-s 512 \\
        --out results/bench/vm/smoke_table1.json

What the first-run issue asks to be measured and kept (README states the same figures): the
wall time of ``./reproduce.sh <table> --profile smoke`` on a fresh clone with the environment
built, and the range of the final test top-1 over its runs, ResNet-20 rows apart. The record
(JSON, written atomically, with a Markdown twin) holds the machine, the smoke scale, one entry
per planned run (model, top-1, seconds) and the summary.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ..records import atomic_write_json, read_json
from ..tables import get_table

__all__ = ["summarize", "write", "main"]


def summarize(table_id: str, out_root: str | Path, wall_s: float | None) -> dict[str, Any]:
    """The record of ``table_id``'s smoke launch under ``out_root`` (runs without a record: missing)."""
    import os

    import torch

    from ..records import environment
    from .machine import cpu_model, loadavg

    t = get_table(table_id)
    runs = []
    for cfg in t.runs("smoke"):
        rec_path = Path(out_root) / cfg.run_name / "record.json"
        rec = read_json(rec_path) if rec_path.is_file() else None
        top1 = rec["final"]["test_top1"] if rec and rec.get("status") == "done" else None
        runs.append({"run": cfg.run_name, "model": cfg.model, "status": rec.get("status") if rec else "missing",
                     "top1": top1, "train_time_s": rec.get("train_time_s") if rec else None})
    done = [r for r in runs if r["top1"] is not None]
    shallow = [r["top1"] for r in done if r["model"].endswith("resnet20")]
    others = [r["top1"] for r in done if not r["model"].endswith("resnet20")]
    first = t.runs("smoke")[0]
    return {
        "table": table_id, "profile": "smoke", "wall_s": wall_s, "machine": {**environment(torch.device("cpu")), "cpu_model": cpu_model(),
                                                                "cpu_count": os.cpu_count(), "loadavg": loadavg()},
        "scale": {k: v for k, v in dataclasses.asdict(first).items()
                  if k in ("dataset", "epochs", "train_subset", "test_subset", "batch_size", "lr", "augment",
                           "residual_init")},
        "runs": runs,
        "summary": {"runs": len(runs), "done": len(done),
                    "top1_min": min((r["top1"] for r in done), default=None),
                    "top1_max": max((r["top1"] for r in done), default=None),
                    "resnet20_rows_min": min(shallow, default=None),
                    "deeper_rows_min": min(others, default=None)},
    }


def write(record: dict[str, Any], out: str | Path) -> Path:
    """``out`` (JSON) and its Markdown twin (``.md``)."""
    out = Path(out)
    atomic_write_json(out, record)
    s = record["summary"]
    wall = f"{record['wall_s'] / 60:.1f} min" if record["wall_s"] else "not measured"
    lines = [f"# {record['table']} --profile smoke: {s['done']}/{s['runs']} runs, wall {wall}", "",
             f"Machine: {json.dumps(record['machine'], sort_keys=True)}", "",
             f"Scale: {json.dumps(record['scale'], sort_keys=True)}", "",
             f"Final top-1: {s['top1_min']}-{s['top1_max']}% (ResNet-20 rows >= {s['resnet20_rows_min']}%, "
             f"deeper rows >= {s['deeper_rows_min']}%)", "", "| run | top-1 (%) | train s |", "|---|---|---|"]
    lines += [f"| {r['run']} | {r['top1'] if r['top1'] is not None else r['status']} | "
              f"{'' if r['train_time_s'] is None else round(r['train_time_s'])} |" for r in record["runs"]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.smoke_table", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default="ela.table1")
    p.add_argument("--out-root", required=True, help="where the smoke launch wrote its runs")
    p.add_argument("--wall-s", type=float, default=None, help="the launch's measured wall time in seconds")
    p.add_argument("--out", required=True, help="the JSON record to write (a .md twin beside it)")
    args = p.parse_args(argv)
    path = write(summarize(args.table, args.out_root, args.wall_s), args.out)
    print(path.with_suffix(".md").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
