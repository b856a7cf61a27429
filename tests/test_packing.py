"""Packing (issue 17): several small runs sharing one GPU inside one SLURM array task.

Grouping, the ``--pack auto`` choice from measured packing records, the cost estimate with
packing, the refusal for data-parallel shapes, and a packed job run in this process (no
SLURM). The round trips through the local SLURM cluster are in tests/test_slurm_packing.py.
"""
import json
import pickle
import types

import pytest

from experiments import launch
from experiments.launch import cost, slurm
from experiments.launch.cost import best_pack, choose_pack, pack_groups, packing_records
from experiments.tables import get_table
from models import ConfigError


def plant_packing(folder, model, by_k, batch_size=128, tag="h200"):
    (folder / tag).mkdir(parents=True, exist_ok=True)
    path = folder / tag / f"packing.{model}.bs{batch_size}.json"
    path.write_text(json.dumps({"kind": "packing", "model": model, "batch_size": batch_size,
                                "dataset": "fashionmnist", "device": "cuda", "gpu_name": "NVIDIA H200",
                                "by_k": {str(k): {"images_per_s": v} for k, v in by_k.items()},
                                "best_k": max(by_k, key=by_k.get)}))
    return path


def plant_epoch_time(folder, cfg, seconds=10.0):
    """A measured GPU epoch time in the run-record layout (as tests/test_tables.py)."""
    rec = {"config": {"model": cfg.model, "model_kwargs": cfg.model_kwargs, "dataset": "cifar10", "batch_size": 128},
           "epochs": [{"epoch_time_s": seconds}], "dataset": {"train_images": 50_000}, "world_size": 1,
           "environment": {"device": "cuda:0", "gpu": "NVIDIA H100"}}
    (folder / "h100").mkdir(parents=True, exist_ok=True)
    (folder / "h100" / f"{cfg.model}.json").write_text(json.dumps(rec))


@pytest.fixture(scope="module")
def resnet20_runs():
    """ELA Table 1's ten ResNet-20 runs (5 seeds x CIFAR-10/100), full profile."""
    plans = launch.prepare(get_table("ela.table1"), "full")
    return [p for p in plans if p.cfg.model == "resnet20"]


# --------------------------------------------------------------------------- (a) grouping
def test_ten_runs_packed_by_four_are_three_tasks_of_4_4_2():
    assert [len(g) for g in pack_groups(list(range(10)), 4)] == [4, 4, 2]
    assert pack_groups(list(range(10)), 4)[2] == [8, 9]
    assert [len(g) for g in pack_groups(list(range(3)), 1)] == [1, 1, 1]


class _FakeExecutor:
    """submitit.AutoExecutor without SLURM: records what would be submitted."""
    submitted: list = []

    def __init__(self, folder, cluster, slurm_max_num_timeout):
        self.folder = folder

    def update_parameters(self, **params):
        self.params = params

    def map_array(self, fn, args):
        args = list(args)
        _FakeExecutor.submitted.append((fn, args, self.params))
        return [types.SimpleNamespace(job_id=f"77_{i}", paths=types.SimpleNamespace(stdout=f"o{i}", stderr=f"e{i}"))
                for i in range(len(args))]


def test_submission_packs_ten_runs_into_three_array_tasks(tmp_path, monkeypatch, resnet20_runs):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(slurm, "_snapshot", lambda dest: dest.mkdir(parents=True) or dest)
    monkeypatch.setattr(slurm.submitit, "AutoExecutor", _FakeExecutor)
    monkeypatch.setattr(slurm, "slurm_states", lambda ids: {})
    _FakeExecutor.submitted = []
    plans = [launch.prepare(get_table("ela.table1"), "full", out_root=str(tmp_path))[i] for i in range(10)]
    cluster = launch.load_cluster("example-gpu-cluster")  # 8 CPUs per task
    rc = launch.submit_slurm(get_table("ela.table1"), "full", plans, tmp_path / "state", cluster, {}, pack=4,
                             out=open(tmp_path / "out.txt", "w"))
    assert rc == 0
    ((fn, args, params),) = _FakeExecutor.submitted
    assert isinstance(fn, slurm.PackedJob) and [len(a) for a in args] == [4, 4, 2]
    assert [c["model"] for a in args for c in a] == [p.cfg.model for p in plans]
    assert {c["workers"] for a in args for c in a} == {1}  # 8 CPUs / 4 runs = 2 each: 1 loader worker + 1
    (sub,) = [json.loads(line) for line in (tmp_path / "state" / "slurm.jsonl").read_text().splitlines()]
    assert sub["pack"] == 4 and [t["job_id"] for t in sub["tasks"]] == ["77_0"] * 4 + ["77_1"] * 4 + ["77_2"] * 2
    assert [t["run"] for t in sub["tasks"]] == [p.cfg.run_name for p in plans]
    assert "10 runs" in (tmp_path / "out.txt").read_text() and "3 tasks (--pack 4)" in (tmp_path / "out.txt").read_text()


def test_packed_job_pickles_without_its_processes():
    job = slurm.PackedJob()
    job.children["x"] = object()
    again = pickle.loads(pickle.dumps(job))
    assert type(again) is slurm.PackedJob and again.children == {} and not again.signalled
    assert slurm.TableJob.__module__ == "experiments.launch.slurm"  # submitit pickles it by reference


# --------------------------------------------------------------------------- (b) --pack auto
def test_best_pack_takes_the_smallest_k_within_5_percent_of_the_highest():
    assert best_pack({1: 1000.0, 2: 1900.0, 4: 2950.0, 8: 3000.0}) == 4  # 2950 >= 0.95 * 3000 = 2850
    assert best_pack({1: 1000.0, 2: 1900.0, 4: 2800.0, 8: 3000.0}) == 8  # 2800 < 2850
    assert best_pack({1: 1000.0, 2: 2000.0, 4: 2100.0}) == 2  # 2000 >= 1995: a tie within 5%
    assert best_pack({1: 1000.0, 2: 900.0}) == 1  # packing slower: stay alone


def test_auto_picks_k_from_the_planted_record(tmp_path, resnet20_runs):
    assert choose_pack("auto", resnet20_runs, packing_records(tmp_path), {}) == (1, [])  # no records: 1
    path = plant_packing(tmp_path, "resnet20", {1: 1000.0, 2: 1800.0, 4: 2900.0, 8: 3000.0})
    records = packing_records(tmp_path)
    assert choose_pack("auto", resnet20_runs, records, {}) == (4, [path])
    assert choose_pack("auto", resnet20_runs, records, {}, max_pack=2) == (2, [path])  # the profile's cap
    assert choose_pack(3, resnet20_runs, records, {}) == (3, [])  # a number is taken as given
    for bad in ("0", "x", -1):
        with pytest.raises(ConfigError, match="--pack must be a number"):
            choose_pack(bad, resnet20_runs, records, {})


def test_auto_borrows_the_record_of_the_model_with_the_closest_macs(tmp_path, resnet20_runs):
    plant_packing(tmp_path, "resnet110", {1: 1000.0, 2: 1010.0})  # far more MACs than ResNet-20: k = 1
    near = plant_packing(tmp_path, "resnet56", {1: 1000.0, 2: 1500.0, 4: 1540.0})  # the closest: k = 2
    plant_packing(tmp_path, "not_a_model", {1: 1000.0, 8: 9000.0})  # unknown model: never borrowed
    assert choose_pack("auto", resnet20_runs, packing_records(tmp_path), {}) == (2, [near])


def test_slurm_auto_reads_records_under_bench_dir(tmp_path, monkeypatch, resnet20_runs):
    path = plant_packing(tmp_path, "resnet20", {1: 1000.0, 2: 1800.0, 4: 2900.0})
    monkeypatch.setattr(cost, "BENCH_DIR", tmp_path)
    cluster = launch.load_cluster("example-gpu-cluster")
    k, source = slurm.shape_pack("auto", "default", resnet20_runs, cluster, {})
    assert k == 4 and str(path) in source
    assert slurm.shape_pack("auto", "default", resnet20_runs, dict(cluster, max_pack=3), {})[0] == 3


# --------------------------------------------------------------------------- (c) cost
def test_cost_with_measured_packing_divides_by_the_aggregate_speed_up(tmp_path, resnet20_runs):
    plant_epoch_time(tmp_path, resnet20_runs[0].cfg, seconds=10.0)
    one_run_h = 180 * 10.0 * (1 + 10_000 / 150_000) / 3600  # 180 epochs x 10 s, plus the test pass
    unpacked = launch.estimate(resnet20_runs[:8], bench_dir=tmp_path)
    assert unpacked.total_h == pytest.approx(8 * one_run_h) and unpacked.pack == 1
    plant_packing(tmp_path, "resnet20", {1: 1000.0, 4: 3000.0})
    packed = launch.estimate(resnet20_runs[:8], bench_dir=tmp_path, pack=4)
    # 2 jobs of 4 runs of W images: 4W/3000 s each instead of 4W/1000 -> 1000/3000 of the hours
    assert packed.total_h == pytest.approx(8 * one_run_h * 1000 / 3000) and packed.pack == 4
    assert packed.per_run_h == pytest.approx([one_run_h / 3] * 8)
    assert "pack 4 runs per GPU, at the aggregate throughput measured in" in packed.method
    assert "h200/packing.resnet20.bs128.json" in packed.method
    # 10 runs: jobs of 4, 4 and 2; the job of 2 has no measurement at k = 2 (only k = 1 and 4):
    # no speed-up is assumed for it
    ten = launch.estimate(resnet20_runs, bench_dir=tmp_path, pack=4)
    assert ten.total_h == pytest.approx(one_run_h * (8 / 3 + 2))
    auto = launch.estimate(resnet20_runs[:8], bench_dir=tmp_path, pack="auto")
    assert auto.pack == 4 and auto.total_h == pytest.approx(packed.total_h)


def test_cost_without_packing_record_assumes_no_speed_up(tmp_path, resnet20_runs):
    plant_epoch_time(tmp_path, resnet20_runs[0].cfg, seconds=10.0)
    unpacked = launch.estimate(resnet20_runs[:8], bench_dir=tmp_path)
    packed = launch.estimate(resnet20_runs[:8], bench_dir=tmp_path, pack=4)
    assert packed.total_h == pytest.approx(unpacked.total_h) and packed.per_run_h == unpacked.per_run_h
    assert packed.method.endswith("; pack 4, no packing measurement: assumed no speed-up")
    assert "pack 4" not in unpacked.method and unpacked.method.startswith("from measured epoch times in ")


# --------------------------------------------------------------------------- (d) data-parallel shapes
def test_pack_refused_for_a_multi_gpu_shape():
    plans = launch.prepare(get_table("dla.table3"), "full", limit=2)
    cluster = launch.load_cluster("example-gpu-cluster")  # imagenet shape: 8 GPUs x 2 nodes
    assert {p.resources for p in plans} == {"imagenet"}
    with pytest.raises(ConfigError) as err:
        slurm.shape_pack(4, "imagenet", plans, cluster, {})
    msg = str(err.value)
    assert "\n" not in msg and msg == ("--pack 4: the imagenet runs are data-parallel (8 GPUs x 2 nodes) and cannot "
                                      "share a GPU; pass --pack 1 or --pack auto (which packs only single-GPU runs)")
    assert slurm.shape_pack("auto", "imagenet", plans, cluster, {}) == (1, "data-parallel runs are not packed")
    assert slurm.shape_pack(1, "imagenet", plans, cluster, {})[0] == 1
    with pytest.raises(ConfigError, match="data-parallel"):
        slurm.shape_pack(2, "default", plans, cluster, {"gpus_per_node": 2})


# --------------------------------------------------------------------------- a packed job, no SLURM
@pytest.mark.fashion_mnist
def test_packed_job_runs_both_runs_in_their_own_folders_then_skips_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    plans = launch.prepare(get_table("ela.fig2b"), "smoke", limit=2, out_root=str(tmp_path), epochs=1,
                           train_subset=16, test_subset=16)
    cfgs = [p.cfg.to_dict() for p in plans]
    results = slurm.PackedJob()(cfgs)
    assert [r["status"] for r in results] == ["done", "done"]
    assert [r["run_name"] for r in results] == [p.cfg.run_name for p in plans]
    for p in plans:
        rec = launch.read_record(p.cfg)
        assert rec["status"] == "done" and rec["epochs_done"] == 1 and rec["resumes"] == 0
    job = slurm.PackedJob()
    assert [r["status"] for r in job(cfgs)] == ["done", "done"] and job.children == {}  # finished: skipped
