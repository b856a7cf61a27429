"""One detection run end to end (experiments.detection.train), small and on the CPU.

Faster R-CNN on a ResNet-18 backbone, 8 training / 4 validation images of the offline
Fashion-MNIST COCO set, 2 epochs of 2 steps, images at 96..128 px, few sampled RoIs.
"""
import hashlib
import json
import signal

import pytest
import torch

from experiments.config import RunConfig
from experiments.detection import train as dtrain
from experiments.run import run
from models import ConfigError

#: sha1 of the run hashes of every classification table run, per profile, taken before the
#: ``detector`` field existed: adding it must not rename any run (the detection tables' runs,
#: which set ``detector``, are left out). Over the tables and rows that existed then
#: (HASHED_TABLES; ELA Fig. 2(b) without its later ELA rows), so that later tables and rows add
#: runs without changing the pin, and any renamed run of those tables still fails it. The
#: smoke pin was renewed once, on purpose: the CIFAR-style rows moved to the learning smoke
#: scale (experiments.recipes.SMOKE_LEARNING; every full-profile name stayed the same, the
#: full pin is the one of before).
TABLE_HASHES_SHA1 = {"full": "0b1f355d6ff522d49b5e278e42760ee6189c78b5",
                     "smoke": "392d6298b00d2985442dabd18e4634c9e2752f41"}
HASHED_TABLES = (
    "ela.table1", "ela.table2", "ela.table3", "ela.table4", "ela.table5", "ela.table6", "ela.table7", "ela.fig2b",
    "ela.fig4", "dla.table1", "dla.table2", "dla.table3", "dla.table4", "dla.table5", "dla.table6", "dla.fig4",
    "dia.table3", "dia.table4", "dia.table6", "dia.table7", "dia.table8", "dia.table10", "dia.table11", "dia.table12",
    "dia.table13", "dia.table14", "dia.table15", "dia.table16", "dia.table17", "dia.fig2", "dia.fig10", "dia.fig13",
    "dia.fig14", "dia.fig15")

TIMING_KEYS = {"epoch_time_s", "eval_time_s", "images_per_s"}


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    from experiments.detection.offline import make_offline_coco

    from experiments.records import ROOT

    root = tmp_path_factory.mktemp("det") / "fmnistcoco"
    return make_offline_coco(root, n_train=16, n_val=8, source_root=ROOT / "data")


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(root, out, **kw):
    base = dict(model="resnet18_imagenet", detector="faster_rcnn", dataset="fmnistcoco", recipe="mmdet_1x",
                scale="smoke", epochs=2, batch_size=4, train_subset=8, test_subset=4, data_root=str(root),
                out_root=str(out), workers=0, device="cpu", progress=False,
                model_kwargs={"min_size": 96, "max_size": 128, "box_batch_size_per_image": 64,
                              "rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 150,
                              "rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 150})
    base.update(kw)
    return RunConfig(**base)


def _comparable(rec):
    epochs = [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in rec["epochs"]]
    keep = ("status", "final", "best", "epochs_done", "callbacks", "run_hash", "params")
    return json.dumps({"epochs": epochs, **{k: rec[k] for k in keep}}, sort_keys=True)


@pytest.fixture(scope="module")
def full_record(coco_root, tmp_path_factory):
    torch.set_num_threads(1)
    return run(_cfg(coco_root, tmp_path_factory.mktemp("runs")), handle_signals=False)


@pytest.mark.fashion_mnist
def test_record_keys_and_metrics(full_record):
    rec = full_record
    for key in ("run_name", "run_hash", "config", "smoke", "seed", "status", "params", "environment", "git",
                "epochs", "epochs_done", "epochs_total", "diverged", "callbacks", "planned", "dataset",
                "final", "best"):
        assert key in rec, key
    assert rec["status"] == "done" and not rec["diverged"]
    assert rec["epochs_done"] == rec["epochs_total"] == 2
    assert rec["config"]["detector"] == "faster_rcnn"
    # the run's own model_kwargs win over the smoke scale's R-CNN sizes (SMOKE_RCNN: 64 / 100)
    over = rec["detector"]["overrides"]
    assert (over["box_batch_size_per_image"], over["rpn_post_nms_top_n_test"], over["min_size"]) == (64, 150, 96)
    for e in rec["epochs"]:
        for key in ("epoch", "lr", "train_loss", "loss_classifier", "loss_box_reg", "loss_objectness",
                    "loss_rpn_box_reg", "epoch_time_s", "bbox_AP"):
            assert key in e, key
        assert e["train_loss"] == pytest.approx(sum(e[k] for k in ("loss_classifier", "loss_box_reg",
                                                                   "loss_objectness", "loss_rpn_box_reg")))
    for k in ("AP", "AP50", "AP75"):
        v = rec["final"]["bbox"][k]
        assert v == v and 0 <= v <= 100  # finite (not NaN), in %
    assert rec["final"]["segm"] is None
    assert rec["best"]["epoch"] in (0, 1)
    assert rec["dataset"]["train_images"] == 8 and rec["dataset"]["val_images"] == 4


@pytest.mark.fashion_mnist
def test_interrupted_and_resumed_equals_uninterrupted(coco_root, tmp_path, monkeypatch, full_record):
    cfg = _cfg(coco_root, tmp_path)
    calls = {"n": 0}
    real = dtrain.detection_losses

    def losses(model, images, targets):
        calls["n"] += 1
        if calls["n"] == 3:  # step 1 of epoch 2 (after epoch 1's checkpoint): SIGTERM, checkpoint after it
            signal.raise_signal(signal.SIGTERM)
        return real(model, images, targets)

    monkeypatch.setattr(dtrain, "detection_losses", losses)
    first = run(cfg, handle_signals=True)
    assert first["status"] == "interrupted" and first["epochs_done"] == 1
    assert (cfg.run_dir / "checkpoint.pt").exists()
    monkeypatch.setattr(dtrain, "detection_losses", real)
    second = run(cfg, handle_signals=False)
    assert second["status"] == "done" and second["resumes"] == 1
    assert _comparable(second) == _comparable(full_record)


@pytest.mark.fashion_mnist
def test_nan_loss_is_recorded_as_diverged(coco_root, tmp_path, monkeypatch):
    def nan_losses(model, images, targets):
        out = model(images, targets)
        out["loss_classifier"] = out["loss_classifier"] * float("nan")
        return out

    monkeypatch.setattr(dtrain, "detection_losses", nan_losses)
    cfg = _cfg(coco_root, tmp_path, epochs=1)
    rec = run(cfg, handle_signals=False)
    assert rec["status"] == "diverged" and rec["diverged"]
    assert rec["diverged_at"] == {"epoch": 0, "step": 1}
    on_disk = json.loads((cfg.run_dir / "record.json").read_text())
    assert on_disk["status"] == "diverged"
    assert not (cfg.run_dir / "checkpoint.pt").exists()


def test_classification_run_hashes_unchanged():
    from experiments.tables import all_tables

    for pr in ("full", "smoke"):
        blob = "".join(p.cfg.run_hash() for t in all_tables() if t.id in HASHED_TABLES for p in t.plan(pr)
                       if p.cfg.detector is None and not (t.id == "ela.fig2b" and p.cfg.model.startswith("ela_")))
        assert hashlib.sha1(blob.encode()).hexdigest() == TABLE_HASHES_SHA1[pr], pr


def test_detector_enters_the_hash_only_when_set():
    a = RunConfig(model="resnet50_imagenet", dataset="fmnistcoco")
    b = RunConfig(model="resnet50_imagenet", dataset="fmnistcoco", detector="faster_rcnn")
    c = RunConfig(model="resnet50_imagenet", dataset="fmnistcoco", detector="retinanet")
    assert "detector" not in a.identity() and b.identity()["detector"] == "faster_rcnn"
    assert len({a.run_hash(), b.run_hash(), c.run_hash()}) == 3


def test_unknown_detector_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as e:
        RunConfig(model="resnet50_imagenet", detector="yolo")
    assert "\n" not in str(e.value) and "yolo" in str(e.value) and "faster_rcnn" in str(e.value)


def test_run_command_takes_detector(capsys):
    from experiments.run import main

    assert main(["--model", "ela_resnet50_imagenet", "--detector", "yolo", "--dataset", "fmnistcoco"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown detector 'yolo'") and "\n" not in err


def test_mmdet_recipes():
    from experiments.recipes import get_recipe

    r = get_recipe("mmdet_1x")
    assert (r.epochs, r.batch_size, r.lr, r.momentum, r.weight_decay, r.milestones) == (12, 16, 0.02, 0.9, 1e-4, (8, 11))
    assert r.lr_at_step(0, 0, 1000) == pytest.approx(0.02 * 0.001)
    assert r.lr_at_step(0, 250, 1000) == pytest.approx(0.02 * (1 - 0.5 * 0.999))
    assert r.lr_at_step(0, 500, 1000) == pytest.approx(0.02)
    assert r.lr_at_step(7, 999, 1000) == pytest.approx(0.02)
    assert r.lr_at_step(8, 0, 1000) == pytest.approx(0.002)
    assert r.lr_at_step(11, 0, 1000) == pytest.approx(0.0002)
    b8 = get_recipe("mmdet_1x_b8")
    assert (b8.batch_size, b8.lr, b8.milestones, b8.warmup_iters) == (8, 0.01, (8, 11), 500)
    # the epoch-based recipes keep their schedule
    c = get_recipe("cifar")
    assert c.warmup_iters == 0 and c.lr_at_step(100, 0, 10) == c.lr_at(100)


@pytest.mark.fashion_mnist
def test_ela_backbone_records_pruning_decisions(coco_root, tmp_path):
    """ELA's controller (det.backbone.body.training_callbacks()) runs with the 'detection'
    preset (ELA Sec. 4.2: KL at epochs 1 and 7 of 12, mapped onto 2 epochs here)."""
    rec = run(_cfg(coco_root, tmp_path, model="ela_resnet18_imagenet"), handle_signals=False)
    assert rec["status"] == "done"
    ela = rec["callbacks"]["ela_pruning"]
    assert ela["settings"]["preset"] == "detection"
    assert ela["windows"] == [[1, 1], [2, 2]]
    assert [d["epoch"] for d in ela["decisions"]] == [0, 1]
    assert ela["decisions"][0]["kl"]  # measured in the trainable stages


def test_detection_run_needs_a_detection_recipe(tmp_path):
    with pytest.raises(ConfigError, match="mmdet_1x"):
        run(RunConfig(model="resnet18_imagenet", detector="faster_rcnn", dataset="fmnistcoco", recipe="cifar",
                      out_root=str(tmp_path)), handle_signals=False)


@pytest.mark.fashion_mnist
def test_a_run_starts_from_its_pretrained_run(coco_root, tmp_path):
    """``pretrained='run:<name>'`` loads that finished run's checkpoint into the backbone: the
    frozen stem still holds the ImageNet weights after training."""
    from models import create_model

    src = create_model("resnet18_imagenet", num_classes=1000)
    torch.nn.init.normal_(src.stem[0].weight)  # unlike any fresh initialisation
    pre = tmp_path / "imagenet-run"
    pre.mkdir()
    torch.save({"model": src.state_dict()}, pre / "checkpoint.pt")
    (pre / "record.json").write_text(json.dumps({"status": "done"}))
    cfg = _cfg(coco_root, tmp_path, epochs=1, pretrained="run:imagenet-run")
    rec = run(cfg, handle_signals=False)
    assert rec["status"] == "done" and rec["config"]["pretrained"] == "run:imagenet-run"
    assert rec["detector"]["pretrained_backbone"] == str(pre / "checkpoint.pt")
    state = torch.load(cfg.run_dir / "checkpoint.pt", map_location="cpu")["model"]
    stem = [v for k, v in state.items() if k.endswith("stem.0.weight")]
    assert len(stem) == 1 and torch.equal(stem[0], src.stem[0].weight.detach())
    assert cfg.run_hash() != _cfg(coco_root, tmp_path, epochs=1).run_hash()
    with pytest.raises(ConfigError, match="no .*imagenet-missing"):
        run(_cfg(coco_root, tmp_path, epochs=1, pretrained="run:imagenet-missing"), handle_signals=False)
