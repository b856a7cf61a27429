"""Command line of layer-attention-repro (called by ./reproduce.sh).

    ./reproduce.sh test [pytest args]        run the test suite
    ./reproduce.sh list [tables|models|attention]   what can be reproduced / built
    ./reproduce.sh params [--paper ela]      our parameter/FLOP counts beside the papers'
    ./reproduce.sh run --model M [...]       train and evaluate one configuration
    ./reproduce.sh <table> [options]         run every configuration of a paper table
    ./reproduce.sh status <table>            done / running / failed / missing per run
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from models import ConfigError

from experiments.params import PAPERS, ROOT

EPILOG = """\
subcommands:
  test     run the test suite (extra arguments go to pytest, e.g. `test -k dia`), in
           REPRO_TEST_WORKERS pytest-xdist processes (default 2; 0 or 1: one process)
  list     the paper tables and figures with their runs and seeds (`list`, `list tables`),
           registered models (optionally a shell pattern: `list models 'dia_*'`)
           or attention modules (`list attention`)
  <table>  run a paper table or figure: ela.table1 ... dia.fig15 (a bare `table1` is
           ELA's, the lead paper's); `./reproduce.sh table1 --help` lists the options:
           --profile smoke|full, --executor local|slurm|debug, --seeds N, --dry-run,
           --data-root, --out-root, --cluster PROFILE and SLURM overrides, --limit N
  status   per run of a table: done / running / queued / failed (with its log) /
           incomplete / missing; `--csv FILE` collects one line per run
  run      train and evaluate one configuration into runs/<name>-<hash>/ (resumable;
           `run --help` lists every option), e.g.
           `run --model se_resnet20 --dataset fashionmnist --scale smoke`
  params   for every model row of every paper table in scope: our parameter count beside
           the paper's, FLOPs where the paper prints them, MISMATCH with a reason where they
           disagree beyond the paper's rounding (`params --paper dia --table table4`);
           every explained difference is in results/paper/params_differences.csv

  report   the reproduction report: every claim of the three papers, the evidence so far
           (paper vs ours, p-values, n) and a verdict -> results/report.md, results/tables/
  bench    training-speed benchmark of the ELA/DLA Table 1 models (images/s, per-epoch time,
           peak memory; reference vs fast pipeline) -> results/bench/ (`bench --help`)
  gpucheck one prepared check for a lent GPU, within --budget seconds: every CUDA path against
           the CPU fp32 reference, the speed targets, k runs sharing a GPU, short fp32-vs-bf16
           and MRLA-B-vs-ELA runs -> results/bench/<gpu>/gpucheck.md (`gpucheck --help`;
           `gpucheck --device cpu` runs it at reduced sizes)
examples:
  ./reproduce.sh table1 --profile smoke      # ELA Table 1 on Fashion-MNIST, CPU (< 10 min)
  ./reproduce.sh dia.table4 --dry-run        # the run list and its estimated GPU-hours
  ./reproduce.sh dla.table1 --executor slurm --cluster my-cluster --data-root /data/cifar
  ./reproduce.sh status dla.table1
  ./reproduce.sh test
  ./reproduce.sh params --paper ela
  ./reproduce.sh list models '*resnet164'
"""


def _xdist_args(extra: list[str]) -> list[str]:
    """pytest-xdist options of the test command: REPRO_TEST_WORKERS processes (2 by default; 0 or 1:
    one process, no xdist), with ``--dist loadgroup`` so that the tests tests/conftest.py groups (the
    SLURM tests, tests sharing an expensive module fixture) run in one process. The user's own
    ``-n``/``--numprocesses`` or ``-p no:xdist`` wins; an interpreter without xdist runs in one process."""
    raw = os.environ.get("REPRO_TEST_WORKERS", "").strip() or "2"
    try:
        workers = int(raw)
    except ValueError:
        raise ConfigError(f"REPRO_TEST_WORKERS={raw!r}: expected a number of test processes (0 or 1: no xdist)") \
            from None
    own = any(a in ("--numprocesses", "no:xdist", "-pno:xdist") or a.startswith("--numprocesses=")
              or (a.startswith("-n") and not a.startswith("--")) for a in extra)
    if workers <= 1 or own:
        return []
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        print("[test] pytest-xdist is not installed in this interpreter: running the tests in one process",
              file=sys.stderr)
        return []
    # groups in the order tests/conftest.py sorts them (the long SLURM group first), not by size
    return ["-n", str(workers), "--dist", "loadgroup", "--no-loadscope-reorder"]


def _cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "tests", *_xdist_args(extra), *extra]
    return subprocess.call(cmd, cwd=ROOT)


def _cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    if args.what == "tables":
        return _list_tables()
    if args.what == "attention":
        from models.attention import list_attn

        print("\n".join(list_attn()))
        return 0
    from models import list_models

    names = list_models(args.pattern)
    if not names:
        raise ConfigError(f"no model matches {args.pattern!r}; try `./reproduce.sh list models`")
    print("\n".join(names))
    print(f"({len(names)} models)", file=sys.stderr)
    return 0


def _cmd_params(args: argparse.Namespace, extra: list[str]) -> int:
    from experiments.params import params_report

    import pandas as pd

    report = params_report(args.paper, args.table, flops=not args.no_flops)
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 70, "display.width", 250):
        print(report.to_string(index=False))
    counts = report["status"].value_counts().to_dict()
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if args.csv:
        report.to_csv(args.csv, index=False)
    unexplained = report["reason"].str.endswith("UNEXPLAINED") | (report["status"] == "MISSING")
    return 1 if args.strict and unexplained.any() else 0


def _top_parser() -> argparse.ArgumentParser:
    """The top-level help and the options of the small subcommands (list, params)."""
    parser = argparse.ArgumentParser(
        prog="./reproduce.sh",
        description="Reproduce the ELA, DLA and DIA papers' tables and figures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>")
    sub.add_parser("test", help="run the test suite")
    sub.add_parser("run", help="train and evaluate one configuration", add_help=False)
    sub.add_parser("report", help="reproduction report: claims, verdicts, rebuilt tables", add_help=False)
    sub.add_parser("bench", help="training-speed benchmark (images/s, epoch time, memory)", add_help=False)
    sub.add_parser("gpucheck", help="one prepared check for a lent GPU (CUDA paths, speed, packing)",
                   add_help=False)
    p = sub.add_parser("list", help="list paper tables, models or attention modules")
    p.add_argument("what", nargs="?", default="tables", choices=["tables", "models", "attention"])
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'dia_*'")
    p = sub.add_parser("params", help="parameter/FLOP counts beside the papers'")
    p.add_argument("--paper", choices=PAPERS)
    p.add_argument("--table", help="e.g. table1, table4")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting (faster)")
    p.add_argument("--csv", help="also write the report to this CSV file")
    p.add_argument("--strict", action="store_true", help="exit 1 on an unexplained MISMATCH or a MISSING model")
    sub.add_parser("status", help="per-run state of a table (done/running/failed/missing)", add_help=False)
    sub.add_parser("<table>", help="run a paper table: ela.table1 ... (see `list`)", add_help=False)
    return parser


def _small(handler):
    """A subcommand whose options the top-level parser knows (test, list, params)."""
    def cmd(argv: list[str]) -> int:
        parser = _top_parser()
        args, extra = parser.parse_known_args([handler.__name__.removeprefix("_cmd_"), *argv])
        if extra and args.command != "test":
            parser.error(f"unrecognised arguments: {' '.join(extra)}")
        return handler(args, extra)
    return cmd


def _cmd_run(argv: list[str]) -> int:
    from experiments.run import main as run_main

    return run_main(argv)


def _cmd_report(argv: list[str]) -> int:
    from analysis.report import main as report_main

    return report_main(argv)


def _cmd_bench(argv: list[str]) -> int:
    """experiments.bench measures (and parses its own options); analysis.bench_report then
    writes the summaries from the records."""
    from analysis.bench_report import report as bench_report
    from experiments.bench import run as bench_run

    done = bench_run(argv)
    if done.report:
        bench_report(done.folder, started=done.started)
    return done.rc


def _cmd_gpucheck(argv: list[str]) -> int:
    """experiments.gpucheck checks and measures (records after every part); analysis.gpucheck_report
    then writes gpucheck.md (and the bench reports) and prints it."""
    from analysis.gpucheck_report import report as gpucheck_report
    from experiments.gpucheck import run as gpucheck_run

    done = gpucheck_run(argv)
    if done.folder is not None and any(done.folder.glob("gpucheck-*.json")):
        print(gpucheck_report(done.folder))
    return done.rc


# --------------------------------------------------------------------------- paper tables
EXECUTORS = ("local", "slurm", "debug")


def _guard(fn) -> int:
    try:
        return fn()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _selection_args(p: argparse.ArgumentParser) -> None:
    """Options that decide WHICH runs (shared by a table command and `status`)."""
    from experiments.tables import PROFILES

    p.add_argument("table", help="ela.table1 ... dia.fig15 (`./reproduce.sh list`); bare `table1` = ELA's")
    p.add_argument("--profile", choices=PROFILES, default="full",
                   help="full: the paper's recipe, dataset and seeds (default); smoke: every row at the smoke "
                        "scale on Fashion-MNIST, 1 seed, on the CPU")
    p.add_argument("--seeds", type=int, help="seeds per row (default: the paper's; 1 for smoke)")
    p.add_argument("--limit", type=int, metavar="N", help="keep only the first N runs (seed-major order)")
    p.add_argument("--out-root", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--epochs", type=int, help="override the profile's epochs (changes the runs' identity)")
    p.add_argument("--train-subset", type=int, metavar="N", help="override the training subset size")
    p.add_argument("--test-subset", type=int, metavar="N", help="override the test subset size")
    p.add_argument("--drop-path", type=float, metavar="P",
                   help="DropPath on the layer-attention branches (MRLA/DLA/ELA; the recipe's 0.2 by default, the "
                        "released run.sh's value; the released script's own default is 0)")
    p.add_argument("--amp", action="store_true",
                   help="bf16 autocast on the GPU fast path (default: fp32 as the released code; a new run identity)")
    p.add_argument("--pretrained", choices=("auto", "none"), default="auto",
                   help="detection tables: auto (default) starts each row's backbone from this repository's ImageNet "
                        "run of its method (full profile; the smoke profile trains from scratch); none trains every "
                        "detection row from scratch (new runs, for debugging)")


def _table_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="./reproduce.sh <table>",
        description="Run every configuration of a paper table or figure (see `./reproduce.sh list`). Finished "
                    "runs are skipped, unfinished ones resume from their checkpoints.")
    _selection_args(p)
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: one process per run, one after another (default); debug: in this process; "
                        "slurm: one job array per table via submitit (returns at once)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="local executor: runs at a time, each with cores/N threads (default: one per core for "
                        "the smoke profile, which trains on the CPU; 1 for full, one GPU)")
    p.add_argument("--dry-run", action="store_true", help="print the run list and its estimated cost; run nothing")
    p.add_argument("--data-root", help="folder holding the dataset (default: data/, data/<name>/ for ImageFolder "
                                       "datasets)")
    g = p.add_argument_group("slurm (override the cluster profile)")
    g.add_argument("--cluster", help="cluster profile: slurm/profiles/<name>.json or a path")
    g.add_argument("--partition")
    g.add_argument("--account")
    g.add_argument("--gpus", type=int, dest="gpus_per_node", help="GPUs per node (tasks per node follow)")
    g.add_argument("--cpus", type=int, dest="cpus_per_task", help="CPU cores per task")
    g.add_argument("--mem-gb", type=float, dest="mem_gb")
    g.add_argument("--time-min", type=int, dest="timeout_min", help="time limit per job (the run requeues and "
                                                                     "resumes when it is hit)")
    g.add_argument("--array-parallelism", type=int, dest="array_parallelism", help="array tasks running at once")
    g.add_argument("--pack", default="1", metavar="K|auto",
                   help="runs per array task sharing its GPU, one process each (small CIFAR nets leave most of a GPU "
                        "idle); auto: the K with the highest measured aggregate throughput "
                        "(results/bench/*/packing.<model>.bs<B>.json; 1 without one), capped by the profile's "
                        "max_pack; single-GPU runs only; default 1")
    return p


def _plans(args):
    from experiments import launch
    from experiments.tables import get_table, resolve

    table_id, note = resolve(args.table)
    if note:
        print(f"note: {note}", file=sys.stderr)
    table = get_table(table_id)
    plans = launch.prepare(table, args.profile, seeds=args.seeds, limit=args.limit,
                           data_root=getattr(args, "data_root", None), out_root=args.out_root, epochs=args.epochs,
                           train_subset=args.train_subset, test_subset=args.test_subset,
                           drop_path=args.drop_path, amp=args.amp, pretrained=args.pretrained)
    return table, plans, launch.state_dir(args.out_root, table_id, args.profile)


def _cmd_diffusion_table(table_id: str, args) -> int:
    """DIA Fig. 8's runs are diffusion runs (experiments.diffusion_run), not classification runs:
    trained one after another on this machine, then the figure is drawn from their records."""
    from analysis.diffusion_figures import fig8_from_runs
    from experiments import launch
    from experiments.diffusion_run import main as diffusion_main

    if args.executor == "slurm" or args.dry_run or args.pack != "1":
        raise ConfigError(f"{table_id}'s diffusion runs run with the local executor only (no --executor slurm, "
                          f"--dry-run or --pack yet): drop those options, or run `python -m experiments.diffusion_run "
                          f"--table {table_id}` inside your own job")
    argv = ["--table", table_id, "--profile", args.profile, "--out-root", args.out_root]
    argv += ["--data-root", args.data_root] if getattr(args, "data_root", None) else []
    argv += [f"--{k}={v}" for k, v in (("seeds", args.seeds), ("limit", args.limit), ("train-subset", args.train_subset))
             if v is not None]
    rc = diffusion_main(argv)
    sdir = launch.state_dir(args.out_root, table_id, args.profile)
    for path in fig8_from_runs(args.out_root, sdir):
        print(f"figure: {path}")
    return rc


def _queued_pretraining(args, plans) -> dict[str, str]:
    """The SLURM jobs still training the ImageNet runs that detection rows start from, which a
    slurm launch queues them behind (``launch.pretrained_jobs``); none for the other executors."""
    from experiments import launch

    return launch.pretrained_jobs(plans) if args.executor == "slurm" else {}


def _cmd_table(argv: list[str]) -> int:
    from experiments import launch
    from experiments.diffusion_run import FIG8
    from experiments.tables import resolve

    args = _table_parser().parse_args(argv)
    if resolve(args.table)[0] == FIG8:
        return _cmd_diffusion_table(FIG8, args)
    table, plans, sdir = _plans(args)
    seeds = args.seeds or table.default_seeds(args.profile)
    print(f"{table.title}\nprofile {args.profile}: {len(plans)} runs ({len(table.rows)} printed rows x {seeds} "
          f"seed{'s' if seeds > 1 else ''}{', rows merged where only the dataset differs' if args.profile == 'smoke' else ''}"
          f"{f', first {args.limit} kept' if args.limit else ''}); records under {plans[0].cfg.out_root}/")
    if args.dry_run:
        return _dry_run(table, plans, sdir, args)
    if args.executor != "slurm" and args.pack != "1":
        raise ConfigError(f"--pack {args.pack} packs runs into SLURM jobs: add --executor slurm (locally, --jobs N "
                          f"runs N at a time)")
    queued = _queued_pretraining(args, plans)
    launch.check_data(table, plans, args.profile, queued)
    if args.executor == "slurm":
        overrides = {k: getattr(args, k) for k in ("partition", "account", "gpus_per_node", "cpus_per_task", "mem_gb",
                                                   "timeout_min", "array_parallelism")}
        return launch.submit_slurm(table, args.profile, plans, sdir, launch.load_cluster(args.cluster), overrides,
                                   selection=_selection(args), pack=args.pack, dependencies=queued)
    est = launch.estimate(plans, sdir.parent / "macs_cache.json")
    print(f"estimated cost: {_cost(est.total_h, est.device)} ({est.method})\n", flush=True)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    jobs = args.jobs or ((os.cpu_count() or 1) if args.profile == "smoke" else 1)
    rc = (launch.run_debug(plans) if args.executor == "debug"
          else launch.run_local(plans, sdir, jobs=jobs, costs=est.per_run_h))
    _rebuild(table, [launch.read_record(p.cfg) for p in plans], sdir, show=True)
    print(f"status: ./reproduce.sh status {table.id} --profile {args.profile} {' '.join(_selection(args))}".rstrip())
    return rc


def _rebuild(table, run_records: list, sdir, *, show: bool) -> None:
    """The paper's table with our numbers beside it, from the records of this table's runs
    (one per run, None where it has none; analysis.tables): written to the table's launch
    folder, printed when ``show``."""
    from analysis.tables import rebuild_table

    records = [r for r in run_records if r]
    if not records:
        return
    path = rebuild_table(table.id, records, sdir)
    if path is None:
        print(f"{table.id} is a figure: ./reproduce.sh report (or analysis/{table.id.split('.')[0]}.ipynb) "
              f"draws it from the records")
        return
    if show:
        print("\n" + path.read_text().split("\nPer-seed values:")[0].rstrip())  # the file keeps them
    print(f"\nrebuilt table ({len(records)} of {len(run_records)} runs have records): {path} (and .tex)")


def _selection(args) -> list[str]:
    """The options that chose the runs, to repeat in a `status` command."""
    out = []
    for flag, value in (("--seeds", args.seeds), ("--limit", args.limit), ("--epochs", args.epochs),
                        ("--train-subset", args.train_subset), ("--test-subset", args.test_subset),
                        ("--drop-path", args.drop_path)):
        if value is not None:
            out += [flag, str(value)]
    if args.amp:
        out.append("--amp")
    if args.out_root != "runs":
        out += ["--out-root", args.out_root]
    return out


def _hours(h: float) -> str:
    return f"{h * 60:.1f} min" if h < 1 else f"{h:,.1f} h"


def _cost(h: float, device: str) -> str:
    return f"{h:,.1f} GPU-hours" if device == "GPU" else f"{_hours(h)} of CPU time"


def _dry_run(table, plans, sdir, args) -> int:
    from experiments import launch

    max_pack = launch.load_cluster(args.cluster).get("max_pack") if args.executor == "slurm" else None
    est = launch.estimate(plans, sdir.parent / "macs_cache.json", pack=args.pack, max_pack=max_pack)
    print(f"{'#':>4}  {'state':9s} {'epochs':>6} {'est.':>9}  run (printed rows, seed)")
    for i, (p, h) in enumerate(zip(plans, est.per_run_h), 1):
        rec = launch.read_record(p.cfg)
        state = rec.get("status", "") if rec else "-"
        print(f"{i:4d}  {state:9s} {p.cfg.effective_recipe().epochs:6d} {_hours(h):>9}  {p.cfg.run_name}  "
              f"({launch.row_labels(p)}, seed {p.cfg.seed})")
    done = sum(1 for p in plans if (launch.read_record(p.cfg) or {}).get("status") in launch.FINAL)
    left = sum(h for p, h in zip(plans, est.per_run_h)
               if (launch.read_record(p.cfg) or {}).get("status") not in launch.FINAL)
    print(f"\nestimated cost: {_cost(est.total_h, est.device)} for all {len(plans)} runs; "
          f"{_cost(left, est.device)} for the {len(plans) - done} not done yet\n  ({est.method})")
    if table.not_run:
        print("not run: " + "; ".join(table.not_run))
    try:
        launch.check_data(table, plans, args.profile, _queued_pretraining(args, plans))
    except ConfigError as exc:
        print(f"warning: {exc}")
    if args.executor == "slurm":
        cluster = launch.load_cluster(args.cluster)
        overrides = {k: getattr(args, k) for k in ("partition", "account", "gpus_per_node", "cpus_per_task", "mem_gb",
                                                   "timeout_min", "array_parallelism")}
        for shape in dict.fromkeys(p.resources for p in plans):
            n = sum(p.resources == shape for p in plans)
            params = launch.slurm_parameters(cluster, shape, overrides)
            print(f"slurm array ({shape} shape, {n} runs): " + ", ".join(f"{k}={v}" for k, v in params.items()))
    print("dry run: nothing was started")
    return 0


def _cmd_status(argv: list[str]) -> int:
    import csv

    from experiments import launch

    p = argparse.ArgumentParser(prog="./reproduce.sh status",
                                description="Per run of a table: done, running, queued, failed (with the log), "
                                            "incomplete (started, not finished: relaunching resumes) or missing.")
    _selection_args(p)
    p.add_argument("--csv", metavar="FILE", help="also write one line per run (state, final/best accuracy, log)")
    args = p.parse_args(argv)
    table, plans, sdir = _plans(args)
    states = launch.table_status(plans, sdir)
    print(f"{table.title} (--profile {args.profile})")
    for i, s in enumerate(states, 1):
        extra = "  ".join(x for x in (s.detail, f"job {s.job_id}" if s.job_id else "", f"log: {s.log}" if s.log else "")
                          if x)
        print(f"{i:4d}  {s.state:10s} {s.planned.cfg.run_name}  ({launch.row_labels(s.planned)}, seed "
              f"{s.planned.cfg.seed})  {extra}")
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    print(f"\n{len(states)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    _rebuild(table, [s.record for s in states], sdir, show=False)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["table", "profile", "run", "rows", "model", "dataset", "seed", "state", "final_top1",
                        "best_top1", "final_top5", "epochs_done", "mean_epoch_time_s", "job_id", "log", "run_dir"])
            for s in states:
                rec, cfg = s.record or {}, s.planned.cfg
                fin, best = rec.get("final") or {}, rec.get("best") or {}
                eps = [e["epoch_time_s"] for e in rec.get("epochs", [])]
                w.writerow([table.id, args.profile, cfg.run_name, launch.row_labels(s.planned), cfg.model, cfg.dataset,
                            cfg.seed, s.state, fin.get("test_top1", ""), best.get("test_top1", ""),
                            fin.get("test_top5", ""), rec.get("epochs_done", ""),
                            f"{sum(eps) / len(eps):.3f}" if eps else "", s.job_id, s.log, str(cfg.run_dir)])
        print(f"wrote {args.csv}")
    return 0


def _list_tables() -> int:
    from experiments.tables import all_tables

    print(f"{'table':12s} {'kind':6s} {'rows':>4} {'seeds':>5} {'runs':>5} {'smoke':>5}  title")
    distinct = set()
    for t in all_tables():
        n = len(t.plan("full"))
        distinct |= {p.cfg.run_hash() for p in t.plan("full")}
        print(f"{t.id:12s} {t.kind:6s} {len(t.rows):4d} {t.seeds:5d} {n:5d} {len(t.plan('smoke')):5d}  "
              f"{t.title.split(': ', 1)[-1]}")
    print(f"\nruns = distinct runs of the full profile (rows x seeds; rows shared between tables are trained once); "
          f"smoke = runs at smoke scale (1 seed). {len(distinct)} distinct full runs in all.\n"
          f"`./reproduce.sh <table> --dry-run` shows a table's runs and cost; `list models` lists the models.")
    return 0

# --------------------------------------------------------------------------- entry
#: subcommand -> function(argv) -> exit code; any other first word names a paper table
COMMANDS = {
    "test": _small(_cmd_test), "list": _small(_cmd_list), "params": _small(_cmd_params),
    "run": _cmd_run, "report": _cmd_report, "bench": _cmd_bench, "gpucheck": _cmd_gpucheck, "status": _cmd_status,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        parser = _top_parser()
        parser.parse_known_args(argv)  # --help prints the help and exits here
        parser.print_help()
        return 2
    command = COMMANDS.get(argv[0])
    if command is None:
        return _guard(lambda: _cmd_table(argv))
    return _guard(lambda: command(argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
