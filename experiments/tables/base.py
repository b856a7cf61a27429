"""What a paper table or figure IS, as data: its rows, seeds, recipe, metric.

A ``Table`` is a pure description. ``table.runs(profile, seeds=None)`` turns it into the
list of ``RunConfig`` s that reproduce it; nothing is trained, read or checked here (the
launchers in ``experiments.launch`` do that). Execution settings (paths, device, workers)
stay at their defaults and are filled in by the launcher, so the run folders, which are
named by the hash of the identity fields only, are the same wherever the table runs.

Profiles
--------
``full``  the paper's recipe on the paper's dataset, the paper's number of seeds.
``smoke`` the table's FULL row set at the smoke scale on Fashion-MNIST, one seed, every run
          labelled ``scale='smoke'``. Rows of CIFAR-style networks (every CIFAR table) take
          ``experiments.recipes.SMOKE_LEARNING``, a scale at which they learn (3,072 images
          resized to 10x10, 3 epochs, batch 32, no augmentation, 1,000 test images:
          ``Row.smoke_scale``); the
          others (ImageNet-style backbones, ViTs, detectors) ``SMOKE``, a few steps on 32 images.
          Rows that differ only by dataset (CIFAR-10 vs CIFAR-100, which both become 10-class
          Fashion-MNIST), or at the learning scale only by augmentation, collapse into one run.
          ImageNet-style rows keep their real backbones (``resnet50_imagenet`` ...) and
          see Fashion-MNIST's 32x32 single-channel images: the ImageNet ResNets reduce
          32x32 to 1x1 before their adaptive pooling, which every model here accepts.

Rows shared between tables (ELA Table 4's EBQM row is ELA Table 1's ELA/CIFAR-100 row;
DLA Figure 4 plots DLA Table 1 runs; ...) are written with identical settings, so they
have identical run hashes and are trained once.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from models import ConfigError

from ..config import RunConfig
from ..recipes import SMOKE, SMOKE_LEARNING, SmokeScale, get_recipe

__all__ = ["Row", "Table", "Planned", "PROFILES", "SMOKE_DATASET", "SMOKE_DETECTION_DATASET", "SMOKE_SEEDS",
           "model_name", "LABELS", "RELEASED_IMAGENET_SE", "detection_rows", "PRETRAINED_RUN",
           "PRETRAINED_WITHOUT", "NL_DECISION"]

PROFILES = ("full", "smoke")
SMOKE_DATASET = "fashionmnist"
#: the smoke profile of detection rows: the offline COCO-format set (experiments.detection.offline)
SMOKE_DETECTION_DATASET = "fmnistcoco"
SMOKE_SEEDS = 1
#: ``RunConfig.pretrained`` of a full-profile detection run: this prefix + the ImageNet run's name
PRETRAINED_RUN = "run:"

#: How the papers print each method (row labels).
LABELS = {
    "resnet": "Org", "se": "SE", "eca": "ECA", "cbam": "CBAM", "bam": "BAM", "srm": "SRM", "spa": "SPA",
    "sem": "SEM", "spem": "SPEM", "gc": "GC", "sge": "SGE", "dia": "DIA-LSTM", "dia_light": "DIA-LSTM (Light)",
    "dia_se": "SE with DIA", "dia_eca": "ECA with DIA", "dia_cbam": "CBAM with DIA", "dia_srm": "SRM with DIA",
    "dia_spa": "SPA with DIA", "mrla_b": "MRLA-B", "mrla_l": "MRLA-L", "dla_b": "DLA-B", "dla_l": "DLA-L",
    "ela": "ELA", "lii_lstm": "LII (LSTM)", "lii_dia": "LII (DIA)", "lii_dsu": "LII (DSU)", "nl": "NL",
}


#: ``model_kwargs`` of an ImageNet SE row whose numbers come from the MRLA/DLA code: the
#: released MRLA and DLA repositories' ImageNet SE has no biases in its two Linear layers
#: (SE-ResNet-50 28,071,976 and SE-ResNet-101 49,292,328 parameters). The zoo's ImageNet
#: default keeps the SENet paper's biases (28,088,024 / 49,326,872), which DIA's ImageNet
#: rows (Tables VIII and XI, Figure 2; no released DIA ImageNet code) keep. Both forms
#: print as 28.1 / 49.3M. Used by ELA Table 2 and DLA Table 2.
RELEASED_IMAGENET_SE: Mapping[str, Any] = {"attn_kwargs": {"bias": False}}


#: Detection families whose module is added to an ImageNet backbone pretrained WITHOUT it: family
#: -> the family of the ImageNet run the detection row starts from (``Row.pretraining_row``).
#: The NL rows of ELA Table 5 / DLA Table 3 (GCNet's "+1NL", after Wang et al. 2018 Sec. 6) put
#: one non-local block into an ImageNet-pretrained ResNet at fine-tuning; no table of the three
#: papers has an ImageNet NL row, so the block starts at its initialisation (the identity:
#: zero-initialised BN) on the plain ResNet's ImageNet run, the run ELA/DLA Table 2's ResNet
#: rows train (models.attention.nl loads a checkpoint without the block's keys this way).
PRETRAINED_WITHOUT: Mapping[str, str] = {"nl": "resnet"}

NL_DECISION = (
    "NL rows (Mask R-CNN, GCNet's '+1NL'): one embedded-Gaussian non-local block (C/2 inter channels, "
    "softmax scaled by 1/sqrt(C/2) as mmcv's NonLocal2d, W_z without bias + BN initialised to zero) after "
    "residual block n-2 of stage c4, right before its last block (Wang et al. 2018 Sec. 6; models.attention.nl); "
    "full profile: the backbone starts from the plain ResNet's ImageNet run (the ResNet rows' run) with the block "
    "added at its zero-BN initialisation (the identity), as the NL and GCNet detectors fine-tune an ImageNet "
    "ResNet pretrained without the block; the printed 46.5M / 65.5M are the whole detector counted with every "
    "parameter (GCNet's convention, as the GC rows): ours 46,501,429 / 65,493,557 (trainable: 46,276,085 / "
    "65,268,213)"
)


def model_name(family: str, backbone: str) -> str:
    """Registry name: ``resnet56`` for the plain backbone, ``se_resnet56`` with a family."""
    return backbone if family in ("resnet", "") else f"{family}_{backbone}"


@dataclass(frozen=True)
class Row:
    """One printed row of a paper table (or one point/curve of a figure).

    ``backbone``/``depth``/``family``/``variant`` are the key of the row in
    ``results/paper/results.csv`` (columns backbone, depth, model, variant), so results
    can be matched to the published numbers; ``dataset`` is the paper's dataset.
    ``resources`` is 'default' (the cluster profile's shape: one GPU per run) or 'imagenet' (its
    multi-GPU shape) for the full profile.
    """

    label: str
    family: str
    backbone: str
    depth: int
    dataset: str
    recipe: str
    variant: str = ""
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    pruning: Mapping[str, Any] = field(default_factory=dict)
    augment: bool = True
    resources: str = "default"
    results_backbone: str = ""  # results.csv 'backbone' column; derived when empty
    detector: str = ""  # object detection rows: 'faster_rcnn' | 'mask_rcnn' | 'retinanet'

    @property
    def model(self) -> str:
        return model_name(self.family, self.backbone)

    def pretraining_row(self) -> "Row":
        """The ImageNet classification row whose run a detection row's backbone starts from (ELA
        Sec. 4.2, DLA Sec. 4.2, DIA Sec. IV-C: ImageNet-pretrained backbones of the same method):
        the same backbone, family and module settings on ImageNet with recipe 'imagenet'. Its
        seed-0 run is the paper's ImageNet row where the settings agree (ELA Table 2, DLA Table 2,
        DIA Table VIII), trained once for both. A family of ``PRETRAINED_WITHOUT`` (NL) starts
        from the plain backbone's ImageNet run instead, the module added at its initialisation."""
        if not self.detector:
            raise ConfigError(f"row {self.label!r} is not a detection row (no detector)")
        if self.family in PRETRAINED_WITHOUT:  # the module is added at fine-tuning (NL): its kwargs stay out
            return Row(label=self.label, family=PRETRAINED_WITHOUT[self.family], backbone=self.backbone,
                       depth=self.depth, dataset="imagenet", recipe="imagenet", resources="imagenet")
        return Row(label=self.label, family=self.family, backbone=self.backbone, depth=self.depth,
                   dataset="imagenet", recipe="imagenet", model_kwargs=self.model_kwargs, resources="imagenet")

    @property
    def key(self) -> tuple[str, str, int, str, str]:
        """(dataset, backbone, depth, model, variant) as in results/paper/results.csv."""
        if self.results_backbone:
            bb = self.results_backbone
        elif self.backbone.endswith("_imagenet"):
            bb = "resnet_imagenet"
        elif self.backbone.startswith("resnet"):
            bb = "resnet"
        else:
            bb = self.backbone
        return (self.dataset, bb, self.depth, self.family, self.variant)

    @property
    def smoke_scale(self) -> SmokeScale:
        """``SMOKE_LEARNING`` for a CIFAR-style classification network (the rows that can learn
        within the smoke table's budget on 2 cores), ``SMOKE`` for ImageNet-style backbones, ViTs
        and detectors."""
        cnn_small = not (self.detector or self.backbone.endswith("_imagenet") or "vit" in self.backbone)
        return SMOKE_LEARNING if cnn_small and self.recipe != "imagenet" else SMOKE

    def config(self, profile: str, seed: int) -> RunConfig:
        smoke = profile == "smoke"
        scale = self.smoke_scale
        # the smoke settings are written out (not left to RunConfig's smoke defaults) so that
        # they enter the run hash: a changed smoke scale makes new runs, never reuses old ones
        sizes = {}
        if smoke:
            sizes = dict(epochs=scale.epochs, train_subset=scale.train_subset, test_subset=scale.test_subset)
            if scale.batch_size is not None:
                sizes.update(batch_size=scale.batch_size, lr=scale.lr(get_recipe(self.recipe)))
            if scale.residual_init is not None:
                sizes["residual_init"] = scale.residual_init
        smoke_dataset = SMOKE_DETECTION_DATASET if self.detector else (scale.dataset or SMOKE_DATASET)
        detection = {"detector": self.detector} if self.detector else {}  # absent: classification hashes
        if self.detector and not smoke:  # the full profile starts from this repository's ImageNet run
            detection["pretrained"] = PRETRAINED_RUN + self.pretraining_row().config("full", 0).run_name
        return RunConfig(
            model=self.model,
            dataset=smoke_dataset if smoke else self.dataset,
            recipe=self.recipe,
            scale="smoke" if smoke else "full",
            seed=seed,
            model_kwargs=_plain(self.model_kwargs),
            pruning=_plain(self.pruning),
            augment=self.augment if not smoke or scale.augment is None else self.augment and scale.augment,
            **sizes,
            **detection,
        )


@dataclass(frozen=True)
class Planned:
    """One run of a table: its config, the printed rows it stands for (several in smoke,
    where e.g. the CIFAR-10 and CIFAR-100 rows become one run), its resource shape."""

    cfg: RunConfig
    rows: tuple[Row, ...]
    resources: str


@dataclass(frozen=True)
class Table:
    """A paper table or figure: rows x seeds -> runs.

    ``seeds``: the paper's number of runs per row (``seeds_note`` says where it comes
    from). ``metric``: what is read from each run's record. Figures also say what is
    plotted (``plots``) and which read-outs beyond the record the analysis needs
    (``readouts``, computed later from the saved checkpoints). ``not_run`` lists printed
    rows we cannot train (methods not implemented here), ``decisions`` every reading
    of the paper that the row set depends on.
    """

    id: str
    title: str
    rows: tuple[Row, ...]
    seeds: int
    seeds_note: str
    metric: str
    kind: str = "table"
    plots: str = ""
    readouts: tuple[str, ...] = ()
    not_run: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("table", "figure"):
            raise ValueError(f"{self.id}: kind must be 'table' or 'figure'")
        if self.seeds < 1:
            raise ValueError(f"{self.id}: seeds must be >= 1")
        if not self.rows:
            raise ValueError(f"{self.id}: no rows")

    @property
    def paper(self) -> str:
        return self.id.split(".")[0]

    @property
    def name(self) -> str:
        return self.id.split(".")[1]

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.dataset for r in self.rows))

    def default_seeds(self, profile: str) -> int:
        return SMOKE_SEEDS if profile == "smoke" else self.seeds

    def plan(self, profile: str = "full", seeds: int | None = None) -> list[Planned]:
        """Every run, seed-major (all rows of seed 0, then seed 1, ...: a partial sweep
        already covers the whole table), duplicates (same run hash) merged."""
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        n = self.default_seeds(profile) if seeds is None else int(seeds)
        if n < 1:
            raise ConfigError(f"--seeds must be >= 1, got {n}")
        out: dict[str, Planned] = {}
        for seed in range(n):
            for row in self.rows:
                cfg = row.config(profile, seed)
                h = cfg.run_hash()
                res = "default" if profile == "smoke" else row.resources
                if h in out:
                    p = out[h]
                    out[h] = replace(p, rows=p.rows + (row,))
                else:
                    out[h] = Planned(cfg, (row,), res)
        return list(out.values())

    def runs(self, profile: str = "full", seeds: int | None = None) -> list[RunConfig]:
        """The RunConfigs that reproduce this table under ``profile``."""
        return [p.cfg for p in self.plan(profile, seeds)]

    def readings(self) -> tuple[str, ...]:
        """Every reading of the papers the rows depend on: ``decisions`` plus the ones
        that follow from the rows' recipes (DropPath on layer-attention branches)."""
        return self.decisions + tuple(n for n in (_drop_path_reading(self.rows),) if n)


def _drop_path_reading(rows: Sequence[Row]) -> str:
    """DropPath: the released CIFAR script's default is 0, its one published command
    (run.sh, DLA-B) passes 0.2; the recipes apply 0.2 to every layer-attention branch."""
    from models.zoo import takes_drop_path

    from ..recipes import get_recipe

    fams = sorted({r.family for r in rows if get_recipe(r.recipe).drop_path and takes_drop_path(r.family)})
    if not fams:
        return ""
    rates = sorted({get_recipe(r.recipe).drop_path for r in rows if r.family in fams})
    return (f"DropPath {'/'.join(f'{p:g}' for p in rates)} on the layer-attention branches of "
            f"{', '.join(LABELS.get(f, f) for f in fams)} rows (recipes' drop_path; no other module gets it): the "
            "value of the released CIFAR code's one published command (run.sh, DLA-B) and of the MRLA ImageNet "
            "code; the released CIFAR script's own default is 0. --drop-path P overrides it (a new run identity)")


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy as plain dicts/lists (RunConfig holds JSON-able values)."""
    def conv(v):
        if isinstance(v, Mapping):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v
    return conv(d)


# --------------------------------------------------------------------------- row builders
def cifar_rows(families: Sequence[str], depths: Sequence[int], datasets: Sequence[str], recipe: str, *,
               labels: Mapping[str, str] | None = None, kwargs: Mapping[str, Mapping] | None = None,
               backbone: str = "resnet{d}", head: str = "ResNet-{d}") -> tuple[Row, ...]:
    """depth x family x dataset rows on the CIFAR bottleneck ResNets (the papers' order)."""
    labels = {**LABELS, **(labels or {})}
    rows = []
    for d in depths:
        for f in families:
            for ds in datasets:
                name = head.format(d=d)
                rows.append(Row(label=name if f == "resnet" else f"{name} / {labels[f]}", family=f,
                                backbone=backbone.format(d=d), depth=d, dataset=ds, recipe=recipe,
                                model_kwargs=dict((kwargs or {}).get(f, {}))))
    return tuple(rows)


def ela_pruning_rows(variants: Sequence[tuple[str, str, Any]], depths: Sequence[int] = (56, 110)
                     ) -> tuple[Row, ...]:
    """ELA-ResNet-``depth`` rows on CIFAR-100 that differ in the pruning settings (ELA Tables 4,
    6, 7): ``variants`` = (label, variant, pruning dict or a function depth -> pruning dict)."""
    return tuple(Row(label=f"{d} / {label}", family="ela", backbone=f"resnet{d}", depth=d, dataset="cifar100",
                     recipe="cifar", variant=variant, pruning=pruning(d) if callable(pruning) else pruning)
                 for d in depths for label, variant, pruning in variants)


def imagenet_rows(families: Sequence[str], depths: Sequence[int], dataset: str, recipe: str = "imagenet", *,
                  labels: Mapping[str, str] | None = None, kwargs: Mapping[str, Mapping] | None = None,
                  head: str = "ResNet-{d}", resources: str = "imagenet") -> tuple[Row, ...]:
    """depth x family rows on the ImageNet ResNets."""
    labels = {**LABELS, **(labels or {})}
    rows = []
    for d in depths:
        for f in families:
            name = head.format(d=d)
            rows.append(Row(label=name if f == "resnet" else f"{name} / {labels[f]}", family=f,
                            backbone=f"resnet{d}_imagenet", depth=d, dataset=dataset, recipe=recipe,
                            model_kwargs=dict((kwargs or {}).get((f, d), (kwargs or {}).get(f, {}))),
                            resources=resources))
    return tuple(rows)


def detection_rows(detector: str, families: Sequence[str], depths: Sequence[int], recipe: str, *,
                   labels: Mapping[str, str] | None = None, kwargs: Mapping[str, Mapping] | None = None,
                   head: str = "ResNet-{d}") -> tuple[Row, ...]:
    """depth x family rows of one detector on COCO 2017 with the ImageNet ResNets as backbones
    (``variant`` = ``detector=<kind>``, the key of results.csv; multi-GPU resource shape)."""
    labels = {**LABELS, **(labels or {})}
    name = {"faster_rcnn": "Faster R-CNN", "mask_rcnn": "Mask R-CNN", "retinanet": "RetinaNet"}[detector]
    return tuple(
        Row(label=f"{name} / {head.format(d=d)}" + ("" if f == "resnet" else f" / {labels[f]}"), family=f,
            backbone=f"resnet{d}_imagenet", depth=d, dataset="coco", recipe=recipe,
            variant=f"detector={detector}", detector=detector, resources="imagenet",
            model_kwargs=dict((kwargs or {}).get(f, {})))
        for d in depths for f in families)
