"""One diffusion training run of U-ViT (plain or DIA) with FID against training steps (DIA Fig 8).

    python -m experiments.diffusion_run --model dia_uvit_small_cifar --dataset fashionmnist --scale smoke \\
        --batch-size 32
    python -m experiments.diffusion_run --model uvit_small_cifar --dataset cifar10 --batch-size 128 \\
        --data-root /data                        # the full U-ViT CIFAR-10 recipe (below)
    python -m experiments.diffusion_run --table dia.fig8 --profile smoke   # every run of DIA Fig 8

The network, the VP SDE, the loss, the samplers and the EMA are ``models.uvit`` and
``experiments.diffusion``; this module is the loop around them, kept apart from the
classification engine (``experiments.run``), whose helpers it reuses (``RunPaths``, the
SIGTERM/SIGUSR2 ``StopFlag``, ``finished_record``, the atomic writers of
``experiments.records``).

Recipe (:data:`UVIT_CIFAR10`): U-ViT's released CIFAR-10 configuration (Bao et al. 2023,
repository baofff/U-ViT, ``configs/cifar10_uvit.py`` and ``train.py``; U-ViT paper Sec. 5.1 and
its appendix table of training settings):

* AdamW, lr 2e-4, weight decay 0.03 (on every parameter, as ``get_optimizer`` passes all
  parameters), betas (0.99, 0.999);
* linear warm-up over 2,500 steps, then constant: the released ``LambdaLR`` factor
  ``min(k / 2500, 1)`` with k the number of optimiser steps already taken (so the very first
  step has lr 0, as released), no decay;
* batch 128, 500,000 steps, unconditional (``mode='uncond'``), random horizontal flips
  (``random_flip=True``), images scaled to [-1, 1];
* EMA of the weights with rate 0.9999 after every optimiser step (``ema_rate`` default);
* no gradient clipping (the CIFAR-10 configuration sets none), fp32 here.

DIA Fig 8 varies only the batch size; the lr is not rescaled with it (DIA states nothing;
decision: the recipe's lr at every batch size, which is what "UViT is sensitive to batch
sizes" refers to).

FID during training (:func:`fid_metric`): torchmetrics' ``FrechetInceptionDistance`` (pinned
torchmetrics 1.9.0 with torch-fidelity 0.4.0, whose ``inception-v3-compat`` network gives the
2048-d pool3 features of the TF-FID Inception; its weights are downloaded by torch-fidelity on
first use, so a cluster node needs them cached or ``--inception-weights``). Every
``eval_every`` steps N images are sampled from the EMA network and compared with the training
set's real images (U-ViT's reference statistics are those of the CIFAR-10 training set,
``fid_stats_cifar10_train_pytorch.npz``). The Fréchet distance between the Gaussians fitted to
the two feature sets (Heusel et al. 2017, Eq. 6; Dowson & Landau 1982)::

    FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2})

Full profile: 10,000 samples every 50,000 steps (U-ViT's in-training evaluation size and
interval), Euler-Maruyama with 1,000 steps (U-ViT's CIFAR-10 sampler,
``sample.algorithm='euler_maruyama_sde'``). Decision: U-ViT's own in-training FID used
DPM-Solver with 50 steps; DIA does not say which sampler Fig 8 used, and the repository has no
higher-order DPM-Solver, so the full profile uses the sampler of U-ViT's reported FID.

Smoke profile (:data:`SMOKE_RECIPE`): Fashion-MNIST padded to 32x32x1 (``UVIT_SMOKE`` model),
512 training images, 40 steps, warm-up 10, lr 1e-3, EMA 0.99 (so that a few steps move the
averaged weights), FID of 64 samples every 20 steps by DDIM with 10 steps, against the 512
training images, with the **stand-in feature extractor** :class:`StandInFeatures` (a fixed,
seeded random projection of 8x8-pooled pixels to 16 features), because torchmetrics'
Inception weights cannot be fetched offline. Its FID is labelled ``standin`` in every record
and is not comparable with any published FID.

Records: ``<out_root>/<run_name>/record.json``, written atomically after every evaluation
(status ``running``) and at the end (``done`` / ``diverged``); ``checkpoint.pt`` (network,
EMA, optimiser, loop state) at every evaluation and on a stop signal (status ``interrupted``).
Relaunching resumes from the checkpoint; every random draw is a function of (seed, step) --
the batch permutation of each epoch, the flips, t and the noise of each step, the sampler's
noise -- so a resumed run writes the same losses and FIDs as an uninterrupted one. A
non-finite loss ends the run as ``diverged`` (the step is recorded).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from models import ConfigError, count_parameters, create_model
from models.uvit import UVIT_SMOKE

from .config import RunConfig, identity_hash
from .diffusion import VPSDE, ddim_sample, euler_maruyama_sample, make_ema, noise_prediction_loss
from .distributed import DistInfo
from .engine import mix_seed
from .records import as_json, atomic_torch_save, atomic_write_json, environment, git_commit
from .run import RunPaths, StopFlag, finished_record
from .tables import get_table, planned_rows

__all__ = ["DiffusionRecipe", "UVIT_CIFAR10", "SMOKE_RECIPE", "DiffusionConfig", "StandInFeatures", "fid_metric",
           "frechet_distance", "run_diffusion", "table_configs", "run_table", "lr_at", "main", "FIG8"]

FIG8 = "dia.fig8"
SAMPLERS = ("euler_maruyama", "ddim")
FID_FEATURES = ("inception", "standin")
DATASETS = ("cifar10", "fashionmnist")


@dataclass(frozen=True)
class DiffusionRecipe:
    """Optimisation, EMA and evaluation settings of a diffusion run (module docstring)."""

    lr: float = 2e-4
    weight_decay: float = 0.03
    betas: tuple[float, float] = (0.99, 0.999)
    warmup_steps: int = 2500
    batch_size: int = 128
    steps: int = 500_000
    ema_decay: float = 0.9999
    random_flip: bool = True
    eval_every: int = 50_000
    fid_samples: int = 10_000
    sampler: str = "euler_maruyama"
    sample_steps: int = 1000
    fid_features: str = "inception"
    train_subset: int | None = None
    source: str = ""


#: U-ViT-S/2 on CIFAR-10, released configuration (module docstring).
UVIT_CIFAR10 = DiffusionRecipe(source="U-ViT released CIFAR-10 config (baofff/U-ViT configs/cifar10_uvit.py, "
                                      "train.py): AdamW lr 2e-4 wd 0.03 betas (0.99, 0.999), warm-up 2500, batch 128, "
                                      "500k steps, EMA 0.9999, flips; FID 10k samples / 50k steps, Euler-Maruyama 1000")
#: The smoke scale: a CPU run of a minute that checkpoints, samples, scores and records.
SMOKE_RECIPE = DiffusionRecipe(lr=1e-3, warmup_steps=10, steps=40, ema_decay=0.99, eval_every=20, fid_samples=64,
                               sampler="ddim", sample_steps=10, fid_features="standin", train_subset=512,
                               source="smoke: U-ViT's optimiser shape at lr 1e-3, 40 steps, EMA 0.99, DDIM-10, "
                                      "stand-in FID features (not Inception)")


# --------------------------------------------------------------------------- config
@dataclass
class DiffusionConfig:
    """One diffusion run. Identity fields (hashed, name the run folder) then execution fields."""

    model: str
    dataset: str = "fashionmnist"
    scale: str = "smoke"
    seed: int = 0
    batch_size: int | None = None
    steps: int | None = None
    eval_every: int | None = None
    fid_samples: int | None = None
    sampler: str | None = None
    sample_steps: int | None = None
    fid_features: str | None = None
    train_subset: int | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    ema_decay: float | None = None
    # ---- execution
    data_root: str = "data"
    out_root: str = "runs"
    device: str = "auto"
    inception_weights: str | None = None
    log_every: int = 0  # progress line every k steps; 0: 10 lines per run
    sample_batch: int = 500

    EXECUTION = ("data_root", "out_root", "device", "inception_weights", "log_every", "sample_batch")

    def __post_init__(self) -> None:
        if self.scale not in ("full", "smoke"):
            raise ConfigError(f"unknown scale {self.scale!r}; use full or smoke")
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown diffusion dataset {self.dataset!r}; use one of {', '.join(DATASETS)}")
        if "uvit" not in self.model:
            raise ConfigError(f"{self.model!r} is not a U-ViT; use uvit_small_cifar or dia_uvit_small_cifar")
        r = self.recipe()
        if r.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {r.sampler!r}; use one of {', '.join(SAMPLERS)}")
        if r.fid_features not in FID_FEATURES:
            raise ConfigError(f"unknown FID features {r.fid_features!r}; use one of {', '.join(FID_FEATURES)}")
        for name in ("batch_size", "steps", "eval_every", "fid_samples", "sample_steps"):
            if getattr(r, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(r, name)}")
        if r.fid_samples < 2:
            raise ConfigError("fid_samples must be >= 2 (FID needs a covariance)")

    def recipe(self) -> DiffusionRecipe:
        """The scale's recipe with this config's overrides."""
        base = SMOKE_RECIPE if self.scale == "smoke" else UVIT_CIFAR10
        over = {f.name: getattr(self, f.name) for f in dataclasses.fields(DiffusionRecipe)
                if hasattr(self, f.name) and getattr(self, f.name) is not None}
        return dataclasses.replace(base, **over)

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.EXECUTION}

    def run_hash(self) -> str:
        return identity_hash(self.identity())

    @property
    def run_name(self) -> str:
        return f"{self.model}-{self.dataset}-{self.scale}-b{self.recipe().batch_size}-s{self.seed}-{self.run_hash()}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_root) / self.run_name

    def model_kwargs(self) -> dict[str, Any]:
        return dict(UVIT_SMOKE) if self.dataset == "fashionmnist" else {}

    def row_config(self) -> RunConfig:
        """The table registry's RunConfig of this run (``experiments.tables.dia_fig8``), for the
        record's ``planned`` rows."""
        return RunConfig(model=self.model, dataset=self.dataset, scale=self.scale, seed=self.seed,
                         batch_size=self.recipe().batch_size, model_kwargs=self.model_kwargs())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- FID
class StandInFeatures(nn.Module):
    """An offline stand-in for the Inception features: images in [0, 1] of any size and channel
    count -> 8x8 average pooling -> a fixed random projection (seeded, N(0, 1/d_in)) -> tanh,
    ``num_features`` = 16, in float64. Smooth and deterministic; NOT Inception, so its FID is
    only comparable with itself."""

    num_features = 16

    def __init__(self, in_chans: int = 1, pool: int = 8, num_features: int = 16, seed: int = 0):
        super().__init__()
        self.num_features, self.pool = int(num_features), int(pool)
        g = torch.Generator().manual_seed(seed)
        d_in = in_chans * pool * pool
        self.register_buffer("proj", torch.randn(d_in, self.num_features, generator=g, dtype=torch.float64)
                             / math.sqrt(d_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.adaptive_avg_pool2d(x.double(), self.pool).flatten(1)
        return torch.tanh(z @ self.proj)


def fid_metric(features: str | nn.Module, in_chans: int, device: torch.device | str = "cpu",
               weights: str | None = None):
    """torchmetrics' ``FrechetInceptionDistance`` taking float images in [0, 1]
    (``normalize=True``) that keeps the real statistics across ``reset()``.

    ``features``: 'inception' (2048-d pool3 of torch-fidelity's Inception; weights downloaded
    on first use unless ``weights`` names the file), 'standin' (:class:`StandInFeatures`), or
    an ``nn.Module`` mapping images to [B, d]. Feed it through :func:`fid_update`.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    if isinstance(features, nn.Module):
        feat: Any = features
    elif features == "standin":
        feat = StandInFeatures(in_chans)
    elif features == "inception":
        feat = 2048
    else:
        raise ConfigError(f"unknown FID features {features!r}; use one of {', '.join(FID_FEATURES)}")
    kwargs = dict(normalize=True, reset_real_features=False)
    if feat != 2048:
        metric = FrechetInceptionDistance(feature=feat, **kwargs)
    else:
        try:
            metric = FrechetInceptionDistance(feature=feat, feature_extractor_weights_path=weights, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the download's many failure types
            raise ConfigError(f"FID Inception weights unavailable ({type(exc).__name__}: {str(exc)[:120]}); fetch "
                              "them once with network access (torch-fidelity caches them) or pass --inception-weights "
                              "FILE, or use --fid-features standin") from None
    metric.feature_kind = "inception" if feat == 2048 else "standin" if features == "standin" else "custom"
    return metric.to(device)


def fid_update(metric, images01: torch.Tensor, real: bool) -> None:
    """Add images in [0, 1] ([B, C, H, W]) to ``metric``; one-channel images are repeated to
    three for Inception (Fashion-MNIST)."""
    x = images01.clamp(0, 1)
    if getattr(metric, "feature_kind", "") == "inception" and x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    metric.update(x, real=real)


def frechet_distance(feats_a, feats_b) -> float:
    """The Fréchet distance of the Gaussians fitted to two feature sets [N, d] (numpy, scipy's
    ``sqrtm``; unbiased covariances), the reference the tests check torchmetrics against."""
    import numpy as np
    from scipy import linalg

    a, b = np.asarray(feats_a, dtype=np.float64), np.asarray(feats_b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s_a @ s_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * np.real(covmean)))


# --------------------------------------------------------------------------- data
class _Images:
    """The training images as uint8 [N, C, 32, 32] on the device; batches as a function of
    (seed, step): per epoch a seeded permutation (drop_last), per step seeded flips."""

    def __init__(self, cfg: DiffusionConfig, device: torch.device):
        from . import data as D

        r = cfg.recipe()
        x, _ = D.load_uint8(cfg.dataset, cfg.data_root, train=True, subset=r.train_subset)
        self.x, self.seed, self.bs, self.flip = x.to(device), cfg.seed, r.batch_size, r.random_flip
        self.per_epoch = len(self.x) // self.bs
        if self.per_epoch < 1:
            raise ConfigError(f"batch {self.bs} exceeds the {len(self.x)} training images; lower --batch-size "
                              "or raise --train-subset")
        self._perm: tuple[int, torch.Tensor] | None = None

    def batch(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 11))
            self._perm = (epoch, torch.randperm(len(self.x), generator=g))
        idx = self._perm[1][pos * self.bs:(pos + 1) * self.bs].to(self.x.device)
        x = self.x[idx].float() / 127.5 - 1.0
        if self.flip:
            g = torch.Generator().manual_seed(mix_seed(self.seed, step, 12))
            f = (torch.rand(self.bs, generator=g) < 0.5).view(-1, 1, 1, 1).to(x.device)
            x = torch.where(f, x.flip(3), x)
        return x

    def real01(self, batch: int = 500) -> Iterable[torch.Tensor]:
        for i in range(0, len(self.x), batch):
            yield self.x[i:i + batch].float() / 255.0


# --------------------------------------------------------------------------- loop
def lr_at(recipe: DiffusionRecipe, step: int) -> float:
    """The lr of optimiser step ``step`` (0-based): ``lr min(step / warmup, 1)`` (released LambdaLR)."""
    return recipe.lr * (min(step / recipe.warmup_steps, 1.0) if recipe.warmup_steps > 0 else 1.0)


def _device(cfg: DiffusionConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device!r} requested but CUDA is not available here; use --device cpu")
    return torch.device(cfg.device)


@dataclass
class _State:
    step: int = 0
    evals: list[dict[str, Any]] = field(default_factory=list)
    loss_sum: float = 0.0  # since the last evaluation
    loss_n: int = 0
    train_time_s: float = 0.0
    resumes: int = 0


def _sample(model: nn.Module, r: DiffusionRecipe, n: int, shape: tuple[int, ...], seed: int, batch: int,
            device: torch.device) -> Iterable[torch.Tensor]:
    """N images in [0, 1] from ``model`` in minibatches; the same noise at every evaluation."""
    for k, i in enumerate(range(0, n, batch)):
        b = min(batch, n - i)
        s = mix_seed(seed, 99, k)
        if r.sampler == "ddim":
            x = ddim_sample(model, (b, *shape), steps=r.sample_steps, seed=s, device=device)
        else:
            x = euler_maruyama_sample(model, (b, *shape), steps=r.sample_steps, seed=s, device=device)
        yield ((x + 1) / 2).clamp(0, 1)


def _hms(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fid_label(kind: str) -> str:
    return {"inception": "inception-v3 pool3 2048-d (torch-fidelity 'inception-v3-compat' via torchmetrics)",
            "standin": "standin: fixed random projection of 8x8-pooled pixels, 16-d (NOT Inception; smoke only, "
                       "not comparable with published FIDs)"}.get(kind, kind)


def run_diffusion(cfg: DiffusionConfig, *, handle_signals: bool = True,
                  should_stop: Callable[[int], bool] | None = None) -> dict[str, Any]:
    """Train, sample and score one run; returns its record (module docstring). ``should_stop(step)``
    (tests) acts like a stop signal after optimiser step ``step``."""
    done = finished_record(cfg)
    if done is not None:
        return done
    r, device = cfg.recipe(), _device(cfg)
    paths = RunPaths(cfg.run_dir)
    torch.manual_seed(mix_seed(cfg.seed, -1))
    model = create_model(cfg.model, **cfg.model_kwargs()).to(device)
    ema = make_ema(model, r.ema_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr, weight_decay=r.weight_decay, betas=r.betas)
    data = _Images(cfg, device)
    sde = VPSDE()
    state = _State()
    if paths.checkpoint.exists():
        ck = torch.load(paths.checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        state = _State(**ck["state"])
        state.resumes += 1
        print(f"[{cfg.run_name}] resuming at step {state.step}", flush=True)
    fid_kind = r.fid_features
    base = {
        "kind": "diffusion", "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(),
        "smoke": cfg.scale == "smoke", "recipe": dataclasses.asdict(r), "seed": cfg.seed, "model": cfg.model,
        "dia": cfg.model.startswith("dia_"), "dataset": cfg.dataset, "batch_size": r.batch_size,
        "train_images": len(data.x), "params": count_parameters(model),
        "fid": {"features": fid_kind, "label": _fid_label(fid_kind), "real_images": len(data.x),
                "samples": r.fid_samples, "sampler": r.sampler, "sample_steps": r.sample_steps,
                "reference": "training set"},
        "git": git_commit(), "environment": environment(device), "planned": planned_rows(cfg.row_config()),
    }

    def record(status: str, diverged_at: dict | None = None) -> dict[str, Any]:
        rec = as_json({**base, "status": status, "step": state.step, "steps_total": r.steps, "evals": state.evals,
                       "final_fid": state.evals[-1]["fid"] if state.evals else None,
                       "diverged": status == "diverged", "diverged_at": diverged_at, "resumes": state.resumes,
                       "train_time_s": state.train_time_s})
        atomic_write_json(paths.record, rec)
        return rec

    def checkpoint() -> None:
        atomic_torch_save(paths.checkpoint, {"model": model.state_dict(), "ema": ema.state_dict(),
                                             "optimizer": opt.state_dict(), "state": dataclasses.asdict(state)})

    paths.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(paths.config, cfg.to_dict())
    print(f"[{cfg.run_name}] {cfg.model} on {cfg.dataset} ({cfg.scale}) | {base['params'] / 1e6:.3f}M params | "
          f"batch {r.batch_size} | {r.steps} steps | FID every {r.eval_every} ({r.fid_samples} samples, {r.sampler} "
          f"{r.sample_steps}, features {fid_kind}) | device {device}", flush=True)

    metric = None
    shape = tuple(data.x.shape[1:])
    log_every = cfg.log_every or max(1, r.steps // 10)
    stop = StopFlag(DistInfo(), install=handle_signals)
    t_proc, steps_proc = time.perf_counter(), 0
    try:
        while state.step < r.steps:
            t0 = time.perf_counter()
            model.train()
            x0 = data.batch(state.step)
            for group in opt.param_groups:
                group["lr"] = lr_at(r, state.step)
            g = torch.Generator().manual_seed(mix_seed(cfg.seed, state.step, 13))
            loss = noise_prediction_loss(model, x0, sde, generator=g)
            if not torch.isfinite(loss):
                where = {"step": state.step + 1}
                print(f"[{cfg.run_name}] loss is not finite at step {state.step + 1}: recorded as diverged",
                      flush=True)
                return record("diverged", where)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update_parameters(model)
            state.step += 1
            loss_value = float(loss.detach())
            state.loss_sum += loss_value
            state.loss_n += 1
            dt = time.perf_counter() - t0
            state.train_time_s += dt
            steps_proc += 1
            if state.step % log_every == 0 or state.step == r.steps:
                rate = steps_proc / max(time.perf_counter() - t_proc, 1e-9)
                eta = (r.steps - state.step) / max(rate, 1e-9)
                print(f"[{cfg.run_name}] step {state.step}/{r.steps} | loss {loss_value:.4f} | "
                      f"lr {lr_at(r, state.step - 1):.3g} | {rate * r.batch_size:.0f} img/s | "
                      f"ETA {_hms(eta)}", flush=True)
            if state.step % r.eval_every == 0 or state.step == r.steps:
                t_eval = time.perf_counter()
                if metric is None:  # the real statistics, once per process
                    metric = fid_metric(fid_kind, shape[0], device, cfg.inception_weights)
                    for xr in data.real01():
                        fid_update(metric, xr, real=True)
                metric.reset()
                net = ema.module.eval()
                for xs in _sample(net, r, r.fid_samples, shape, cfg.seed, cfg.sample_batch, device):
                    fid_update(metric, xs, real=False)
                fid = float(metric.compute())
                state.evals.append({"step": state.step, "fid": fid,
                                    "train_loss": state.loss_sum / max(state.loss_n, 1),
                                    "lr": lr_at(r, state.step - 1), "train_time_s": state.train_time_s,
                                    "eval_time_s": time.perf_counter() - t_eval})
                state.loss_sum, state.loss_n = 0.0, 0
                checkpoint()
                record("running")
                print(f"[{cfg.run_name}] step {state.step}: FID ({fid_kind}, {r.fid_samples} samples) {fid:.4f} | "
                      f"train loss {state.evals[-1]['train_loss']:.4f}", flush=True)
            if state.step < r.steps and (stop() or (should_stop is not None and should_stop(state.step))):
                checkpoint()
                print(f"[{cfg.run_name}] interrupted at step {state.step}: checkpoint saved", flush=True)
                return record("interrupted")
    finally:
        stop.restore()
    rec = record("done")
    print(f"[{cfg.run_name}] done: final FID {rec['final_fid']:.4f} -> {paths.record}", flush=True)
    return rec


# --------------------------------------------------------------------------- DIA Fig 8
def table_configs(profile: str = "smoke", seeds: int | None = None, **overrides: Any) -> list[DiffusionConfig]:
    """The diffusion runs of DIA Fig 8 (``experiments.tables.dia_fig8``): one per row and seed, as
    the table plans them, with ``overrides`` (execution fields, steps ...) applied to each.

    The table launcher (``cli.py`` / ``experiments.launch``) runs classification configs; the
    figure's runs go through this function and :func:`run_table` instead."""
    table = get_table(FIG8)
    out = []
    for planned in table.plan(profile, seeds):
        rc = planned.cfg
        out.append(DiffusionConfig(model=rc.model, dataset=rc.dataset, scale=rc.scale, seed=rc.seed,
                                   batch_size=rc.batch_size, **overrides))
    return out


def run_table(profile: str = "smoke", seeds: int | None = None, limit: int | None = None,
              **overrides: Any) -> list[dict[str, Any]]:
    """Train (or resume, or skip when finished) every run of DIA Fig 8 in turn; their records."""
    cfgs = table_configs(profile, seeds, **overrides)
    return [run_diffusion(c) for c in cfgs[:limit]]


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.diffusion_run",
                                description="Train U-ViT (plain or DIA) with FID against steps (DIA Fig 8).")
    p.add_argument("--table", default=None, help=f"run every run of a figure ({FIG8}) instead of one")
    p.add_argument("--profile", default="smoke", choices=("full", "smoke"), help="with --table")
    p.add_argument("--seeds", type=int, default=None, help="with --table")
    p.add_argument("--limit", type=int, default=None, help="with --table: the first N runs")
    p.add_argument("--model", default=None, help="uvit_small_cifar or dia_uvit_small_cifar")
    p.add_argument("--dataset", default="fashionmnist", choices=DATASETS)
    p.add_argument("--scale", default="smoke", choices=("full", "smoke"))
    p.add_argument("--seed", type=int, default=0)
    for name, kind in (("batch_size", int), ("steps", int), ("eval_every", int), ("fid_samples", int),
                       ("sample_steps", int), ("train_subset", int), ("lr", float), ("warmup_steps", int),
                       ("ema_decay", float), ("sampler", str), ("fid_features", str)):
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    p.add_argument("--data-root", default="data")
    p.add_argument("--out-root", default="runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--inception-weights", default=None, help="torch-fidelity Inception weights file (offline)")
    p.add_argument("--log-every", type=int, default=0)
    p.add_argument("--sample-batch", type=int, default=500)
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    table, profile, seeds, limit = (args.pop(k) for k in ("table", "profile", "seeds", "limit"))
    try:
        if table is not None:
            if table != FIG8:
                raise ConfigError(f"--table {table!r}: only {FIG8} has diffusion runs")
            exe = {k: args[k] for k in DiffusionConfig.EXECUTION}
            over = {k: v for k, v in args.items() if v is not None and k in (
                "steps", "eval_every", "fid_samples", "sample_steps", "train_subset", "sampler", "fid_features")}
            recs = run_table(profile, seeds, limit, **exe, **over)
        else:
            if args["model"] is None:
                raise ConfigError("--model is required (uvit_small_cifar or dia_uvit_small_cifar), or use --table")
            recs = [run_diffusion(DiffusionConfig(**args))]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r["status"] in ("done", "diverged") for r in recs) else 3


if __name__ == "__main__":
    sys.exit(main())
