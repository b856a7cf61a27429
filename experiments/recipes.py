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

All use SGD with momentum 0.9, no Nesterov. The DIANet ResNeXt schedule has no epoch
count in official-code.md; 300 is the count its milestones 150/225 come from (the
CIFAR ResNeXt recipe of Xie et al.).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from models import ConfigError

__all__ = ["Recipe", "RECIPES", "get_recipe", "SMOKE", "DETECTION_RECIPES"]


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
    drop_path: float = 0.0  # on layer-attention branches only (MRLA/DLA/ELA)
    dropout: float = 0.0  # inside WRN blocks
    source: str = ""

    def __post_init__(self) -> None:
        if self.warmup not in ("linear", "released"):
            raise ConfigError(f"recipe {self.name!r}: warmup must be 'linear' or 'released', got {self.warmup!r}")

    def lr_at(self, epoch: float) -> float:
        """Learning rate at (fractional) epoch ``epoch`` (0-based)."""
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
    )
}


#: the recipes a detection run (``RunConfig.detector`` set) accepts
DETECTION_RECIPES = ("mmdet_1x", "mmdet_1x_b8")


@dataclass(frozen=True)
class SmokeScale:
    """What ``--profile smoke`` changes: few epochs on a fixed subset with a small test
    set. Everything else (model, recipe shape, augmentation) stays as in the full run.

    Sized so that ``./reproduce.sh table1 --profile smoke`` (ELA Table 1's 24 distinct
    models, ResNet-20 to ResNet-110, one process each) finishes within 10 minutes on the
    2-core development machine: it proves that every row builds, trains, checkpoints,
    evaluates and records, not that it learns. 3 epochs, because ELA's CIFAR schedule has
    three KL windows and each needs an epoch of its own at this scale (models.kl.scaled);
    with a subset smaller than the batch, each epoch is one optimiser step.
    """

    epochs: int = 3
    train_subset: int = 32
    test_subset: int = 32


SMOKE = SmokeScale()


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; use one of {', '.join(RECIPES)}") from None
