"""The slurm executor: one job array per table and resource shape through submitit.

``TableJob`` is what each array task runs; submitit pickles it by reference, so it must stay
importable as ``experiments.launch.slurm.TableJob`` (jobs import the code from the snapshot
taken at submission, ``<state dir>/snapshots/<time>/``). With ``--pack K`` (issue 17: small
CIFAR nets leave most of a GPU idle) each array task is a ``PackedJob`` of up to K runs sharing
the task's GPU, one process per run; ``--pack auto`` takes K from measured packing records
(``experiments.launch.cost.choose_pack``). Only single-GPU shapes are packed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import submitit

from models import ConfigError

from ..config import RunConfig
from ..tables import Planned, Table
from .cost import choose_pack, pack_groups, pack_value, packing_records, shown_path
from .plan import ROOT, cli_args
from .status import ACTIVE, FINAL, append_jsonl, latest_jobs, now, read_jsonl, read_record, state_word

__all__ = ["PROFILES_DIR", "TableJob", "PackedJob", "available_clusters", "load_cluster", "slurm_parameters",
           "slurm_states", "submit_slurm", "shape_pack", "pretrained_jobs"]

PROFILES_DIR = ROOT / "slurm" / "profiles"


class TableJob(submitit.helpers.Checkpointable):
    """One run of a table inside a SLURM job (pickled by submitit; takes the config as a dict).

    submitit installs its own SIGUSR2 handler in the job (time limit, preemption): it calls
    ``checkpoint``, which resubmits this same call, and requeues the job. ``run`` is therefore
    called with ``handle_signals=False``; the requeued job resumes from the run's last epoch
    checkpoint. Threads follow the task's CPUs (SLURM may not confine them).
    """

    def __call__(self, cfg: dict[str, Any]) -> dict[str, Any]:
        import torch

        from ..run import run

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


class PackedJob(submitit.helpers.Checkpointable):
    """Up to k runs of a table sharing the GPU of one SLURM array task (issue 17: small CIFAR
    ResNets leave most of a modern GPU idle, so one run per GPU pays for idle silicon).

    Each run is its own process, ``python -m experiments.run <its arguments>``: its own run
    folder, checkpoints and resume exactly as a single run, its own signal handling (SIGTERM /
    SIGUSR2 -> checkpoint at the next step, exit 'interrupted'), and ``cpus_per_task // k`` CPU
    threads. Runs already finished are skipped, so a requeued job resumes only the others.

    Signals: submitit's SIGUSR2 handler (time limit, preemption) calls ``checkpoint``, which
    forwards SIGUSR2 to the runs, waits until they have checkpointed and requeues the job.
    SIGTERM (preemption, cancel) is forwarded too; when every run has stopped and no SIGUSR2
    followed within ``grace_s`` (longer than SLURM's KillWait, so a cancelled job is killed
    first), the job sends itself SIGUSR2 and requeues through submitit as well. The return
    value lists each run's status; a run that failed fails the job (its exception names it).
    """

    grace_s = 120.0  # after all runs stopped on SIGTERM: wait this long for SIGUSR2 / SIGKILL
    stop_timeout_s = 80.0  # after forwarding SIGUSR2: wait this long for the runs' checkpoints

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.signalled = False

    def __getstate__(self) -> dict:
        return {}  # the processes belong to this attempt only

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def __call__(self, cfgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ..run import finished_record

        configs = [RunConfig.from_dict(c) for c in cfgs]
        todo = [c for c in configs if finished_record(c) is None]
        threads = max(1, int(os.environ.get("SLURM_CPUS_PER_TASK", "1") or 1) // max(1, len(todo)))
        print(f"[packed-job] {len(configs)} runs, {len(todo)} to train, {threads} CPU threads each "
              f"(SLURM_RESTART_COUNT={os.environ.get('SLURM_RESTART_COUNT', '0')})", flush=True)
        previous = signal.signal(signal.SIGTERM, self._forward)
        try:
            for cfg in todo:
                if not self.signalled:  # a stop signal during start-up: start no more
                    self.children[cfg.run_name] = self._start(cfg, threads)
            while any(p.poll() is None for p in self.children.values()):
                time.sleep(0.5)
            results = [self._result(c) for c in configs]
            if any(r["status"] == "interrupted" for r in results):
                self._requeue_when_stopped()
        finally:
            signal.signal(signal.SIGTERM, previous)
        failed = [r["run_name"] for r in results if r["status"] == "failed"]
        if failed:
            raise RuntimeError(f"packed runs failed: {', '.join(failed)} (their output is above); "
                               f"statuses: {json.dumps(results)}")
        return results

    @staticmethod
    def _start(cfg: RunConfig, threads: int) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
        print(f"[packed-job] starting {cfg.run_name}", flush=True)
        return subprocess.Popen([sys.executable, "-m", "experiments.run", *cli_args(cfg)], env=env)

    def _result(self, cfg: RunConfig) -> dict[str, Any]:
        """A run's status: its record's when final; 'interrupted' when stopped by a signal; else 'failed'."""
        rec = read_record(cfg) or {}
        proc = self.children.get(cfg.run_name)
        status = rec.get("status")
        if status not in FINAL:
            rc = proc.returncode if proc else None
            status = "interrupted" if rc == 3 or (self.signalled and rc != 0) else "failed"
        return {"run_name": cfg.run_name, "status": status, "final": rec.get("final"), "resumes": rec.get("resumes")}

    def _forward(self, signum: int, frame=None) -> None:
        """Pass a stop signal on to the runs still training."""
        self.signalled = True
        print(f"[packed-job] signal {signal.Signals(signum).name}: forwarded to the runs, which checkpoint "
              f"at their next step", flush=True)
        for proc in self.children.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def _requeue_when_stopped(self) -> None:
        """Runs stopped by a signal: wait for SLURM's follow-up (SIGUSR2 -> submitit requeues and
        exits; SIGKILL), else requeue through submitit's own SIGUSR2 path."""
        grace = float(os.environ.get("REPRO_PACK_GRACE_S") or self.grace_s)  # tests shorten it
        deadline = time.time() + grace
        while time.time() < deadline:
            time.sleep(0.5)
        print(f"[packed-job] runs interrupted and no SIGUSR2 within {grace:.0f} s: requeueing", flush=True)
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(5.0)  # submitit's handler requeues and exits while this sleeps

    def checkpoint(self, cfgs: list[dict[str, Any]]) -> submitit.helpers.DelayedSubmission:
        print("[packed-job] time limit or preemption: the runs checkpoint, then the job is requeued; "
              "finished runs are skipped and the others resume", flush=True)
        self._forward(signal.SIGUSR2)
        deadline = time.time() + self.stop_timeout_s
        for proc in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
        return submitit.helpers.DelayedSubmission(PackedJob(), cfgs)


# --------------------------------------------------------------------------- cluster profiles
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


# --------------------------------------------------------------------------- job states
def _run_lines(cmd: list[str]) -> list[str]:
    """stdout lines of a SLURM query; none when it fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []


def slurm_states(job_ids: Iterable[str]) -> dict[str, str]:
    """State of each job id (array tasks as 'ARRAY_TASK'): squeue for live jobs, sacct for the rest."""
    ids = sorted(set(job_ids))
    states: dict[str, str] = {}
    if not ids or not shutil.which("squeue"):
        return states
    arrays = sorted({i.split("_")[0] for i in ids})
    for line in _run_lines(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)]):
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    missing = [i for i in ids if i not in states]
    if missing and shutil.which("sacct"):
        for line in _run_lines(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(arrays)]):
            parts = line.split("|")
            if len(parts) >= 2 and parts[0] in missing:
                states[parts[0]] = parts[1].split()[0]
    return states


def pretrained_jobs(plans: list[Planned]) -> dict[str, str]:
    """``run:<ImageNet run>`` -> the id of the queued or running SLURM job that trains it, for
    the ImageNet runs the detection ``plans`` start from: the run's latest task in any table
    launch under the runs' out_root (``<out_root>/_launch/*/slurm.jsonl``; the ImageNet run of
    a detection row is the paper's ImageNet-table run, same hash). Runs with no live job are
    left out."""
    from ..tables.base import PRETRAINED_RUN

    wanted = {p.cfg.pretrained for p in plans if p.cfg.detector and (p.cfg.pretrained or "").startswith(PRETRAINED_RUN)}
    if not wanted:
        return {}
    tasks: dict[str, tuple[str, str]] = {}  # run -> (submission time, job id); the newest wins
    for manifest in sorted({Path(p.cfg.out_root).resolve() for p in plans}):
        for f in manifest.glob("_launch/*/slurm.jsonl"):
            for sub in read_jsonl(f):
                for t in sub.get("tasks", []):
                    key = PRETRAINED_RUN + t["run"]
                    if key in wanted and sub.get("time", "") >= tasks.get(key, ("", ""))[0]:
                        tasks[key] = (sub.get("time", ""), t["job_id"])
    live = slurm_states(job for _, job in tasks.values())
    return {k: job for k, (_, job) in tasks.items() if state_word(live.get(job, "")) in ACTIVE}


# --------------------------------------------------------------------------- submission
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


def _unsubmitted(plans: list[Planned], sdir: Path) -> tuple[list[Planned], int, int]:
    """(runs to submit, runs done, runs whose last job is queued or running)."""
    latest = latest_jobs(sdir)
    live = slurm_states(t["job_id"] for t in latest.values())
    todo, done, inflight = [], 0, 0
    for p in plans:
        rec = read_record(p.cfg)
        if rec and rec.get("status") in FINAL:
            done += 1
            continue
        job = latest.get(p.cfg.run_name)
        if job and state_word(live.get(job["job_id"], "")) in ACTIVE:
            inflight += 1
            continue
        todo.append(p)
    return todo, done, inflight


@contextlib.contextmanager
def _submission_env(code: Path) -> Iterator[None]:
    """sbatch exports this process's environment and records its directory as the jobs' working
    directory: both point at the code snapshot while submitting, and are restored after."""
    saved_pp, saved_omp = os.environ.get("PYTHONPATH"), os.environ.get("OMP_WAIT_POLICY")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), saved_pp]))  # sbatch exports it
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see experiments.launch.local
    cwd = Path.cwd()
    try:
        os.chdir(code)  # sbatch records the submission directory as the job's working directory
        yield
    finally:
        os.chdir(cwd)
        for name, value in (("PYTHONPATH", saved_pp), ("OMP_WAIT_POLICY", saved_omp)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def shape_pack(pack: int | str, shape: str, group: list[Planned], cluster: dict[str, Any],
               overrides: dict[str, Any]) -> tuple[int, str]:
    """(runs per array task, where that number came from) for one resource shape's runs.
    Only single-GPU shapes are packed: ``--pack K > 1`` for a data-parallel shape is a ConfigError."""
    params = slurm_parameters(cluster, shape, overrides)
    spread = {k: int(params.get(k) or 1) for k in ("gpus_per_node", "nodes", "tasks_per_node")}
    if max(spread.values()) > 1:
        k = pack_value(pack)
        if k is not None and k > 1:
            raise ConfigError(f"--pack {k}: the {shape} runs are data-parallel ({spread['gpus_per_node']} GPUs x "
                              f"{spread['nodes']} nodes) and cannot share a GPU; pass --pack 1 or --pack auto "
                              f"(which packs only single-GPU runs)")
        return 1, "data-parallel runs are not packed"
    k, records = choose_pack(pack, group, packing_records(), {}, max_pack=cluster.get("max_pack"))
    if records:
        return k, "--pack auto, from " + ", ".join(shown_path(r) for r in records)
    return k, f"--pack {pack}" + (": no packing measurement in results/bench/" if pack_value(pack) is None else "")


def check_world_size(shape: str, group: list[Planned], params: dict[str, Any]) -> None:
    """One-line ConfigError, before anything is submitted, when a run's batch (the global batch
    of a data-parallel run, classification or detection) cannot be split evenly over the
    ``nodes x tasks_per_node`` processes of its shape: each rank would refuse it at start."""
    nodes, tasks = int(params.get("nodes") or 1), int(params.get("tasks_per_node") or 1)
    for p in group:
        batch = p.cfg.effective_recipe().batch_size
        if batch % (nodes * tasks):
            raise ConfigError(f"{p.cfg.run_name}: batch size {batch} is not divisible by the {nodes * tasks} processes "
                              f"of the {shape} shape ({nodes} nodes x {tasks} tasks); pass --gpus N such that {nodes} x N "
                              f"divides it, or change the cluster profile's {shape!r} nodes / gpus_per_node")


def _submit_array(table: Table, profile: str, shape: str, group: list[Planned], cluster: dict[str, Any],
                  overrides: dict[str, Any], sdir: Path, code: Path, out, packing: tuple[int, str],
                  dependencies: Mapping[str, str]) -> None:
    """One job array for the runs of one resource shape, ``packing[0]`` runs per array task,
    noted in ``<sdir>/slurm.jsonl`` (one task line per run; packed runs share a job id). The
    array waits (afterok) for the ``dependencies`` jobs of its runs' ``pretrained`` names."""
    params = slurm_parameters(cluster, shape, overrides)
    after = [dependencies.get(p.cfg.pretrained) for p in group]  # the ImageNet job each run waits for
    waits = sorted({job for job in after if job})
    if waits:  # detection rows behind the ImageNet jobs they start from; cancelled if one of those fails
        params = {**params, "slurm_dependency": "afterok:" + ":".join(waits),
                  "slurm_additional_parameters": {"kill-on-invalid-dep": "yes"}}
    k = packing[0]
    cpus = int(params.get("cpus_per_task") or 1) // k
    cfgs = [dataclasses.replace(p.cfg, workers=max(0, min(cpus - 1, 16)) if profile == "full" else 0)
            .to_dict() for p in group]
    ex = submitit.AutoExecutor(folder=sdir / "submitit" / "%j", cluster="slurm", slurm_max_num_timeout=20)
    ex.update_parameters(name=f"repro-{table.id}-{profile}" + ("-imagenet" if shape == "imagenet" else ""),
                         **params)
    chunks = pack_groups(list(range(len(group))), k)
    if k > 1:
        jobs = ex.map_array(PackedJob(), [[cfgs[i] for i in chunk] for chunk in chunks])
    else:
        jobs = ex.map_array(TableJob(), cfgs)
    array_id = jobs[0].job_id.split("_")[0]
    tasks = []
    for job, chunk in zip(jobs, chunks):
        paths = job.paths
        tasks += [{"run": group[i].cfg.run_name, "job_id": job.job_id, "stdout": str(paths.stdout),
                   "stderr": str(paths.stderr), "run_dir": str(group[i].cfg.run_dir),
                   **({"after": after[i]} if after[i] else {})} for i in chunk]
    append_jsonl(sdir / "slurm.jsonl", {"time": now(), "table": table.id, "profile": profile,
                                        "cluster": cluster.get("name"), "shape": shape, "array": array_id,
                                        "parameters": params, "pack": k, "snapshot": str(code), "tasks": tasks})
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("slurm_dependency",
                                                                          "slurm_additional_parameters"))
    packed = f"; {k} runs per task sharing its GPU, {len(jobs)} tasks ({packing[1]})" if k > 1 else ""
    after = f"; waits for ImageNet job(s) {', '.join(waits)} (afterok)" if waits else ""
    print(f"submitted job array {array_id}: {len(group)} runs ({shape} shape: {shown}{packed}){after}", file=out)


def submit_slurm(table: Table, profile: str, plans: list[Planned], sdir: Path, cluster: dict[str, Any],
                 overrides: dict[str, Any], *, selection: Iterable[str] = (), out=None, pack: int | str = 1,
                 dependencies: Mapping[str, str] | None = None) -> int:
    """Submit the table's unfinished runs as job arrays (one per resource shape); return at once.
    ``selection``: the command-line options that chose the runs, repeated in the status command.
    ``pack``: runs per array task sharing one GPU, or 'auto' (``shape_pack``). ``dependencies``:
    ``run:<ImageNet run>`` -> its queued job (``pretrained_jobs``): an array with detection runs
    that start from one waits for it (``--dependency afterok:...``, ``--kill-on-invalid-dep yes``:
    when an ImageNet job fails, the detection jobs behind it are cancelled instead of pending
    forever; relaunching then resubmits them)."""
    out = sys.stdout if out is None else out
    if not shutil.which("sbatch"):
        raise ConfigError("--executor slurm needs SLURM's sbatch on PATH: run this on the cluster's login node")
    todo, done, inflight = _unsubmitted(plans, sdir)
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
    for shape, group in shapes.items():
        check_world_size(shape, group, slurm_parameters(cluster, shape, overrides))
    packs = {shape: shape_pack(pack, shape, group, cluster, overrides) for shape, group in shapes.items()}
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    code = _snapshot(sdir / "snapshots" / stamp)
    print(f"code snapshot: {code}", file=out)
    with _submission_env(code):
        for shape, group in shapes.items():
            _submit_array(table, profile, shape, group, cluster, overrides, sdir, code, out, packs[shape],
                          dependencies or {})
    status = f"./reproduce.sh status {table.id} --profile {profile}" + "".join(f" {a}" for a in selection)
    print(f"\nwatch:   {status}\n         squeue -u $USER\n         logs in {sdir / 'submitit'}/<job id>/"
          f"\ncollect: {status} --csv {table.id}-{profile}.csv  (one line per run: state, final and best "
          f"accuracy, log;\n         and the table rebuilt beside the paper's in {sdir}/{table.id}.md)",
          file=out, flush=True)
    return 0
