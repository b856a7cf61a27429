"""The slurm executor: one job array per table and resource shape through submitit.

``TableJob`` is what each array task runs; submitit pickles it by reference, so it must stay
importable as ``experiments.launch.slurm.TableJob`` (jobs import the code from the snapshot
taken at submission, ``<state dir>/snapshots/<time>/``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import submitit

from models import ConfigError

from ..config import RunConfig
from ..tables import Planned, Table
from .plan import ROOT
from .status import ACTIVE, FINAL, append_jsonl, latest_jobs, now, read_record, state_word

__all__ = ["PROFILES_DIR", "TableJob", "available_clusters", "load_cluster", "slurm_parameters", "slurm_states",
           "submit_slurm"]

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


def _submit_array(table: Table, profile: str, shape: str, group: list[Planned], cluster: dict[str, Any],
                  overrides: dict[str, Any], sdir: Path, code: Path, out) -> None:
    """One job array for the runs of one resource shape, noted in ``<sdir>/slurm.jsonl``."""
    params = slurm_parameters(cluster, shape, overrides)
    cpus = int(params.get("cpus_per_task") or 1)
    cfgs = [dataclasses.replace(p.cfg, workers=max(0, min(cpus - 1, 16)) if profile == "full" else 0)
            .to_dict() for p in group]
    ex = submitit.AutoExecutor(folder=sdir / "submitit" / "%j", cluster="slurm", slurm_max_num_timeout=20)
    ex.update_parameters(name=f"repro-{table.id}-{profile}" + ("-imagenet" if shape == "imagenet" else ""),
                         **params)
    jobs = ex.map_array(TableJob(), cfgs)
    array_id = jobs[0].job_id.split("_")[0]
    tasks = []
    for job, p in zip(jobs, group):
        paths = job.paths
        tasks.append({"run": p.cfg.run_name, "job_id": job.job_id, "stdout": str(paths.stdout),
                      "stderr": str(paths.stderr), "run_dir": str(p.cfg.run_dir)})
    append_jsonl(sdir / "slurm.jsonl", {"time": now(), "table": table.id, "profile": profile,
                                        "cluster": cluster.get("name"), "shape": shape, "array": array_id,
                                        "parameters": params, "snapshot": str(code), "tasks": tasks})
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    print(f"submitted job array {array_id}: {len(group)} runs ({shape} shape: {shown})", file=out)


def submit_slurm(table: Table, profile: str, plans: list[Planned], sdir: Path, cluster: dict[str, Any],
                 overrides: dict[str, Any], *, selection: Iterable[str] = (), out=None) -> int:
    """Submit the table's unfinished runs as job arrays (one per resource shape); return at once.
    ``selection``: the command-line options that chose the runs, repeated in the status command."""
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
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    code = _snapshot(sdir / "snapshots" / stamp)
    print(f"code snapshot: {code}", file=out)
    with _submission_env(code):
        for shape, group in shapes.items():
            _submit_array(table, profile, shape, group, cluster, overrides, sdir, code, out)
    status = f"./reproduce.sh status {table.id} --profile {profile}" + "".join(f" {a}" for a in selection)
    print(f"\nwatch:   {status}\n         squeue -u $USER\n         logs in {sdir / 'submitit'}/<job id>/"
          f"\ncollect: {status} --csv {table.id}-{profile}.csv  (one line per run: state, final and best "
          f"accuracy, log;\n         and the table rebuilt beside the paper's in {sdir}/{table.id}.md)",
          file=out, flush=True)
    return 0
