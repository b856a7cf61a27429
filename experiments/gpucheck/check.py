"""The command: parts in order of importance, each within what is left of one time budget."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from models import ConfigError

from ..records import ROOT, atomic_write_json
from .paths import PATHS, check_paths, hardware

__all__ = ["Sizes", "GPU_SIZES", "CPU_SIZES", "parser", "run", "Outcome", "PARTS"]

PARTS = ("paths", "profile", "targets", "packing", "accuracy")


@dataclass(frozen=True)
class Sizes:
    """How much each part does: the full check on a GPU, a reduced one on the CPU (tests)."""

    path_models: tuple[str, ...]
    path_steps: int
    path_batch: int
    bench_models: tuple[str, ...]
    bench_argv: tuple[str, ...]  # sizes passed to experiments.bench
    bench_compile_model: str | None
    profile_models: tuple[str, ...]
    profile_steps: int
    packing_models: tuple[str, ...]
    packing_ks: tuple[int, ...]
    packing_seconds: float
    seeds: int
    epochs: int
    train_subset: int | None
    test_subset: int | None


GPU_SIZES = Sizes(
    path_models=("mrla_b_resnet20", "mrla_l_resnet20", "dla_b_resnet20", "dia_resnet20"), path_steps=12,
    path_batch=128, bench_models=("mrla_b_resnet56", "ela_resnet56", "resnet56"),
    # 3 windows of 50 steps after 10: steady state is reached within a few steps (the H200's three
    # 130-step windows of MRLA-B-56 agreed within 6%), and the first check spent 300 s here
    bench_argv=("--warmup", "10", "--steps", "50"),
    bench_compile_model="mrla_b_resnet56", profile_models=("resnet56", "mrla_b_resnet56"), profile_steps=20,
    packing_models=("resnet20", "mrla_b_resnet56"), packing_ks=(1, 2, 4, 8),
    packing_seconds=5.0, seeds=3, epochs=4, train_subset=None, test_subset=None)
CPU_SIZES = Sizes(
    path_models=("mrla_b_resnet20",), path_steps=3, path_batch=16, bench_models=("mrla_b_resnet20", "ela_resnet20"),
    bench_argv=("--batch-size", "16", "--warmup", "1", "--steps", "2", "--repeats", "1", "--threads", "1"),
    bench_compile_model=None, profile_models=("resnet20",), profile_steps=2, packing_models=("resnet20",), packing_ks=(1, 2), packing_seconds=0.5, seeds=1,
    epochs=3, train_subset=128, test_subset=64)


@dataclass
class Outcome:
    """What ``run`` did; ``folder`` holds its gpucheck-<time>.json (one per check, so a later check
    of some parts keeps the earlier ones) and the bench records, for the reports."""

    rc: int
    folder: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="./reproduce.sh gpucheck",
        description="One prepared check for a lent GPU: every CUDA path against the fp32 reference, the speed "
                    "targets, packing of several runs per GPU, and (time permitting) short fp32-vs-bf16 and "
                    "MRLA-B-vs-ELA training runs. Records under results/bench/<gpu name>/.",
        epilog="on a GPU machine: REPRO_PYTHON=python3 ./reproduce.sh gpucheck --budget 420   |   "
               "CPU (reduced sizes, as the tests run it): ./reproduce.sh gpucheck --device cpu")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--budget", type=float, default=420.0,
                   help="seconds for the whole check (default 420); parts that would not fit are recorded as skipped")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which parts, in this order")
    p.add_argument("--data-root", default=str(ROOT / "data"))
    p.add_argument("--out", default=str(ROOT / "results" / "bench"), help="records go to OUT/<tag>/")
    p.add_argument("--runs-out", default=str(ROOT / "results" / "gpucheck"),
                   help="the accuracy part's training runs go to RUNS_OUT/<tag>/runs/")
    p.add_argument("--tag", help="folder name instead of the GPU name / hostname")
    p.add_argument("--packing-models", nargs="+", help="models of the packing part (default: the sizes')")
    p.add_argument("--packing-ks", nargs="+", type=int, help="k values of the packing part (default 1 2 4 8 on a GPU)")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="leave out the torch.compile paths (they compile for tens of seconds)")
    return p


def _device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but CUDA is not available here; use --device cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


class _Check:
    """State shared by the parts: sizes, folders, the deadline, the record written after each part."""

    def __init__(self, args: argparse.Namespace, argv: list[str], device: torch.device):
        from ..bench import host_tag

        self.args, self.device = args, device
        self.sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
        self.tag = args.tag or host_tag(device.type)
        self.folder = Path(args.out) / self.tag
        self.t0 = time.monotonic()
        self.stamp = time.strftime("%Y%m%dT%H%M%S")
        self.deadline = self.t0 + args.budget
        self.record: dict[str, Any] = {
            "kind": "gpucheck", "hardware": hardware(device), "budget_s": args.budget,
            "sizes": dataclasses.asdict(self.sizes), "compile": args.compile, "parts": {},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": ["./reproduce.sh", "gpucheck", *argv]}

    def log(self, msg: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[gpucheck {elapsed:5.0f}s | budget left {max(0.0, self.deadline - time.monotonic()):4.0f}s] {msg}",
              flush=True)

    def save(self) -> Path:
        path = self.folder / f"gpucheck-{self.stamp}.json"
        self.record["elapsed_s"] = time.monotonic() - self.t0
        atomic_write_json(path, self.record)
        return path


def _part_paths(c: _Check) -> Any:
    s = c.sizes
    paths = tuple(p for p in PATHS if c.args.compile or not p.compile)
    out = []
    for i, model in enumerate(s.path_models):
        chosen = paths if i == 0 else tuple(p for p in paths if not p.compile)  # compile once: it is slow
        out.extend(check_paths([model], device=c.device, data_root=c.args.data_root, steps=s.path_steps,
                               batch_size=s.path_batch, paths=chosen, deadline=c.deadline, log=print,
                               check_data=i == 0))
    return out


def _part_profile(c: _Check) -> Any:
    from .profile import profile_step

    s = c.sizes
    out = []
    for m in s.profile_models:
        r = profile_step(m, device=c.device, data_root=c.args.data_root, batch_size=128 if c.device.type == "cuda"
                         else s.path_batch, steps=s.profile_steps)
        busy = r["gpu_busy_fraction"]
        print(f"  profile {m}: {r['wall_ms_per_step']:.1f} ms/step wall, kernels "
              f"{r['kernel_ms_per_step'] or 0:.1f} ms/step ({r['kernels_per_step'] or 0:.0f} launches), GPU busy "
              f"{'-' if busy is None else f'{busy:.0%}'}; top host op {r['top_host_ops'][0]['op']}", flush=True)
        out.append(r)
    return out


def _part_targets(c: _Check) -> Any:
    from ..bench import run as bench_run

    s = c.sizes
    common = ["--device", c.device.type, "--out", c.args.out, "--tag", c.tag, "--data-root", c.args.data_root,
              "--dataset", "fashionmnist", "--no-summary", *s.bench_argv]
    calls = [["--models", m, "--pipelines", "fast", "reference"] for m in s.bench_models]
    if s.bench_compile_model and c.args.compile:
        calls.append(["--models", s.bench_compile_model, "--pipelines", "fast", "--compile"])
    done = []
    for argv in calls:
        if time.monotonic() > c.deadline:
            done.append({"argv": argv, "skipped": "time budget spent"})
            continue
        rc = bench_run([*argv, *common]).rc
        done.append({"argv": argv, "rc": rc})
    return done


def _part_packing(c: _Check) -> Any:
    from .packing import measure_packing

    s = c.sizes
    models, ks = c.args.packing_models or s.packing_models, tuple(c.args.packing_ks or s.packing_ks)
    return [measure_packing(m, ks=ks, batch_size=s.path_batch if c.device.type == "cpu" else 128,
                            device=c.device, data_root=c.args.data_root, seconds=s.packing_seconds,
                            out_dir=c.folder, deadline=c.deadline, log=print) for m in models]


def _part_accuracy(c: _Check) -> Any:
    from .accuracy import run_arms

    s = c.sizes
    return run_arms(device=c.device, data_root=c.args.data_root, out_dir=Path(c.args.runs_out) / c.tag,
                    seeds=s.seeds, epochs=s.epochs, train_subset=s.train_subset, test_subset=s.test_subset,
                    deadline=c.deadline, log=print)


_PART_FNS: dict[str, Callable[[_Check], Any]] = {
    "paths": _part_paths, "profile": _part_profile, "targets": _part_targets, "packing": _part_packing, "accuracy": _part_accuracy}


def run(argv: list[str] | None = None) -> Outcome:
    """Run the parts in order; each part's result (or its error) is saved as soon as it ends."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        device = _device(args.device)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return Outcome(2)
    c = _Check(args, argv, device)
    c.log(f"{c.record['hardware'].get('gpu_name') or 'CPU'} | torch {torch.__version__} | parts {args.parts} "
          f"-> {c.folder}/")
    failed = 0
    for i, part in enumerate(args.parts, 1):
        if time.monotonic() > c.deadline:
            c.record["parts"][part] = {"skipped": "time budget spent"}
            c.log(f"part {i}/{len(args.parts)} {part}: skipped (time budget spent)")
            continue
        c.log(f"part {i}/{len(args.parts)} {part} ...")
        t = time.monotonic()
        try:
            result = _PART_FNS[part](c)
            c.record["parts"][part] = {"seconds": time.monotonic() - t, "result": result}
        except Exception as exc:  # record the failure and go on: the other parts still inform
            failed += 1
            c.record["parts"][part] = {"seconds": time.monotonic() - t, "error": f"{type(exc).__name__}: {exc}"}
            c.log(f"part {part} FAILED: {type(exc).__name__}: {exc}")
        path = c.save()
        c.log(f"part {i}/{len(args.parts)} {part} done in {time.monotonic() - t:.0f}s -> {path}")
    c.record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    c.save()
    return Outcome(1 if failed else 0, c.folder, json.loads(json.dumps(c.record, default=str)))
