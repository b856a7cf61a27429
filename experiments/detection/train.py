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
``diverged`` (recorded, no checkpoint).

Data parallelism, as the classification run (``experiments.distributed``): started as one of
several processes (``torchrun --nproc-per-node 8 -m experiments.run ...``, or a SLURM job
with one task per GPU: the detection tables' rows have the 'imagenet' resource shape, the
cluster profile's multi-GPU, possibly multi-node one, and ``experiments.launch.slurm``
starts ``tasks_per_node = gpus_per_node`` tasks), the run joins the process group (NCCL on
GPUs, gloo on the CPU) and wraps the detector in ``DistributedDataParallel``. The recipe's
batch is the global batch: each rank takes ``batch / world_size`` images a step (a batch
not divisible by the world size is a one-line ConfigError), its share of the epoch's
``EpochSampler`` order (padded so every rank does the same steps), at the recipe's learning
rate; DDP averages the ranks' gradients, each the gradient of its rank's mean losses. That
is MMDetection's set-up: its ``mmdet_1x`` batch 16 is 8 GPUs x 2 images
(``samples_per_gpu=2``) at lr 0.02; DLA's ``mmdet_1x_b8`` (batch 8, lr 0.01, DLA Sec. 4.2) is
split the same way (e.g. 4 GPUs x 2 images).
``find_unused_parameters`` only for ELA backbones, whose pruned attention layers get no
gradient once pruned (``has_unused_parameters``); the frozen stem and stage 1 do not require
gradients, and every other parameter of the three detectors gets one in every step (checked
for every backbone family of ELA Table 5, DLA Table 3 and DIA Table 10). The random streams
are seeded from (seed, epoch, step, rank), so each rank flips and samples its own images;
one process keeps the (seed, epoch, step) seeds. The record's losses are the means over
ranks (all-reduced), its images those of all ranks, its times rank 0's. Evaluation: the val
set is cut into the batches one process would run, each rank scores every
``world_size``-th batch (rank 0's BatchNorm buffers broadcast first), rank 0 gathers the
outputs and runs COCOeval once: the metrics equal a single process's on the same weights.
ELA's decisions: the controller all-reduces the window's KL averages before deciding
(``ELAPruning._all_reduce``), so every rank prunes the same layers. Only rank 0 writes the
config, checkpoints and record; the stop flag is all-reduced (every 10th check), so all
ranks stop at the same step; the record's ``world_size`` is the number of ranks and a
finished run records ``rank_weight_checksums`` (one per rank: identical weights).

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
from ..distributed import (DistInfo, all_reduce_sum, broadcast_buffers, broadcast_object, collective_device,
                           gather_object, per_rank_batch, weight_checksum)
from ..recipes import DETECTION_RECIPES
from ..engine import EpochSampler, Progress, mix_seed
from ..records import as_json, atomic_write_json, environment, git_commit
from ..run import RunPaths, StopFlag, load_checkpoint, run_device, run_ranks, write_checkpoint
from ..tables import planned_rows
from .coco import CocoDetectionDataset, collate, evaluate
from .pretrained import resolve_pretrained

__all__ = ["run_detection", "detection_losses", "detection_root", "evaluate_detector", "detector_predictions",
           "DetState", "SMOKE_SIZE", "SMOKE_RCNN", "RETINANET_GRAD_CLIP"]

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
def detector_predictions(model: nn.Module, dataset, *, device: torch.device, shift: int, batch_size: int = 4,
                         workers: int = 0, dist: DistInfo = DistInfo()) -> dict[int, dict[str, torch.Tensor]] | None:
    """``model``'s outputs (on the CPU) per image id of ``dataset``, in the dataset's order; the
    model's labels are moved back to the dataset's 1..K by ``shift``.

    With several ranks the val set is cut into the batches one process would run and each
    rank scores every ``world_size``-th batch (the same images, batched the same way: the same
    outputs as one process); rank 0 gathers the outputs and returns them all, the other ranks
    return None.
    """
    was_training = model.training
    model.eval()
    mine = dataset
    if dist.enabled:
        n_batches = math.ceil(len(dataset) / batch_size)
        idx = [i for b in range(dist.rank, n_batches, dist.world_size)
               for i in range(b * batch_size, min((b + 1) * batch_size, len(dataset)))]
        mine = torch.utils.data.Subset(dataset, idx)
    outputs: list[tuple[int, int, dict[str, torch.Tensor]]] = []  # (place, image id, output)
    loader = torch.utils.data.DataLoader(mine, batch_size=batch_size, collate_fn=collate, num_workers=workers)
    for b, (images, targets) in enumerate(loader):
        outs = model([_plain(im).to(device) for im in images])
        for j, (t, o) in enumerate(zip(targets, outs)):
            o = {k: v.detach().cpu() for k, v in o.items()}
            o["labels"] = o["labels"] + shift
            # the image's place in the whole val set: batch b of this rank is batch rank + b * world
            outputs.append(((dist.rank + b * dist.world_size) * batch_size + j, int(t["image_id"]), o))
    model.train(was_training)
    if not dist.enabled:
        return {image_id: o for _, image_id, o in outputs}
    gathered = gather_object(outputs, dist, dst=0)
    if gathered is None:
        return None
    return {image_id: o for _, image_id, o in sorted((x for part in gathered for x in part), key=lambda x: x[0])}


def evaluate_detector(model: nn.Module, dataset, *, device: torch.device, shift: int, iou_types, batch_size: int = 4,
                      workers: int = 0, dist: DistInfo = DistInfo()) -> dict[str, Any]:
    """COCO metrics of ``model`` on ``dataset`` (every image scored, empty outputs included).
    With several ranks each scores its share of the batches (:func:`detector_predictions`),
    rank 0 runs COCOeval once on all of them and every rank returns its result."""
    preds = detector_predictions(model, dataset, device=device, shift=shift, batch_size=batch_size, workers=workers,
                                 dist=dist)
    metrics = evaluate(_base_dataset(dataset).coco, preds, iou_types) if dist.is_main else None
    return broadcast_object(metrics, dist)


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
    dist: DistInfo = DistInfo()
    batch: int = 0  # images per step of this rank: the recipe's batch / world size
    train_model: nn.Module | None = None  # the detector as the training steps call it (DDP across ranks)
    base: dict[str, Any] = field(default_factory=dict)

    def seed(self, *parts: int) -> int:
        """The seed of one random stream: (run seed, *parts), and the rank with several ranks
        (each rank flips and samples its own images; one process keeps its seeds)."""
        return mix_seed(self.cfg.seed, *parts, *((self.dist.rank,) if self.dist.enabled else ()))


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


def _build(cfg: RunConfig, dist: DistInfo) -> _Run:
    from .. import data as D

    if cfg.recipe not in DETECTION_RECIPES:
        raise ConfigError(f"a detection run needs a detection recipe ({', '.join(DETECTION_RECIPES)}), "
                          f"got {cfg.recipe!r}: add --recipe mmdet_1x")
    recipe = cfg.effective_recipe()
    batch = per_rank_batch(recipe.batch_size, dist)  # before anything is built: a one-line error
    device = run_device(cfg, dist)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    train_sub, test_sub = cfg.subsets()
    root = detection_root(cfg) if dist.is_main else None
    broadcast_object(None, dist)  # the other ranks wait until rank 0 has generated the offline set
    root = root or detection_root(cfg)
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
    # EpochSampler pads the order so every rank gets ceil(n / world) images (one process: n)
    steps = math.ceil(math.ceil(len(train_ds) / dist.world_size) / batch)
    r = _Run(cfg=cfg, paths=RunPaths(cfg.run_dir), device=device, recipe=recipe, model=model, optimizer=optimizer,
             callbacks=callbacks, train_ds=train_ds, test_ds=test_ds, steps=steps,
             shift=1 - LABEL_OFFSET[cfg.detector], masks=cfg.detector == "mask_rcnn",
             warmup_cap=steps if cfg.scale == "smoke" else None, dist=dist, batch=batch)
    r.base = {
        "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(),
        "smoke": cfg.scale == "smoke", "recipe": dataclasses.asdict(recipe), "seed": cfg.seed,
        "git": git_commit(), "environment": environment(device), "world_size": dist.world_size,
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
    if dist.enabled:
        r.base["execution"] |= {"batch_per_rank": batch, "find_unused_parameters": _unused_parameters(model)}
    return r


def _unused_parameters(model: nn.Module) -> bool:
    """Whether DDP must look for parameters without a gradient in a step: only with ELA, whose
    pruned attention layers are skipped (``has_unused_parameters``). The frozen stem and
    stage 1 do not require gradients; every other trainable parameter of the detectors
    (backbone, FPN, RPN, RoI / RetinaNet heads) gets one in every training step."""
    return bool(getattr(model.backbone.body, "has_unused_parameters", False))


def _wrap(r: _Run) -> nn.Module:
    """The detector as the training steps call it: DistributedDataParallel across ranks."""
    if not r.dist.enabled:
        return r.model
    return nn.parallel.DistributedDataParallel(
        r.model, device_ids=[r.device.index] if r.device.type == "cuda" else None,
        find_unused_parameters=_unused_parameters(r.model))


# --------------------------------------------------------------------------- checkpoint and record
def _resume(r: _Run) -> DetState:
    if not r.paths.checkpoint.exists():
        return DetState()
    state = DetState.from_dict(load_checkpoint(r.paths.checkpoint, r.device, r.model, r.optimizer, r.callbacks))
    state.resumes += 1
    if r.dist.is_main:
        print(f"[{r.cfg.run_name}] resuming at epoch {state.epoch + 1}, step {state.step}", flush=True)
    return state


def _save(r: _Run, state: DetState) -> None:
    if r.dist.is_main:
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
    if r.dist.is_main:
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
    # one process sums into the epoch's sums directly (a resumed epoch continues them: exact);
    # several ranks sum this stretch from zero and add its all-reduced sums at the end
    seg = _empty_partial() if r.dist.enabled else part
    sampler = EpochSampler(len(r.train_ds), cfg.seed, epoch, r.batch, r.dist, start_batch=start)
    g = torch.Generator().manual_seed(r.seed(epoch, start, 7))
    loader = torch.utils.data.DataLoader(r.train_ds, batch_size=r.batch, sampler=sampler,
                                         collate_fn=collate, num_workers=cfg.workers, generator=g)
    prog = Progress(r.steps - start, f"epoch {epoch + 1}", enabled=cfg.progress and r.dist.is_main)
    it = iter(loader)
    r.model.train()
    clip = RETINANET_GRAD_CLIP if cfg.detector == "retinanet" else None
    params = [p for g_ in r.optimizer.param_groups for p in g_["params"]]
    interrupted = False
    for k in range(start, r.steps):
        if stop():  # a signal during the evaluation or the previous step (all ranks agree)
            interrupted = True
            break
        t0 = time.perf_counter()
        torch.manual_seed(r.seed(epoch, k, 2))  # the loader's flips (workers=0)
        images, targets = next(it)
        images, targets = _to_device(images, targets, r.device, r.shift, r.masks)
        lr = _lr(r, epoch, k)
        for group in r.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(r.seed(epoch, k, 3))  # the RPN / RoI samplers
        losses = detection_losses(r.train_model, images, targets)
        total = sum(losses.values())
        if not _finite_everywhere(total, r.dist):
            state.step = k + 1
            return "diverged"
        r.optimizer.zero_grad(set_to_none=True)
        total.backward()  # DDP: the gradients are averaged over the ranks here
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        r.optimizer.step()
        for name, v in losses.items():
            seg["loss_sums"][name] = seg["loss_sums"].get(name, 0.0) + float(v.detach())
        seg["total"] += float(total.detach())
        seg["steps"] += 1
        seg["images"] += len(images)
        seg["seconds"] += time.perf_counter() - t0
        seg["lr"] = lr
        state.step = k + 1
        prog.update(len(images))
    prog.close()
    state.partial = _add_stretch(part, seg, r)
    return "interrupted" if interrupted or stop() else None  # checkpoint before the evaluation


def _finite_everywhere(total: torch.Tensor, dist: DistInfo) -> bool:
    """Whether the step's loss is finite on every rank (all ranks then stop or go on together)."""
    if not dist.enabled:
        return torch.isfinite(total).item()
    bad = torch.tensor([0.0 if torch.isfinite(total).item() else 1.0], device=collective_device(dist))
    return all_reduce_sum(bad, dist).item() == 0


def _add_stretch(part: dict[str, Any], seg: dict[str, Any], r: _Run) -> dict[str, Any]:
    """``part`` plus the sums of the steps just trained on all ranks (``seg``: this rank's):
    the losses averaged over the ranks (each rank's loss is the mean over its images; DDP's
    gradient is the mean of the ranks'), the images summed; steps, seconds and lr this rank's
    (the same steps on every rank; rank 0's time is the one recorded)."""
    if seg is part:
        return part
    names = sorted(seg["loss_sums"])
    sums = torch.tensor([seg["loss_sums"][n] for n in names] + [seg["total"], float(seg["images"])],
                        dtype=torch.float64, device=collective_device(r.dist))
    sums = all_reduce_sum(sums, r.dist).tolist()
    world = r.dist.world_size
    for name, v in zip(names, sums):
        part["loss_sums"][name] = part["loss_sums"].get(name, 0.0) + v / world
    part["total"] += sums[-2] / world
    part["images"] += int(sums[-1])
    part["steps"] += seg["steps"]
    part["seconds"] += seg["seconds"]
    if "lr" in seg:
        part["lr"] = seg["lr"]
    return part


def _end_epoch(r: _Run, state: DetState) -> dict[str, Any]:
    part = state.partial or _empty_partial()
    n = max(part["steps"], 1)
    t_eval = time.perf_counter()
    iou_types = ("bbox", "segm") if r.masks else ("bbox",)
    broadcast_buffers(r.model, r.dist)  # every rank tests the model rank 0 checkpoints
    metrics = evaluate_detector(r.model, r.test_ds, device=r.device, shift=r.shift, iou_types=iou_types,
                                workers=r.cfg.workers, dist=r.dist)
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
    if not r.dist.is_main:
        return rec
    b = rec["bbox"]
    print(f"[{r.cfg.run_name}] epoch {state.epoch}/{r.recipe.epochs} | loss {rec['train_loss']:.4f} | "
          f"box AP {b['AP']:.2f} AP50 {b['AP50']:.2f}" + (f" | mask AP {rec['segm']['AP']:.2f}" if rec["segm"] else "")
          + f" | lr {rec['lr']:.4g} | {rec['epoch_time_s']:.1f}s + eval {rec['eval_time_s']:.1f}s", flush=True)
    return rec


def run_detection(cfg: RunConfig, *, handle_signals: bool = True) -> dict[str, Any]:
    """Train and evaluate one detection configuration (``cfg.detector`` set); its record.
    Data-parallel when started as one of several processes (torchrun, a SLURM task per GPU)."""
    if cfg.detector is None:
        raise ConfigError("run_detection needs a config with a detector")
    return run_ranks(cfg, _run, handle_signals)


def _run(cfg: RunConfig, dist: DistInfo, handle_signals: bool) -> dict[str, Any]:
    r = _build(cfg, dist)
    state = _resume(r)  # into the bare detector, before DDP wraps it
    r.train_model = _wrap(r)
    if dist.is_main:
        r.paths.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(r.paths.config, cfg.to_dict())
        print(f"[{cfg.run_name}] {cfg.detector} on {cfg.model} | {cfg.dataset} ({cfg.scale}) | "
              f"{r.base['params'] / 1e6:.2f}M trainable params | {r.recipe.epochs} epochs x {r.steps} steps | "
              f"device {r.device}" + (f" x{dist.world_size} ({r.batch} images each)" if dist.enabled else ""),
              flush=True)
    stop = StopFlag(dist, install=handle_signals)
    try:
        while state.epoch < r.recipe.epochs:
            if state.step < r.steps:
                outcome = _train_epoch(r, state, stop)
                if outcome == "diverged":
                    where = {"epoch": state.epoch, "step": state.step}
                    if dist.is_main:
                        print(f"[{cfg.run_name}] loss is not finite at epoch {state.epoch + 1}, step {state.step}: "
                              f"recorded as diverged", flush=True)
                    return _write(r, state, "diverged", where)
                if outcome == "interrupted":
                    _save(r, state)
                    if dist.is_main:
                        print(f"[{cfg.run_name}] interrupted at epoch {state.epoch + 1}, step {state.step}: "
                              f"checkpoint saved", flush=True)
                    return _write(r, state, "interrupted")
            _end_epoch(r, state)
        if dist.enabled:  # evidence that the ranks ended with identical weights
            r.base["rank_weight_checksums"] = gather_object(weight_checksum(r.model), dist)
        rec = _write(r, state, "done")
        if dist.is_main:
            print(f"[{cfg.run_name}] done: final box AP {rec['final']['bbox']['AP']:.2f}, best "
                  f"{rec['best']['bbox']['AP']:.2f} (epoch {rec['best']['epoch'] + 1}) -> {r.paths.record}",
                  flush=True)
        return rec
    finally:
        stop.restore()
