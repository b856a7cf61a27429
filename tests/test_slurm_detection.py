"""A detection table launched on a REAL SLURM cluster while the ImageNet runs its rows start
from are still queued: the detection array is submitted behind their jobs (afterok), and is
cancelled, not left pending, when one of them fails.

Skipped unless REPRO_SLURM_TESTS=1 (CI sets it after `slurm/local-cluster.sh start`).
"""
import io
import os
import subprocess

import pytest

from experiments.launch import (check_pretrained, load_cluster, pretrained_jobs, prepare, state_dir, submit_slurm,
                                table_status)
from experiments.launch.slurm import slurm_states
from experiments.launch.status import append_jsonl, now, read_jsonl
from experiments.tables import get_table
from models import ConfigError
from test_slurm_tables import wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("REPRO_SLURM_TESTS") != "1",
    reason="needs a running SLURM cluster: slurm/local-cluster.sh start, then REPRO_SLURM_TESTS=1 ./reproduce.sh test",
)


def test_detection_array_waits_for_the_queued_imagenet_job_and_is_cancelled_when_it_fails(tmp_path):
    table = get_table("ela.table5")
    plans = prepare(table, "full", limit=1, out_root=str(tmp_path))
    (plan,) = plans
    assert plan.cfg.pretrained.startswith("run:")
    with pytest.raises(ConfigError, match="neither finished nor queued on SLURM"):
        check_pretrained(table, plans)  # no job trains the ImageNet run: refused as before
    assert pretrained_jobs(plans) == {}

    # a stand-in for the ImageNet table's job, noted where that table's launch notes its tasks
    imagenet = subprocess.run(["sbatch", "--parsable", "--partition", "debug", "--mem", "100M", "--output",
                               str(tmp_path / "imagenet.out"), "--wrap", "sleep 600"],
                              capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    detection = None
    try:
        append_jsonl(state_dir(tmp_path, "ela.table2", "full") / "slurm.jsonl",
                     {"time": now(), "table": "ela.table2", "profile": "full",
                      "tasks": [{"run": plan.cfg.pretrained[len("run:"):], "job_id": imagenet}]})
        queued = pretrained_jobs(plans)
        assert queued == {plan.cfg.pretrained: imagenet}
        check_pretrained(table, plans, queued)  # waited for, not refused

        out = io.StringIO()
        sdir = state_dir(tmp_path, "ela.table5", "full")
        submit_slurm(table, "full", plans, sdir, load_cluster("local"), {}, out=out, dependencies=queued)
        assert f"waits for ImageNet job(s) {imagenet} (afterok)" in out.getvalue()
        (sub,) = read_jsonl(sdir / "slurm.jsonl")
        assert sub["parameters"]["slurm_dependency"] == f"afterok:{imagenet}"
        detection = sub["tasks"][0]["job_id"]
        info = subprocess.run(["scontrol", "show", "job", detection], capture_output=True, text=True).stdout
        assert f"Dependency=afterok:{imagenet}" in info and "JobState=PENDING" in info, info
        (state,) = table_status(plans, sdir)
        assert (state.state, state.detail) == ("queued", f"after ImageNet job {imagenet} (afterok)")

        subprocess.check_call(["scancel", imagenet])  # the ImageNet run fails
        wait_for(lambda: slurm_states([detection]).get(detection, "").startswith("CANCELLED"), 180,
                 "the detection job behind the failed ImageNet job to be cancelled (kill-on-invalid-dep)")
    finally:
        subprocess.run(["scancel", imagenet] + ([detection] if detection else []), capture_output=True)
