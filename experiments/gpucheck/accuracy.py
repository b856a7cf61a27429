"""Part 4 of the GPU check (when time remains): short real training runs on Fashion-MNIST.

Two questions, each answered by complete runs of ``experiments.run.run`` (the same engine,
records and evaluation as every table run; the full 60,000/10,000 images; the CIFAR recipe
scaled to ``epochs``):

* **Does bf16 autocast change accuracy?** ResNet-20, fp32 vs bf16 autocast, same seeds.
* **MRLA-B vs ELA** at the same short schedule (ELA's three KL windows fitted to the run by
  ``models.ela``; its pruning decisions are in each record).

Runs are interleaved by seed (seed 0 of every arm, then seed 1, ...) so that a time budget
cut leaves balanced arms. The records go to ``<out>/runs/``; ``analysis.gpucheck_report``
turns them into means, standard deviations and Welch's t-tests. These are short schedules
labelled as such (``epochs`` in the record): they say whether a path changes what training
reaches, not what the papers' 180-epoch runs reach.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["ARMS", "run_arms"]

#: comparison -> arms (label, model, bf16 autocast)
ARMS = {
    "fp32 vs bf16 (ResNet-20)": (("fp32", "resnet20", False), ("bf16", "resnet20", True)),
    "MRLA-B vs ELA (ResNet-20)": (("mrla_b", "mrla_b_resnet20", True), ("ela", "ela_resnet20", True)),
}


def run_arms(*, device: torch.device, data_root: str, out_dir: Path, seeds: int, epochs: int,
             train_subset: int | None, test_subset: int | None, deadline: float | None = None,
             log=print) -> list[dict[str, Any]]:
    """One row per planned run: comparison, arm, seed, and the run's final top-1 (or why not)."""
    from ..config import RunConfig
    from ..run import run

    rows: list[dict[str, Any]] = []
    last_seconds: dict[str, float] = {}
    for comparison, arms in ARMS.items():
        for seed in range(seeds):
            for label, model, amp in arms:
                row = {"comparison": comparison, "arm": label, "model": model, "seed": seed, "amp": amp,
                       "epochs": epochs}
                need = last_seconds.get(model, 0.0)
                if deadline is not None and time.monotonic() + need > deadline:
                    rows.append({**row, "skipped": "time budget spent"})
                    continue
                cfg = RunConfig(model=model, dataset="fashionmnist", seed=seed, epochs=epochs, amp=amp,
                                train_subset=train_subset, test_subset=test_subset, data_root=data_root,
                                out_root=str(out_dir / "runs"), device=device.type, progress=False, workers=0)
                t0 = time.perf_counter()
                rec = run(cfg, handle_signals=False)
                last_seconds[model] = time.perf_counter() - t0
                final = rec.get("final") or {}
                rows.append({**row, "status": rec["status"], "test_top1": final.get("test_top1"),
                             "seconds": last_seconds[model], "record": str(cfg.run_dir / "record.json")})
                log(f"  {comparison} / {label} seed {seed}: top-1 {final.get('test_top1')} "
                    f"({rec['status']}, {last_seconds[model]:.0f}s)")
    return rows
