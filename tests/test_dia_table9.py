"""DIA Table IX (ViT-S/16, ViT-B/16 on ImageNet): the 'deit' recipe built from timm, the engine's
AdamW / cosine / mixup additions, the table module, the transcribed numbers, the claims and the
params rows. Every expected number is worked out by hand here (the lr schedule, the weight-decay
groups of a tiny ViT, the soft-target weights), not read off the code under test."""
import json
import math
import warnings

import pytest
import torch
from PIL import Image

from experiments.config import RunConfig
from experiments.data import dataset_info, timm_transforms
from experiments.distributed import DistInfo
from experiments.engine import BatchMixer, EpochSampler
from experiments.recipes import RECIPES, Recipe, get_recipe
from experiments.run import build_mixer, build_model, build_optimizer
from experiments.tables import TABLE_IDS, get_table, resolve
from models import ConfigError, create_model

DEIT = get_recipe("deit")
TINY = dict(img_size=32, patch_size=8, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=2)


# --------------------------------------------------------------------------- the recipe
def test_deit_recipe_as_stated():
    r = DEIT
    assert (r.epochs, r.batch_size, r.optimizer, r.weight_decay) == (300, 1024, "adamw", 0.05)
    assert r.lr == pytest.approx(5e-4 * 1024 / 512) == pytest.approx(1e-3)
    assert (r.schedule, r.warmup_epochs, r.warmup_lr, r.min_lr) == ("cosine", 5, 1e-6, 1e-5)
    assert (r.mixup, r.cutmix, r.label_smoothing, r.random_erasing) == (0.8, 1.0, 0.1, 0.25)
    assert (r.rand_augment, r.repeated_aug, r.drop_path, r.dropout) == ("rand-m9-mstd0.5-inc1", 3, 0.1, 0.0)
    assert r.transforms == "timm" and r.lr_batch_scaling


@pytest.mark.parametrize("epoch,expected", [
    (0, 1e-6),                                         # warm-up from 1e-6
    (1, 1e-6 + 1 * (1e-3 - 1e-6) / 5),                 # = 2.008e-4
    (4, 1e-6 + 4 * (1e-3 - 1e-6) / 5),                 # = 8.002e-4
    (5, 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 5 / 300))),   # = 9.99322e-4 (no warm-up prefix)
    (150, 1e-5 + 0.5 * (1e-3 - 1e-5)),                 # = 5.05e-4, half way
    (299, 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 299 / 300))),  # = 1.00271e-5
])
def test_cosine_schedule_with_warmup_by_hand(epoch, expected):
    assert DEIT.lr_at(epoch) == pytest.approx(expected, rel=1e-9)
    assert DEIT.lr_at(epoch + 0.7) == DEIT.lr_at(epoch)  # stepped once per epoch, as DeiT does


def test_hand_values_in_decimal():
    assert DEIT.lr_at(1) == pytest.approx(2.008e-4)
    assert DEIT.lr_at(5) == pytest.approx(9.99322e-4, rel=1e-5)
    assert DEIT.lr_at(150) == pytest.approx(5.05e-4)


def test_smoke_scale_keeps_the_shape():
    r = DEIT.scaled(3)  # warm-up 5 x 3 / 300 rounds to 0; cosine over 3 epochs
    assert (r.epochs, r.warmup_epochs) == (3, 0)
    assert [r.lr_at(e) for e in range(3)] == pytest.approx(
        [1e-3, 1e-5 + 0.495e-3 * 1.5, 1e-5 + 0.495e-3 * 0.5])  # cos(pi/3) = 0.5, cos(2 pi/3) = -0.5


def test_lr_scales_with_an_overridden_batch_only_for_deit():
    cfg = dict(model="vit_small_patch16_224", dataset="imagenet")
    assert RunConfig(**cfg, recipe="deit", batch_size=512).effective_recipe().lr == pytest.approx(5e-4)
    assert RunConfig(**cfg, recipe="deit", batch_size=256).effective_recipe().lr == pytest.approx(2.5e-4)
    assert RunConfig(**cfg, recipe="deit", batch_size=512, lr=3e-3).effective_recipe().lr == 3e-3
    assert RunConfig(**cfg, recipe="imagenet", batch_size=512).effective_recipe().lr == 0.1  # unchanged rule


def test_existing_recipes_keep_sgd_step_and_hard_labels():
    for name, r in RECIPES.items():
        if name == "deit":
            continue
        assert (r.optimizer, r.schedule, r.transforms, r.repeated_aug, r.mixes) == ("sgd", "step", "dataset", 1, False)
        assert build_mixer(r, 10) is None
    cifar = get_recipe("cifar")  # x0.1 at 100 and 150
    assert [cifar.lr_at(e) for e in (0, 99.9, 100, 150)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    net = torch.nn.Linear(3, 2)
    opt = build_optimizer(net, cifar)
    assert type(opt) is torch.optim.SGD and len(opt.param_groups) == 1
    assert (opt.defaults["momentum"], opt.defaults["weight_decay"]) == (0.9, 1e-4)


def test_run_hashes_of_existing_configs_unchanged():
    """RunConfig gained no field: a CIFAR and an ImageNet config hash as before this change (the
    literals were computed with the parent commit's experiments/config.py and recipes.py)."""
    a = RunConfig(model="resnet20", dataset="cifar10", recipe="cifar")
    b = RunConfig(model="dia_resnet50_imagenet", dataset="imagenet", recipe="imagenet", seed=3)
    assert set(a.identity()) == {"model", "dataset", "recipe", "scale", "seed", "model_kwargs", "epochs",
                                 "batch_size", "lr", "weight_decay", "drop_path", "augment", "train_subset",
                                 "test_subset", "pruning"}
    assert (a.run_hash(), b.run_hash()) == ("85d98a9e30d6", "06b577e40b5a")


@pytest.mark.parametrize("kw,word", [(dict(optimizer="adam"), "optimizer"), (dict(schedule="poly"), "schedule"),
                                     (dict(transforms="albumentations"), "transforms"),
                                     (dict(label_smoothing=1.0), "label_smoothing"), (dict(mixup=-1.0), "mixup"),
                                     (dict(rand_augment="rand-m9"), "transforms='timm'")])
def test_bad_recipe_fields_are_one_line_errors(kw, word):
    with pytest.raises(ConfigError) as e:
        Recipe("x", 10, **kw)
    assert word in str(e.value) and "\n" not in str(e.value)


# --------------------------------------------------------------------------- optimizer and model
def test_adamw_decays_only_matrices_not_norms_biases_or_tokens():
    """Tiny ViT (C = 32, depth 2, 8x8 patches of a 32x32 one-channel image: 16 patches, 10 classes):
    decayed = patch conv 32*1*8*8 = 2048, per block qkv 3*32*32 + proj 32*32 + fc1 4*32*32 + fc2 4*32*32
    = 12288 (x2 = 24576), head 10*32 = 320: 26,944. Not decayed = pos_embed 17*32 = 544, cls_token 32,
    patch bias 32, per block LN1 64 + qkv bias 96 + proj bias 32 + LN2 64 + fc1 bias 128 + fc2 bias 32
    = 416 (x2 = 832), final LN 64, head bias 10: 1,514. Total 28,458."""
    net = create_model("vit_small_patch16_224", **TINY)
    opt = build_optimizer(net, DEIT)
    assert isinstance(opt, torch.optim.AdamW)
    groups = {g["weight_decay"]: sum(p.numel() for p in g["params"]) for g in opt.param_groups}
    assert groups == {0.05: 26_944, 0.0: 1_514}
    assert all(g["lr"] == pytest.approx(1e-3) for g in opt.param_groups)
    assert opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["eps"] == 1e-8


def test_vit_gets_stochastic_depth_from_the_recipe():
    cfg = RunConfig(model="dia_vit_small_patch16_224", dataset="fashionmnist", recipe="deit",
                    model_kwargs={k: v for k, v in TINY.items() if k not in ("in_chans", "num_classes")})
    net = build_model(cfg, 10, 1, DEIT.drop_path, DEIT.dropout)
    # timm spreads drop_path_rate linearly over the blocks: [0, 0.1] for two blocks
    assert [float(getattr(b.drop_path1, "drop_prob", 0.0)) for b in net.blocks] == pytest.approx([0.0, 0.1])
    plain = build_model(cfg, 10, 1, 0.0, 0.0)
    assert all(not hasattr(b.drop_path1, "drop_prob") for b in plain.blocks)  # Identity


# --------------------------------------------------------------------------- soft targets
def test_label_smoothing_only_targets():
    mixer = BatchMixer(10, label_smoothing=0.1)
    x, y = torch.randn(3, 1, 4, 4), torch.tensor([0, 4, 9])
    x2, y2, t = mixer(x, y)
    assert torch.equal(x2, x) and torch.equal(y2, y)
    expected = torch.full((3, 10), 0.01)
    expected[torch.arange(3), y] = 0.91  # 1 - 0.1 + 0.1 / 10
    assert torch.allclose(t, expected)


def test_mixup_cutmix_targets_sum_to_one_and_match_the_pixel_mix():
    """Images of constant value v_i = i, distinct labels y_i = i. A batch-mode mix pairs image i
    with n-1-i and weighs it lam (mixup: lam x_i + (1-lam) x_flip; cutmix: a box of area 1-lam, lam
    corrected to the box), so the mean of output i is lam v_i + (1-lam) v_flip, and its target is
    0.9 lam + 0.01 at y_i, 0.9 (1-lam) + 0.01 at y_flip, 0.01 elsewhere: the pair sums to 0.92."""
    mixer = build_mixer(DEIT, 10)
    n = 8
    for step in range(6):  # both modes occur (switch prob 0.5) over the steps
        torch.manual_seed(1000 + step)
        x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 8, 8).clone()
        y = torch.arange(n)
        xm, ym, t = mixer(x, y)
        assert t.shape == (n, 10) and torch.allclose(t.sum(1), torch.ones(n))
        for i in range(n):
            j = n - 1 - i
            pair = t[i, y[i]] + t[i, y[j]]
            assert pair == pytest.approx(0.92)
            lam = float((t[i, y[i]] - 0.01) / 0.9)
            assert xm[i].mean().item() == pytest.approx(lam * i + (1 - lam) * j, abs=1e-5)
    torch.manual_seed(7)
    a = mixer(x.clone(), y)
    torch.manual_seed(7)
    b = mixer(x.clone(), y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])  # the step's seed decides the draw


def test_odd_batch_drops_its_last_image():
    torch.manual_seed(0)
    x, y, t = build_mixer(DEIT, 10)(torch.randn(7, 1, 8, 8), torch.arange(7))
    assert (len(x), len(y), len(t)) == (6, 6, 6) and torch.equal(y, torch.arange(6))


# --------------------------------------------------------------------------- repeated augmentation
def test_repeated_augmentation_puts_copies_on_different_ranks():
    """12 images, 3 ranks, 3 repeats: each rank keeps ceil(12 / 3) = 4 positions, so the epoch
    sees 4 images, each once on every rank."""
    per_rank = [EpochSampler(12, seed=5, epoch=2, batch_size=2, dist=DistInfo(rank=r, world_size=3), repeats=3)
                for r in range(3)]
    idx = [list(s) for s in per_rank]
    assert [len(i) for i in idx] == [4, 4, 4] and all(len(set(i)) == 4 for i in idx)
    assert set(idx[0]) == set(idx[1]) == set(idx[2])
    assert idx[0][1:] == list(EpochSampler(12, 5, 2, 1, DistInfo(0, 3), start_batch=1, repeats=3))
    one = DistInfo()  # a single process: no repeats (DeiT's code), the plain permutation
    assert list(EpochSampler(12, 5, 2, 4, one, repeats=3)) == list(EpochSampler(12, 5, 2, 4, one))


# --------------------------------------------------------------------------- transforms
def test_timm_transforms_on_fashion_mnist_images():
    info = dataset_info("fashionmnist")
    img = Image.fromarray((torch.rand(28, 28) * 255).to(torch.uint8).numpy(), "L")
    train = timm_transforms(info, train=True, rand_augment=DEIT.rand_augment, random_erasing=0.25)
    names = [type(t).__name__ for t in train.transforms]
    assert names[:3] == ["RandomResizedCropAndInterpolation", "RandomHorizontalFlip", "RandAugment"]
    assert names[-1] == "RandomErasing" and train.transforms[-1].probability == 0.25
    torch.manual_seed(0)
    assert all(train(img).shape == (1, 32, 32) for _ in range(20))
    ev = timm_transforms(info, train=False)
    assert [type(t).__name__ for t in ev.transforms][:2] == ["Resize", "CenterCrop"]
    assert ev.transforms[0].size == 36 and ev(img).shape == (1, 32, 32)  # int(32 / 0.875) = 36


def test_posterize_at_magnitude_ten_gives_a_black_image():
    """m10 without noise: PosterizeIncreasing keeps 4 - int(4 * 10 / 10) = 0 bits, which the pinned
    Pillow refuses; the transform returns the all-zero image instead."""
    info = dataset_info("cifar10")
    t = timm_transforms(info, train=True, rand_augment="rand-m10-mstd0-inc1")
    ra = next(x for x in t.transforms if type(x).__name__ == "RandAugment")
    op = next(o for o in ra.ops if o.name == "PosterizeIncreasing")
    op.prob = 1.0
    out = op(Image.new("RGB", (8, 8), (200, 100, 50)))
    assert out.getextrema() == ((0, 0), (0, 0), (0, 0))


# --------------------------------------------------------------------------- one run
def test_a_deit_run_trains_with_adamw_cosine_and_mixup(tmp_path):
    cfg = RunConfig(model="dia_vit_small_patch16_224", dataset="fake", recipe="deit", scale="smoke", epochs=2,
                    train_subset=16, test_subset=8, model_kwargs={k: TINY[k] for k in ("img_size", "patch_size",
                                                                                     "embed_dim", "depth",
                                                                                     "num_heads")},
                    out_root=str(tmp_path), device="cpu", workers=0, progress=False)
    from experiments.run import run

    rec = run(cfg, handle_signals=False)
    assert rec["status"] == "done" and rec["recipe"]["optimizer"] == "adamw"
    # two epochs: cosine over 2, no warm-up left (5 x 2 / 300 rounds to 0): 1e-3, then 1e-5 + 0.495e-3
    assert [e["lr"] for e in rec["epochs"]] == pytest.approx([1e-3, 5.05e-4])
    assert all(math.isfinite(e["train_loss"]) and e["train_loss"] > 0 for e in rec["epochs"])


# --------------------------------------------------------------------------- the table
def test_table_module():
    t = get_table("dia.table9")
    assert "dia.table9" in TABLE_IDS and resolve("table9")[0] == "dia.table9"
    assert t.seeds == 15 and len(t.rows) == 12
    assert [r.label for r in t.rows[:6]] == ["ViT-S/16 / Org", "ViT-S/16 / SE", "ViT-S/16 / ECA", "ViT-S/16 / SPA",
                                            "ViT-S/16 / DIA-LSTM", "ViT-S/16 / DIA-LSTM (Light)"]
    full = t.runs("full")
    assert len(full) == 12 * 15
    assert {c.dataset for c in full} == {"imagenet"} and {c.recipe for c in full} == {"deit"}
    assert all(c.model_kwargs == {} for c in full)
    assert {p.resources for p in t.plan("full")} == {"imagenet"}
    smoke = t.runs("smoke")
    assert len(smoke) == 12 and {c.dataset for c in smoke} == {"fashionmnist"}
    assert all(c.model_kwargs == {"img_size": 32, "patch_size": 8} and c.scale == "smoke" for c in smoke)
    assert smoke[0].model == "vit_small_patch16_224" and smoke[-1].model == "dia_light_vit_base_patch16_224"
    # the smoke ViT builds on Fashion-MNIST's 32x32 grey images
    net = build_model(smoke[4], 10, 1, 0.0, 0.0)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_rows_key_into_results_csv():
    from analysis.records import load_paper

    paper = load_paper()
    t9 = paper[(paper.paper == "dia") & (paper.table == "table9")]
    keys = {(r.dataset, r.backbone, int(r.depth), r.model, r.variant) for r in t9.itertuples()}
    assert keys == {r.key for r in get_table("dia.table9").rows}


# --------------------------------------------------------------------------- transcribed numbers
def test_transcribed_numbers():
    from analysis.records import load_paper

    paper = load_paper()
    t9 = paper[(paper.paper == "dia") & (paper.table == "table9")]
    got = [(r.row, r.mean, r.std, r.pmark, r.n) for r in t9.itertuples()]
    assert got == [
        ("ViT-S/16 / Org", "80.05", "0.10", "*", ""), ("ViT-S/16 / SE", "80.38", "0.08", "*", ""),
        ("ViT-S/16 / ECA", "80.46", "0.12", "*", ""), ("ViT-S/16 / SPA", "80.29", "0.08", "*", ""),
        ("ViT-S/16 / DIA-LSTM", "80.95", "0.07", "", ""), ("ViT-S/16 / DIA-LSTM (Light)", "80.86", "0.09", "*", ""),
        ("ViT-B/16 / Org", "81.39", "0.12", "*", ""), ("ViT-B/16 / SE", "82.48", "0.14", "*", ""),
        ("ViT-B/16 / ECA", "82.18", "0.09", "*", ""), ("ViT-B/16 / SPA", "82.24", "0.07", "*", ""),
        ("ViT-B/16 / DIA-LSTM", "82.84", "0.07", "", ""), ("ViT-B/16 / DIA-LSTM (Light)", "82.76", "0.10", "*", ""),
    ]
    assert set(t9.metric) == {"top1"} and set(t9.dataset) == {"imagenet"}
    assert "p-value printed N/A (reference)" in t9[t9.model == "dia"].note.iloc[0]


# --------------------------------------------------------------------------- params
def test_params_rows_show_our_counts_with_the_reason():
    """ViT-S/16 = 22,050,664 and + DIA-LSTM's one unit 10*384*96 + 2*96 + 8*384 = 371,904 (tests/test_vit.py)."""
    from experiments.params import params_report

    rep = params_report("dia", "table9", flops=False)
    assert len(rep) == 12 and set(rep.status) == {"NOT PRINTED"}
    assert set(rep.paper_params_m) == {""}
    assert rep.reason.str.contains("prints no parameter").all()
    ours = dict(zip(rep.row, rep.ours_params_m))
    assert ours["ViT-S/16 / Org"] == "22.0507" and ours["ViT-S/16 / DIA-LSTM"] == "22.4226"


# --------------------------------------------------------------------------- claims
def _records(root, model, mean, spread=(0.0, 0.1, -0.1)):
    from test_analysis import write_record

    for s, dv in enumerate(spread):
        write_record(root, model, "imagenet", s, mean + dv, recipe="deit")


def test_claims_registered():
    from analysis.claims import CLAIMS

    by = {c.id: c for c in CLAIMS}
    imp, sams = by["dia.vit_improves_backbone"], by["dia.vit_lstm_beats_sams"]
    assert imp.tables == sams.tables == ("table9",) and imp.kind == sams.kind == "better"
    assert [(a.model, b.model) for a, b in imp.pairs] == [("dia", "resnet"), ("dia_light", "resnet")]
    assert [(a.model, b.model) for a, b in sams.pairs] == [("dia", "se"), ("dia", "eca"), ("dia", "spa")]
    assert [c.label() for c in imp.contexts] == ["ImageNet-1K, ViT-S/16", "ImageNet-1K, ViT-B/16"]


def test_claims_on_hand_made_records(tmp_path):
    """Three seeds per arm at mean + (0, 0.1, -0.1): variance 0.01 each, so Welch's
    t = d / sqrt(2 * 0.01 / 3) with df = 4. ViT-S: DIA-LSTM 81.0 vs Org 80.0 (d = 1.0, t = 12.25,
    p = 2.6e-4), Light 80.9 vs Org (d = 0.9, t = 11.02, p = 3.8e-4): Holm over the two keeps both
    below 0.05 -> 'supported' on ViT-S; ViT-B has no runs. SAMs on ViT-S: DIA 81.0 vs SE 80.4
    (d = 0.6, t = 7.35, p = 1.8e-3), ECA 81.05 (d = -0.05: behind), SPA 80.3 (d = 0.7) -> one
    comparison not supported -> 'not supported'."""
    from scipy import stats as sps

    from analysis.claims import CLAIMS, evaluate_claims
    from analysis.records import load_records

    for model, mean in (("vit_small_patch16_224", 80.0), ("dia_vit_small_patch16_224", 81.0),
                        ("dia_light_vit_small_patch16_224", 80.9), ("se_vit_small_patch16_224", 80.4),
                        ("eca_vit_small_patch16_224", 81.05), ("spa_vit_small_patch16_224", 80.3)):
        _records(tmp_path, model, mean)
    se = math.sqrt(2 * 0.01 / 3)
    assert 2 * sps.t.sf(1.0 / se, 4) == pytest.approx(2.6e-4, rel=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary, evidence = evaluate_claims(load_records(tmp_path), None,
                                            claims=[c for c in CLAIMS if c.id.startswith("dia.vit_")])
    summary = summary.set_index("claim")
    assert summary.loc["dia.vit_improves_backbone", "verdict"] == "supported"
    assert summary.loc["dia.vit_lstm_beats_sams", "verdict"] == "not supported"
    ev = evidence[(evidence.claim == "dia.vit_improves_backbone") & (evidence.context == "ImageNet-1K, ViT-S/16")]
    assert sorted(ev.delta.round(6)) == [0.9, 1.0]
    assert sorted(ev.p) == pytest.approx(sorted(2 * sps.t.sf(d / se, 4) for d in (0.9, 1.0)))
