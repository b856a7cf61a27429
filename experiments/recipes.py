"""Training recipes as named presets (papers and released code, official-code.md "Training
recipes"), and the ``smoke`` scale that shrinks a recipe without changing its shape.

| preset | source | epochs | batch | lr | wd | schedule |
|---|---|---|---|---|---|---|
| ``cifar`` | DLA repo (DLA/ELA CIFAR tables) | 180 | 128 | 0.1 | 1e-4 | x0.1 at 100, 150; DropPath 0.2 on attention branches |
| ``dia_resnet`` | DIANet repo, ResNet-164 on CIFAR-100 | 180 | 128 | 0.1 | 1e-4 | x0.1 at 60, 120 |
| ``dia_preresnet`` | DIANet repo, PreResNet-164 | 164 | 128 | 0.1 | 1e-4 | x0.1 at 81, 122 |
| ``dia_wrn`` | DIANet repo, WRN-52-4 | 200 | 128 | 0.1 | 5e-4 | x0.2 at 80, 120, 160; dropout 0.3 |
| ``dia_resnext`` | DIANet repo, ResNeXt-101 8x32d | 300 | 128 | 0.1 | 5e-4 | x0.1 at 150, 225 |
| ``imagenet`` | MRLA code (ELA/DLA Table 2) | 100 | 256 | 0.1 | 1e-4 | 3-epoch warm-up as released (below), x0.1 every 30; DropPath 0.2 |
| ``mmdet_1x`` | MMDetection 1x (ELA Sec. 4.2, DIA Sec. IV-C) | 12 | 16 | 0.02 | 1e-4 | linear warm-up 500 iterations from 0.001 x lr, x0.1 at 8, 11 |
| ``mmdet_1x_b8`` | DLA Sec. 4.2 (MMDetection 1x at batch 8) | 12 | 8 | 0.01 | 1e-4 | the same |
| ``deit`` | DeiT (Touvron et al. 2021) via DIA [55] (DIA Table IX) | 300 | 1024 | 1e-3 (5e-4 x batch / 512) | 0.05 | AdamW; 5-epoch linear warm-up from 1e-6, cosine to 1e-5 (timm) |

ViT (``deit``; DIA Table IX, Sec. IV-A): DIA trains its ViT-S/16 and ViT-B/16 "considering the
experimental settings in [55]" (ASR, Zhong et al., arXiv:2304.06345) and prints no setting
itself. Decision: DeiT's ImageNet recipe (Touvron et al. 2021, Table 9, and its released
defaults), the standard recipe for training these two ViTs from scratch on ImageNet-1K (DeiT's
own ViT-S/16 and ViT-B/16, 79.8 and 81.8, sit near Table IX's "Org" rows, 80.05 and 81.39),
with every part built from timm (pinned 1.0.31), not by hand:

* 300 epochs, batch 1024, AdamW (timm ``create_optimizer_v2('adamw')``: betas 0.9/0.999, eps
  1e-8), lr 5e-4 x batch / 512 = 1e-3 at 1024 (``lr_batch_scaling``: a run that overrides the
  batch size and not the lr gets lr x batch / 1024), weight decay 0.05, not applied to biases,
  norm weights (every 1-D parameter) or the ViT's ``no_weight_decay()`` set (pos_embed, cls_token)
  (timm's ``param_groups_weight_decay``, as DeiT's optimizer factory does).
* timm ``CosineLRScheduler`` stepped once per epoch as DeiT does (``t_initial`` = 300, lr_min
  1e-5, warm-up 5 epochs from 1e-6, no prefix: epoch e < 5 at 1e-6 + e (lr - 1e-6) / 5, then
  ``1e-5 + (lr - 1e-5) (1 + cos(pi e / 300)) / 2``); DeiT's 10 cool-down epochs are not trained
  (its loop stops at 300).
* data (timm ``create_transform``): RandomResizedCrop (scale 0.08-1, bicubic) + flip,
  RandAugment ``rand-m9-mstd0.5-inc1`` (DeiT's "9/0.5"; timm ignores colour jitter 0.4 when
  RandAugment is on), random erasing p 0.25 (mode pixel, one box); eval Resize(res / 0.875,
  bicubic) + CenterCrop(res). Every dataset goes through these transforms (Fashion-MNIST's
  28x28 images are resized by the crop, not padded) and the GPU-resident fast path is off.
* timm ``Mixup``: mixup alpha 0.8, cutmix alpha 1.0, applied to every batch (prob 1.0), switch
  prob 0.5, mode 'batch', label smoothing 0.1 inside the soft targets; the loss is the soft-target
  cross-entropy (``F.cross_entropy`` on probabilities). A batch of odd size (at most the last of
  an epoch, per rank) drops its last image: DeiT drops its whole last incomplete batch.
* repeated augmentation, 3 repeats (timm ``RepeatAugSampler``, DeiT's RASampler) on multi-GPU
  runs, as DeiT uses it only with several processes; the epoch keeps ceil(N / world) images per
  rank (DeiT rounds N down to a multiple of 256 first: at most 255 of 1.28M images).
* stochastic depth 0.1 (timm ViT ``drop_path_rate``: ``drop_path`` of a ViT), no dropout, no
  gradient clipping, no EMA (DeiT Table 9: "Exp. Moving Avg." not used). DeiT trained in fp16
  AMP; runs here are fp32 unless ``--amp`` (bf16).

Detection (``mmdet_1x``, ``mmdet_1x_b8``; COCO detectors, ``experiments.detection.train``): ELA
Sec. 4.2, DLA Sec. 4.2 and DIA Sec. IV-C train their detectors with MMDetection's default 1x
schedule (``configs/_base_/schedules/schedule_1x.py``): SGD momentum 0.9, weight decay 1e-4,
12 epochs, lr x0.1 after epochs 8 and 11, and mmcv's linear warm-up over the first 500
iterations from ratio 0.001 (``lr = lr_sched * (1 - (1 - it / 500) * (1 - 0.001))``), lr 0.02
at batch 16 (2 images x 8 GPUs). DLA Sec. 4.2 states batch 8 at lr 0.01 (the linear scaling
rule): ``mmdet_1x_b8``. The iteration warm-up is ``warmup_iters``/``warmup_ratio``
(:meth:`Recipe.lr_at_step`); the epoch-based recipes above have ``warmup_iters = 0`` and
:meth:`Recipe.lr_at` unchanged. Smoke scale: ``scaled`` shrinks the warm-up iterations in
proportion to the epochs like the milestones (the detection run further caps it at one
epoch's steps at the smoke scale, see ``experiments.detection.train``).

Warm-up (``warmup``): ``'released'`` is the MRLA/DLA ImageNet code's per-epoch rule
(``gen_lr`` in their train.py): epoch 0 at ``warmup_lr`` = 1e-4, epoch e < W at lr e / W
(W = 3: 1e-4, 0.0333, 0.0667), then the schedule; ``'linear'`` ramps per step from 0 to
lr over the W epochs (the usual reading of "linear warm-up").

DropPath 0.2 on the layer-attention branches (MRLA, DLA, ELA; no other module): the value
of the released CIFAR code's one published command (run.sh, DLA-B) and of the MRLA
ImageNet code, applied to every layer-attention family; the released CIFAR script's own
default is 0. ``--drop-path`` (run and table commands) overrides it.

All but ``deit`` use SGD with momentum 0.9, no Nesterov, the step schedule and cross-entropy on
hard labels; the fields that ``deit`` sets (``optimizer``, ``schedule``, ``min_lr``,
``lr_batch_scaling``, ``label_smoothing``, ``mixup``, ``cutmix``, ``transforms``,
``rand_augment``, ``random_erasing``, ``repeated_aug``) default to exactly that, so the other
recipes train as before (a recipe is named in the run hash by its name only). The DIANet ResNeXt schedule has no epoch
count in official-code.md; 300 is the count its milestones 150/225 come from (the
CIFAR ResNeXt recipe of Xie et al.).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Callable

from models import ConfigError

__all__ = ["Recipe", "RECIPES", "get_recipe", "SMOKE", "SMOKE_LEARNING", "SmokeScale", "DETECTION_RECIPES"]


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    step_every: int | None = None  # step schedule: x gamma every N epochs (ImageNet)
    warmup_epochs: int = 0
    warmup: str = "linear"  # 'linear' per step | 'released' per epoch (MRLA/DLA gen_lr)
    warmup_lr: float = 1e-4  # the released rule's epoch-0 lr
    warmup_iters: int = 0  # per-iteration linear warm-up (mmcv's 'linear'; detection recipes)
    warmup_ratio: float = 0.001  # ... starting at warmup_ratio x lr
    drop_path: float = 0.0  # layer-attention branches (MRLA/DLA/ELA); a ViT's blocks (timm drop_path_rate)
    dropout: float = 0.0  # inside WRN blocks
    source: str = ""
    # ---- the ViT recipe's parts (``deit``); the defaults are the SGD recipes' behaviour
    optimizer: str = "sgd"  # 'sgd' | 'adamw' (timm, no weight decay on 1-D parameters and no_weight_decay())
    schedule: str = "step"  # 'step' (milestones / step_every) | 'cosine' (timm CosineLRScheduler, per epoch)
    min_lr: float = 0.0  # cosine: the floor; its warm-up starts at warmup_lr
    lr_batch_scaling: bool = False  # an overridden batch size scales lr linearly (DeiT: 5e-4 x batch / 512)
    label_smoothing: float = 0.0
    mixup: float = 0.0  # timm Mixup alpha (0: off)
    cutmix: float = 0.0  # timm CutMix alpha (0: off)
    transforms: str = "dataset"  # 'dataset' (each dataset's own) | 'timm' (timm create_transform)
    rand_augment: str = ""  # timm RandAugment config string ('timm' transforms)
    random_erasing: float = 0.0  # timm RandomErasing probability ('timm' transforms)
    repeated_aug: int = 1  # repeats per image on multi-GPU runs (timm RepeatAugSampler); 1: off

    def __post_init__(self) -> None:
        if self.warmup not in ("linear", "released"):
            raise ConfigError(f"recipe {self.name!r}: warmup must be 'linear' or 'released', got {self.warmup!r}")
        for field, allowed in (("optimizer", ("sgd", "adamw")), ("schedule", ("step", "cosine")),
                               ("transforms", ("dataset", "timm"))):
            if getattr(self, field) not in allowed:
                raise ConfigError(f"recipe {self.name!r}: {field} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, field)!r}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.random_erasing <= 1:
            raise ConfigError(f"recipe {self.name!r}: label_smoothing must be in [0, 1) and random_erasing in "
                              f"[0, 1], got {self.label_smoothing} and {self.random_erasing}")
        if self.mixup < 0 or self.cutmix < 0 or self.repeated_aug < 1:
            raise ConfigError(f"recipe {self.name!r}: mixup and cutmix must be >= 0 and repeated_aug >= 1, got "
                              f"{self.mixup}, {self.cutmix}, {self.repeated_aug}")
        if (self.rand_augment or self.random_erasing) and self.transforms != "timm":
            raise ConfigError(f"recipe {self.name!r}: rand_augment and random_erasing need transforms='timm'")

    @property
    def mixes(self) -> bool:
        """Whether training targets are soft (mixup, cutmix or label smoothing)."""
        return bool(self.mixup or self.cutmix or self.label_smoothing)

    def lr_at(self, epoch: float) -> float:
        """Learning rate at (fractional) epoch ``epoch`` (0-based)."""
        if self.schedule == "cosine":
            at = _cosine(self.lr, self.min_lr, self.epochs, self.warmup_epochs, self.warmup_lr)
            return at(int(math.floor(epoch)))
        if self.warmup_epochs and epoch < self.warmup_epochs:
            if self.warmup == "released":
                e = int(math.floor(epoch))
                return self.warmup_lr if e == 0 else self.lr * e / self.warmup_epochs
            return self.lr * (epoch + 1e-8) / self.warmup_epochs
        e = int(math.floor(epoch))
        if self.step_every:
            k = e // self.step_every
        else:
            k = sum(e >= m for m in self.milestones)
        return self.lr * self.gamma**k

    def lr_at_step(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        """Learning rate at ``step`` (0-based) of ``epoch`` (0-based): :meth:`lr_at` at the
        fractional epoch, times mmcv's linear iteration warm-up while the global iteration
        ``epoch * steps_per_epoch + step`` is below ``warmup_iters``."""
        lr = self.lr_at(epoch + step / max(steps_per_epoch, 1))
        it = epoch * steps_per_epoch + step
        if self.warmup_iters and it < self.warmup_iters:
            lr *= 1 - (1 - it / self.warmup_iters) * (1 - self.warmup_ratio)
        return lr

    def scaled(self, epochs: int) -> "Recipe":
        """The same recipe over ``epochs`` epochs: milestones, step interval and warm-up
        shrink in proportion, so the schedule keeps its shape (the smoke scale)."""
        f = epochs / self.epochs
        milestones = tuple(sorted({max(1, round(m * f)) for m in self.milestones if round(m * f) < epochs}))
        step = max(1, round(self.step_every * f)) if self.step_every else None
        warm = min(self.warmup_epochs, max(0, round(self.warmup_epochs * f)))
        warm_iters = min(self.warmup_iters, max(1, round(self.warmup_iters * f))) if self.warmup_iters else 0
        return dataclasses.replace(self, epochs=epochs, milestones=milestones, step_every=step, warmup_epochs=warm,
                                   warmup_iters=warm_iters)


@functools.lru_cache(maxsize=32)
def _cosine(lr: float, min_lr: float, epochs: int, warmup: int, warmup_lr: float) -> Callable[[int], float]:
    """The lr of timm's ``CosineLRScheduler`` (per epoch, DeiT's settings) at an epoch: the
    scheduler steps a one-parameter optimiser and the lr is read back from it."""
    import torch
    from timm.scheduler import CosineLRScheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = CosineLRScheduler(opt, t_initial=epochs, lr_min=min_lr, warmup_t=warmup, warmup_lr_init=warmup_lr,
                              cycle_limit=1, t_in_epochs=True)

    def at(epoch: int) -> float:
        sched.step(epoch)
        return float(opt.param_groups[0]["lr"])

    return at


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("cifar", 180, milestones=(100, 150), drop_path=0.2, source="DLA released code; ELA section 4.1"),
        Recipe("dia_resnet", 180, milestones=(60, 120), source="DIANet released code (ResNet-164, CIFAR-100)"),
        Recipe("dia_preresnet", 164, milestones=(81, 122), source="DIANet released code (PreResNet-164)"),
        Recipe("dia_wrn", 200, milestones=(80, 120, 160), gamma=0.2, weight_decay=5e-4, dropout=0.3,
               source="DIANet released code (WRN-52-4)"),
        Recipe("dia_resnext", 300, milestones=(150, 225), weight_decay=5e-4,
               source="DIANet released code (ResNeXt-101 8x32d)"),
        Recipe("imagenet", 100, batch_size=256, step_every=30, warmup_epochs=3, warmup="released", drop_path=0.2,
               source="MRLA released code (ELA/DLA Table 2)"),
        Recipe("mmdet_1x", 12, batch_size=16, lr=0.02, milestones=(8, 11), warmup_iters=500, warmup_ratio=0.001,
               source="MMDetection 1x schedule (ELA Sec. 4.2, DIA Sec. IV-C; DLA Sec. 4.2 at batch 16)"),
        Recipe("mmdet_1x_b8", 12, batch_size=8, lr=0.01, milestones=(8, 11), warmup_iters=500, warmup_ratio=0.001,
               source="DLA Sec. 4.2: MMDetection 1x at batch 8, lr 0.01"),
        Recipe("deit", 300, batch_size=1024, lr=5e-4 * 1024 / 512, weight_decay=0.05, warmup_epochs=5,
               warmup_lr=1e-6, drop_path=0.1, optimizer="adamw", schedule="cosine", min_lr=1e-5,
               lr_batch_scaling=True, label_smoothing=0.1, mixup=0.8, cutmix=1.0, transforms="timm",
               rand_augment="rand-m9-mstd0.5-inc1", random_erasing=0.25, repeated_aug=3,
               source="DeiT ImageNet recipe (Touvron et al. 2021, Table 9), as DIA Table IX follows [55]"),
    )
}


#: the recipes a detection run (``RunConfig.detector`` set) accepts
DETECTION_RECIPES = ("mmdet_1x", "mmdet_1x_b8")


@dataclass(frozen=True)
class SmokeScale:
    """What ``--profile smoke`` changes: few epochs on a fixed subset with a small test set,
    on an offline stand-in dataset; every run labelled ``scale='smoke'``. Two sizes:

    ``SMOKE_LEARNING`` (the table rows of CIFAR-style networks: every CIFAR table of the three
    papers) is sized so that ``./reproduce.sh table1 --profile smoke`` (ELA Table 1's 24
    distinct models, ResNet-20 to ResNet-110, one run per core) visibly LEARNS within 10
    minutes on a 2-core machine (results/bench/vm/smoke_scale_study.md): 3,072 training
    images of Fashion-MNIST resized to 10x10 (``dataset``, ``experiments.data``), 3 epochs,
    1,000 test images (1 image = 0.1 points), batch 32 at the recipe's learning rate scaled
    linearly with the batch (0.1 x 32 / 128 = 0.025 for the CIFAR recipe; Goyal et al.
    2017's rule; at 10-12 px a deep net's step is dominated by per-layer overheads, so batch 32
    trains ELA-110 1.3x faster per image than batch 16 at the same accuracy), the schedule's
    shape kept (milestones scaled: the lr drops x0.1 for the last epoch), and NO augmentation
    (``augment``): a regulariser for 180 epochs, in 3 epochs it only slows learning (12x12,
    batch 16: SE-ResNet-20 70.9% with crop + flip, 79.2% without; DIA-ResNet-20 67.1 vs 76.5%).
    Rows that differ only in augmentation (DIA Table XVII) then share a smoke run, as rows that
    differ only in the dataset do. ``residual_init='scaled'``: the last BN of every residual
    branch and the layer-attention branch's BN start at 1/sqrt(number of residual blocks)
    instead of 1 (``models.backbone.scale_residual_init_``): at this scale the depth-110
    nets with the papers' initialisation start with a loss of 3.5 (ResNet) to 17 (ELA)
    and do not recover within 600 steps (a warm-up does not help: ELA-110 22% after a one-epoch
    warm-up), while the scaled start changes ResNet-20 by nothing measurable (75.3 vs 75.4%) and
    brings ELA-110 from 15% to 76%. Full runs never use it.

    ``SMOKE`` (every other row: ImageNet-style backbones, ViTs, detectors; and a bare
    ``run --scale smoke``) only proves that every row builds, trains, checkpoints, evaluates
    and records, not that it learns: 32 training and 32 test images at the recipe's batch, so
    each epoch is one optimiser step; ``dataset`` None = the table's smoke dataset.

    3 epochs in both, because ELA's CIFAR schedule has three KL windows and each needs an
    epoch of its own at this scale (``models.kl.scaled``).
    """

    epochs: int = 3
    train_subset: int = 32
    test_subset: int = 32
    dataset: str | None = None
    batch_size: int | None = None  # None: the recipe's; else the lr scales linearly with it
    residual_init: str | None = None  # RunConfig.residual_init
    augment: bool | None = None  # None: the row's; False: no augmentation for any row

    def lr(self, recipe: "Recipe") -> float | None:
        """The learning rate at ``batch_size``: the recipe's, scaled linearly (None: unchanged)."""
        return None if self.batch_size is None else recipe.lr * self.batch_size / recipe.batch_size


SMOKE = SmokeScale()
SMOKE_LEARNING = SmokeScale(train_subset=3072, test_subset=1000, dataset="fashionmnist10", batch_size=32,
                            residual_init="scaled", augment=False)


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; use one of {', '.join(RECIPES)}") from None
