"""Part 1 of the GPU check: each CUDA path of the training step against the fp32 reference.

The reference is the plain pipeline on the CPU: eager, fp32, NCHW, one process. Every path
trains a copy of the same initial weights on the same batches with the project's own step
(``experiments.engine.sgd_step``: SGD with the recipe's momentum and weight decay at the
constant learning rate ``PATH_LR``) and its loss trajectory is compared with the reference's:

    first  = |loss_0 - ref_0| / ref_0            (the forward pass at identical weights)
    drift  = mean_t |loss_t - ref_t| / ref_t     (the whole trajectory)

The batches are drawn ONCE by the GPU-resident data path (``experiments.data.GpuBatches`` on the
device, random crop + flip per batch there) and copied to the CPU for the reference, so every
path sees identical images. That data path itself is checked (``check_gpu_data``): the batches it
drew must equal, to one float32 rounding, torchvision's own ``pad`` + ``crop`` + ``hflip`` + ``to_tensor`` +
``normalize`` applied on the CPU to the same source images at the offsets it drew.

DropPath is 0 here (its masks come from the device's random stream, which differs between the
CPU and CUDA), so the only differences are numerical: cuDNN's algorithms (TF32 convolutions by
PyTorch's default), bf16 rounding under autocast, the memory layout, Inductor's fused kernels,
and DDP's gradient all-reduce (one process: a no-op sum that still runs through NCCL).

Tolerances (``TOLERANCES``) were set from what such differences do to a 12-step SGD trajectory of
a CIFAR ResNet at lr 0.01 with momentum: float32 paths within 1e-3 at the first step and 2% mean
drift; bf16 autocast (8 bits of mantissa) within 2e-2 and 5%. Each result records its measured
figures beside its tolerance, so a reader sees the margin, not only PASS/FAIL.
"""
from __future__ import annotations

import copy
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

__all__ = ["DATA_TOLERANCE", "COMPILE_BACKEND", "PATH_LR", "PATHS", "TOLERANCES", "PathSpec", "check_paths", "check_gpu_data", "draw_batches", "trajectory"]


@dataclass(frozen=True)
class PathSpec:
    """One way of running the training step on the device."""

    name: str
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    ddp: bool = False

    @property
    def tolerance(self) -> tuple[float, float]:
        return TOLERANCES["bf16" if self.amp else "fp32"]


#: the constant learning rate of the path checks (the recipe's momentum and weight decay): a
#: tenth of the CIFAR recipe's 0.1, so that rounding differences are not amplified by the
#: chaotic first steps of an untrained network at full rate (MRLA-B's loss rises from 3.1 to
#: 8.0 in three steps at lr 0.1 on batches of 16)
PATH_LR = 0.01

#: torch.compile's backend per device: Inductor on CUDA (what runs use); on the CPU, where the
#: tests run this check, TorchDynamo's capture with eager kernels (Inductor's C++ build of a
#: ResNet takes over a minute on 2 cores), so the tests exercise the wiring, not Inductor
COMPILE_BACKEND = {"cuda": "inductor", "cpu": "eager"}

#: largest |difference| allowed between the GPU data path's normalised pixels and torchvision's:
#: the same pixels normalised by CUDA's float32 division differ from the CPU's by up to one unit
#: in the last place (2.38e-7 measured on an H200 for values up to 2.2); a wrong crop offset or
#: flip differs by at least 1/(255 * std) = 0.011
DATA_TOLERANCE = 1e-6

#: (first-step relative difference, mean relative drift) allowed, by arithmetic
TOLERANCES = {"fp32": (1e-3, 0.02), "bf16": (2e-2, 0.05)}

PATHS = (
    PathSpec("fp32"),
    PathSpec("bf16-autocast", amp=True),
    PathSpec("channels-last", channels_last=True),
    PathSpec("compile", compile=True),
    PathSpec("ddp-1-process", ddp=True),
    PathSpec("fast (bf16 + channels-last)", amp=True, channels_last=True),
    PathSpec("fast + compile", amp=True, channels_last=True, compile=True),
)


def draw_batches(data_root: str, device: torch.device, steps: int, batch_size: int, seed: int):
    """``steps`` training batches of Fashion-MNIST drawn by GpuBatches on ``device`` (with the
    GpuBatches object, for ``check_gpu_data``)."""
    from .. import data as D

    info = D.dataset_info("fashionmnist")
    x, y = D.load_uint8("fashionmnist", data_root, train=True, subset=steps * batch_size)
    gb = D.GpuBatches(x.to(device), y.to(device), info, batch_size=batch_size, train=True, drop_last=True)
    return list(gb.epoch(seed))[:steps], gb


def check_gpu_data(gb, batches: list, seed: int, batch_size: int) -> dict[str, Any]:
    """The GPU-drawn batches against torchvision's functional transforms of the same images at the
    same offsets (on the CPU): the same pixels, labels and order; the normalised values within
    ``DATA_TOLERANCE`` (exact on the CPU)."""
    import torchvision.transforms.functional as TF

    order, dy, dx, flip = (t.cpu() if t is not None else None for t in gb.draws(seed))
    images, labels = gb.images.cpu(), gb.labels.cpu()
    mean, std = list(gb.info.mean), list(gb.info.std)
    p, res = gb.pad, gb.info.resolution
    worst, n = 0.0, 0
    for k, (xb, yb) in enumerate(batches):
        for j in range(xb.shape[0]):
            i = k * batch_size + j
            src = images[order[i]]
            img = TF.pad(src, [p, p, p, p], fill=0)
            img = TF.crop(img, int(dy[i]), int(dx[i]), res, res)
            if bool(flip[i]):
                img = TF.hflip(img)
            ref = TF.normalize(img.float().div(255), mean, std)
            worst = max(worst, (xb[j].cpu().float() - ref).abs().max().item())
            if int(yb[j]) != int(labels[order[i]]):
                worst = float("inf")
            n += 1
    return {"path": "gpu-resident data (crop + flip per batch)", "images": n, "max_abs_diff": worst,
            "tolerance": DATA_TOLERANCE, "ok": worst <= DATA_TOLERANCE,
            "compared_with": "torchvision.transforms.functional pad/crop/hflip/to_tensor/normalize on the CPU"}


def _fresh(init: nn.Module, device: torch.device, spec: PathSpec) -> nn.Module:
    model = copy.deepcopy(init).to(device)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join_one_process_group(device: torch.device) -> None:
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)


def trajectory(init: nn.Module, recipe: Any, batches: list, device: torch.device, spec: PathSpec) -> list[float]:
    """The loss at each step of training a copy of ``init`` on ``batches`` along ``spec``."""
    import torch.distributed as dist

    from ..engine import sgd_step
    from ..run import build_optimizer

    model = _fresh(init, device, spec)
    optimizer = build_optimizer(model, recipe)
    train_model: nn.Module = model
    if spec.ddp:
        _join_one_process_group(device)
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index or 0] if device.type == "cuda" else None,
            find_unused_parameters=getattr(model, "has_unused_parameters", False))
    if spec.compile:
        train_model = torch.compile(train_model, backend=COMPILE_BACKEND[device.type])
    model.train()
    losses = []
    try:
        for t, (x, y) in enumerate(batches):
            x, y = x.to(device), y.to(device)
            if spec.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss, _ = sgd_step(train_model, optimizer, x, y, lr=PATH_LR, amp=spec.amp and device.type == "cuda")
            losses.append(float(loss))
    finally:
        if spec.ddp and dist.is_initialized():
            dist.destroy_process_group()
    return losses


def compare(ref: list[float], got: list[float], spec: PathSpec) -> dict[str, Any]:
    """First-step and mean relative differences of ``got`` from ``ref``, against the tolerance."""
    rel = [abs(g - r) / abs(r) for r, g in zip(ref, got)] if len(ref) == len(got) else [float("inf")]
    first, drift = rel[0], sum(rel) / len(rel)
    tol_first, tol_drift = spec.tolerance
    finite = all(map(lambda v: v == v and abs(v) != float("inf"), got)) and bool(got)
    return {"first_rel_diff": first, "mean_rel_drift": drift, "tolerance_first": tol_first,
            "tolerance_drift": tol_drift, "ok": finite and first <= tol_first and drift <= tol_drift}


def _model_and_recipe(model_name: str):
    from .. import data as D
    from ..config import RunConfig
    from ..engine import mix_seed
    from ..run import build_model

    cfg = RunConfig(model=model_name, dataset="fashionmnist")
    recipe = cfg.effective_recipe()
    info = D.dataset_info("fashionmnist")
    torch.manual_seed(mix_seed(0, -1))
    return build_model(cfg, info.num_classes, info.in_chans, 0.0, recipe.dropout), recipe


def check_paths(models: list[str], *, device: torch.device, data_root: str, steps: int, batch_size: int,
                paths: tuple[PathSpec, ...] = PATHS, deadline: float | None = None, log=print,
                check_data: bool = True) -> list[dict[str, Any]]:
    """Every path of ``paths`` for every model against the CPU fp32 reference; the data check
    first (``check_data``). Stops (recording what was skipped) when ``deadline``
    (time.monotonic()) has passed."""
    seed = 17
    batches, gb = draw_batches(data_root, device, steps, batch_size, seed)
    results = []
    if check_data:
        results.append(check_gpu_data(gb, batches, seed, batch_size))
        log(f"  gpu data: max |diff| {results[0]['max_abs_diff']:.3g} over {results[0]['images']} images "
            f"(tol {DATA_TOLERANCE:g}) -> {'ok' if results[0]['ok'] else 'FAIL'}")
    cpu_batches = [(x.cpu(), y.cpu()) for x, y in batches]
    for name in models:
        init, recipe = _model_and_recipe(name)
        t0 = time.perf_counter()
        ref = trajectory(init, recipe, cpu_batches, torch.device("cpu"), PathSpec("cpu-reference"))
        log(f"  {name}: cpu fp32 reference {steps} steps in {time.perf_counter() - t0:.1f}s, "
            f"loss {ref[0]:.4f} -> {ref[-1]:.4f}")
        for spec in paths:
            if deadline is not None and time.monotonic() > deadline:
                results.append({"model": name, "path": spec.name, "ok": None, "skipped": "time budget spent"})
                continue
            results.append(_one_path(name, init, recipe, batches, device, spec, ref, log))
    return results


def _one_path(name, init, recipe, batches, device, spec, ref, log) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        got = trajectory(init, recipe, batches, device, spec)
    except Exception as exc:  # a path that breaks is a finding, recorded with its error
        log(f"  {name} / {spec.name}: ERROR {type(exc).__name__}: {exc}")
        return {"model": name, "path": spec.name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    row = {"model": name, "path": spec.name, "device": str(device), "steps": len(got),
           "reference_losses": ref, "losses": got, "seconds": time.perf_counter() - t0,
           **compare(ref, got, spec)}
    log(f"  {name} / {spec.name}: first {row['first_rel_diff']:.2e} (tol {row['tolerance_first']:.0e}), "
        f"drift {row['mean_rel_drift']:.2e} (tol {row['tolerance_drift']:.0e}), {row['seconds']:.1f}s "
        f"-> {'ok' if row['ok'] else 'FAIL'}")
    return row


def hardware(device: torch.device) -> dict[str, Any]:
    """What the check ran on: GPU name, capability, memory, versions."""
    import platform

    import torchvision

    out: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "torchvision": torchvision.__version__,
                           "python": platform.python_version(), "cpus": os.cpu_count(), "host": socket.gethostname()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        out.update({"gpu_name": p.name, "capability": f"{p.major}.{p.minor}", "gpu_memory_bytes": p.total_memory,
                    "multiprocessors": p.multi_processor_count, "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version()})
    return out
