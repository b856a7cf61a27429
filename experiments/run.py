"""One run: config -> model, data, recipe -> train and evaluate -> a results record.

    ./reproduce.sh run --model resnet20 --dataset fashionmnist --scale smoke
    python -m experiments.run --model se_resnet56 --dataset cifar100 --data-root /data
    torchrun --nproc-per-node 8 -m experiments.run --model mrla_b_resnet50_imagenet \\
        --dataset imagenet --recipe imagenet --data-root /data/imagenet

The run writes into ``<out_root>/<run_name>/`` (the name ends with a hash of the config):
``config.json``, ``checkpoint.pt`` (after every epoch, atomically) and ``record.json``
(after every epoch with status ``running``; finally ``done`` or ``diverged``). Relaunching
a finished run does nothing; relaunching an unfinished one resumes from its checkpoint.
SIGTERM and SIGUSR2 (what SLURM sends before a time limit) save a checkpoint at the next
step and exit with status ``interrupted``.

The loop (``train_loop``) runs over typed state: ``build_training`` makes the
:class:`Training` (model, optimiser, data, callbacks; built once per process), ``resume``
the :class:`TrainState` (epoch, step, history, partial sums of an interrupted epoch),
then per epoch ``train_one_epoch`` and ``end_epoch`` (evaluation, the epoch's record,
``save_checkpoint``, ``write_record``), until ``finish``, ``on_diverged`` or
``on_interrupted``.

A config with ``detector`` set is a detection run: ``run`` hands it to
``experiments.detection.train.run_detection`` (same folder, checkpoint, signals and record
conventions; ``model`` is then the backbone).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from models import ConfigError, count_parameters, create_model
from models.backbone import scale_residual_init_
from models.zoo import FAMILIES, model_spec, takes_drop_path

from .config import RunConfig
from .distributed import (DistInfo, all_reduce_sum, broadcast_buffers, collective_device, gather_object,
                          init_distributed, per_rank_batch, shutdown, weight_checksum)
from .engine import BatchMixer, Callback, EpochSampler, Progress, TrainResult, evaluate, mix_seed, train_epoch
from .params import count_macs
from .recipes import Recipe
from .records import as_json, atomic_torch_save, atomic_write_json, environment, git_commit, read_json
from .tables import planned_rows

__all__ = ["run", "build_model", "FINAL_STATUSES", "main", "RunPaths", "PartialEpoch", "TrainState", "Training",
           "build_training", "resume", "train_loop", "StopFlag", "write_checkpoint", "load_checkpoint", "finished_record",
           "build_optimizer", "build_mixer", "run_ranks", "run_device"]

FINAL_STATUSES = ("done", "diverged")
RECORD, CHECKPOINT, CONFIG = "record.json", "checkpoint.pt", "config.json"


# --------------------------------------------------------------------------- model
def build_model(cfg: RunConfig, num_classes: int, in_chans: int, drop_path: float, dropout: float) -> nn.Module:
    """The registry model with the dataset's head and the recipe's regularisers.

    DropPath goes only to families whose modules take it (the layer-attention branches of
    MRLA/DLA/ELA, official-code.md) and to ViTs, as timm's ``drop_path_rate`` (stochastic
    depth on every block's residual branches, DeiT's; recipe 'deit'); dropout only into WRN
    blocks (DIANet WRN recipe). ``cfg.residual_init='scaled'`` (the smoke profile's CIFAR-style
    rows only) then rescales the residual branches' last BNs (``scale_residual_init_``).
    """
    kwargs = dict(cfg.model_kwargs)
    kwargs.setdefault("num_classes", num_classes)
    kwargs.setdefault("in_chans", in_chans)
    spec = model_spec(cfg.model)
    family = spec.get("family") or ""
    fam = FAMILIES.get(family)
    if drop_path and takes_drop_path(family):
        kwargs["attn_kwargs"] = {"drop_path": drop_path, **kwargs.get("attn_kwargs", {})}
    if drop_path and spec.get("kind") == "vit":
        kwargs.setdefault("drop_path_rate", drop_path)
    if cfg.pruning:
        if fam is None or not fam.takes("pruning"):
            raise ConfigError(f"pruning settings given but {cfg.model} has no pruning controller (use an ela_* model)")
        kwargs["attn_kwargs"] = {**kwargs.get("attn_kwargs", {}), "pruning": dict(cfg.pruning)}
    if dropout and spec.get("kind") == "wrn":
        kwargs.setdefault("dropout", dropout)
    net = create_model(cfg.model, **kwargs)
    if cfg.residual_init == "scaled":  # the smoke profile's CIFAR-style rows (experiments.recipes.SMOKE_LEARNING)
        scale_residual_init_(net)
    return net


def run_device(cfg: RunConfig, dist: DistInfo) -> torch.device:
    """The device of this process's run (classification and detection): ``auto`` = this rank's
    GPU (``cuda:<local rank>``) or the CPU; a bare ``cuda`` under data parallelism also means this
    rank's GPU (one GPU per rank); ``cuda`` without CUDA is a one-line error."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device!r} requested but CUDA is not available here; use --device cpu")
    if cfg.device == "auto":
        return torch.device(f"cuda:{dist.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(cfg.device)
    if dist.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", dist.local_rank)
    return device


# --------------------------------------------------------------------------- data
class _Data:
    """Train batches per (epoch, start step) and test batches, on either path."""

    def __init__(self, cfg: RunConfig, device: torch.device, per_rank_bs: int, dist: DistInfo,
                 recipe: Recipe | None = None):
        from . import data as D

        self.info = D.dataset_info(cfg.dataset)
        train_sub, test_sub = cfg.subsets()
        # recipe 'deit': timm's transforms (PIL, CPU workers) and repeated augmentation
        self.timm_tf = recipe is not None and recipe.transforms == "timm"
        self.repeats = recipe.repeated_aug if recipe is not None else 1
        self.fast = cfg.fast and device.type == "cuda" and self.info.small and not self.timm_tf
        self.cfg, self.device, self.bs, self.dist = cfg, device, per_rank_bs, dist
        if self.fast:
            xs, ys = D.load_uint8(cfg.dataset, cfg.data_root, train=True, subset=train_sub, download=cfg.download)
            xt, yt = D.load_uint8(cfg.dataset, cfg.data_root, train=False, subset=test_sub, download=cfg.download)
            kw = dict(channels_last=cfg.channels_last)
            # every rank holds the data and draws the same global batch; it keeps its slice
            self.train = D.GpuBatches(xs.to(device), ys.to(device), self.info, batch_size=per_rank_bs * dist.world_size,
                                      train=True, augment=cfg.augment, **kw)
            self.test = D.GpuBatches(xt.to(device), yt.to(device), self.info, batch_size=512, train=False, **kw)
            self.n_train = len(ys)
        else:
            tf = (functools.partial(D.timm_transforms, rand_augment=recipe.rand_augment,
                                    random_erasing=recipe.random_erasing) if self.timm_tf else None)
            self.train_ds, self.test_ds, built = D.build_datasets(
                cfg.dataset, cfg.data_root, download=cfg.download, augment=cfg.augment,
                train_subset=train_sub, test_subset=test_sub, transforms=tf)
            # ImageFolder datasets: the class folders decide the classes and their names
            self.info = dataclasses.replace(self.info, num_classes=built.num_classes, classes=built.classes)
            self.n_train = len(self.train_ds)

    def steps_per_epoch(self) -> int:
        if self.fast:
            return len(self.train)
        per_rank = math.ceil(self.n_train / self.dist.world_size)
        return math.ceil(per_rank / self.bs)

    def train_batches(self, epoch: int, start: int):
        seed = mix_seed(self.cfg.seed, epoch)
        if self.fast:
            r, b = self.dist.rank, self.bs
            for x, y in self.train.epoch(seed, start=start):
                yield (x[r * b:(r + 1) * b], y[r * b:(r + 1) * b]) if self.dist.enabled else (x, y)
            return
        sampler = EpochSampler(len(self.train_ds), self.cfg.seed, epoch, self.bs, self.dist, start_batch=start,
                               repeats=self.repeats)
        g = torch.Generator().manual_seed(mix_seed(self.cfg.seed, epoch, start, 7))
        loader = torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, sampler=sampler, num_workers=self.cfg.workers, generator=g,
            pin_memory=self.device.type == "cuda", persistent_workers=False)
        it = iter(loader)
        for k in range(start, start + len(loader)):
            # without workers the transforms draw from this process's generator: seed it per
            # batch so a run resumed mid-epoch augments exactly as an uninterrupted one
            torch.manual_seed(mix_seed(self.cfg.seed, epoch, k, 2))
            if self.timm_tf:  # timm's RandAugment draws from Python's and numpy's generators too
                random.seed(mix_seed(self.cfg.seed, epoch, k, 3))
                np.random.seed(mix_seed(self.cfg.seed, epoch, k, 3) % 2**32)
            yield next(it)

    def test_batches(self):
        if self.fast:
            if self.dist.enabled:  # shard the test set: each rank scores every world_size-th batch
                return (b for i, b in enumerate(self.test.epoch(0)) if i % self.dist.world_size == self.dist.rank)
            return self.test.epoch(0)
        idx = list(range(self.dist.rank, len(self.test_ds), self.dist.world_size))
        # 512 images a batch on a GPU; on the CPU small batches are faster (one thread: 687 vs 172
        # img/s for ResNet-20, 140 vs 48 for ResNet-110 at 32 vs 512, measured on the 2-core machine)
        eval_bs = 512 if self.device.type == "cuda" else 32
        return torch.utils.data.DataLoader(torch.utils.data.Subset(self.test_ds, idx), batch_size=eval_bs,
                                           num_workers=self.cfg.workers, pin_memory=self.device.type == "cuda")


# --------------------------------------------------------------------------- signals
class _StopFlag:
    """Set by SIGTERM/SIGUSR2; checked at step boundaries (all ranks agree)."""

    def __init__(self, dist: DistInfo, install: bool):
        self.hit, self.dist, self.calls, self.previous = False, dist, 0, {}
        if install:
            for sig in (signal.SIGTERM, signal.SIGUSR2):
                self.previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        print(f"[run] received signal {signum}: checkpointing at the next step", flush=True)
        self.hit = True

    def __call__(self) -> bool:
        self.calls += 1
        if not self.dist.enabled:
            return self.hit
        if self.calls % 10:
            return False
        t = torch.tensor([1.0 if self.hit else 0.0], device=collective_device(self.dist))  # NCCL: on the GPU
        all_reduce_sum(t, self.dist)
        return bool(t.item() > 0)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


#: the stop flag under a public name (the detection run, ``experiments.detection.train``, uses it)
StopFlag = _StopFlag


# --------------------------------------------------------------------------- state
@dataclass(frozen=True)
class RunPaths:
    """The files of one run folder."""

    run_dir: Path

    @property
    def record(self) -> Path:
        return self.run_dir / RECORD

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    @property
    def config(self) -> Path:
        return self.run_dir / CONFIG


@dataclass
class PartialEpoch:
    """The training sums of the current epoch so far, kept across an interruption."""

    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    seconds: float = 0.0

    def plus(self, res: TrainResult, carry: float) -> PartialEpoch:
        """These sums and those of ``res``, whose loss sum already includes ``carry``."""
        return PartialEpoch(self.loss_sum - carry + res.loss_sum, self.correct + res.correct,
                            self.seen + res.seen, self.seconds + res.seconds)


@dataclass
class TrainState:
    """Where a run stands; every checkpoint stores it as a plain dict (``ck['state']``)."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps done of epoch ``epoch``
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    resumes: int = 0
    train_partial: PartialEpoch | None = None  # sums of an interrupted epoch
    wall_s: float = 0.0  # part of the checkpoint layout; never updated

    def to_dict(self) -> dict[str, Any]:
        partial = dataclasses.asdict(self.train_partial) if self.train_partial is not None else None
        return {"epoch": self.epoch, "step": self.step, "history": self.history, "resumes": self.resumes,
                "train_partial": partial, "wall_s": self.wall_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        partial = PartialEpoch(**d["train_partial"]) if d.get("train_partial") else None
        return cls(d["epoch"], d["step"], d["history"], d["resumes"], partial, d.get("wall_s", 0.0))


def _callbacks(model: nn.Module) -> list[Callback]:
    fn = getattr(model, "training_callbacks", None)
    return list(fn()) if callable(fn) else []


class _EffectiveMacs:
    """Forward MACs per image of the model as it is NOW: the extra state of its modules
    (ELA's pruned flags) copied onto a meta-device twin, counted once per distinct state.
    ELA Table 2's FLOPs (4.4B / 8.1B) are those of the pruned network."""

    def __init__(self, model: nn.Module, meta_model: nn.Module, resolution: int, in_chans: int):
        self.model, self.meta, self.resolution, self.in_chans = model, meta_model, resolution, in_chans
        self.cache: dict[str, float] = {}

    def _stateful(self, net: nn.Module) -> dict[str, nn.Module]:
        return {n: m for n, m in net.named_modules() if type(m).get_extra_state is not nn.Module.get_extra_state}

    def __call__(self) -> float:
        live = self._stateful(self.model)
        key = repr(sorted((n, m.get_extra_state()) for n, m in live.items()))
        if key not in self.cache:
            twins = self._stateful(self.meta)
            for n, m in live.items():
                twins[n].set_extra_state(m.get_extra_state())
            self.cache[key] = count_macs(self.meta, self.resolution, self.in_chans)
        return self.cache[key]


@dataclass
class Training:
    """What a run trains with, built once per process by :func:`build_training`."""

    cfg: RunConfig
    dist: DistInfo
    paths: RunPaths
    device: torch.device
    recipe: Recipe
    data: _Data
    model: nn.Module
    optimizer: torch.optim.Optimizer
    callbacks: list[Callback]
    params: int
    macs: float  # forward MACs per image as built
    macs_now: _EffectiveMacs  # ... as the model is now (after ELA's pruning)
    steps: int  # steps per epoch
    train_model: nn.Module | None = None  # the model wrapped for training (DDP, compile), after resuming
    mixer: BatchMixer | None = None  # soft targets (recipe 'deit'); None: hard labels
    base: dict[str, Any] = field(default_factory=dict)  # the record's fields fixed for the run

    @property
    def amp(self) -> bool:
        return self.data.fast and self.cfg.amp

    @property
    def name(self) -> str:
        return self.cfg.run_name


# --------------------------------------------------------------------------- building
def _setup_torch(cfg: RunConfig, dist: DistInfo) -> torch.device:
    device = run_device(cfg, dist)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.benchmark = device.type == "cuda" and not cfg.deterministic
    return device


def _start_callbacks(model: nn.Module, epochs: int, macs_now: _EffectiveMacs) -> list[Callback]:
    callbacks = _callbacks(model)
    for cb in callbacks:  # before anything is written: a run that cannot hold its schedule fails here
        cb.on_train_start(model, epochs)
        if hasattr(cb, "macs_fn"):
            cb.macs_fn = macs_now
    return callbacks


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD over all parameters, or (recipe 'deit') timm's AdamW with weight decay on all but the
    1-D parameters (biases, norm weights) and the model's ``no_weight_decay()`` names."""
    if recipe.optimizer == "adamw":
        from timm.optim import create_optimizer_v2

        return create_optimizer_v2(model, opt="adamw", lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)


def build_mixer(recipe: Recipe, num_classes: int) -> BatchMixer | None:
    """The recipe's soft targets (mixup, cutmix, label smoothing), None for hard labels."""
    if not recipe.mixes:
        return None
    return BatchMixer(num_classes, mixup=recipe.mixup, cutmix=recipe.cutmix, label_smoothing=recipe.label_smoothing)


def step_lr(recipe: Recipe, epoch: int, steps: int) -> Callable[[int], float]:
    """The schedule within ``epoch``: the learning rate at each step (warm-up is per step)."""
    return lambda s: recipe.lr_at(epoch + s / steps)


def _build_models(cfg: RunConfig, info: Any, recipe: Recipe) -> tuple[nn.Module, float, _EffectiveMacs]:
    """The model, its forward MACs per image as built, and its counter of MACs as it is now."""
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    with torch.device("meta"):
        meta_model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    macs = count_macs(meta_model, info.resolution, info.in_chans)
    return model, macs, _EffectiveMacs(model, meta_model, info.resolution, info.in_chans)


def build_training(cfg: RunConfig, dist: DistInfo) -> Training:
    """Device, data, model (and its meta-device twin for MACs), callbacks, optimiser."""
    device = _setup_torch(cfg, dist)
    recipe = cfg.effective_recipe()
    per_rank_bs = per_rank_batch(recipe.batch_size, dist)
    torch.manual_seed(mix_seed(cfg.seed, -1))
    data = _Data(cfg, device, per_rank_bs, dist, recipe)
    model, macs, macs_now = _build_models(cfg, data.info, recipe)
    params = count_parameters(model)
    callbacks = _start_callbacks(model, recipe.epochs, macs_now)
    model.to(device)
    if data.fast and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return Training(cfg=cfg, dist=dist, paths=RunPaths(cfg.run_dir), device=device, recipe=recipe, data=data,
                    model=model, optimizer=build_optimizer(model, recipe), callbacks=callbacks,
                    params=params, macs=macs, macs_now=macs_now, steps=data.steps_per_epoch(),
                    mixer=build_mixer(recipe, data.info.num_classes))


def wrap_for_training(tr: Training) -> nn.Module:
    """The model as the training steps call it: DDP across ranks, compiled on request."""
    train_model: nn.Module = tr.model
    if tr.dist.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            tr.model, device_ids=[tr.device.index] if tr.device.type == "cuda" else None,
            find_unused_parameters=getattr(tr.model, "has_unused_parameters", False))
    if tr.cfg.compile:
        train_model = torch.compile(train_model)
    return train_model


def base_record(tr: Training) -> dict[str, Any]:
    """The record's fields that stay fixed during the run."""
    cfg, fast = tr.cfg, tr.data.fast
    return {
        "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(),
        "smoke": cfg.scale == "smoke", "recipe": dataclasses.asdict(tr.recipe), "seed": cfg.seed,
        "git": git_commit(), "environment": environment(tr.device), "world_size": tr.dist.world_size,
        "dataset": dataclasses.asdict(tr.data.info) | {"train_images": tr.data.n_train},
        "params": tr.params, "macs_per_image": tr.macs,  # as built; macs_per_image_final: after pruning
        "execution": {"fast_path": fast, "bf16_autocast": tr.amp, "channels_last": fast and cfg.channels_last,
                      "compile": cfg.compile, "deterministic": cfg.deterministic},
        # every printed row of every table that plans this run (outside the hash): the
        # analysis joins the record to the papers' numbers on it
        "planned": planned_rows(cfg),
    }


def announce(tr: Training) -> None:
    """Create the run folder, write its config and print the run's one-line summary."""
    if not tr.dist.is_main:
        return
    cfg, dist = tr.cfg, tr.dist
    tr.paths.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(tr.paths.config, cfg.to_dict())
    print(f"[{tr.name}] {cfg.model} on {cfg.dataset} ({'smoke' if cfg.scale == 'smoke' else 'full'}) | "
          f"{tr.params / 1e6:.3f}M params | {tr.macs / 1e6:.1f}M MACs | {tr.recipe.epochs} epochs x {tr.steps} steps | "
          f"device {tr.device}{' x' + str(dist.world_size) if dist.enabled else ''} | fast path {tr.data.fast}",
          flush=True)


# --------------------------------------------------------------------------- checkpoint and record
def resume(tr: Training) -> TrainState:
    """The state of a fresh run, or the checkpoint's (model, optimiser and callbacks restored)."""
    if not tr.paths.checkpoint.exists():
        return TrainState()
    state = TrainState.from_dict(load_checkpoint(tr.paths.checkpoint, tr.device, tr.model, tr.optimizer,
                                                 tr.callbacks))
    state.resumes += 1
    if tr.dist.is_main:
        print(f"[{tr.name}] resuming at epoch {state.epoch + 1}, step {state.step}", flush=True)
    return state


def save_checkpoint(tr: Training, state: TrainState) -> None:
    """Model, optimiser, callbacks and state, written atomically by rank 0."""
    if tr.dist.is_main:
        write_checkpoint(tr.paths.checkpoint, tr.model, tr.optimizer, tr.callbacks, state.to_dict())


def write_checkpoint(path: Path, model: nn.Module, optimizer, callbacks, state: dict[str, Any]) -> None:
    """Model, optimiser, callback states and the run's state as one file, written atomically
    (the layout every run, classification or detection, resumes from)."""
    atomic_torch_save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "callbacks": {cb.name: cb.state_dict() for cb in callbacks}, "state": state})


def load_checkpoint(path: Path, device, model: nn.Module, optimizer, callbacks) -> dict[str, Any]:
    """Restore model, optimiser and callbacks from ``write_checkpoint``'s file; returns its state."""
    ck = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    for cb in callbacks:
        cb.load_state_dict(ck["callbacks"].get(cb.name, {}))
    return ck["state"]


def build_record(tr: Training, state: TrainState, status: str, diverged_at: dict | None = None) -> dict[str, Any]:
    """The run's record (JSON-ready) with ``status``."""
    hist = state.history
    best = max(hist, key=lambda r: r["test_top1"]) if hist else None
    rec = {**tr.base, "status": status, "epochs_done": state.epoch, "epochs_total": tr.recipe.epochs,
           "resumes": state.resumes, "epochs": hist,
           "final": {k: hist[-1][k] for k in ("test_top1", "test_top5", "test_loss", "test_class_acc")
                     if k in hist[-1]} if hist else None,
           "best": {k: best[k] for k in ("test_top1", "test_top5", "test_class_acc", "epoch") if k in best}
           if best else None,
           "diverged": status == "diverged", "diverged_at": diverged_at,
           "callbacks": {cb.name: cb.record() for cb in tr.callbacks},
           "train_time_s": sum(r["epoch_time_s"] for r in hist), "macs_per_image_final": tr.macs_now()}
    return as_json(rec)


def write_record(tr: Training, state: TrainState, status: str, diverged_at: dict | None = None) -> dict[str, Any]:
    """The record, written atomically by rank 0; returned on every rank."""
    rec = build_record(tr, state, status, diverged_at)
    if tr.dist.is_main:
        atomic_write_json(tr.paths.record, rec)
    return rec


# --------------------------------------------------------------------------- epochs
def _line(name: str, rec: dict[str, Any], total: int, eta_s: float) -> str:
    return (f"[{name}] epoch {rec['epoch'] + 1}/{total} | train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.2f}% "
            f"| test loss {rec['test_loss']:.4f} top1 {rec['test_top1']:.2f}% top5 {rec['test_top5']:.2f}% "
            f"| lr {rec['lr']:.4g} | {rec['images_per_s']:.0f} img/s | {rec['epoch_time_s']:.1f}s "
            f"| ETA {time.strftime('%H:%M:%S', time.gmtime(max(eta_s, 0)))}")


def train_one_epoch(tr: Training, state: TrainState, stop: _StopFlag) -> tuple[TrainResult, PartialEpoch]:
    """Train the rest of epoch ``state.epoch`` from step ``state.step``; the engine's result
    and the epoch's sums so far (those before an interruption included)."""
    epoch, start = state.epoch, state.step
    for cb in tr.callbacks:  # also when resuming inside the epoch (ELA: a measurement window)
        cb.on_epoch_start(epoch, tr.model)
    prog = Progress(tr.steps - start, f"epoch {epoch + 1}", enabled=tr.cfg.progress and tr.dist.is_main)
    partial = state.train_partial or PartialEpoch()
    # single process: the loss sum of an interrupted epoch continues inside train_epoch
    # (exact); with several ranks each rank's share restarts at 0 and the all-reduced
    # part is added here (equal up to float rounding)
    carry = partial.loss_sum if not tr.dist.enabled else 0.0
    res = train_epoch(
        tr.train_model, tr.data.train_batches(epoch, start), tr.optimizer, step_lr(tr.recipe, epoch, tr.steps),
        seed=tr.cfg.seed, epoch=epoch, start_step=start, steps_total=tr.steps, device=tr.device, amp=tr.amp,
        dist=tr.dist, should_stop=stop, progress=prog, carry_loss=carry, mix=tr.mixer)
    prog.close()
    return res, partial.plus(res, carry)


def evaluate_epoch(tr: Training, epoch: int, partial: PartialEpoch) -> dict[str, Any]:
    """The epoch's record: its training sums and the test metrics (callbacks see it last)."""
    broadcast_buffers(tr.model, tr.dist)
    t_eval = time.perf_counter()
    metrics = evaluate(tr.model, tr.data.test_batches(), device=tr.device, amp=tr.amp, dist=tr.dist,
                       num_classes=tr.data.info.num_classes)
    seen = max(partial.seen, 1)
    rec = {"epoch": epoch, "lr": tr.recipe.lr_at(epoch), "train_loss": partial.loss_sum / seen,
           "train_acc": 100 * partial.correct / seen, **metrics,
           "epoch_time_s": partial.seconds, "eval_time_s": time.perf_counter() - t_eval,
           "images_per_s": partial.seen / max(partial.seconds, 1e-9)}
    for cb in tr.callbacks:
        cb.on_epoch_end(epoch, tr.model, rec)
    return rec


def end_epoch(tr: Training, state: TrainState, partial: PartialEpoch) -> None:
    """Evaluate, add the epoch to the history, checkpoint, write the record, print a line."""
    rec = evaluate_epoch(tr, state.epoch, partial)
    state.history.append(rec)
    state.epoch, state.step, state.train_partial = state.epoch + 1, 0, None
    save_checkpoint(tr, state)
    write_record(tr, state, "running")
    if tr.dist.is_main:
        left = tr.recipe.epochs - state.epoch
        mean_t = sum(r["epoch_time_s"] + r["eval_time_s"] for r in state.history) / len(state.history)
        print(_line(tr.name, rec, tr.recipe.epochs, left * mean_t), flush=True)


def on_diverged(tr: Training, state: TrainState, res: TrainResult) -> dict[str, Any]:
    """A non-finite loss: the run ends, recorded as diverged (final; no checkpoint)."""
    state.step += res.steps
    where = {"epoch": state.epoch, "step": state.step}
    print(f"[{tr.name}] loss is not finite at epoch {state.epoch + 1}, step {state.step}: recorded as diverged",
          flush=True)
    return write_record(tr, state, "diverged", where)


def on_interrupted(tr: Training, state: TrainState, res: TrainResult, partial: PartialEpoch) -> dict[str, Any]:
    """A stop signal: checkpoint mid-epoch (with the epoch's sums so far) and end."""
    state.step, state.train_partial = state.step + res.steps, partial
    save_checkpoint(tr, state)
    print(f"[{tr.name}] interrupted at epoch {state.epoch + 1}, step {state.step}: checkpoint saved", flush=True)
    return write_record(tr, state, "interrupted")


def finish(tr: Training, state: TrainState) -> dict[str, Any]:
    """The final record of a run that trained all its epochs."""
    if tr.dist.enabled:  # evidence that data-parallel ranks ended with identical weights
        tr.base["rank_weight_checksums"] = gather_object(weight_checksum(tr.model), tr.dist)
    final = write_record(tr, state, "done")
    if tr.dist.is_main:
        print(f"[{tr.name}] done: final top1 {final['final']['test_top1']:.2f}%, "
              f"best {final['best']['test_top1']:.2f}% (epoch {final['best']['epoch'] + 1}) -> {tr.paths.record}",
              flush=True)
    return final


# --------------------------------------------------------------------------- run
def train_loop(tr: Training, state: TrainState, stop: _StopFlag) -> dict[str, Any]:
    """Epochs until the recipe's last, a divergence or a stop signal; the record."""
    while state.epoch < tr.recipe.epochs:
        res, partial = train_one_epoch(tr, state, stop)
        if res.diverged:
            return on_diverged(tr, state, res)
        if res.interrupted:
            return on_interrupted(tr, state, res, partial)
        end_epoch(tr, state, partial)
    return finish(tr, state)


def finished_record(cfg: RunConfig) -> dict[str, Any] | None:
    """The record of ``cfg``'s run when it has finished (done or diverged: nothing to do), else None."""
    paths = RunPaths(cfg.run_dir)
    if paths.record.exists():
        rec = read_json(paths.record)
        if rec.get("status") in FINAL_STATUSES:
            print(f"[{cfg.run_name}] already {rec['status']}: nothing to do", flush=True)
            return rec
    return None


def run(cfg: RunConfig, *, handle_signals: bool = True) -> dict[str, Any]:
    """Train and evaluate one configuration; returns its record (see module docstring)."""
    if cfg.detector is not None:  # a detection run: experiments.detection.train
        from .detection.train import run_detection

        return run_detection(cfg, handle_signals=handle_signals)
    return run_ranks(cfg, _train, handle_signals)


def run_ranks(cfg: RunConfig, train: Callable[[RunConfig, DistInfo, bool], dict[str, Any]],
              handle_signals: bool) -> dict[str, Any]:
    """``train(cfg, dist, handle_signals)`` in this process's place among the data-parallel ranks
    (one process: ``DistInfo()``), or the record of an already finished run."""
    finished = finished_record(cfg)
    if finished is not None:
        return finished
    dist = init_distributed("cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu")
    try:
        return train(cfg, dist, handle_signals)
    finally:
        shutdown(dist)


def _train(cfg: RunConfig, dist: DistInfo, handle_signals: bool) -> dict[str, Any]:
    tr = build_training(cfg, dist)
    state = resume(tr)  # into the bare model, before DDP and compile wrap it
    tr.train_model = wrap_for_training(tr)
    tr.base = base_record(tr)
    announce(tr)
    stop = _StopFlag(dist, install=handle_signals)
    try:
        return train_loop(tr, state, stop)
    finally:
        stop.restore()


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./reproduce.sh run", description="Train and evaluate one configuration.")
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model":
            p.add_argument(flag, required=True, help="registered model name (./reproduce.sh list models)")
        elif f.name in ("model_kwargs", "pruning"):
            p.add_argument(flag, type=json.loads, default={}, help="JSON object")
        elif f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"int | None": int, "float | None": float, "int": int, "str": str}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=f.default)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        rec = run(RunConfig(**vars(args)))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return {"done": 0, "diverged": 0, "interrupted": 3}.get(rec["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
