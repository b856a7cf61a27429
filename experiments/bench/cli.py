"""The command line of the benchmark's measuring half: ``python -m experiments.bench`` measures
and writes the JSON records (``run``/``main``); ``./reproduce.sh bench`` then writes the
reports (``analysis.bench_report``)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models import ConfigError

from .machine import loadavg
from .measure import measure
from .settings import FULL, PIPELINES, QUICK, ROOT, Settings, host_tag, plan, record_path

__all__ = ["parser", "configure", "run", "main", "measure_in_child", "Outcome"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.bench",
        description="Training throughput (images/s), per-epoch time (extrapolated to 50,000 images) and peak "
                    "memory of the ELA/DLA Table 1 models on the reference and fast pipelines.",
        epilog="full GPU bench: REPRO_PYTHON=python ./reproduce.sh bench --device cuda   |   "
               "CPU check: ./reproduce.sh bench --quick",
    )
    _what_options(p)
    _how_options(p)
    return p


def _what_options(p: argparse.ArgumentParser) -> None:
    """Which models, and how long and how often each is timed."""
    p.add_argument("--models", nargs="+", help="families (resnet se eca dia cbam bam mrla_b mrla_l ela dla_b dla_l) "
                   "or registry names; default: every row of ELA Table 1, DLA Table 1 and ELA Fig. 4")
    p.add_argument("--depths", nargs="+", type=int, help="default 20 56 110")
    p.add_argument("--batch-size", type=int, help="default 128")
    p.add_argument("--steps", type=int, help="measured steps per timed window (default 130: 3 windows = 1 epoch)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default 20)")
    p.add_argument("--repeats", type=int, help="timed windows; the median is reported (default 3)")
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dataset", default="auto", help="auto (Fashion-MNIST if found, else fake), fashionmnist, "
                   "cifar10, cifar100, fake")
    p.add_argument("--data-root", default=str(ROOT / "data"))
    p.add_argument("--workers", type=int, help="DataLoader workers of the reference pipeline (default: 4 on a GPU, "
                   "0 on the CPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; on a shared CPU 1 avoids "
                   "OpenMP stalls)")


def _how_options(p: argparse.ArgumentParser) -> None:
    """Pipeline switches, ELA pruning, outputs and process isolation."""
    p.add_argument("--compile", action="store_true", help="torch.compile on the fast pipeline")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="fast pipeline without bf16 autocast")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--ela-pruning", default="controller",
                   help="controller (default) | half | none | record:PATH | layers:s0.b1,... (module docstring)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/bench", help="records go to OUT/<gpu name or hostname>/")
    p.add_argument("--tag", help="folder name under --out instead of the GPU name / hostname")
    p.add_argument("--quick", action="store_true",
                   help="CPU-sized: resnet, mrla_b, mrla_l, ela at depth 20, batch 32, 2+3x4 steps (explicit "
                        "options win)")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                   help="each measurement in a fresh process (default; own peak memory)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per isolated measurement")
    p.add_argument("--no-summary", dest="summary", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)


def configure(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    """(the settings every measurement shares, tag resolved; the model names to measure)."""
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but CUDA is not available here; use --device cpu")
    q = QUICK if args.quick else {}
    models = args.models or (list(q["families"]) if q else None)
    depths = args.depths or list(q.get("depths", (20, 56, 110)))
    sizes = {k: getattr(args, k) if getattr(args, k) is not None else q.get(k, FULL[k]) for k in FULL}
    names = plan(models, depths)
    base = Settings(model=names[0] if names else "resnet20", pipeline=args.pipelines[0], device=device,
                    dataset=args.dataset, data_root=args.data_root, workers=args.workers, threads=args.threads,
                    compile=args.compile, amp=args.amp, channels_last=args.channels_last,
                    ela_pruning=args.ela_pruning, seed=args.seed, out=args.out, tag=args.tag, **sizes)
    base.tag = base.tag or host_tag(device)
    return base, names


@dataclass
class Outcome:
    """What ``run`` did: its exit status, and what the reports (``analysis.bench_report``) need."""

    rc: int  # 0, 1 if a measurement failed, 2 on a usage error
    folder: Path | None = None  # OUT/<tag>/: the records of this bench (and earlier ones there)
    report: bool = False  # the reports are wanted: options understood and no --no-summary
    started: float = 0.0  # time.perf_counter() before the first measurement


def run(argv: list[str] | None = None) -> Outcome:
    """Measure every configuration the options name and write one JSON record each."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        base, names = configure(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return Outcome(2)
    jobs = [dataclasses.replace(base, model=m, pipeline=p) for m in names for p in args.pipelines]
    folder = Path(args.out) / base.tag
    if not args._child:
        print(f"[bench] {len(jobs)} measurements on {base.device} -> {folder}/ | batch {base.batch_size}, "
              f"{base.warmup} warm-up + {base.repeats} x {base.steps} timed steps | load average {loadavg()}",
              flush=True)
    started = time.perf_counter()
    failures = sum(not _measure_one(i, jobs, args, argv) for i in range(1, len(jobs) + 1))
    return Outcome(1 if failures else 0, folder, args.summary, started)


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.bench``: measure and write the records; the exit status."""
    return run(argv).rc


def _measure_one(i: int, jobs: list[Settings], args: argparse.Namespace, argv: list[str]) -> bool:
    """Measure ``jobs[i - 1]`` (in a fresh process with --isolate) and print a line; False if it failed."""
    s = jobs[i - 1]
    t0 = time.perf_counter()
    try:
        rec = measure_in_child(s, args.timeout) if args.isolate else measure(s, isolated=args._child, invoked_as=argv)
    except (RuntimeError, ConfigError, subprocess.TimeoutExpired, OSError) as e:
        print(f"[bench] {i}/{len(jobs)} {s.model} {s.variant}: FAILED: {e}", file=sys.stderr, flush=True)
        return False
    if not args._child:
        ela = rec.get("ela") or {}
        print(f"[bench] {i}/{len(jobs)} {s.model:18s} {s.variant:16s} {rec['images_per_s']:9.1f} img/s  "
              f"{rec['epoch_time_s']:8.2f} s/epoch  peak {rec['peak_memory_mib']:7.0f} MiB"
              + (f"  ELA {ela['num_pruned']}/{ela['total_layers']} pruned" if ela else "")
              + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return True


def measure_in_child(s: Settings, timeout: float | None) -> dict[str, Any]:
    """Measure in a fresh interpreter (own peak RSS, no allocator or compile state carried over)."""
    cmd = [sys.executable, "-m", "experiments.bench", *s.argv(), "--no-isolate", "--no-summary", "--_child"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"exit {proc.returncode}:\n{tail}")
    return json.loads(record_path(s).read_text())
