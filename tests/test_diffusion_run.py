"""FID (torchmetrics with a stand-in feature extractor, checked against the Fréchet distance
computed by hand with scipy), the U-ViT diffusion training run (records, resume, divergence),
the DIA Fig 8 figure module and its drawing (experiments.diffusion_run,
experiments.tables.dia_fig8, analysis.diffusion_figures)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from scipy import linalg

from analysis.diffusion_figures import draw_fig8, fid_curves, fig8_from_runs, load_diffusion_records
from experiments import diffusion_run as DR
from experiments.diffusion_run import (SMOKE_RECIPE, UVIT_CIFAR10, DiffusionConfig, StandInFeatures, fid_metric,
                                       fid_update, frechet_distance, lr_at, run_diffusion, table_configs)
from experiments.tables import get_table
from experiments.tables.dia_fig8 import SMOKE_UVIT
from models import ConfigError
from models.uvit import UVIT_SMOKE


def images(seed: int, n: int = 64, c: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, 32, 32, generator=g)


def fid_of(real: torch.Tensor, fake: torch.Tensor) -> float:
    m = fid_metric("standin", real.shape[1])
    fid_update(m, real, real=True)
    fid_update(m, fake, real=False)
    return float(m.compute())


def hand_fid(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) with unbiased covariances (Heusel et al. 2017, Eq. 6)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(root))


# --------------------------------------------------------------------------- FID
def test_fid_of_identical_sets_is_zero():
    x = images(0)
    assert abs(fid_of(x, x)) < 1e-8
    assert abs(fid_of(x, x.clone())) < 1e-8


def test_fid_of_shifted_set_equals_hand_computation():
    real = images(0)
    fake = (real * 0.6 + 0.3).clamp(0, 1)  # a contrast/brightness shift
    got = fid_of(real, fake)
    feat = StandInFeatures(1)
    want = hand_fid(feat(real).numpy(), feat(fake).numpy())
    assert want > 0.05  # clearly non-zero on this shift
    assert got == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert frechet_distance(feat(real).numpy(), feat(fake).numpy()) == pytest.approx(want, rel=1e-9)
    # two independent draws of the same distribution sit far below the shift
    assert fid_of(real, images(1)) < want / 5


def test_fid_keeps_real_statistics_across_reset_and_takes_custom_modules():
    real, fake = images(0), images(2)
    m = fid_metric(StandInFeatures(1, num_features=8, seed=3), 1)
    fid_update(m, real, real=True)
    fid_update(m, fake, real=False)
    first = float(m.compute())
    m.reset()
    fid_update(m, fake, real=False)
    assert float(m.compute()) == pytest.approx(first, rel=1e-12)
    f8 = StandInFeatures(1, num_features=8, seed=3)
    assert first == pytest.approx(hand_fid(f8(real).numpy(), f8(fake).numpy()), rel=1e-6)


def test_standin_features_shape_and_determinism():
    f = StandInFeatures(3)
    x = images(0, n=5, c=3)
    y = f(x)
    assert y.shape == (5, 16) and y.dtype == torch.float64
    assert torch.equal(y, StandInFeatures(3)(x))
    with pytest.raises(ConfigError, match="unknown FID features"):
        fid_metric("clip", 1)
    # the Inception path names the problem and the fix in one line when its weights are missing
    with pytest.raises(ConfigError, match="FID Inception weights unavailable.*--inception-weights") as e:
        fid_metric("inception", 1, weights="/nonexistent/inception.pth")
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- recipe
def test_recipe_is_uvit_cifar10_release():
    r = UVIT_CIFAR10
    assert (r.lr, r.weight_decay, r.betas, r.warmup_steps, r.batch_size, r.steps, r.ema_decay) == (
        2e-4, 0.03, (0.99, 0.999), 2500, 128, 500_000, 0.9999)
    assert (r.sampler, r.sample_steps, r.fid_features, r.random_flip) == ("euler_maruyama", 1000, "inception", True)
    # released LambdaLR: factor min(k / 2500, 1), k = optimiser steps already taken
    assert lr_at(r, 0) == 0.0 and lr_at(r, 1250) == pytest.approx(1e-4) and lr_at(r, 2500) == 2e-4
    assert lr_at(r, 400_000) == 2e-4
    assert (SMOKE_RECIPE.sampler, SMOKE_RECIPE.fid_features) == ("ddim", "standin")


def test_config_errors_are_one_line():
    for kw, msg in (({"model": "resnet20"}, "not a U-ViT"), ({"model": "uvit_small_cifar", "dataset": "mnist"},
                                                           "unknown diffusion dataset"),
                    ({"model": "uvit_small_cifar", "sampler": "heun"}, "unknown sampler"),
                    ({"model": "uvit_small_cifar", "fid_samples": 1}, "fid_samples")):
        with pytest.raises(ConfigError, match=msg) as e:
            DiffusionConfig(**kw)
        assert "\n" not in str(e.value)
    assert DR.main(["--dataset", "fashionmnist"]) == 2


# --------------------------------------------------------------------------- training runs
def tiny(model: str, root, **kw) -> DiffusionConfig:
    """4 steps at batch 32 on 64 Fashion-MNIST images, FID of 16 DDIM-2 samples every 2 steps."""
    base = dict(model=model, dataset="fashionmnist", scale="smoke", batch_size=32, steps=4, eval_every=2,
                fid_samples=16, sample_steps=2, train_subset=64, out_root=str(root), device="cpu", sample_batch=16)
    return DiffusionConfig(**{**base, **kw})


def stable(evals):
    return [{k: e[k] for k in ("step", "fid", "train_loss", "lr")} for e in evals]


@pytest.mark.fashion_mnist
def test_smoke_run_writes_a_record_with_fid_entries(tmp_path, capsys):
    cfg = tiny("uvit_small_cifar", tmp_path, log_every=2)
    rec = run_diffusion(cfg, handle_signals=False)
    out = capsys.readouterr().out
    assert "step 2/4 | loss " in out and "ETA 0:00:" in out and "step 4: FID (standin, 16 samples)" in out
    on_disk = json.loads((cfg.run_dir / "record.json").read_text())
    assert on_disk == rec
    assert rec["status"] == "done" and rec["kind"] == "diffusion" and rec["smoke"] is True
    assert rec["step"] == 4 and rec["batch_size"] == 32 and rec["train_images"] == 64 and rec["dia"] is False
    assert [e["step"] for e in rec["evals"]] == [2, 4]
    assert all(math.isfinite(e["fid"]) and e["fid"] > 0 for e in rec["evals"])
    # lr of steps 2 and 4 (0-based 1 and 3) under the smoke warm-up of 10 steps to 1e-3
    assert [e["lr"] for e in rec["evals"]] == pytest.approx([1e-4, 3e-4])
    assert rec["fid"]["features"] == "standin" and "NOT Inception" in rec["fid"]["label"]
    assert rec["fid"]["real_images"] == 64 and rec["fid"]["samples"] == 16
    assert rec["final_fid"] == rec["evals"][-1]["fid"]
    assert rec["planned"] == [{"table": "dia.fig8", "row": "batch 32 / UViT",
                               "key": ["cifar10", "uvit_small_cifar", 13, "resnet", "batch=32"]}]
    assert (cfg.run_dir / "checkpoint.pt").exists()
    assert run_diffusion(cfg, handle_signals=False) == rec  # finished: nothing to do


@pytest.mark.fashion_mnist
def test_resume_after_interruption_gives_the_uninterrupted_record(tmp_path):
    whole = run_diffusion(tiny("dia_uvit_small_cifar", tmp_path / "a"), handle_signals=False)
    cfg = tiny("dia_uvit_small_cifar", tmp_path / "b")
    cut = run_diffusion(cfg, handle_signals=False, should_stop=lambda step: step == 3)
    assert cut["status"] == "interrupted" and cut["step"] == 3 and stable(cut["evals"]) == stable(whole["evals"][:1])
    resumed = run_diffusion(cfg, handle_signals=False)
    assert resumed["status"] == "done" and resumed["resumes"] == 1 and whole["resumes"] == 0
    assert stable(resumed["evals"]) == stable(whole["evals"])
    skip = {"run_name", "config", "resumes", "train_time_s", "evals", "environment", "git"}
    assert {k: v for k, v in resumed.items() if k not in skip} == {k: v for k, v in whole.items() if k not in skip}


@pytest.mark.fashion_mnist
def test_non_finite_loss_is_recorded_as_diverged(tmp_path, monkeypatch):
    monkeypatch.setattr(DR, "noise_prediction_loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    rec = run_diffusion(tiny("uvit_small_cifar", tmp_path), handle_signals=False)
    assert rec["status"] == "diverged" and rec["diverged"] is True and rec["diverged_at"] == {"step": 1}
    assert rec["evals"] == []


# --------------------------------------------------------------------------- DIA Fig 8
def test_fig8_rows_and_their_diffusion_configs():
    t = get_table("dia.fig8")
    assert t.kind == "figure" and len(t.rows) == 6 and t.seeds == 1
    assert [r.label for r in t.rows] == [f"batch {b} / {m}" for b in (32, 64, 128) for m in ("UViT", "DIA-UViT")]
    assert len(t.runs("full")) == 6 and len(t.runs("smoke")) == 6
    full = [(c.model, c.dataset, c.batch_size) for c in t.runs("full")]
    assert full == [(m, "cifar10", b) for b in (32, 64, 128) for m in ("uvit_small_cifar", "dia_uvit_small_cifar")]
    assert dict(SMOKE_UVIT) == UVIT_SMOKE
    cfgs = table_configs("smoke", out_root="elsewhere")
    assert [(c.model, c.dataset, c.recipe().batch_size, c.out_root) for c in cfgs] == [
        (m, "fashionmnist", b, "elsewhere") for b in (32, 64, 128) for m in ("uvit_small_cifar", "dia_uvit_small_cifar")]
    assert all(c.model_kwargs() == UVIT_SMOKE for c in cfgs)
    full_cfg = table_configs("full")[0]
    assert full_cfg.recipe() == dataclasses.replace(UVIT_CIFAR10, batch_size=32)


def hand_record(dia: bool, batch: int, fids, smoke: bool = True) -> dict:
    return {"kind": "diffusion", "dia": dia, "batch_size": batch, "smoke": smoke,
            "config": {"model": f"{'dia_' if dia else ''}uvit_small_cifar", "batch_size": batch},
            "fid": {"features": "standin"}, "status": "done",
            "planned": [{"table": "dia.fig8", "row": f"batch {batch}", "key": []}],
            "evals": [{"step": 100 * (i + 1), "fid": f} for i, f in enumerate(fids)]}


def test_fig8_draws_from_hand_made_records(tmp_path):
    recs = [hand_record(False, 32, [80.0, 60.0, 55.0]), hand_record(True, 32, [70.0, 40.0, 30.0]),
            hand_record(False, 128, [50.0, 20.0]), hand_record(True, 128, [49.0, 19.5])]
    paths, drawn = draw_fig8(recs, tmp_path / "fig")
    assert [p.name for p in paths] == ["dia_fig8.png", "dia_fig8.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert drawn == {(32, "UViT"): ([100.0, 200.0, 300.0], [80.0, 60.0, 55.0]),
                     (32, "DIA-UViT"): ([100.0, 200.0, 300.0], [70.0, 40.0, 30.0]),
                     (128, "UViT"): ([100.0, 200.0], [50.0, 20.0]),
                     (128, "DIA-UViT"): ([100.0, 200.0], [49.0, 19.5])}
    assert list(fid_curves(recs)) == [32, 128]
    with pytest.raises(ValueError, match="two UViT records at batch 32"):
        fid_curves(recs + [hand_record(False, 32, [1.0])])
    # from record files on disk: only diffusion records planned by dia.fig8 are read
    for i, r in enumerate(recs + [{"kind": "classification", "planned": []}]):
        (tmp_path / "runs" / f"r{i}").mkdir(parents=True)
        (tmp_path / "runs" / f"r{i}" / "record.json").write_text(json.dumps(r))
    assert len(load_diffusion_records(tmp_path / "runs")) == 4
    out = fig8_from_runs(tmp_path / "runs", tmp_path / "fig2")
    assert all(p.exists() for p in out)
    with pytest.raises(ValueError, match="no diffusion records"):
        draw_fig8([], tmp_path)


@pytest.mark.fashion_mnist
def test_table_command_trains_fig8_and_draws_it(tmp_path, capsys):
    """`./reproduce.sh dia.fig8 --profile smoke` goes to the diffusion runner (not the classification
    launcher): the first run trains to a record labelled smoke with stand-in FIDs at steps 20 and 40,
    and the figure is drawn next to the launch state, PNG and PDF; SLURM is refused in one line."""
    from cli import main

    assert main(["dia.fig8", "--profile", "smoke", "--limit", "1", "--out-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (rec,) = load_diffusion_records(tmp_path)
    assert rec["status"] == "done" and rec["smoke"] is True and rec["config"]["model"] == "uvit_small_cifar"
    assert [e["step"] for e in rec["evals"]] == [20, 40] and all(0 < e["fid"] < 10 for e in rec["evals"])
    fig = tmp_path / "_launch" / "dia.fig8-smoke" / "dia_fig8"
    assert f"figure: {fig}.png" in out and fig.with_suffix(".png").is_file() and fig.with_suffix(".pdf").is_file()
    assert main(["dia.fig8", "--profile", "smoke", "--executor", "slurm", "--out-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "diffusion runs run with the local executor only" in err and len(err.strip().splitlines()) == 1
