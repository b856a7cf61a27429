"""A handful of real, tiny training runs whose records exercise every analysis: the tests'
and notebooks' fixture, and a quick demo on a machine without the papers' datasets.

    python -m experiments.smoke_runs /tmp/demo-runs      # about 15 s on one CPU core
    REPRO_RUNS=/tmp/demo-runs ./reproduce.sh report --out /tmp/report.md

Each run is an ordinary ``experiments.run`` run at the smoke scale (records labelled
smoke) on torchvision's FakeData: a few steps of ResNet-20 variants (plain, SE, DIA-LSTM,
MRLA-B, MRLA-L, DLA-B, ELA with its pruning windows) and three without skip connections
(DIA Fig. 14). Their configs carry the settings a table's smoke run of a CIFAR-style row
carries (``experiments.recipes.SMOKE_LEARNING``: no augmentation, the scaled residual
start), so the analyses see what they see on ``./reproduce.sh <table> --profile smoke``
runs. Relaunching finds the finished runs and returns at once.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["SMOKE_SPECS", "make_smoke_runs"]

SMOKE_SPECS: tuple[dict[str, Any], ...] = (
    {"model": "resnet20", "seed": 0},
    {"model": "resnet20", "seed": 1},
    {"model": "se_resnet20"},
    {"model": "dia_resnet20"},
    {"model": "mrla_b_resnet20"},
    {"model": "mrla_l_resnet20"},
    {"model": "dla_b_resnet20"},
    {"model": "ela_resnet20", "epochs": 3},
    {"model": "resnet20", "model_kwargs": {"skip": False}},
    {"model": "se_resnet20", "model_kwargs": {"skip": False}},
    {"model": "dia_resnet20", "model_kwargs": {"skip": False}},
)


def make_smoke_runs(out_root: str | Path, *, specs: Sequence[dict[str, Any]] = SMOKE_SPECS, dataset: str = "fake",
                    data_root: str = "data", epochs: int = 2, train_subset: int = 32, test_subset: int = 16,
                    batch_size: int = 8, threads: int | None = 1, quiet: bool = True) -> list[Path]:
    """Train ``specs`` (RunConfig fields) at the smoke scale into ``out_root``; returns the
    record paths. Finished runs are not retrained.

    ``threads``: torch CPU threads while training (1 by default: on tiny batches more
    threads only add overhead, and on a busy machine oversubscribed threads make a step
    ~50 times slower); None keeps the current setting.
    """
    import torch

    from .config import RunConfig
    from .recipes import SMOKE_LEARNING
    from .run import RECORD, run

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    paths = []
    try:
        for spec in specs:
            fields = {"dataset": dataset, "data_root": data_root, "scale": "smoke", "epochs": epochs,
                      "augment": SMOKE_LEARNING.augment, "residual_init": SMOKE_LEARNING.residual_init,
                      "train_subset": train_subset, "test_subset": test_subset, "batch_size": batch_size,
                      "out_root": str(out_root), "workers": 0, "progress": False, "device": "cpu", **spec}
            cfg = RunConfig(**fields)
            sink = io.StringIO() if quiet else sys.stdout
            with contextlib.redirect_stdout(sink):
                run(cfg, handle_signals=False)
            paths.append(cfg.run_dir / RECORD)
    finally:
        torch.set_num_threads(before)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.smoke_runs", description=__doc__.splitlines()[0])
    p.add_argument("out_root", help="folder for the run folders")
    p.add_argument("--dataset", default="fake", help="fake (default) or fashionmnist (needs --data-root)")
    p.add_argument("--data-root", default="data")
    args = p.parse_args(argv)
    for path in make_smoke_runs(args.out_root, dataset=args.dataset, data_root=args.data_root, quiet=False):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
