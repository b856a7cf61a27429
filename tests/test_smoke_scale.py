"""The smoke profile's two scales (experiments.recipes.SMOKE_LEARNING / SMOKE), the 10x10
Fashion-MNIST it trains on, and the scaled residual start (models.backbone.scale_residual_init_)."""
import math

import pytest
import torch
import torch.nn as nn

from experiments import data as D
from experiments.config import RunConfig
from experiments.recipes import SMOKE, SMOKE_LEARNING, get_recipe
from experiments.tables import get_table
from models import ConfigError, create_model
from models.backbone import ResidualBlock, scale_residual_init_
from models.cifar_resnet import Bottleneck
from models.mrla import LayerAttention


# --------------------------------------------------------------------------- scale_residual_init_
def _bn_weights(net, kind):
    return [m.bn3.weight if kind is Bottleneck else m.bn.weight for m in net.modules() if isinstance(m, kind)]


def test_scaled_residual_init_puts_every_last_bn_at_one_over_sqrt_blocks():
    net = create_model("resnet20", num_classes=10, in_chans=1)
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 6  # CIFAR bottleneck ResNet-20: (20 - 2) / 9 = 2 blocks a stage
    assert scale_residual_init_(net) == 6
    for w in _bn_weights(net, Bottleneck):
        assert torch.equal(w, torch.full_like(w, 1 / math.sqrt(6)))
    others = [m.weight for b in blocks for m in (b.bn1, b.bn2)]
    assert all(torch.equal(w, torch.ones_like(w)) for w in others)  # only the last BN of a branch


def test_scaled_residual_init_includes_the_layer_attention_branch_bn():
    net = create_model("ela_resnet110", num_classes=10, in_chans=1)
    n_blocks = sum(isinstance(m, ResidualBlock) for m in net.modules())
    n_la = sum(isinstance(m, LayerAttention) for m in net.modules())
    assert n_blocks == 36 and n_la > 0
    assert scale_residual_init_(net) == n_blocks + n_la
    for w in _bn_weights(net, LayerAttention) + _bn_weights(net, Bottleneck):
        assert torch.allclose(w, torch.full_like(w, 1 / 6))


def test_scaled_residual_init_leaves_nets_without_skips_alone():
    net = create_model("resnet20", num_classes=10, in_chans=1, skip=False)
    assert scale_residual_init_(net) == 0
    assert scale_residual_init_(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))) == 0


def test_scaled_start_keeps_deep_logits_at_unit_scale():
    """Why the smoke profile uses it: ResNet-110's logits at initialisation grow with depth."""
    torch.manual_seed(0)
    x = torch.randn(64, 1, 10, 10)
    plain = create_model("resnet110", num_classes=10, in_chans=1).train()
    torch.manual_seed(0)
    scaled = create_model("resnet110", num_classes=10, in_chans=1).train()
    scale_residual_init_(scaled)
    with torch.no_grad():
        s_plain, s_scaled = plain(x).std().item(), scaled(x).std().item()
    assert s_scaled < s_plain / 2


def test_run_config_residual_init_is_hashed_only_when_set_and_checked():
    base = RunConfig(model="resnet20", scale="smoke")
    assert "residual_init" not in base.identity()
    scaled = RunConfig(model="resnet20", scale="smoke", residual_init="scaled")
    assert scaled.identity()["residual_init"] == "scaled" and scaled.run_hash() != base.run_hash()
    with pytest.raises(ConfigError, match="unknown residual_init 'zero'; use one of scaled"):
        RunConfig(model="resnet20", residual_init="zero")


# --------------------------------------------------------------------------- the 10x10 Fashion-MNIST
@pytest.mark.fashion_mnist
def test_fashionmnist10_is_the_same_pixels_on_both_data_paths(tmp_path):
    info = D.dataset_info("fashionmnist10")
    assert (info.resolution, info.in_chans, info.num_classes, info.small) == (10, 1, 10, True)
    _, test, _ = D.build_datasets("fashionmnist10", tmp_path, test_subset=40)
    xu, yu = D.load_uint8("fashionmnist10", tmp_path, train=False, subset=40)
    assert xu.shape == (40, 1, 10, 10) and xu.dtype == torch.uint8
    mean, std = info.mean[0], info.std[0]
    for i in (0, 17, 39):
        x, y = test[i]
        assert x.shape == (1, 10, 10) and y == int(yu[i])
        assert torch.allclose(x, (xu[i].float() / 255 - mean) / std, atol=1e-6)
    # the training transform crops with padding 10 // 8 = 1 and flips
    train, _, _ = D.build_datasets("fashionmnist10", tmp_path, train_subset=8)
    assert train[0][0].shape == (1, 10, 10)


# --------------------------------------------------------------------------- which rows take which scale
def test_cifar_rows_take_the_learning_scale_and_the_others_the_plumbing_one():
    assert (SMOKE_LEARNING.train_subset, SMOKE_LEARNING.test_subset, SMOKE_LEARNING.epochs) == (3072, 1000, 3)
    assert (SMOKE.train_subset, SMOKE.test_subset, SMOKE.batch_size) == (32, 32, None)
    assert SMOKE_LEARNING.lr(get_recipe("cifar")) == pytest.approx(0.1 * 32 / 128)
    for cfg in get_table("ela.table1").runs("smoke"):
        assert (cfg.dataset, cfg.train_subset, cfg.test_subset, cfg.epochs) == ("fashionmnist10", 3072, 1000, 3)
        assert (cfg.batch_size, cfg.lr, cfg.residual_init, cfg.augment) == (32, 0.025, "scaled", False)
        assert cfg.effective_recipe().milestones == (2,)  # 100, 150 of 180 -> the last epoch at lr / 10
    for table_id in ("ela.table2", "dia.table9", "ela.table5"):
        for cfg in get_table(table_id).runs("smoke"):
            assert (cfg.train_subset, cfg.test_subset, cfg.batch_size, cfg.lr, cfg.residual_init) == (
                32, 32, None, None, None)
            assert cfg.dataset in ("fashionmnist", "fmnistcoco") and cfg.augment is True
    # the full profile is untouched by either scale
    for cfg in get_table("ela.table1").runs("full"):
        assert cfg.residual_init is None and cfg.batch_size is None and cfg.train_subset is None and cfg.augment


def test_rows_differing_only_in_augmentation_share_a_learning_scale_smoke_run():
    """DIA Table XVII's rows (no augmentation) and the same rows with it: distinct full runs,
    one smoke run at the learning scale (no augmentation for any row)."""
    from dataclasses import replace

    rows = get_table("dia.table17").rows
    assert rows and all(r.augment is False for r in rows)
    for r in rows:
        with_aug = replace(r, augment=True, variant="")
        assert r.config("full", 0).run_name != with_aug.config("full", 0).run_name
        assert r.config("smoke", 0).run_name == with_aug.config("smoke", 0).run_name


def test_the_analysis_reads_a_smoke_run_without_augmentation_as_the_plain_row():
    """The learning scale's missing augmentation is a setting of the scale: the analysis names
    a smoke run's variant '' (it counts for the plain row, whose figures and figure claims pick
    runs by variant, and for its no_augment twin), and a full run without augmentation
    'no_augment' (found on 9b32f5c: every figure claim said 'not yet run' on smoke runs)."""
    from analysis.figures import pick_run
    from analysis.records import matches, paper_keys

    import pandas as pd

    (row,) = [r for r in get_table("dla.fig2").rows if r.family == "mrla_b"]
    smoke, full = row.config("smoke", 0), row.config("full", 0)
    assert smoke.augment is False and full.augment is True
    keys = paper_keys(smoke.to_dict())
    assert keys["variant"] == "" and keys["tokens"]["no_augment"] is True
    assert paper_keys({**full.to_dict(), "augment": False})["variant"] == "no_augment"
    run = {**keys, "dataset": smoke.dataset, "smoke": True}
    plain = {"model": "mrla_b", "backbone": keys["backbone"], "depth": 56, "dataset": "cifar100"}
    assert matches({**plain, "variant": ""}, run) and matches({**plain, "variant": "no_augment"}, run)
    runs = pd.DataFrame([{**run, "run_name": smoke.run_name, "status": "done", "has_checkpoint": True,
                          "seed": 0}])
    assert pick_run(runs, "mrla_b", depth=56, dataset="cifar100")["run_name"] == smoke.run_name


def test_smoke_table_benchmark_record_from_known_records(tmp_path):
    """The benchmark record of a smoke launch, rebuilt from hand-made records: range and the
    ResNet-20 / deeper split; runs without a record are 'missing'."""
    import json

    from experiments.bench.smoke_table import summarize, write

    cfgs = get_table("ela.table1").runs("smoke")
    made = [(cfgs[0], 81.0), (cfgs[1], 76.5), (cfgs[-1], 64.5)]  # resnet20, se_resnet20, ela_resnet110
    assert cfgs[-1].model == "ela_resnet110"
    for cfg, top1 in made:
        (tmp_path / cfg.run_name).mkdir()
        (tmp_path / cfg.run_name / "record.json").write_text(json.dumps(
            {"status": "done", "final": {"test_top1": top1}, "train_time_s": 10.4}))
    rec = summarize("ela.table1", tmp_path, wall_s=480.0)
    assert rec["summary"] == {"runs": 24, "done": 3, "top1_min": 64.5, "top1_max": 81.0,
                              "resnet20_rows_min": 76.5, "deeper_rows_min": 64.5}
    assert sum(r["status"] == "missing" for r in rec["runs"]) == 21
    assert rec["scale"]["train_subset"] == 3072 and rec["scale"]["dataset"] == "fashionmnist10"
    out = write(rec, tmp_path / "b.json")
    assert json.loads(out.read_text())["wall_s"] == 480.0
    md = out.with_suffix(".md").read_text()
    assert "3/24 runs, wall 8.0 min" in md and "64.5-81.0% (ResNet-20 rows >= 76.5%, deeper rows >= 64.5%)" in md


def test_parallel_local_launch_starts_the_costliest_runs_first():
    """Longest-processing-time first with several slots; the plans' order with one slot or
    without costs; each run keeps its [i/n] number."""
    from experiments.launch.local import start_order

    pending = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert start_order(pending, [1.0, 5.0, 3.0, 5.0], jobs=2) == [(2, "b"), (4, "d"), (3, "c"), (1, "a")]
    assert start_order(pending, [1.0, 5.0, 3.0, 5.0], jobs=1) == pending
    assert start_order(pending, None, jobs=2) == pending
    assert start_order(pending, [1.0], jobs=2) == pending  # costs that do not fit the plans: unchanged
