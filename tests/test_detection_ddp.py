"""Data-parallel detection runs (experiments.detection.train) on the CPU: two gloo processes
started by torchrun, as the classification DDP test (tests/test_engine.py) starts them.

Faster R-CNN on ResNet-50 (from scratch), 4 training / 8 validation images of the offline
Fashion-MNIST COCO set at 96..128 px, one epoch of one step (4 images = 2 ranks x 2).
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.records import read_json

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"min_size": 96, "max_size": 128, "box_batch_size_per_image": 64, "rpn_pre_nms_top_n_train": 300,
         "rpn_post_nms_top_n_train": 150, "rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 150}


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    from experiments.detection.offline import make_offline_coco

    root = tmp_path_factory.mktemp("det") / "fmnistcoco"
    return make_offline_coco(root, n_train=8, n_val=8, source_root=ROOT / "data")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(root, out, batch=4):
    return ["--model", "resnet50_imagenet", "--detector", "faster_rcnn", "--dataset", "fmnistcoco",
            "--recipe", "mmdet_1x", "--scale", "smoke", "--epochs", "1", "--batch-size", str(batch),
            "--train-subset", "4", "--test-subset", "8", "--data-root", str(root), "--out-root", str(out),
            "--workers", "0", "--device", "cpu", "--pretrained", "none", "--no-progress",
            "--model-kwargs", json.dumps(SIZES)]


def _torchrun(args, timeout=300):
    """Two processes of ``args`` (``-m module ...`` or ``script ...``) under torchrun, one thread each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-port", str(_free_port()), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(coco_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = _torchrun(["-m", "experiments.run", *_args(coco_root, out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, out


@pytest.mark.fashion_mnist
def test_two_rank_run_writes_one_record_with_identical_weights(ddp_run):
    proc, out = ddp_run
    records = list(out.glob("*/record.json"))
    assert len(records) == 1
    rec = read_json(records[0])
    assert rec["status"] == "done" and rec["world_size"] == 2
    assert rec["execution"]["batch_per_rank"] == 2 and rec["execution"]["find_unused_parameters"] is False
    # only rank 0 announces, reports the epoch and writes: one line of each in both ranks' output
    log = proc.stdout + proc.stderr
    assert log.count("epoch 1/1 |") == 1 and log.count("done: final box AP") == 1
    sums = rec["rank_weight_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    ep = rec["epochs"][0]
    assert ep["train_loss"] == pytest.approx(sum(ep[k] for k in ("loss_classifier", "loss_box_reg",
                                                                 "loss_objectness", "loss_rpn_box_reg")))
    assert rec["dataset"]["val_images"] == 8 and rec["dataset"]["train_images"] == 4


@pytest.mark.fashion_mnist
def test_two_rank_evaluation_equals_one_process_on_the_checkpoint(ddp_run, coco_root):
    """The record's COCO metrics (each rank scored half the val batches, rank 0 ran COCOeval)
    equal one process's evaluation of the saved weights on the same 8 images."""
    from experiments import data as D
    from experiments.detection.train import evaluate_detector
    from experiments.records import as_json
    from models.detection import LABEL_OFFSET, create_detector

    _, out = ddp_run
    run_dir = next(out.glob("*/record.json")).parent
    rec = read_json(run_dir / "record.json")
    det = rec["detector"]
    model = create_detector("faster_rcnn", "resnet50_imagenet", num_classes=det["num_classes"], **det["overrides"])
    model.load_state_dict(torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)["model"])
    _, test_ds, _ = D.build_datasets("fmnistcoco", coco_root, train_subset=4, test_subset=8)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks ran
    try:
        one = evaluate_detector(model, test_ds, device=torch.device("cpu"), shift=1 - LABEL_OFFSET["faster_rcnn"],
                                iou_types=("bbox",))["bbox"]
    finally:
        torch.set_num_threads(n)
    keys = ("AP", "AP50", "AP75", "APS", "APM", "APL", "per_category")
    got = {k: rec["final"]["bbox"][k] for k in keys}
    one = as_json({k: one[k] for k in keys})  # NaN (no ground truth of a size or class) as JSON writes it
    assert json.dumps(got, sort_keys=True) == json.dumps(one, sort_keys=True)


#: run by both ranks: the checkpoint's detector scores the val set, rank 0 saves what it gathered
PREDICT = """
import sys, torch
from experiments import data as D
from experiments.distributed import init_distributed, shutdown
from experiments.detection.train import detector_predictions
from experiments.records import read_json
from models.detection import LABEL_OFFSET, create_detector

run_dir, root, out = sys.argv[1:]
dist = init_distributed("cpu")
det = read_json(run_dir + "/record.json")["detector"]
model = create_detector("faster_rcnn", "resnet50_imagenet", num_classes=det["num_classes"], **det["overrides"])
model.load_state_dict(torch.load(run_dir + "/checkpoint.pt", map_location="cpu", weights_only=False)["model"])
_, test_ds, _ = D.build_datasets("fmnistcoco", root, train_subset=4, test_subset=8)
preds = detector_predictions(model, test_ds, device=torch.device("cpu"), shift=1 - LABEL_OFFSET["faster_rcnn"],
                             dist=dist)
assert (preds is None) == (dist.rank != 0)
if dist.rank == 0:
    torch.save(preds, out)
shutdown(dist)
"""


@pytest.mark.fashion_mnist
def test_two_rank_predictions_equal_one_process_output_for_output(ddp_run, coco_root, tmp_path):
    """Below the metrics (0 AP after one step from scratch): every box, score and label rank 0
    gathered from the two ranks (each scoring one of the two val batches of 4) equals one
    process's output on the same weights, in the same image order."""
    from experiments import data as D
    from experiments.detection.train import detector_predictions
    from models.detection import LABEL_OFFSET, create_detector

    _, out = ddp_run
    run_dir = next(out.glob("*/record.json")).parent
    script = tmp_path / "predict.py"
    script.write_text(PREDICT)
    proc = _torchrun([str(script), str(run_dir), str(coco_root), str(tmp_path / "preds.pt")])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    two = torch.load(tmp_path / "preds.pt", weights_only=False)
    det = read_json(run_dir / "record.json")["detector"]
    model = create_detector("faster_rcnn", "resnet50_imagenet", num_classes=det["num_classes"], **det["overrides"])
    model.load_state_dict(torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)["model"])
    _, test_ds, _ = D.build_datasets("fmnistcoco", coco_root, train_subset=4, test_subset=8)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = detector_predictions(model, test_ds, device=torch.device("cpu"), shift=1 - LABEL_OFFSET["faster_rcnn"])
    finally:
        torch.set_num_threads(n)
    assert list(two) == list(one) and len(one) == 8
    assert sum(len(o["scores"]) for o in one.values()) > 100  # real outputs to compare
    for image_id, o in one.items():
        assert set(two[image_id]) == set(o) == {"boxes", "scores", "labels"}
        for key, t in o.items():
            assert torch.equal(two[image_id][key], t), (image_id, key)


def test_batch_not_divisible_by_the_ranks_is_a_one_line_error(coco_root, tmp_path, monkeypatch, capsys):
    """As a rank of 2 would fail (the process group itself is not needed to fail): exit code 2,
    one line, nothing written."""
    from experiments import run as run_mod
    from experiments.distributed import DistInfo

    monkeypatch.setattr(run_mod, "init_distributed", lambda kind: DistInfo(rank=0, world_size=2))
    assert run_mod.main(_args(coco_root, tmp_path, batch=3)) == 2
    err = capsys.readouterr().err
    assert err == "error: batch size 3 is not divisible by 2 processes\n"
    assert not list(tmp_path.iterdir())


def test_per_rank_batch():
    from experiments.distributed import DistInfo, per_rank_batch
    from models import ConfigError

    assert per_rank_batch(16, DistInfo(rank=3, world_size=8)) == 2 and per_rank_batch(8, DistInfo()) == 8
    with pytest.raises(ConfigError, match="^batch size 16 is not divisible by 3 processes$"):
        per_rank_batch(16, DistInfo(rank=0, world_size=3))


def test_slurm_refuses_a_shape_whose_processes_do_not_divide_the_batch():
    """The detection rows have the multi-GPU 'imagenet' shape; its processes (nodes x tasks per
    node, one per GPU) are the runs' ranks. DLA Table 3's batch 8 does not split over the example
    profile's 2 x 8: refused in one line before anything is submitted; 2 x 4 GPUs (--gpus 4) and
    ELA Table 5's batch 16 on 2 x 8 pass."""
    from experiments.launch import slurm
    from experiments.tables import get_table
    from models import ConfigError

    cluster = json.loads((ROOT / "slurm" / "profiles" / "example-gpu-cluster.json").read_text())
    dla = get_table("dla.table3").plan("full")
    assert {p.resources for p in dla} == {"imagenet"}
    params = slurm.slurm_parameters(cluster, "imagenet", {})
    assert (params["nodes"], params["tasks_per_node"]) == (2, 8)
    with pytest.raises(ConfigError) as e:
        slurm.check_world_size("imagenet", dla, params)
    assert "\n" not in str(e.value) and "batch size 8 is not divisible by the 16 processes" in str(e.value)
    slurm.check_world_size("imagenet", dla, slurm.slurm_parameters(cluster, "imagenet", {"gpus_per_node": 4}))
    slurm.check_world_size("imagenet", get_table("ela.table5").plan("full"), params)
