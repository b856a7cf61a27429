"""Packing (issue 17) through a REAL SLURM cluster: two runs sharing one array task, and a
requeue (preemption as SLURM does it) that resumes both.

Skipped unless REPRO_SLURM_TESTS=1 (CI sets it after `slurm/local-cluster.sh start`):

    slurm/local-cluster.sh start
    REPRO_SLURM_TESTS=1 .venv/bin/python -m pytest -q tests/test_slurm_packing.py
    slurm/local-cluster.sh stop
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import test_slurm_tables as slurm_tables  # tests/ is on the path (no package)
from test_slurm_tables import LONG_SUBSET, TABLE, cli, record, wait_for

from experiments.launch import cli_args, prepare, state_dir
from experiments.params import ROOT
from experiments.tables import get_table

pytestmark = slurm_tables.pytestmark  # skipped, with the reason, unless REPRO_SLURM_TESTS=1

#: what may differ between an interrupted-and-resumed run and an uninterrupted one
TIMING = {"epoch_time_s", "eval_time_s", "images_per_s", "train_time_s", "environment", "git", "seconds", "out_root",
          "resumes"}


def submit(out_root, *extra):
    return slurm_tables.submit(out_root, "--pack", "2", *extra)


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def the_one_task(sdir):
    (sub,) = [json.loads(line) for line in (sdir / "slurm.jsonl").read_text().splitlines()]
    assert sub["pack"] == 2 and len(sub["tasks"]) == 2
    (job_id,) = {t["job_id"] for t in sub["tasks"]}  # both runs in one task
    return job_id


@pytest.fixture(autouse=True)
def _cluster():
    assert shutil.which("sbatch") and shutil.which("sacct"), "SLURM tools not on PATH although REPRO_SLURM_TESTS=1"


def test_packed_task_trains_both_runs_to_their_records(tmp_path):
    args = ("--limit", "2", "--train-subset", "32", "--test-subset", "32", "--mem-gb", "3")
    res = submit(tmp_path, *args)
    assert re.search(r"submitted job array \d+: 2 runs \(.*; 2 runs per task sharing its GPU, 1 tasks \(--pack 2\)\)",
                     res.stdout), res.stdout
    plans = prepare(get_table(TABLE), "smoke", limit=2, out_root=str(tmp_path), train_subset=32, test_subset=32)
    sdir = state_dir(tmp_path, TABLE, "smoke")
    job_id = the_one_task(sdir)
    wait_for(lambda: all((record(p.cfg) or {}).get("status") == "done" for p in plans), 300, "2 done records")
    for p in plans:
        rec = record(p.cfg)
        assert rec["smoke"] and rec["resumes"] == 0 and rec["epochs_done"] == 3
        assert rec["config"]["model"] == p.cfg.model
    status = wait_for(lambda: (r := cli("status", TABLE, "--profile", "smoke", "--out-root", str(tmp_path), *args[:-2]))
                      and "2 runs: 2 done" in r.stdout and r, 60, "status to say 2 done")
    assert status.stdout.count(f"job {job_id}") == 2
    log = wait_for(lambda: (p := sdir / "submitit" / job_id / f"{job_id}_0_log.out").is_file() and p.read_text(), 60,
                   "the task's log")
    assert "[packed-job] 2 runs, 2 to train, 1 CPU threads each" in log
    assert all(f"[packed-job] starting {p.cfg.run_name}" in log for p in plans)


def test_requeued_packed_task_resumes_both_runs_to_the_uninterrupted_records(tmp_path):
    # two runs long enough to be caught mid-way (LONG_SUBSET), 3 epochs
    args = ("--limit", "2", "--epochs", "3", "--train-subset", str(LONG_SUBSET), "--test-subset", "32",
            "--mem-gb", "3")
    submit(tmp_path / "slurm", *args)
    plans = prepare(get_table(TABLE), "smoke", limit=2, out_root=str(tmp_path / "slurm"), epochs=3,
                    train_subset=LONG_SUBSET, test_subset=32)
    sdir = state_dir(tmp_path / "slurm", TABLE, "smoke")
    job_id = the_one_task(sdir)

    wait_for(lambda: all((record(p.cfg) or {}).get("epochs_done", 0) >= 1 for p in plans), 400,
             "both runs' first epoch checkpoints", every=0.25)
    assert all(record(p.cfg)["status"] == "running" and record(p.cfg)["epochs_done"] < 3 for p in plans), \
        "finished before it could be interrupted"
    # preemption as SLURM does it (see tests/test_slurm_tables.py): SIGTERM, a grace period, USR2
    subprocess.check_call(["scancel", job_id, "--signal", "SIGTERM"])
    time.sleep(2.0)
    subprocess.check_call(["scancel", job_id, "--signal", "USR2"])

    wait_for(lambda: (r := cli("status", TABLE, "--profile", "smoke", "--out-root", str(tmp_path / "slurm"),
                               *args[:-2])).returncode == 0 and "2 runs: 2 done" in r.stdout and r,
             600, "both requeued runs to finish")
    log = (sdir / "submitit" / job_id / f"{job_id}_0_log.out").read_text()
    assert f"Requeued job {job_id}" in log  # submitit, after PackedJob.checkpoint()
    assert "SLURM_RESTART_COUNT=1" in log and log.count("resuming at epoch") == 2  # both, in the second attempt

    # the same two runs uninterrupted, outside SLURM, one thread each as in the packed task
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    refs = prepare(get_table(TABLE), "smoke", limit=2, out_root=str(tmp_path / "ref"), epochs=3,
                   train_subset=LONG_SUBSET, test_subset=32)
    procs = [subprocess.Popen([sys.executable, "-m", "experiments.run", *cli_args(r.cfg)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL) for r in refs]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    for p, r in zip(plans, refs):
        rec, ref = record(p.cfg), record(r.cfg)
        assert rec["status"] == "done" and rec["resumes"] == 1 and rec["epochs_done"] == 3
        assert [e["epoch"] for e in rec["epochs"]] == [0, 1, 2]
        assert ref["resumes"] == 0 and strip(rec) == strip(ref)


def test_sigterm_alone_requeues_the_packed_task_after_the_grace_period(tmp_path, monkeypatch):
    # SIGTERM with no SIGUSR2 or SIGKILL after it: the runs checkpoint, the task requeues itself
    monkeypatch.setenv("REPRO_PACK_GRACE_S", "5")  # exported to the job by sbatch
    args = ("--limit", "2", "--epochs", "2", "--train-subset", str(LONG_SUBSET), "--test-subset", "32",
            "--mem-gb", "3")
    submit(tmp_path, *args)
    plans = prepare(get_table(TABLE), "smoke", limit=2, out_root=str(tmp_path), epochs=2,
                    train_subset=LONG_SUBSET, test_subset=32)
    sdir = state_dir(tmp_path, TABLE, "smoke")
    job_id = the_one_task(sdir)
    wait_for(lambda: all((record(p.cfg) or {}).get("epochs_done", 0) >= 1 for p in plans), 400,
             "both runs' first epoch checkpoints", every=0.25)
    assert all(record(p.cfg)["status"] == "running" for p in plans), "finished before it could be interrupted"
    subprocess.check_call(["scancel", job_id, "--signal", "SIGTERM"])
    wait_for(lambda: all((record(p.cfg) or {}).get("status") == "done" for p in plans), 600,
             "both requeued runs to finish")
    assert [record(p.cfg)["resumes"] for p in plans] == [1, 1]
    log = (sdir / "submitit" / job_id / f"{job_id}_0_log.out").read_text()
    assert "no SIGUSR2 within 5 s: requeueing" in log and f"Requeued job {job_id}" in log
    assert "SLURM_RESTART_COUNT=1" in log
