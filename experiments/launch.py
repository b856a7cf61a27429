"""Run a paper table: plan, check data, estimate cost, execute (local | debug | slurm), report status.

    ./reproduce.sh table1 --profile smoke                    # ELA Table 1 on Fashion-MNIST, CPU, runs one by one
    ./reproduce.sh dia.table4 --dry-run                      # the run list and its estimated GPU-hours
    ./reproduce.sh dla.table1 --executor slurm --cluster my-cluster --data-root /data/cifar
    ./reproduce.sh status dla.table1                         # done / running / failed / missing per run

Executors
---------
``local``  one run after another, each in its own process (``python -m experiments.run``),
           output shown and kept in ``<out>/_launch/<table>-<profile>/logs/<run>.log``.
``debug``  in this process (exceptions and breakpoints reach you).
``slurm``  ONE job array per table through submitit, or one per resource shape when the
           table mixes single-GPU rows and ImageNet rows (one array has one shape). The code
           is snapshotted first (``submitit.helpers.RsyncSnapshot``, the working tree as it is:
           tracked and untracked-but-not-ignored files) so later edits do not leak into queued
           jobs. Each task is a ``TableJob`` (a ``submitit.helpers.Checkpointable``): on a
           timeout or preemption submitit calls ``checkpoint()``, which resubmits the same
           run; the requeued task resumes from the run's last epoch checkpoint
           (``experiments.run``). Returns at once; ``status`` reports progress.

Runs whose record is final (done or diverged) are never started again; slurm also skips
runs whose last job is still queued or running. State (submission manifests, local logs,
code snapshots, submitit logs) lives in ``<out_root>/_launch/<table>-<profile>/``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import submitit

from models import ConfigError

from .config import RunConfig
from .tables import Planned, Table

__all__ = [
    "ROOT", "prepare", "check_data", "estimate", "run_local", "run_debug", "submit_slurm", "table_status",
    "TableJob", "load_cluster", "slurm_parameters", "state_dir", "cli_args", "FINAL",
]

ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = ROOT / "slurm" / "profiles"
BENCH_DIR = ROOT / "results" / "bench"
FINAL = ("done", "diverged")
#: ImageFolder datasets get their own default root (they all have train/ and val/ or test/).
FOLDER_DATASETS = ("imagenet", "miniimagenet", "chestxray")


# --------------------------------------------------------------------------- planning
def state_dir(out_root: str | Path, table_id: str, profile: str) -> Path:
    return Path(out_root).resolve() / "_launch" / f"{table_id}-{profile}"


def default_data_root(dataset: str, data_root: str | None) -> str:
    if data_root:
        return str(Path(data_root).expanduser().resolve())
    return str((ROOT / "data" / dataset) if dataset in FOLDER_DATASETS else (ROOT / "data"))


def prepare(table: Table, profile: str, *, seeds: int | None = None, limit: int | None = None,
            data_root: str | None = None, out_root: str = "runs", epochs: int | None = None,
            train_subset: int | None = None, test_subset: int | None = None,
            workers: int | None = None, drop_path: float | None = None, amp: bool = False) -> list[Planned]:
    """The table's runs with the execution settings of this machine.

    ``epochs``/``train_subset``/``test_subset`` override the profile's scale, ``drop_path``
    the recipe's DropPath on layer-attention branches (0.2 by default, the released
    command's), ``amp`` trains under bf16 autocast on the GPU fast path (fp32 by default);
    all change the runs' identity, hence their folders. ``limit`` keeps the first N runs
    (seed-major order).
    """
    plans = table.plan(profile, seeds)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        plans = plans[:limit]
    out_root = str(Path(out_root).expanduser().resolve())
    if workers is None:
        workers = 0 if profile == "smoke" else max(1, min(8, (os.cpu_count() or 2) - 1))
    identity = {k: v for k, v in (("epochs", epochs), ("train_subset", train_subset), ("test_subset", test_subset),
                                  ("drop_path", drop_path), ("amp", amp or None)) if v is not None}
    out = []
    for p in plans:
        cfg = dataclasses.replace(p.cfg, **identity, out_root=out_root, workers=workers, progress=False,
                                  data_root=default_data_root(p.cfg.dataset, data_root))
        out.append(dataclasses.replace(p, cfg=cfg))
    return out


def cli_args(cfg: RunConfig) -> list[str]:
    """``python -m experiments.run`` arguments that rebuild ``cfg`` exactly."""
    args = []
    for f in dataclasses.fields(RunConfig):
        v = getattr(cfg, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(v, bool):
            args.append(flag if v else "--no-" + f.name.replace("_", "-"))
        elif isinstance(v, dict):
            if v:
                args += [flag, json.dumps(v, sort_keys=True)]
        elif v is not None:
            args += [flag, str(v)]
    return args


# --------------------------------------------------------------------------- data
def check_data(table: Table, plans: list[Planned], profile: str) -> None:
    """One-line ConfigError naming the missing dataset, where it is expected and how to get it."""
    from . import data as D

    seen = set()
    for p in plans:
        key = (p.cfg.dataset, p.cfg.data_root)
        if key in seen:
            continue
        seen.add(key)
        ds, root = key
        try:
            if ds in D._FOLDERS:
                train_dir, test_dir, how = D._FOLDERS[ds]
                for sub in (train_dir, test_dir):
                    if not (Path(root) / sub).is_dir():
                        raise ConfigError(f"{D._PRETTY[ds]} not found: expected {Path(root) / sub} (ImageFolder "
                                          f"layout {root}/{train_dir}/<class>/<image> and {root}/{test_dir}/...; {how})")
            elif ds != "fake":
                D.build_datasets(ds, root, train_subset=1, test_subset=1)
        except ConfigError as exc:
            advice = ("" if profile == "smoke" else
                      f" Nothing was run or faked: pass --data-root with the folder that holds it, or use "
                      f"--profile smoke for the same rows on Fashion-MNIST.")
            raise ConfigError(f"{table.id} (--profile {profile}) needs {D._PRETTY.get(ds, ds)}: {exc}{advice}") from None


# --------------------------------------------------------------------------- cost estimate
#: Sustained training throughput assumed for the FLOP-based estimate, multiply-accumulates per
#: second per GPU, by input resolution (small CIFAR nets use a GPU far less well than ResNet-50).
GPU_MACS_PER_S = {32: 3e12, 96: 1e13, 224: 2e13}
#: The same for the CPU (smoke scale): ELA Table 1's smoke runs on the 2-core development machine.
CPU_MACS_PER_S = 1.2e10
CPU_RUN_OVERHEAD_S = 5.0  # process start, imports, model build, data loading


@dataclass
class Estimate:
    per_run_h: list[float]
    total_h: float
    device: str  # 'GPU' or 'CPU'
    method: str


def _macs(cfg: RunConfig, cache: dict) -> float:
    import torch

    from .data import dataset_info
    from .params import count_macs
    from .run import build_model

    info = dataset_info(cfg.dataset)
    key = json.dumps([cfg.model, cfg.model_kwargs, info.resolution, info.in_chans, info.num_classes], sort_keys=True)
    if key not in cache:
        with torch.device("meta"):
            net = build_model(dataclasses.replace(cfg, pruning={}), info.num_classes, info.in_chans, 0.0, 0.0)
        cache[key] = count_macs(net, info.resolution, info.in_chans)
    return cache[key]


def _bench_key(model: str, kwargs: dict, dataset: str) -> str:
    from .data import dataset_info

    return json.dumps([model, kwargs or {}, dataset_info(dataset).resolution], sort_keys=True)


def _bench_records(bench_dir: Path = BENCH_DIR) -> dict[str, dict[int, tuple[float, str]]]:
    """Measured GPU seconds per training image, by (model, kwargs, input resolution) and batch
    size, from records under results/bench/ in the layout of experiments.run's record.json
    (``config``, ``epochs[].epoch_time_s``, ``dataset.train_images``, ``world_size``; the
    fast-pipeline records of ``./reproduce.sh bench`` have it). CPU records are ignored."""
    out: dict[str, dict[int, tuple[float, str]]] = {}
    if not bench_dir.is_dir():
        return out
    for path in sorted(bench_dir.rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
            cfg, eps = rec["config"], [e["epoch_time_s"] for e in rec["epochs"]]
            n = rec["dataset"]["train_images"]
            env = rec.get("environment") or {}
            if not eps or not n or str(env.get("device") or rec.get("device") or "cpu").startswith("cpu"):
                continue
            key = _bench_key(cfg["model"], cfg.get("model_kwargs") or {}, cfg["dataset"])
        except (OSError, ValueError, KeyError, TypeError, ConfigError):
            continue
        per_image = sum(eps) / len(eps) / n * rec.get("world_size", 1)
        out.setdefault(key, {})[int(cfg.get("batch_size") or 0)] = (per_image, str(env.get("gpu") or "GPU"))
    return out


def estimate(plans: list[Planned], cache_path: Path | None = None) -> Estimate:
    """Rough cost of the runs: measured epoch times (results/bench/) where known, else FLOPs."""
    from .data import dataset_info

    cache = {}
    if cache_path is not None and cache_path.exists():
        try:
            cache = json.loads(cache_path.read_text())
        except ValueError:
            cache = {}
    bench = _bench_records(BENCH_DIR)
    smoke = all(p.cfg.scale == "smoke" for p in plans)
    per_run, measured = [], 0
    for p in plans:
        cfg = p.cfg
        info = dataset_info(cfg.dataset)
        train_sub, test_sub = cfg.subsets()
        n_train, n_test = train_sub or info.train_size, test_sub or info.test_size
        epochs = cfg.effective_recipe().epochs
        key = _bench_key(cfg.model, cfg.model_kwargs, cfg.dataset)
        if not smoke and key in bench:
            measured += 1
            by_bs = bench[key]
            bs = cfg.effective_recipe().batch_size
            per_image = (by_bs.get(bs) or next(iter(by_bs.values())))[0]  # prefer the recipe's batch size
            seconds = per_image * n_train * epochs * (1 + n_test / (3 * n_train))
        else:
            macs = _macs(cfg, cache)
            work = epochs * macs * (3 * n_train + n_test)  # forward+backward ~ 3x forward, eval 1x
            if smoke:
                seconds = work / CPU_MACS_PER_S + CPU_RUN_OVERHEAD_S
            else:
                rate = GPU_MACS_PER_S[min(GPU_MACS_PER_S, key=lambda r: abs(r - info.resolution))]
                seconds = work / rate
        per_run.append(seconds / 3600)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    if smoke:
        method = (f"rough estimate for this CPU from FLOPs ({CPU_MACS_PER_S:.0e} MAC/s, training = 3x forward, "
                  f"+{CPU_RUN_OVERHEAD_S:.0f} s per run)")
        device = "CPU"
    elif measured == len(plans):
        method = f"from measured epoch times in {BENCH_DIR.relative_to(ROOT)}"
        device = "GPU"
    else:
        rates = ", ".join(f"{v:.0e} MAC/s at {k}px" for k, v in GPU_MACS_PER_S.items())
        method = (f"ROUGH estimate from FLOPs for {len(plans) - measured} of {len(plans)} runs (assumed sustained "
                  f"{rates} per GPU, training = 3x forward; layer-attention models run below their FLOP rate)"
                  + (f"; {measured} from measured epoch times in results/bench/" if measured else
                     "; no measured epoch times found in results/bench/"))
        device = "GPU"
    return Estimate(per_run, sum(per_run), device, method)


# --------------------------------------------------------------------------- records
def read_record(cfg: RunConfig) -> dict[str, Any] | None:
    path = cfg.run_dir / "record.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _top1(rec: dict | None) -> str:
    if not rec or not rec.get("final"):
        return ""
    return f"top1 {rec['final']['test_top1']:.2f}% (best {rec['best']['test_top1']:.2f}%)"


def _labels(p: Planned) -> str:
    labels = list(dict.fromkeys(r.label for r in p.rows))
    datasets = list(dict.fromkeys(r.dataset for r in p.rows))
    tail = f" [{'+'.join(datasets)}]" if p.cfg.dataset not in datasets else ""
    return " | ".join(labels) + tail


def _append_jsonl(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


# --------------------------------------------------------------------------- local / debug
class _Progress:
    """One line for the whole launch: runs done / running / left, elapsed and ETA (the mean
    wall time of the runs finished here, spread over the parallel slots)."""

    def __init__(self, total: int, jobs: int, out):
        self.total, self.jobs, self.out, self.t0 = total, jobs, out, time.perf_counter()
        self.done, self.running, self.times = 0, 0, []

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        left = self.total - self.done - self.running
        if self.times:
            eta = sum(self.times) / len(self.times) * (left + self.running) / self.jobs
            eta_s = time.strftime("%H:%M:%S", time.gmtime(eta))
        else:
            eta_s = "--:--:--"
        return (f"[table] {self.done}/{self.total} done, {self.running} running, {left} left | elapsed "
                f"{time.strftime('%H:%M:%S', time.gmtime(elapsed))} | ETA {eta_s}")

    def show(self) -> None:
        print(self.line(), file=self.out, flush=True)


def _run_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    # Idle OpenMP threads sleep instead of spinning: on a CPU shared with other work, spinning
    # threads made small-batch CPU runs 3-4x slower (measured on the 2-core machine, load 3.5).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads follow it
    return env


def run_local(plans: list[Planned], sdir: Path, *, out=None, jobs: int = 1) -> int:
    """One process per run (``python -m experiments.run``): one after another with its output
    streamed (``jobs=1``), or ``jobs`` at a time, each with ``cpus // jobs`` threads and its
    output in its log (one line per start and finish, and the launch's progress line)."""
    out = sys.stdout if out is None else out  # looked up now: a caller may have redirected it
    n, results, t_all = len(plans), [], time.perf_counter()
    logs = sdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(int(jobs), n or 1))
    env = _run_env(max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None)
    prog = _Progress(n, jobs, out)
    pending = list(enumerate(plans, 1))
    active: dict[int, tuple] = {}  # i -> (plan, proc, log file, log path, t0)

    def finish(i: int, rc: int) -> None:
        p, proc, lf, log, t0 = active.pop(i)
        lf.close()
        secs = time.perf_counter() - t0
        rec = read_record(p.cfg)
        status = rec.get("status") if rec else "failed"
        if rc != 0 and status not in FINAL:
            status = "failed"
        _append_jsonl(sdir / "local.jsonl", {"time": _now(), "run": p.cfg.run_name, "rc": rc, "status": status,
                                             "log": str(log), "seconds": round(secs, 1)})
        print(f"[{i}/{n}] {status} in {secs:.0f} s {_top1(rec)}" + (f" -> log {log}" if status == "failed" else ""),
              file=out, flush=True)
        results.append((i, p, status, secs, log))
        prog.running, prog.done = prog.running - 1, prog.done + 1
        prog.times.append(secs)
        prog.show()

    def start(i: int, p: Planned) -> None:
        cfg = p.cfg
        rec = read_record(cfg)
        head = f"[{i}/{n}] {cfg.run_name}  ({_labels(p)}, seed {cfg.seed})"
        if rec and rec.get("status") in FINAL:
            print(f"{head}: already {rec['status']} {_top1(rec)}", file=out, flush=True)
            results.append((i, p, rec["status"], 0.0, None))
            prog.done += 1
            return
        print(f"{head}: {'resuming' if rec else 'starting'}", file=out, flush=True)
        log = logs / f"{cfg.run_name}.log"
        cmd = [sys.executable, "-m", "experiments.run", *cli_args(cfg)]
        lf = open(log, "a")
        lf.write(f"# {_now()} {' '.join(cmd)}\n")
        lf.flush()
        stream = jobs == 1
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE if stream else lf,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        active[i] = (p, proc, lf, log, time.perf_counter())
        prog.running += 1
        if stream:
            for line in proc.stdout:
                lf.write(line)
                print("    " + line.rstrip(), file=out, flush=True)

    try:
        while pending or active:
            while pending and len(active) < jobs:
                i, p = pending.pop(0)
                start(i, p)
            for i in [i for i, a in active.items() if a[1].poll() is not None]:
                finish(i, active[i][1].wait())
            if active:
                time.sleep(0.2)
    except KeyboardInterrupt:
        for _, proc, _, _, _ in active.values():
            proc.send_signal(signal.SIGTERM)  # each run checkpoints at its next step and exits
        for p, proc, lf, log, _ in active.values():
            proc.wait()
            lf.close()
            _append_jsonl(sdir / "local.jsonl", {"time": _now(), "run": p.cfg.run_name, "rc": 130, "log": str(log)})
        print(f"\ninterrupted: {len(active)} running run(s) checkpointed; the same command resumes them", file=out)
        return 130
    results.sort(key=lambda r: r[0])
    results = [r[1:] for r in results]
    _summary(results, time.perf_counter() - t_all, out)
    return 0 if all(s in FINAL for _, s, _, _ in results) else 1


def run_debug(plans: list[Planned], *, out=None) -> int:
    """In this process, one after another; errors propagate (for debugging)."""
    from .run import run

    out = sys.stdout if out is None else out
    results, t_all = [], time.perf_counter()
    for i, p in enumerate(plans, 1):
        print(f"[{i}/{len(plans)}] {p.cfg.run_name}  ({_labels(p)}, seed {p.cfg.seed})", file=out, flush=True)
        t0 = time.perf_counter()
        rec = run(dataclasses.replace(p.cfg, progress=True))
        results.append((p, rec["status"], time.perf_counter() - t0, None))
    _summary(results, time.perf_counter() - t_all, out)
    return 0 if all(s in FINAL for _, s, _, _ in results) else 1


def _summary(results, seconds: float, out) -> None:
    counts: dict[str, int] = {}
    for _, s, _, _ in results:
        counts[s] = counts.get(s, 0) + 1
    print(f"\nsummary: {len(results)} runs in {seconds / 60:.1f} min: "
          + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), file=out)
    for p, s, secs, log in results:
        rec = read_record(p.cfg)
        print(f"  {s:11s} {secs:7.1f} s  {p.cfg.run_name}  {_top1(rec)}" + (f"  log: {log}" if s == "failed" else ""),
              file=out)
    print(f"records: {results[0][0].cfg.out_root if results else ''}/<run>/record.json", file=out, flush=True)


# --------------------------------------------------------------------------- slurm
class TableJob(submitit.helpers.Checkpointable):
    """One run of a table inside a SLURM job (pickled by submitit; takes the config as a dict).

    submitit installs its own SIGUSR2 handler in the job (time limit, preemption): it calls
    ``checkpoint``, which resubmits this same call, and requeues the job. ``run`` is therefore
    called with ``handle_signals=False``; the requeued job resumes from the run's last epoch
    checkpoint. Threads follow the task's CPUs (SLURM may not confine them).
    """

    def __call__(self, cfg: dict[str, Any]) -> dict[str, Any]:
        import torch

        from .run import run

        cpus = int(os.environ.get("SLURM_CPUS_PER_TASK", "0") or 0)
        if cpus:
            torch.set_num_threads(cpus)
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        config = RunConfig.from_dict(cfg)
        print(f"[table-job] {config.run_name} (SLURM_RESTART_COUNT={restarts})", flush=True)
        rec = run(config, handle_signals=False)
        return {"run_name": config.run_name, "status": rec["status"], "final": rec.get("final"),
                "resumes": rec.get("resumes")}

    def checkpoint(self, cfg: dict[str, Any]) -> submitit.helpers.DelayedSubmission:
        print(f"[table-job] time limit or preemption: requeueing {cfg.get('model')} seed {cfg.get('seed')}; "
              f"it resumes from its last epoch checkpoint", flush=True)
        return submitit.helpers.DelayedSubmission(TableJob(), cfg)


#: cluster-profile key -> submitit AutoExecutor parameter
_PARAM = {
    "partition": "slurm_partition", "account": "slurm_account", "qos": "slurm_qos",
    "constraint": "slurm_constraint", "gpus_per_node": "gpus_per_node", "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem_gb", "timeout_min": "timeout_min", "array_parallelism": "slurm_array_parallelism",
    "nodes": "nodes", "tasks_per_node": "tasks_per_node",
}


def available_clusters() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.json"))


def load_cluster(name: str | None) -> dict[str, Any]:
    if not name:
        raise ConfigError(f"--executor slurm needs --cluster PROFILE (one of {', '.join(available_clusters())}, "
                          f"or a path; copy slurm/profiles/example-gpu-cluster.json for your cluster)")
    path = Path(name)
    if not path.is_file():
        path = PROFILES_DIR / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown cluster profile {name!r}: no {path}; available: {', '.join(available_clusters())}")
    try:
        prof = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"cluster profile {path} is not valid JSON: {exc}") from None
    prof.setdefault("name", path.stem)
    return prof


def slurm_parameters(cluster: dict[str, Any], shape: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Profile keys (+ its 'imagenet' overrides for the ImageNet shape) + command-line overrides
    -> submitit parameters. ``None`` = not passed (the cluster's default)."""
    merged = {k: cluster.get(k) for k in _PARAM}
    if shape == "imagenet":
        merged.update(cluster.get("imagenet") or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("gpus_per_node") is not None and overrides["gpus_per_node"] > 0:
        merged["tasks_per_node"] = overrides["gpus_per_node"]  # one process per GPU
    if not merged.get("gpus_per_node"):
        merged.pop("gpus_per_node", None)
    return {_PARAM[k]: v for k, v in merged.items() if k in _PARAM and v is not None}


def _slurm_states(job_ids: Iterable[str]) -> dict[str, str]:
    """State of each job id (array tasks as 'ARRAY_TASK'): squeue for live jobs, sacct for the rest."""
    ids = sorted(set(job_ids))
    states: dict[str, str] = {}
    if not ids or not shutil.which("squeue"):
        return states
    arrays = sorted({i.split("_")[0] for i in ids})
    try:
        q = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)], capture_output=True,
                           text=True, timeout=60)
        for line in q.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
    except (OSError, subprocess.SubprocessError):
        pass
    missing = [i for i in ids if i not in states]
    if missing and shutil.which("sacct"):
        try:
            q = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(arrays)],
                               capture_output=True, text=True, timeout=60)
            for line in q.stdout.splitlines():
                parts = line.split("|")
                if len(parts) >= 2 and parts[0] in missing:
                    states[parts[0]] = parts[1].split()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return states


def _state_word(state: str) -> str:
    """'CANCELLED by 0' -> 'CANCELLED'; '' stays ''."""
    return state.split()[0] if state else ""


ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
          "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD")


def _latest_jobs(sdir: Path) -> dict[str, dict]:
    """run name -> {job_id, stderr, stdout} of its most recent submission."""
    latest = {}
    for sub in _read_jsonl(sdir / "slurm.jsonl"):
        for t in sub.get("tasks", []):
            latest[t["run"]] = t
    return latest


def _snapshot(dest: Path) -> Path:
    """Copy the working tree (tracked + untracked-but-not-ignored files) to ``dest`` with
    submitit's RsyncSnapshot; jobs import the code from there."""
    if not submitit.helpers.RsyncSnapshot.available():
        raise ConfigError("the slurm executor snapshots the code with rsync, which is not installed "
                          "(apt-get install rsync)")
    try:
        root = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
                                   capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        raise ConfigError(f"the slurm executor snapshots the code of a git checkout; {ROOT} is not one") from None
    cwd = Path.cwd()
    with submitit.helpers.RsyncSnapshot(snapshot_dir=dest, root_dir=Path(root), include=untracked):
        pass
    os.chdir(cwd)
    return dest


def submit_slurm(table: Table, profile: str, plans: list[Planned], sdir: Path, cluster: dict[str, Any],
                 overrides: dict[str, Any], *, selection: Iterable[str] = (), out=None) -> int:
    """Submit the table's unfinished runs as job arrays (one per resource shape); return at once.
    ``selection``: the command-line options that chose the runs, repeated in the status command."""
    out = sys.stdout if out is None else out
    if not shutil.which("sbatch"):
        raise ConfigError("--executor slurm needs SLURM's sbatch on PATH: run this on the cluster's login node")
    latest = _latest_jobs(sdir)
    live = _slurm_states(t["job_id"] for t in latest.values())
    todo, done, inflight = [], 0, 0
    for p in plans:
        rec = read_record(p.cfg)
        if rec and rec.get("status") in FINAL:
            done += 1
            continue
        job = latest.get(p.cfg.run_name)
        if job and _state_word(live.get(job["job_id"], "")) in ACTIVE:
            inflight += 1
            continue
        todo.append(p)
    print(f"{table.id} --profile {profile}: {len(plans)} runs; {done} done, {inflight} queued/running, "
          f"{len(todo)} to submit", file=out)
    if not todo:
        print("nothing to submit", file=out, flush=True)
        return 0
    shapes: dict[str, list[Planned]] = {}
    for p in todo:
        shapes.setdefault(p.resources, []).append(p)
    if len(shapes) > 1:
        print(f"one job array per resource shape ({', '.join(shapes)}): a SLURM array has a single shape", file=out)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    code = _snapshot(sdir / "snapshots" / stamp)
    print(f"code snapshot: {code}", file=out)
    folder = sdir / "submitit" / "%j"
    saved_pp, saved_omp = os.environ.get("PYTHONPATH"), os.environ.get("OMP_WAIT_POLICY")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), saved_pp]))  # sbatch exports it
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see run_local
    cwd = Path.cwd()
    try:
        os.chdir(code)  # sbatch records the submission directory as the job's working directory
        for shape, group in shapes.items():
            params = slurm_parameters(cluster, shape, overrides)
            cpus = int(params.get("cpus_per_task") or 1)
            cfgs = [dataclasses.replace(p.cfg, workers=max(0, min(cpus - 1, 16)) if profile == "full" else 0)
                    .to_dict() for p in group]
            ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=20)
            ex.update_parameters(name=f"repro-{table.id}-{profile}" + ("-imagenet" if shape == "imagenet" else ""),
                                 **params)
            jobs = ex.map_array(TableJob(), cfgs)
            array_id = jobs[0].job_id.split("_")[0]
            tasks = []
            for job, p in zip(jobs, group):
                paths = job.paths
                tasks.append({"run": p.cfg.run_name, "job_id": job.job_id, "stdout": str(paths.stdout),
                              "stderr": str(paths.stderr), "run_dir": str(p.cfg.run_dir)})
            _append_jsonl(sdir / "slurm.jsonl", {"time": _now(), "table": table.id, "profile": profile,
                                                 "cluster": cluster.get("name"), "shape": shape, "array": array_id,
                                                 "parameters": params, "snapshot": str(code), "tasks": tasks})
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            print(f"submitted job array {array_id}: {len(group)} runs ({shape} shape: {shown})", file=out)
    finally:
        os.chdir(cwd)
        for name, value in (("PYTHONPATH", saved_pp), ("OMP_WAIT_POLICY", saved_omp)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    status = f"./reproduce.sh status {table.id} --profile {profile}" + "".join(f" {a}" for a in selection)
    print(f"\nwatch:   {status}\n         squeue -u $USER\n         logs in {sdir / 'submitit'}/<job id>/"
          f"\ncollect: {status} --csv {table.id}-{profile}.csv  (one line per run: state, final and best "
          f"accuracy, log;\n         and the table rebuilt beside the paper's in {sdir}/{table.id}.md)",
          file=out, flush=True)
    return 0


# --------------------------------------------------------------------------- status
@dataclass
class RunState:
    planned: Planned
    state: str  # done | running | queued | failed | incomplete | missing
    detail: str = ""
    job_id: str = ""
    log: str = ""
    record: dict | None = None


def table_status(plans: list[Planned], sdir: Path) -> list[RunState]:
    latest = _latest_jobs(sdir)
    live = _slurm_states(t["job_id"] for t in latest.values())
    local = {}
    for e in _read_jsonl(sdir / "local.jsonl"):
        local[e["run"]] = e
    out = []
    for p in plans:
        rec = read_record(p.cfg)
        status = rec.get("status") if rec else None
        job = latest.get(p.cfg.run_name)
        progress = f"epoch {rec['epochs_done']}/{rec['epochs_total']}" if rec and "epochs_done" in rec else ""
        if status in FINAL:
            detail = _top1(rec) + (" (diverged)" if status == "diverged" else "")
            out.append(RunState(p, "done", detail, job["job_id"] if job else "", record=rec))
            continue
        if job:
            state = _state_word(live.get(job["job_id"], ""))
            if state == "PENDING":
                out.append(RunState(p, "queued", progress, job["job_id"], record=rec))
                continue
            if state in ACTIVE:
                out.append(RunState(p, "running", progress, job["job_id"], record=rec))
                continue
            if state:
                out.append(RunState(p, "failed", f"job {state.lower()}" + (f", {progress}" if progress else ""),
                                    job["job_id"], job["stderr"], record=rec))
                continue
        loc = local.get(p.cfg.run_name)
        if loc and loc.get("rc", 0) != 0 and status not in FINAL:
            out.append(RunState(p, "failed", f"exit code {loc['rc']}" + (f", {progress}" if progress else ""),
                                log=loc.get("log", ""), record=rec))
        elif rec:
            age = time.time() - (p.cfg.run_dir / "record.json").stat().st_mtime
            out.append(RunState(p, "incomplete", f"{status}, {progress}, last update {age / 60:.0f} min ago; "
                                                 f"relaunching resumes it", record=rec))
        else:
            out.append(RunState(p, "missing"))
    return out
