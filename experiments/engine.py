"""One epoch of training and one evaluation, shared by every run.

The CPU path is deliberately plain (torchvision transforms in a DataLoader, fp32, eager).
The GPU fast path differs only in where the batches come from (``GpuBatches``: the
whole small dataset held on the GPU, crop/flip per batch there), bf16 autocast and
channels_last; each is a switch of the run config.

Randomness is re-seeded from (seed, epoch, step) at every step, so a run resumed from a
checkpoint draws exactly the numbers an uninterrupted run draws: on CPU in
deterministic mode its record is identical apart from timings.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .distributed import DistInfo, all_reduce_sum

__all__ = ["Callback", "EpochSampler", "TrainResult", "train_epoch", "sgd_step", "evaluate", "mix_seed", "Progress",
           "BatchMixer"]


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix-style), stable across runs and platforms."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x ^= (int(p) + 0x9E3779B97F4A7C15 + (x << 6) + (x >> 2)) & 0xFFFFFFFFFFFFFFFF
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    return x & 0x7FFFFFFFFFFFFFFF


class Callback:
    """Hook points the training loop calls; ELA's pruning controller is one.

    A model can supply callbacks through a ``training_callbacks()`` method. ``state_dict``
    is stored in every checkpoint and restored on resume; ``record()`` is written into
    the run's record (e.g. the pruning decisions with their KL values).

    Order: ``on_train_start`` once per process, before the run writes anything (a
    ConfigError there leaves no trace), then per epoch ``on_epoch_start``, training,
    evaluation, ``on_epoch_end``. ``on_epoch_start`` is called again when a run resumes
    inside an epoch, so it must be idempotent. A callback with a ``macs_fn`` attribute gets
    a function returning the model's forward MACs per image as it is at that moment.
    """

    name = "callback"

    def on_train_start(self, model: nn.Module, total_epochs: int) -> None: ...
    def on_epoch_start(self, epoch: int, model: nn.Module) -> None: ...
    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict[str, Any]) -> None: ...
    def state_dict(self) -> dict[str, Any]:
        return {}
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def record(self) -> dict[str, Any]:
        return {}


class EpochSampler(torch.utils.data.Sampler[int]):
    """The epoch's order from (seed, epoch); this rank's share; resumable at a batch.

    Like DistributedSampler, the permutation is padded (wrapping around) so every rank
    gets the same number of samples; ``start_batch`` skips batches already trained.

    ``repeats`` > 1 on several ranks: repeated augmentation (DeiT's RASampler, recipe 'deit'),
    timm's ``RepeatAugSampler`` with the epoch's permutation seeded from (seed, epoch): each
    image ``repeats`` times in a row of the permutation, dealt round the ranks, so its copies
    land on different ranks; each rank keeps ceil(n / world) of them (``selected_round=0``:
    the same count as without repeats). One process ignores it, as DeiT's code does.
    """

    def __init__(self, n: int, seed: int, epoch: int, batch_size: int, dist: DistInfo,
                 shuffle: bool = True, start_batch: int = 0, repeats: int = 1):
        self.n, self.seed, self.epoch, self.bs, self.dist = n, seed, epoch, batch_size, dist
        self.shuffle, self.start, self.repeats = shuffle, start_batch, repeats

    def _indices(self) -> list[int]:
        if self.repeats > 1 and self.dist.enabled:
            from timm.data.distributed_sampler import RepeatAugSampler

            ra = RepeatAugSampler(range(self.n), num_replicas=self.dist.world_size, rank=self.dist.rank,
                                  shuffle=self.shuffle, num_repeats=self.repeats, selected_round=0)
            ra.set_epoch(mix_seed(self.seed, self.epoch))
            return list(ra)[self.start * self.bs :]
        if self.shuffle:
            g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.dist.enabled:
            per_rank = math.ceil(self.n / self.dist.world_size)
            order = (order * 2)[: per_rank * self.dist.world_size]
            order = order[self.dist.rank :: self.dist.world_size]
        return order[self.start * self.bs :]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


@dataclass
class TrainResult:
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    steps: int = 0
    diverged: bool = False
    interrupted: bool = False
    seconds: float = 0.0


class Progress:
    """A progress bar when attached to a terminal, otherwise a line every ``every`` seconds
    (SLURM logs), each with rate and ETA."""

    def __init__(self, total: int, desc: str, enabled: bool, every: float = 60.0):
        self.total, self.desc, self.every = total, desc, every
        self.enabled = enabled
        self.bar = None
        self.t0 = self.last = time.perf_counter()
        self.done = 0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, unit="batch", dynamic_ncols=True)

    def update(self, n_images: int) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            rate = self.done / (now - self.t0)
            eta = (self.total - self.done) / max(rate, 1e-9)
            print(f"  {self.desc}: batch {self.done}/{self.total} | {rate:.2f} batch/s | ETA {eta:.0f}s",
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    lr_at: Callable[[int], float],
    *,
    seed: int,
    epoch: int,
    start_step: int,
    steps_total: int,
    device: torch.device,
    amp: bool,
    dist: DistInfo,
    should_stop: Callable[[], bool],
    progress: Progress | None = None,
    carry_loss: float = 0.0,
    mix: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
) -> TrainResult:
    """Train over ``batches`` (already positioned at ``start_step``).

    ``lr_at(step)`` gives the learning rate at a step of this epoch (warm-up is per step).
    ``mix(x, y) -> (x, y, targets)``: soft targets for the loss (mixup / cutmix / label
    smoothing, :class:`BatchMixer`), drawn after the step's seeding; ``y`` (possibly trimmed)
    stays the hard label the train accuracy is counted on. None: the hard labels.
    Stops early, leaving the model at a step boundary, when the loss is not finite
    (``diverged``) or when ``should_stop()`` says a signal asked to (``interrupted``).
    """
    model.train()
    res = TrainResult()
    t0 = time.perf_counter()
    step = start_step
    check_every = 1 if device.type == "cpu" else 20
    # a run resumed mid-epoch continues the interrupted sum itself (not a separate sum added
    # later), so the epoch's train loss is bit-identical to an uninterrupted run's
    loss_acc = torch.full((), carry_loss, device=device)
    correct = torch.zeros((), device=device)
    for x, y in batches:
        torch.manual_seed(mix_seed(seed, epoch, step, 1))
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        target = y
        if mix is not None:
            x, y, target = mix(x, y)
        loss, logits = sgd_step(model, optimizer, x, target, lr=lr_at(step), amp=amp)
        step += 1
        res.steps += 1
        res.seen += y.numel()
        loss_acc += loss * y.numel()
        correct += (logits.argmax(1) == y).sum()
        if progress is not None:
            progress.update(y.numel())
        if step % check_every == 0 or step == steps_total:
            if not torch.isfinite(loss_acc).item():
                res.diverged = True
                break
        if should_stop():
            res.interrupted = step < steps_total
            break
    res.seconds = time.perf_counter() - t0
    if not res.diverged and not torch.isfinite(loss_acc).item():
        res.diverged = True
    return _reduced(res, loss_acc, correct, device, dist)


def sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *, lr: float,
             amp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step at learning rate ``lr`` on the batch (x, y); the batch's loss and
    logits, detached. ``y``: class indices, or class probabilities ``[B, classes]`` (soft
    targets: ``F.cross_entropy`` is then the soft-target cross-entropy, timm's
    ``SoftTargetCrossEntropy``)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


class BatchMixer:
    """Soft training targets from timm (recipe 'deit'): ``timm.data.Mixup`` (mixup alpha
    ``mixup``, cutmix alpha ``cutmix``, every batch, switch prob 0.5, mode 'batch', label
    smoothing inside the targets) when either alpha is set, else ``timm.data.mixup.mixup_target``
    (label-smoothed one-hot targets). timm draws from numpy's and Python's global generators:
    both are seeded from the step's torch seed (``torch.initial_seed()``, set by
    ``train_epoch`` per step), so a resumed run mixes as an uninterrupted one. A batch of odd
    size drops its last image (timm's batch mode needs pairs; DeiT drops the last incomplete
    batch altogether)."""

    def __init__(self, num_classes: int, *, mixup: float = 0.0, cutmix: float = 0.0, label_smoothing: float = 0.0):
        from timm.data import Mixup

        self.num_classes, self.smoothing = num_classes, label_smoothing
        self.mixup = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=1.0, switch_prob=0.5, mode="batch",
                           label_smoothing=label_smoothing, num_classes=num_classes) if mixup or cutmix else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import random

        import numpy as np
        from timm.data.mixup import mixup_target

        if self.mixup is None or len(y) < 2:  # nothing to pair a single image with
            return x, y, mixup_target(y, self.num_classes, lam=1.0, smoothing=self.smoothing)
        if len(y) % 2:
            x, y = x[:-1], y[:-1]
        seed = torch.initial_seed()
        np.random.seed(seed % 2**32)
        random.seed(seed)
        x, target = self.mixup(x.clone(), y)
        return x, y, target


def _reduced(res: TrainResult, loss_acc: torch.Tensor, correct: torch.Tensor, device: torch.device,
             dist: DistInfo) -> TrainResult:
    """``res`` with the loss sum, hits and images of all ranks."""
    stats = torch.stack([loss_acc.double(), correct.double(), torch.tensor(float(res.seen), device=device).double()])
    all_reduce_sum(stats, dist)
    res.loss_sum, res.correct, res.seen = float(stats[0]), float(stats[1]), int(stats[2])
    return res


#: datasets with at most this many classes get a per-class test accuracy in every epoch's record
PER_CLASS_MAX = 10


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, device: torch.device,
             amp: bool, dist: DistInfo, num_classes: int = 0) -> dict[str, Any]:
    """Test loss, top-1 and top-5 accuracy (%) over the whole test set (all ranks).

    With ``0 < num_classes <= PER_CLASS_MAX`` also ``test_class_acc``: top-1 accuracy (%) of
    each class's test images, in label order (None for a class without test images); DIA
    Table XI reports it for the pneumonia and normal chest X-rays.
    """
    model.eval()
    stats = torch.zeros(4, dtype=torch.float64, device=device)  # loss_sum, top1, top5, n
    per_class = 0 < num_classes <= PER_CLASS_MAX
    hits_cls = torch.zeros(2, max(num_classes, 1), dtype=torch.float64, device=device)  # top-1 hits, images
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x).float()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = top == y[:, None]
        stats += torch.stack([
            F.cross_entropy(logits, y, reduction="sum").double(),
            hit[:, :1].sum().double(), hit.any(1).sum().double(), torch.tensor(float(y.numel()), device=device).double(),
        ])
        if per_class:
            hits_cls[0] += torch.bincount(y, weights=hit[:, 0].double(), minlength=num_classes)[:num_classes]
            hits_cls[1] += torch.bincount(y, minlength=num_classes)[:num_classes].double()
    all_reduce_sum(stats, dist)
    n = max(stats[3].item(), 1.0)
    out: dict[str, Any] = {"test_loss": stats[0].item() / n, "test_top1": 100 * stats[1].item() / n,
                           "test_top5": 100 * stats[2].item() / n, "test_images": int(stats[3].item())}
    if per_class:
        all_reduce_sum(hits_cls, dist)
        out["test_class_acc"] = [100 * h / c if c else None for h, c in hits_cls.T.tolist()]
    return out
