"""One run's configuration: a typed dataclass whose hash names the run's folder.

Fields split in two: *identity* fields decide what is computed (model, data, recipe,
seed, overrides) and enter the hash; *execution* fields decide only where and how fast
(paths, device, workers, the GPU fast path switches) and do not, so a table relaunched
on another machine finds its finished runs. Execution settings are still written into
every record.

Numerics: a run trains in fp32 by default, as the released code does (PyTorch's default
precision: TF32 convolutions on Ampere and newer GPUs, fp32 matmuls). ``amp=True`` (bf16
autocast on the GPU fast path) is an opt-in speed option; it changes the loss and
gradients beyond float32 noise, so it is an identity field: it enters the hash when on
(``HASHED_WHEN_SET``: absent from the hash at its default, so fp32 runs keep their names).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import ConfigError

from .recipes import SMOKE, Recipe, get_recipe

__all__ = ["RunConfig", "EXECUTION_FIELDS", "DETECTORS", "identity_hash"]

EXECUTION_FIELDS = frozenset({
    "data_root", "download", "out_root", "device", "workers", "deterministic",
    "fast", "channels_last", "compile", "progress",
})
#: identity fields that enter the hash only when set away from this default
HASHED_WHEN_SET = {"amp": False, "detector": None, "pretrained": None, "residual_init": None}
#: ``residual_init`` values ('scaled': ``models.backbone.scale_residual_init_``; None = the model's own
#: initialisation)
RESIDUAL_INITS = ("scaled",)
#: detectors a run can train (``models.detection.KINDS``; the run is then a detection run:
#: ``model`` names the backbone, ``model_kwargs`` holds ``create_detector`` overrides)
DETECTORS = ("faster_rcnn", "mask_rcnn", "retinanet")

SCALES = ("full", "smoke")


def identity_hash(identity: dict[str, Any]) -> str:
    """The 12 hex digits that name a run's folder: sha256 of its identity fields as canonical JSON
    (``RunConfig``; ``experiments.diffusion_run.DiffusionConfig`` names its runs the same way)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class RunConfig:
    # ---- identity
    model: str
    dataset: str = "fashionmnist"
    recipe: str = "cifar"
    scale: str = "full"
    seed: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    drop_path: float | None = None
    augment: bool = True
    train_subset: int | None = None
    test_subset: int | None = None
    pruning: dict[str, Any] = field(default_factory=dict)  # ELA controller settings
    amp: bool = False  # bf16 autocast on the GPU fast path (opt-in; fp32 is the released code's)
    detector: str | None = None  # 'faster_rcnn' | 'mask_rcnn' | 'retinanet': a detection run (hashed when set)
    # detection runs: the ImageNet weights the backbone starts from (hashed when set): 'run:<run name>'
    # (that finished run of this repository, under out_root) or a checkpoint path; None = from scratch
    pretrained: str | None = None
    # the smoke profile's CIFAR-style rows (experiments.recipes.SMOKE_LEARNING; hashed when set): 'scaled'
    # starts every residual branch's last BN at 1/sqrt(blocks) (models.backbone.scale_residual_init_)
    residual_init: str | None = None
    # ---- execution
    data_root: str = "data"
    download: bool = False
    out_root: str = "runs"
    device: str = "auto"
    workers: int = 2
    deterministic: bool = False
    fast: bool = True
    channels_last: bool = True
    compile: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"unknown scale {self.scale!r}; use one of {', '.join(SCALES)}")
        get_recipe(self.recipe)  # one-line error for an unknown recipe
        if self.detector is not None and self.detector not in DETECTORS:
            raise ConfigError(f"unknown detector {self.detector!r}; use one of {', '.join(DETECTORS)}")
        if self.residual_init is not None and self.residual_init not in RESIDUAL_INITS:
            raise ConfigError(f"unknown residual_init {self.residual_init!r}; use one of {', '.join(RESIDUAL_INITS)} "
                              "or leave it unset (the model's own initialisation)")
        if self.pretrained is not None and self.pretrained.strip().lower() in ("", "none"):
            self.pretrained = None  # `--pretrained none`: from scratch
        if self.pretrained is not None and self.detector is None:
            raise ConfigError("pretrained weights are for detection runs (set --detector); a classification run "
                              "trains from scratch")
        for name in ("epochs", "batch_size", "train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {v}")
        for name in ("lr", "weight_decay", "drop_path"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"{name} must be >= 0, got {v}")
        if self.drop_path is not None and self.drop_path >= 1:
            raise ConfigError(f"drop_path must be in [0, 1), got {self.drop_path}")

    # ---- identity and paths
    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in EXECUTION_FIELDS and not (k in HASHED_WHEN_SET and v == HASHED_WHEN_SET[k])}

    def run_hash(self) -> str:
        return identity_hash(self.identity())

    @property
    def run_name(self) -> str:
        return f"{self.model}-{self.dataset}-{self.scale}-s{self.seed}-{self.run_hash()}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_root) / self.run_name

    # ---- effective settings
    def effective_recipe(self) -> Recipe:
        """The recipe after the smoke scale and explicit overrides."""
        r = get_recipe(self.recipe)
        epochs = self.epochs or (SMOKE.epochs if self.scale == "smoke" else r.epochs)
        if epochs != r.epochs:
            r = r.scaled(epochs)
        changes = {k: getattr(self, k) for k in ("batch_size", "lr", "weight_decay", "drop_path")
                   if getattr(self, k) is not None}
        if r.lr_batch_scaling and self.batch_size is not None and self.lr is None:
            changes["lr"] = r.lr * self.batch_size / r.batch_size  # the linear rule (recipe 'deit': 5e-4 x b / 512)
        return dataclasses.replace(r, **changes) if changes else r

    def subsets(self) -> tuple[int | None, int | None]:
        if self.scale == "smoke":
            return (self.train_subset or SMOKE.train_subset, self.test_subset or SMOKE.test_subset)
        return self.train_subset, self.test_subset

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(sorted(unknown))}")
        return cls(**d)
