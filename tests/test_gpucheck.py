"""The GPU check (``./reproduce.sh gpucheck``): runs on the CPU at reduced sizes, catches broken
paths and data, and its summary is rebuilt from the records of the H200 check."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from analysis import gpucheck_report as R
from experiments import gpucheck as G
from experiments.gpucheck import accuracy as A
from experiments.gpucheck import paths as P

ROOT = Path(__file__).resolve().parents[1]
H200 = ROOT / "results" / "bench" / "nvidia-h200"


@pytest.fixture(scope="module")
def cpu_check(tmp_path_factory):
    """Every part but accuracy, on the CPU (the accuracy part has its own, smaller test)."""
    out = tmp_path_factory.mktemp("gpucheck")
    done = G.run(["--device", "cpu", "--tag", "t", "--out", str(out / "bench"), "--runs-out", str(out / "runs"),
                  "--data-root", str(ROOT / "data"), "--parts", "paths", "profile", "targets", "packing"])
    return done


def test_cpu_check_runs_every_part_and_records_it(cpu_check):
    assert cpu_check.rc == 0
    rec = cpu_check.record
    assert list(rec["parts"]) == ["paths", "profile", "targets", "packing"]
    assert rec["command"][:4] == ["./reproduce.sh", "gpucheck", "--device", "cpu"]  # the options, once
    assert all("result" in p for p in rec["parts"].values())
    rows = rec["parts"]["paths"]["result"]
    data, paths = rows[0], rows[1:]
    assert data["max_abs_diff"] == 0.0 and data["images"] == G.CPU_SIZES.path_steps * G.CPU_SIZES.path_batch
    assert [r["path"] for r in paths] == [p.name for p in G.PATHS]  # compile included (eager backend on CPU)
    assert all(r["ok"] for r in paths)
    for r in paths:  # same weights, same batches: the first CPU step is the reference's up to layout rounding
        assert r["first_rel_diff"] < 1e-5 and len(r["losses"]) == G.CPU_SIZES.path_steps
    prof = rec["parts"]["profile"]["result"][0]
    assert prof["model"] == "resnet20" and prof["wall_ms_per_step"] > 0 and prof["kernel_ms_per_step"] is None
    folder = cpu_check.folder
    for m in G.CPU_SIZES.bench_models:
        for pipe in ("fast", "reference"):
            bench = json.loads((folder / f"{m}.{pipe}.cpu.bs16.json").read_text())
            assert bench["kind"] == "bench" and bench["images_per_s"] > 0
    pack = json.loads((folder / "packing.resnet20.bs16.json").read_text())
    assert set(pack["by_k"]) == {"1", "2"} and pack["best_k"] in (1, 2)
    assert all(v["images_per_s"] > 0 for v in pack["by_k"].values())
    assert len(pack["detail"][1]["per_process_images_per_s"]) == 2


def test_summary_is_written_from_the_records(cpu_check):
    text = R.report(cpu_check.folder)
    assert (cpu_check.folder / "gpucheck.md").read_text() == text
    assert "| (data) | gpu-resident data (crop + flip per batch) | max abs diff 0 over 48 images" in text
    assert text.count("| mrla_b_resnet20 |") == len(G.PATHS)
    assert "| resnet20 | 16 | 2 |" in text and "## 5. Short Fashion-MNIST runs" in text and "(not run)" in text


def test_accuracy_part_runs_complete_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(A, "ARMS", {"fp32 vs bf16": (("fp32", "resnet20", False), ("bf16", "resnet20", True))})
    rows = A.run_arms(device=torch.device("cpu"), data_root=str(ROOT / "data"), out_dir=tmp_path, seeds=1, epochs=1,
                      train_subset=128, test_subset=64, log=lambda *_: None)
    assert [(r["arm"], r["status"]) for r in rows] == [("fp32", "done"), ("bf16", "done")]
    for r in rows:
        rec = json.loads(Path(r["record"]).read_text())
        assert rec["final"]["test_top1"] == r["test_top1"] and rec["dataset"]["train_images"] == 128
        assert rec["config"]["amp"] is r["amp"] and rec["config"]["epochs"] == 1
    # on the CPU autocast is off (the fast path is CUDA's), so both arms train identically
    assert rows[0]["test_top1"] == rows[1]["test_top1"]
    late = A.run_arms(device=torch.device("cpu"), data_root=str(ROOT / "data"), out_dir=tmp_path, seeds=1, epochs=1,
                      train_subset=128, test_subset=64, deadline=0.0, log=lambda *_: None)
    assert [r["skipped"] for r in late] == ["time budget spent"] * 2


def test_compare_holds_the_stated_tolerances():
    fp32, bf16 = P.PathSpec("x"), P.PathSpec("y", amp=True)
    ref = [2.0, 1.0, 1.0]
    ok = P.compare(ref, [2.0 * (1 + 9e-4), 1.0, 1.0], fp32)
    assert ok["ok"] and math.isclose(ok["first_rel_diff"], 9e-4) and math.isclose(ok["mean_rel_drift"], 3e-4)
    assert not P.compare(ref, [2.0 * (1 + 1.1e-3), 1.0, 1.0], fp32)["ok"]  # first step beyond 1e-3
    assert not P.compare(ref, [2.0, 1.07, 1.0], fp32)["ok"]  # mean drift 0.0233 > 0.02
    assert P.compare(ref, [2.0, 1.07, 1.0], bf16)["ok"]  # within bf16's 0.05
    assert not P.compare(ref, [2.0, float("nan"), 1.0], bf16)["ok"]
    assert not P.compare(ref, [2.0], fp32)["ok"]  # a trajectory cut short


def test_data_check_catches_a_wrong_flip():
    batches, gb = P.draw_batches(str(ROOT / "data"), torch.device("cpu"), steps=2, batch_size=8, seed=3)
    assert P.check_gpu_data(gb, batches, 3, 8)["ok"]
    broken = [(x.flip(-1), y) for x, y in batches]  # every image mirrored once more
    res = P.check_gpu_data(gb, broken, 3, 8)
    assert not res["ok"] and res["max_abs_diff"] > 0.011


def test_best_k_is_the_smallest_within_five_percent():
    assert G.best_k({1: 1000.0, 2: 1780.0, 4: 1790.0, 8: 1700.0}) == 2
    assert G.best_k({1: 1000.0, 2: 1500.0, 4: 2000.0}) == 4
    assert G.best_k({1: 1740.0, 2: 3102.0, 4: 3103.0, 8: 3092.0}) == 2  # the H200's MRLA-B-56


def test_welch_t_by_hand():
    rows = [{"comparison": "c", "arm": a, "test_top1": v, "epochs": 4}
            for a, vs in (("fp32", (90.0, 91.0, 92.0)), ("bf16", (90.5, 91.5, 92.5))) for v in vs]
    (r,) = R.accuracy_rows(rows)
    assert r["fp32_mean"] == 91.0 and r["bf16_mean"] == 91.5 and r["fp32_std"] == 1.0
    assert math.isclose(r["t"], 0.5 / math.sqrt(2 / 3), rel_tol=1e-12)  # 0.6124, df = 4
    assert math.isclose(r["p"], 0.5734, abs_tol=1e-4)


def test_later_checks_keep_earlier_parts(tmp_path):
    base = {"kind": "gpucheck", "hardware": {"torch": "2.11", "torchvision": "0.26", "python": "3.12", "cpus": 16},
            "budget_s": 100}
    first = {**base, "started": "2026-11-27T15:00:00", "parts": {"paths": {"result": [{"path": "p1"}]},
                                                                 "packing": {"skipped": "time budget spent"}}}
    second = {**base, "started": "2026-11-27T16:00:00", "parts": {"paths": {"skipped": "time budget spent"},
                                                                  "packing": {"result": [{"k": 1}]}}}
    (tmp_path / "gpucheck-20261127T150000.json").write_text(json.dumps(first))
    (tmp_path / "gpucheck-20261127T160000.json").write_text(json.dumps(second))
    merged, _ = R.load(tmp_path)
    assert merged["parts"]["paths"]["result"] == [{"path": "p1"}]
    assert merged["parts"]["packing"]["result"] == [{"k": 1}]
    assert [c["started"] for c in merged["checks"]] == [first["started"], second["started"]]
    with pytest.raises(FileNotFoundError, match="run `./reproduce.sh gpucheck` first"):
        R.load(tmp_path / "nothing")


def test_h200_summary_rebuilt_from_its_records(tmp_path):
    """The committed H200 records give the figures README states."""
    import shutil

    folder = tmp_path / "nvidia-h200"
    shutil.copytree(H200, folder)
    text = R.report(folder)
    assert text.startswith("# GPU check: NVIDIA H200")
    # the profile of the latest check that ran it: the second session's, with its top kernels
    assert "| mrla_b_resnet56 | 140.8 | 39.0 | 28% | 2790 | 909 | cudaLaunchKernel (19.0 ms) | void gemmk1_kernel" in text
    assert "| resnet56 | 53.9 | 5.7 | 11% | 1016 |" in text
    assert "| MRLA-B vs ELA (ResNet-20) | 4 | mrla_b | 3 | 86.53 | 1.07 | 85.38, 87.50, 86.71 |  |" in text
    assert "|  | 4 | bf16 | 3 | 90.56 | 0.32 | 90.49, 90.91, 90.29 | 0.666 |" in text
    assert "| mrla_b_resnet56 | 128 | 2 | 3,102 | 1.78x |" in text
    assert "**PASS** ELA per-epoch time" in text and "42.9% (10/18 layers pruned)" in text
    assert "**FAIL** MRLA-B ResNet-56 fast path" in text and "best 34.890 s" in text
    rows = [r for r in R.load(folder)[0]["parts"]["paths"]["result"] if "first_rel_diff" in r]
    assert len(rows) == 22 and all(r["ok"] for r in rows)
    assert max(r["first_rel_diff"] for r in rows) == pytest.approx(3.91e-4, rel=1e-2)
