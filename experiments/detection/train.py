"""One detection run: a COCO detector on a zoo backbone, trained and evaluated like a classification run.

    ./reproduce.sh run --model ela_resnet50_imagenet --detector faster_rcnn --dataset fmnistcoco \\
        --recipe mmdet_1x --scale smoke
    python -m experiments.run --model resnet50_imagenet --detector mask_rcnn --dataset coco \\
        --recipe mmdet_1x --data-root /data/coco --pretrained runs/<ImageNet run>/checkpoint.pt

``experiments.run.run`` hands a config with ``detector`` set to :func:`run_detection`. What
the fields mean for a detection run:

* ``model``: the backbone (an ImageNet ResNet of the zoo, e.g. ``ela_resnet50_imagenet``);
  ``detector``: ``faster_rcnn`` | ``mask_rcnn`` | ``retinanet`` (``models.detection.create_detector``,
  MMDetection 1x settings); ``model_kwargs``: ``create_detector`` overrides (any
  ``MMDetSettings`` field such as ``min_size``/``max_size``, ``pretrained_backbone``,
  ``attention_norm_eval``, ``backbone_kwargs``, torchvision detector arguments).
* Input size: MMDetection's 800/1333 on ``coco``; at the smoke scale, and on datasets whose
  nominal resolution is below 800 (``fmnistcoco``: 160 px images), ``min_size = max_size =
  SMOKE_SIZE`` (160) unless ``model_kwargs`` sets them; at the smoke scale the R-CNNs also
  sample fewer RoIs and keep fewer test proposals (``SMOKE_RCNN``).
* ``recipe``: ``mmdet_1x`` (batch 16, lr 0.02) or ``mmdet_1x_b8`` (DLA: batch 8, lr 0.01);
  the learning rate is set every iteration (``Recipe.lr_at_step``: step decay at epochs 8
  and 11 plus mmcv's 500-iteration linear warm-up). At the smoke scale the warm-up is
  capped at one epoch's iterations. RetinaNet clips gradients at norm 35 (MMDetection's
  ``retinanet_r50_fpn_1x`` ``grad_clip``); the R-CNNs do not (``grad_clip=None``).
* ``pretrained``: the backbone's ImageNet weights (``experiments.detection.pretrained``):
  ``run:<run name>`` (a finished ImageNet run of this repository under ``out_root``; what the
  full profile of the detection tables plans), a checkpoint path, or None (from scratch).
* ``pruning``: ELA's controller settings; for an ``ela_*`` backbone the preset defaults to
  ``'detection'`` (ELA Sec. 4.2: KL measured at epochs 1 and 7, EBQM with Beta(2, 5) and
  mu 0.2; ``models.kl.WINDOWS`` / ``models.ebqm.PRESETS``), mapped onto shorter runs like
  the classification presets.
* ``dataset``: a COCO-format detection dataset of ``experiments.data`` (``coco``,
  ``fmnistcoco``). ``data_root`` is the COCO tree or its parent (then ``<data_root>/<name>``);
  the offline ``fmnistcoco`` set is generated there on first use (``make_offline_coco``).
  ``train_subset``/``test_subset`` (and the smoke scale's 32/32) take fixed subsets.

Loop: per epoch, the training images in the order of ``EpochSampler(seed, epoch)``, one SGD
step per batch (randomness re-seeded from (seed, epoch, step): the flips of the loader, the
detector's RPN/RoI samplers), then COCO evaluation (``experiments.detection.coco.evaluate``)
on the val split after EVERY epoch, the callbacks' ``on_epoch_end`` (ELA's decisions), an
atomic checkpoint (model, optimiser, callbacks, state) and the record with status
``running``. SIGTERM/SIGUSR2 (``experiments.run.StopFlag``) checkpoint after the current
step (mid-epoch, with the epoch's loss sums so far; a signal during an evaluation is seen
before the next epoch's first step) and end with status ``interrupted``; a
relaunch resumes there and writes the same record as an uninterrupted run (timings aside;
on the CPU with ``workers=0``, bit for bit). A non-finite loss ends the run as
``diverged`` (recorded, no checkpoint). Single process only (no data parallelism here).

Record (``<out_root>/<run_name>/record.json``): the classification record's keys where they
mean something (run_name, run_hash, config, smoke, recipe, seed, git, environment,
world_size, dataset, params, execution, planned, status, epochs_done, epochs_total, resumes,
epochs, diverged, diverged_at, callbacks, train_time_s) plus ``detector`` (kind, overrides,
label offset, trainable and total parameters), ``final`` = ``{"bbox": {...}, "segm": {...}}``
(the last epoch's ``evaluate`` result; ``segm`` None without masks) and ``best`` = the same for
the epoch with the best box AP, plus ``"epoch"``. Each entry of ``epochs``: epoch, lr (of the
epoch's last step), train_loss (mean total loss per step), the detector's loss components
(mean per step, torchvision's names), bbox_AP, bbox/segm (AP, AP50, AP75, APS, APM, APL,
per_category, summary), epoch_time_s, eval_time_s, images_per_s.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from models import ConfigError
from models.detection import LABEL_OFFSET, count_parameters, create_detector
from models.zoo import FAMILIES, model_spec

from ..config import RunConfig
from ..distributed import DistInfo
from ..recipes import DETECTION_RECIPES
from ..engine import EpochSampler, Progress, mix_seed
from ..records import as_json, atomic_write_json, environment, git_commit
from ..run import RunPaths, StopFlag, finished_record, load_checkpoint, write_checkpoint
from ..tables import planned_rows
from .coco import CocoDetectionDataset, collate, evaluate
from .pretrained import resolve_pretrained

__all__ = ["run_detection", "detection_losses", "detection_root", "evaluate_detector", "DetState", "SMOKE_SIZE", "SMOKE_RCNN",
           "RETINANET_GRAD_CLIP"]

#: min_size = max_size of the detector's resize at the smoke scale and on small-image datasets
SMOKE_SIZE = 160
#: R-CNN head sizes at the smoke scale (unless ``model_kwargs`` sets them): 64 sampled RoIs per
#: training image instead of MMDetection's 512 and 100 test proposals instead of 1000. The
#: offline images hold 1-4 objects on 160 px, and the box head's two FC layers over 512 RoIs
#: were 3x the ResNet-50 backbone's MACs per training step (a 16-image smoke table row took
#: 2.9 min on 2 cores); the full profile keeps MMDetection's values.
SMOKE_RCNN = {"box_batch_size_per_image": 64, "rpn_post_nms_top_n_test": 100}
#: MMDetection's retinanet_r50_fpn_1x: optimizer_config grad_clip max_norm 35, norm_type 2
RETINANET_GRAD_CLIP = 35.0
METRIC_KEYS = ("AP", "AP50", "AP75", "APS", "APM", "APL")


# --------------------------------------------------------------------------- data
def detection_root(cfg: RunConfig) -> Path:
    """The COCO tree of ``cfg.dataset``: ``data_root`` itself when it holds one (or is named
    after the dataset), else ``<data_root>/<name>``; ``fmnistcoco`` is generated there if absent."""
    from .. import data as D
    from .offline import make_offline_coco

    spec = D.dataset_spec(cfg.dataset)
    root = Path(cfg.data_root).expanduser()
    if not ((root / "annotations").is_dir() or (root / "manifest.json").is_file() or root.name == spec.name):
        root = spec.default_root(root)
    if spec.name == "fmnistcoco" and not (root / "manifest.json").is_file():
        print(f"[{cfg.run_name}] generating the offline COCO-format set at {root}", flush=True)
        make_offline_coco(root, progress=cfg.progress)
    return root


def _base_dataset(ds) -> CocoDetectionDataset:
    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    return ds


def _plain(t: torch.Tensor) -> torch.Tensor:
    return t.as_subclass(torch.Tensor)


def _to_device(images, targets, device: torch.device, shift: int, masks: bool):
    imgs = [_plain(im).to(device) for im in images]
    tgts = []
    for t in targets:
        d = {"boxes": _plain(t["boxes"]).to(device), "labels": (t["labels"] - shift).to(device)}
        if masks:
            d["masks"] = _plain(t["masks"]).to(device)
        tgts.append(d)
    return imgs, tgts


def detection_losses(model: nn.Module, images: list[torch.Tensor], targets: list[dict]) -> dict[str, torch.Tensor]:
    """The detector's training losses on one batch (torchvision's dict); a test may replace it."""
    return model(images, targets)


@torch.no_grad()
def evaluate_detector(model: nn.Module, dataset, *, device: torch.device, shift: int, iou_types, batch_size: int = 4,
                      workers: int = 0) -> dict[str, Any]:
    """COCO metrics of ``model`` on ``dataset`` (every image scored, empty outputs included);
    the model's labels are moved back to the dataset's 1..K by ``shift``."""
    was_training = model.training
    model.eval()
    preds: dict[int, dict[str, torch.Tensor]] = {}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate, num_workers=workers)
    for images, targets in loader:
        outs = model([_plain(im).to(device) for im in images])
        for t, o in zip(targets, outs):
            o = {k: v.detach().cpu() for k, v in o.items()}
            o["labels"] = o["labels"] + shift
            preds[int(t["image_id"])] = o
    model.train(was_training)
    return evaluate(_base_dataset(dataset).coco, preds, iou_types)


# --------------------------------------------------------------------------- state
@dataclass
class DetState:
    """Where a detection run stands (stored in every checkpoint as a plain dict)."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps done of epoch ``epoch``
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    partial: dict[str, Any] | None = None  # loss sums of an interrupted epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DetState":
        return cls(**d)


def _empty_partial() -> dict[str, Any]:
    return {"loss_sums": {}, "total": 0.0, "steps": 0, "images": 0, "seconds": 0.0}


@dataclass
class _Run:
    cfg: RunConfig
    paths: RunPaths
    device: torch.device
    recipe: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    callbacks: list
    train_ds: Any
    test_ds: Any
    steps: int
    shift: int
    masks: bool
    warmup_cap: int | None
    base: dict[str, Any] = field(default_factory=dict)


def _device(cfg: RunConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device!r} requested but CUDA is not available here; use --device cpu")
    return torch.device(cfg.device)


def _detector_overrides(cfg: RunConfig, resolution: int) -> dict[str, Any]:
    over = dict(cfg.model_kwargs)
    if cfg.scale == "smoke" or resolution < 800:
        over.setdefault("min_size", SMOKE_SIZE)
        over.setdefault("max_size", SMOKE_SIZE)
    if cfg.scale == "smoke" and cfg.detector in ("faster_rcnn", "mask_rcnn"):
        for key, value in SMOKE_RCNN.items():
            over.setdefault(key, value)
    family = model_spec(cfg.model).get("family") or ""
    fam = FAMILIES.get(family)
    takes_pruning = fam is not None and fam.takes("pruning")
    if cfg.pruning and not takes_pruning:
        raise ConfigError(f"pruning settings given but {cfg.model} has no pruning controller (use an ela_* backbone)")
    if takes_pruning:  # ELA Sec. 4.2: KL at epochs 1 and 7, EBQM Beta(2, 5), mu 0.2
        bk = dict(over.get("backbone_kwargs") or {})
        attn = dict(bk.get("attn_kwargs") or {})
        attn["pruning"] = {"preset": "detection", **dict(attn.get("pruning") or {}), **cfg.pruning}
        bk["attn_kwargs"] = attn
        over["backbone_kwargs"] = bk
    return over


def _lr(r: _Run, epoch: int, step: int) -> float:
    recipe = r.recipe
    if r.warmup_cap is not None and recipe.warmup_iters > r.warmup_cap:
        recipe = dataclasses.replace(recipe, warmup_iters=r.warmup_cap)
    return recipe.lr_at_step(epoch, step, r.steps)


def _build(cfg: RunConfig) -> _Run:
    from .. import data as D

    if cfg.recipe not in DETECTION_RECIPES:
        raise ConfigError(f"a detection run needs a detection recipe ({', '.join(DETECTION_RECIPES)}), "
                          f"got {cfg.recipe!r}: add --recipe mmdet_1x")
    device = _device(cfg)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    recipe = cfg.effective_recipe()
    train_sub, test_sub = cfg.subsets()
    root = detection_root(cfg)
    train_ds, test_ds, info = D.build_datasets(cfg.dataset, root, download=cfg.download, augment=cfg.augment,
                                               train_subset=train_sub, test_subset=test_sub)
    if not isinstance(_base_dataset(train_ds), CocoDetectionDataset):
        raise ConfigError(f"dataset {cfg.dataset!r} is not a detection dataset; use coco or fmnistcoco")
    num_classes = _base_dataset(train_ds).num_classes
    overrides = _detector_overrides(cfg, info.resolution)
    weights = resolve_pretrained(cfg)  # before anything is written: a missing ImageNet run fails here
    if weights is not None:
        overrides["pretrained_backbone"] = str(weights)
    torch.manual_seed(mix_seed(cfg.seed, -1))
    model = create_detector(cfg.detector, cfg.model, num_classes=num_classes, **overrides)
    body = model.backbone.body
    callbacks = list(body.training_callbacks())
    for cb in callbacks:  # before anything is written: a run that cannot hold its schedule fails here
        cb.on_train_start(body.net, recipe.epochs)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                                nesterov=recipe.nesterov)
    steps = math.ceil(len(train_ds) / recipe.batch_size)
    r = _Run(cfg=cfg, paths=RunPaths(cfg.run_dir), device=device, recipe=recipe, model=model, optimizer=optimizer,
             callbacks=callbacks, train_ds=train_ds, test_ds=test_ds, steps=steps,
             shift=1 - LABEL_OFFSET[cfg.detector], masks=cfg.detector == "mask_rcnn",
             warmup_cap=steps if cfg.scale == "smoke" else None)
    r.base = {
        "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(),
        "smoke": cfg.scale == "smoke", "recipe": dataclasses.asdict(recipe), "seed": cfg.seed,
        "git": git_commit(), "environment": environment(device), "world_size": 1,
        "dataset": dataclasses.asdict(info) | {"num_classes": num_classes, "train_images": len(train_ds),
                                               "val_images": len(test_ds), "root": str(root)},
        "params": count_parameters(model), "params_all": count_parameters(model, trainable=False),
        "detector": {"kind": cfg.detector, "backbone": cfg.model, "num_classes": num_classes,
                     "overrides": {k: v for k, v in overrides.items() if k != "pretrained_backbone"},
                     "pretrained_backbone": overrides.get("pretrained_backbone"),
                     "label_offset": LABEL_OFFSET[cfg.detector],
                     "grad_clip": RETINANET_GRAD_CLIP if cfg.detector == "retinanet" else None,
                     "warmup_iters": min(recipe.warmup_iters, r.warmup_cap) if r.warmup_cap else recipe.warmup_iters},
        "execution": {"device": str(device), "workers": cfg.workers, "deterministic": cfg.deterministic,
                      "evaluation": "val split after every epoch"},
        "planned": planned_rows(cfg),
    }
    return r


# --------------------------------------------------------------------------- checkpoint and record
def _resume(r: _Run) -> DetState:
    if not r.paths.checkpoint.exists():
        return DetState()
    state = DetState.from_dict(load_checkpoint(r.paths.checkpoint, r.device, r.model, r.optimizer, r.callbacks))
    state.resumes += 1
    print(f"[{r.cfg.run_name}] resuming at epoch {state.epoch + 1}, step {state.step}", flush=True)
    return state


def _save(r: _Run, state: DetState) -> None:
    write_checkpoint(r.paths.checkpoint, r.model, r.optimizer, r.callbacks, state.to_dict())


def _metrics(ep: dict[str, Any]) -> dict[str, Any]:
    return {"bbox": ep["bbox"], "segm": ep.get("segm")}


def _write(r: _Run, state: DetState, status: str, diverged_at: dict | None = None) -> dict[str, Any]:
    hist = state.history
    best = max(hist, key=lambda e: -math.inf if math.isnan(e["bbox_AP"]) else e["bbox_AP"]) if hist else None
    rec = {**r.base, "status": status, "epochs_done": state.epoch, "epochs_total": r.recipe.epochs,
           "resumes": state.resumes, "epochs": hist,
           "final": _metrics(hist[-1]) if hist else None,
           "best": {**_metrics(best), "epoch": best["epoch"]} if best else None,
           "diverged": status == "diverged", "diverged_at": diverged_at,
           "callbacks": {cb.name: cb.record() for cb in r.callbacks},
           "train_time_s": sum(e["epoch_time_s"] for e in hist)}
    rec = as_json(rec)
    atomic_write_json(r.paths.record, rec)
    return rec


# --------------------------------------------------------------------------- epochs
def _train_epoch(r: _Run, state: DetState, stop) -> str | None:
    """Train the rest of epoch ``state.epoch``; None, 'diverged' or 'interrupted'."""
    cfg, epoch = r.cfg, state.epoch
    start = state.step
    for cb in r.callbacks:
        cb.on_epoch_start(epoch, r.model.backbone.body.net)
    part = state.partial or _empty_partial()
    sampler = EpochSampler(len(r.train_ds), cfg.seed, epoch, r.recipe.batch_size, DistInfo(), start_batch=start)
    g = torch.Generator().manual_seed(mix_seed(cfg.seed, epoch, start, 7))
    loader = torch.utils.data.DataLoader(r.train_ds, batch_size=r.recipe.batch_size, sampler=sampler,
                                         collate_fn=collate, num_workers=cfg.workers, generator=g)
    prog = Progress(r.steps - start, f"epoch {epoch + 1}", enabled=cfg.progress)
    it = iter(loader)
    r.model.train()
    clip = RETINANET_GRAD_CLIP if cfg.detector == "retinanet" else None
    params = [p for g_ in r.optimizer.param_groups for p in g_["params"]]
    for k in range(start, r.steps):
        if stop():  # a signal during the evaluation or the previous step
            prog.close()
            state.partial = part
            return "interrupted"
        t0 = time.perf_counter()
        torch.manual_seed(mix_seed(cfg.seed, epoch, k, 2))  # the loader's flips (workers=0)
        images, targets = next(it)
        images, targets = _to_device(images, targets, r.device, r.shift, r.masks)
        lr = _lr(r, epoch, k)
        for group in r.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(mix_seed(cfg.seed, epoch, k, 3))  # the RPN / RoI samplers
        losses = detection_losses(r.model, images, targets)
        total = sum(losses.values())
        if not torch.isfinite(total).item():
            state.step = k + 1
            return "diverged"
        r.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        r.optimizer.step()
        for name, v in losses.items():
            part["loss_sums"][name] = part["loss_sums"].get(name, 0.0) + float(v.detach())
        part["total"] += float(total.detach())
        part["steps"] += 1
        part["images"] += len(images)
        part["seconds"] += time.perf_counter() - t0
        part["lr"] = lr
        state.step = k + 1
        prog.update(len(images))
    prog.close()
    state.partial = part
    return "interrupted" if stop() else None  # checkpoint before the evaluation


def _end_epoch(r: _Run, state: DetState) -> dict[str, Any]:
    part = state.partial or _empty_partial()
    n = max(part["steps"], 1)
    t_eval = time.perf_counter()
    iou_types = ("bbox", "segm") if r.masks else ("bbox",)
    metrics = evaluate_detector(r.model, r.test_ds, device=r.device, shift=r.shift, iou_types=iou_types,
                                workers=r.cfg.workers)
    for m in metrics.values():  # COCOeval's table only: its timing lines would make records differ
        m["summary"] = "".join(line for line in m["summary"].splitlines(keepends=True) if line.startswith(" Average"))
    rec = {"epoch": state.epoch, "lr": part.get("lr", _lr(r, state.epoch, r.steps - 1)),
           "train_loss": part["total"] / n, **{k: v / n for k, v in part["loss_sums"].items()},
           "bbox_AP": metrics["bbox"]["AP"], "bbox": metrics["bbox"], "segm": metrics.get("segm"),
           "epoch_time_s": part["seconds"], "eval_time_s": time.perf_counter() - t_eval,
           "images_per_s": part["images"] / max(part["seconds"], 1e-9)}
    for cb in r.callbacks:
        cb.on_epoch_end(state.epoch, r.model.backbone.body.net, rec)
    state.history.append(rec)
    state.epoch, state.step, state.partial = state.epoch + 1, 0, None
    _save(r, state)
    _write(r, state, "running")
    b = rec["bbox"]
    print(f"[{r.cfg.run_name}] epoch {state.epoch}/{r.recipe.epochs} | loss {rec['train_loss']:.4f} | "
          f"box AP {b['AP']:.2f} AP50 {b['AP50']:.2f}" + (f" | mask AP {rec['segm']['AP']:.2f}" if rec["segm"] else "")
          + f" | lr {rec['lr']:.4g} | {rec['epoch_time_s']:.1f}s + eval {rec['eval_time_s']:.1f}s", flush=True)
    return rec


def run_detection(cfg: RunConfig, *, handle_signals: bool = True) -> dict[str, Any]:
    """Train and evaluate one detection configuration (``cfg.detector`` set); its record."""
    if cfg.detector is None:
        raise ConfigError("run_detection needs a config with a detector")
    finished = finished_record(cfg)
    if finished is not None:
        return finished
    r = _build(cfg)
    state = _resume(r)
    r.paths.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(r.paths.config, cfg.to_dict())
    print(f"[{cfg.run_name}] {cfg.detector} on {cfg.model} | {cfg.dataset} ({cfg.scale}) | "
          f"{r.base['params'] / 1e6:.2f}M trainable params | {r.recipe.epochs} epochs x {r.steps} steps | "
          f"device {r.device}", flush=True)
    stop = StopFlag(DistInfo(), install=handle_signals)
    try:
        while state.epoch < r.recipe.epochs:
            if state.step < r.steps:
                outcome = _train_epoch(r, state, stop)
                if outcome == "diverged":
                    where = {"epoch": state.epoch, "step": state.step}
                    print(f"[{cfg.run_name}] loss is not finite at epoch {state.epoch + 1}, step {state.step}: "
                          f"recorded as diverged", flush=True)
                    return _write(r, state, "diverged", where)
                if outcome == "interrupted":
                    _save(r, state)
                    print(f"[{cfg.run_name}] interrupted at epoch {state.epoch + 1}, step {state.step}: "
                          f"checkpoint saved", flush=True)
                    return _write(r, state, "interrupted")
            _end_epoch(r, state)
        rec = _write(r, state, "done")
        print(f"[{cfg.run_name}] done: final box AP {rec['final']['bbox']['AP']:.2f}, best "
              f"{rec['best']['bbox']['AP']:.2f} (epoch {rec['best']['epoch'] + 1}) -> {r.paths.record}", flush=True)
        return rec
    finally:
        stop.restore()
