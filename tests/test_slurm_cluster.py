"""Round trips through a REAL SLURM cluster with submitit.

Skipped unless REPRO_SLURM_TESTS=1. Start the one-node test cluster first:

    slurm/local-cluster.sh start
    REPRO_SLURM_TESTS=1 python -m pytest -q tests/test_slurm_cluster.py
    slurm/local-cluster.sh stop
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("REPRO_SLURM_TESTS") != "1",
    reason="needs a running SLURM cluster: slurm/local-cluster.sh start, then REPRO_SLURM_TESTS=1 ./reproduce.sh test",
)

HERE = Path(__file__).resolve().parent


def square_plus_task(x):
    """Runs inside the SLURM job; top level so the job can import it by reference."""
    return x * x, int(os.environ.get("SLURM_ARRAY_TASK_ID", "-1"))


def sleep_long(seconds):
    time.sleep(seconds)
    return "finished"


@pytest.fixture
def executor(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    assert shutil.which("sbatch"), "sbatch not on PATH although REPRO_SLURM_TESTS=1"
    # submitit pickles top-level functions by reference: the job's Python (same interpreter,
    # environment exported by sbatch) must be able to import this module.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    ex = submitit.AutoExecutor(folder=tmp_path / "submitit")
    assert ex.cluster == "slurm"
    ex.update_parameters(
        slurm_partition="debug", timeout_min=5, cpus_per_task=1, mem_gb=0.5, slurm_array_parallelism=2,
        name="repro-test",
    )
    return ex


def test_job_array_round_trip(executor):
    xs = [1, 2, 3, 4]
    t0 = time.time()
    jobs = executor.map_array(square_plus_task, xs)
    assert len(jobs) == 4
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1, "expected ONE array job"
    results = [j.result() for j in jobs]  # 4 tasks, 2 at a time: a few seconds on the local cluster
    assert [r[0] for r in results] == [1, 4, 9, 16]
    assert sorted(r[1] for r in results) == [0, 1, 2, 3]
    assert time.time() - t0 < 60


def test_scancel_raises_uncompleted(executor):
    from submitit.core.utils import UncompletedJobError

    job = executor.submit(sleep_long, 600)
    try:
        deadline = time.time() + 30
        while job.state != "RUNNING":
            assert time.time() < deadline, f"job never started, state {job.state}"
            time.sleep(0.5)
        subprocess.run(["scancel", str(job.job_id)], check=True)
        # With accounting (sacct) the watcher sees CANCELLED; without it this would wait forever.
        deadline = time.time() + 60
        while not job.done(force_check=True):
            assert time.time() < deadline, f"cancelled job not seen as done, state {job.state}"
            time.sleep(1)
        t0 = time.time()
        with pytest.raises(UncompletedJobError):
            job.result()
        assert time.time() - t0 < 30
        assert job.state.startswith("CANCELLED")
    finally:
        subprocess.run(["scancel", str(job.job_id)], check=False, stderr=subprocess.DEVNULL)
