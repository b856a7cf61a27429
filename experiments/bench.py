"""Training-throughput benchmark: images/s, per-epoch time and peak memory of every model of
ELA Table 1 and DLA Table 1 (and ELA Fig. 4), on the reference and the fast data path.

    ./reproduce.sh bench --quick                              # CPU-sized: 4 models, depth 20, minutes
    REPRO_PYTHON=python ./reproduce.sh bench --device cuda    # the full bench on a GPU machine
    python -m experiments.bench --models mrla_b_resnet56 --pipelines fast --device cuda --compile

What one measurement is (``measure``): build the model exactly as a training run does
(``experiments.run.build_model``, recipe ``cifar``: DropPath 0.2 on the attention branches, SGD
lr 0.1, momentum 0.9, wd 1e-4), feed it batches of ``--batch-size`` from one pipeline and train
with the project's own step (``experiments.engine.train_epoch``): ``--warmup`` steps first
(cuDNN autotuning, torch.compile, DataLoader start-up), then ``--repeats`` timed windows of
``--steps`` steps each. Each window is timed with CUDA events after ``torch.cuda.synchronize``
on a GPU and with ``time.perf_counter`` on the CPU; the record's throughput is the MEDIAN over
the windows. The per-epoch time is EXTRAPOLATED from that steady-state throughput to a
CIFAR-size epoch (50,000 images of 32x32; evaluation, the last partial batch and DataLoader
start-up at epoch boundaries are not in it). The defaults (3 x 130 steps of 128 images) cover
one epoch's 390 steps.

Pipelines:

* ``reference``: shaped like the released code: eager fp32, a torch DataLoader (``--workers``
  processes; 4 on a GPU, 0 on the CPU) with the torchvision transforms of ``experiments.data``
  (crop with padding 4 + flip + normalise, per image, in PIL) on real-format data.
* ``fast``: our GPU path (``experiments.data.GpuBatches``: the uint8 dataset resident on the
  device, crop/flip per batch there) + bf16 autocast + channels_last (+ torch.compile with
  ``--compile``). On the CPU only what applies there runs: GpuBatches on CPU tensors, fp32
  (no autocast), NCHW; the record's ``execution`` says what ran.

Data: Fashion-MNIST (60,000 real 28x28 images, zero-padded to 1x32x32 as every run does) from
Debian's files (``experiments.data.prepare_fashion_mnist``) by default, else ``fake``
(torchvision FakeData, 3x32x32; the record says which). ``--dataset cifar100 --data-root DIR``
uses CIFAR where it exists. The CIFAR networks run unchanged on 1x32x32 (only the stem's input
channels differ: a negligible share of the work).

Memory: ``torch.cuda.max_memory_allocated`` over the timed steps on a GPU; on the CPU the peak
resident set size of the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes
the Python/torch libraries and the dataset: ``rss_before_model_bytes`` is the same figure just
before the model was built). Each measurement runs in a fresh process (``--isolate``, the
default), so the CPU peak is this configuration's own.

ELA after pruning: ``--ela-pruning controller`` (default) runs the project's real pruning
controller (``models.ela.ELAPruning``, the paper's CIFAR settings: KL windows at epochs 1-3,
45-48, 91-93, EBQM Beta(5,1), mu 0.3) through its three decisions, measuring the KL of each
window epoch on one batch of the initialised network (train mode, no gradients) instead of the
trained one; the layers it prunes stay pruned for the timing. ``half`` prunes, per stage, the
half (rounded down) of the non-first layers with the lowest such KL; ``none``; ``record:PATH``
takes the final pruned set of a training run's record.json; ``layers:s0.b1,s1.b2`` an explicit
set. Every ELA record lists the pruned layers and the decisions.

Outputs under ``--out``/<tag>/ (tag = the GPU's name on a GPU, the hostname on the CPU):
one record per (model, pipeline, device, batch size) ``<model>.<pipeline>.<device>.bs<B>.json``
(written atomically, with hardware, versions, load average, the command that reproduces it),
``summary.md`` (all records of the folder, fast/reference ratios, targets), ``ela_fig4.md`` and
``ela_fig4.png`` (MRLA-B vs MRLA-L vs ELA per-epoch time, % reduction vs MRLA-B).

Targets (checked and printed as PASS / FAIL / NOT MEASURED, never asserted): on an H100/H200 at
batch 128, (1) MRLA-B ResNet-56 one CIFAR-size epoch <= 1.5 s on the fast path; (2) fast >= 4x
the reference throughput for every model measured on both; (3) ELA's per-epoch time >= 30%
below MRLA-B's (ELA's claim; a FAIL is the measured finding that it is not).

Fast records also carry ``config``/``epochs``/``dataset.train_images`` in the layout of a run's
record.json, so ``experiments.launch`` can read measured GPU epoch times from results/bench/.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from models import ConfigError

__all__ = [
    "Settings", "measure", "plan", "record_path", "host_tag", "load_records", "fig4_rows", "fig4_markdown",
    "fig4_plot", "evaluate_targets", "summary_markdown", "select_ela_pruned", "main",
    "EPOCH_IMAGES", "TARGETS",
]

ROOT = Path(__file__).resolve().parents[1]
EPOCH_IMAGES = 50_000  # one CIFAR-10/100 training epoch
PIPELINES = ("reference", "fast")
#: The tables whose rows make the default model set.
TABLES = ("ela.table1", "dla.table1", "ela.fig4")
#: The full-size settings (issue 8); anything smaller is recorded as reduced.
FULL = {"batch_size": 128, "warmup": 20, "steps": 130, "repeats": 3}
QUICK = {"families": ("resnet", "mrla_b", "mrla_l", "ela"), "depths": (20,), "batch_size": 32, "warmup": 2,
         "steps": 4, "repeats": 3}
ELA_PRUNING = ("controller", "half", "none")
TARGET_GPUS = ("H100", "H200")
TARGETS = {
    "epoch": "MRLA-B ResNet-56 fast path: one CIFAR-size epoch <= 1.5 s (H100/H200, batch 128)",
    "ratio": "fast >= 4x reference throughput, every model measured on both (H100/H200, batch 128)",
    "ela": "ELA per-epoch time >= 30% below MRLA-B at every depth measured (H100/H200, fast path, batch 128)",
}
EPOCH_TARGET_S, RATIO_TARGET, ELA_TARGET_PCT = 1.5, 4.0, 30.0


# =========================================================================== one measurement
@dataclass
class Settings:
    """Everything that decides one measurement (and the command line that repeats it)."""

    model: str
    pipeline: str
    device: str  # "cpu" or "cuda" (resolved)
    batch_size: int = 128
    warmup: int = 20
    steps: int = 130
    repeats: int = 3
    dataset: str = "auto"
    data_root: str = "data"
    workers: int | None = None
    threads: int | None = None
    compile: bool = False
    amp: bool = True
    channels_last: bool = True
    ela_pruning: str = "controller"
    seed: int = 0
    out: str = "results/bench"
    tag: str | None = None

    @property
    def family(self) -> str:
        return split_name(self.model)[0]

    @property
    def depth(self) -> int:
        return split_name(self.model)[1]

    @property
    def variant(self) -> str:
        return self.pipeline + ("-compile" if self.compile and self.pipeline == "fast" else "")

    def argv(self) -> list[str]:
        """Options of ``python -m experiments.bench`` that measure exactly this configuration."""
        a = ["--models", self.model, "--pipelines", self.pipeline, "--device", self.device,
             "--batch-size", str(self.batch_size), "--warmup", str(self.warmup), "--steps", str(self.steps),
             "--repeats", str(self.repeats), "--dataset", self.dataset, "--data-root", self.data_root,
             "--seed", str(self.seed), "--out", self.out]
        if self.workers is not None:
            a += ["--workers", str(self.workers)]
        if self.threads is not None:
            a += ["--threads", str(self.threads)]
        if self.tag:
            a += ["--tag", self.tag]
        if self.compile:
            a.append("--compile")
        if not self.amp:
            a.append("--no-amp")
        if not self.channels_last:
            a.append("--no-channels-last")
        if self.family == "ela":
            a += ["--ela-pruning", self.ela_pruning]
        return a


_NAME = re.compile(r"^(?:(?P<family>[a-z0-9_]+?)_)?resnet(?P<depth>\d+)$")


def split_name(model: str) -> tuple[str, int]:
    """``mrla_b_resnet56`` -> ('mrla_b', 56); ``resnet20`` -> ('resnet', 20)."""
    m = _NAME.match(model)
    if not m:
        raise ConfigError(f"{model!r} is not a CIFAR ResNet model name (<family>_resnet<depth> or resnet<depth>)")
    return m.group("family") or "resnet", int(m.group("depth"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "unknown"


def host_tag(device: str) -> str:
    """The folder under --out: the GPU's name on a GPU (comparable across hosts), else the hostname."""
    if device == "cuda" and torch.cuda.is_available():
        return _slug(torch.cuda.get_device_name(0))
    return _slug(socket.gethostname())


def record_path(s: Settings) -> Path:
    tag = s.tag or host_tag(s.device)
    return Path(s.out) / tag / f"{s.model}.{s.variant}.{s.device}.bs{s.batch_size}.json"


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _rss_peak(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident set size in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(who).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _resolve_dataset(s: Settings) -> tuple[str, str]:
    """(dataset name, where its images come from)."""
    from . import data as D

    if s.dataset != "auto":
        name = D.dataset_info(s.dataset).name
        if name == "fake":
            return "fake", "torchvision FakeData (2,048 random 3x32x32 images drawn once, served like CIFAR10's; requested)"
        if name == "fashionmnist":
            D.prepare_fashion_mnist(Path(s.data_root))
        return name, f"{name} files under {Path(s.data_root).resolve()}"
    raw = D.prepare_fashion_mnist(Path(s.data_root))
    if all((raw / f).is_file() for f in D._FMNIST_FILES):
        return "fashionmnist", (f"Fashion-MNIST, Debian's dataset-fashion-mnist files ({D.DEBIAN_FASHION_MNIST}) "
                                f"gunzipped into {raw.resolve()}")
    return "fake", (f"torchvision FakeData (2,048 random 3x32x32 images drawn once, served like CIFAR10's): "
                    f"Fashion-MNIST not found in {raw} "
                    f"or {D.DEBIAN_FASHION_MNIST}")


def _repeat(make_iter) -> Iterator:
    """Batches without end: epoch after epoch."""
    while True:
        empty = True
        for b in make_iter():
            empty = False
            yield b
        if empty:
            raise ConfigError("the benchmark dataset yields no batch of the requested size (too small)")


class _ImagesAsPIL(torch.utils.data.Dataset):
    """uint8 images held as one numpy array, turned into a PIL image per item and transformed:
    what torchvision's CIFAR10 does (used for ``fake`` so the reference pipeline does CIFAR's
    per-item work, not FakeData's generation of a new random image for every item)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.data = x.permute(0, 2, 3, 1).numpy()  # NHWC like CIFAR10.data
        self.targets = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        from PIL import Image

        img = self.data[i]
        img = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        return self.transform(img), self.targets[i]


def _batches(s: Settings, dataset: str, device: torch.device, workers: int):
    """(endless batch iterator, description) for the pipeline."""
    from . import data as D
    from .engine import mix_seed

    info = D.dataset_info(dataset)
    subset = 2048 if dataset == "fake" else None
    if s.pipeline == "reference":
        if dataset == "fake":  # FakeData draws every image anew: serve fixed ones the way CIFAR10 does
            x, y = D.load_uint8(dataset, s.data_root, train=True, subset=subset)
            train = _ImagesAsPIL(x, y, D.build_transforms(info, train=True))
        else:
            train, _, _ = D.build_datasets(dataset, s.data_root, train_subset=subset, test_subset=subset)
        g = torch.Generator().manual_seed(s.seed)
        loader = torch.utils.data.DataLoader(
            train, batch_size=s.batch_size, shuffle=True, drop_last=True, num_workers=workers, generator=g,
            pin_memory=device.type == "cuda", persistent_workers=False)
        desc = (f"torch DataLoader (shuffle, drop_last, num_workers={workers}, pin_memory={device.type == 'cuda'}) "
                f"over {type(train).__name__} with the transforms of experiments.data "
                f"(RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize"
                f"{', after Pad(2)' if dataset == 'fashionmnist' else ''}); batches copied to {device.type} per step")
        return _repeat(lambda: iter(loader)), desc, len(train)
    x, y = D.load_uint8(dataset, s.data_root, train=True, subset=subset)
    cl = s.channels_last and device.type == "cuda"
    gb = D.GpuBatches(x.to(device), y.to(device), info, batch_size=s.batch_size, train=True, drop_last=True,
                      channels_last=cl)
    epochs = itertools.count()
    desc = (f"experiments.data.GpuBatches: uint8 images resident on {device.type} ({tuple(x.shape)}), "
            f"random crop (padding 4) + flip + normalise per batch there, drop_last, channels_last={cl}")
    return _repeat(lambda: gb.epoch(mix_seed(s.seed, next(epochs)))), desc, len(y)


# --------------------------------------------------------------------------- ELA pruned set
def _kl_batches(dataset: str, data_root: str, device: torch.device, n: int, batch: int, seed: int):
    """``n`` fixed training batches (CPU-drawn, the same on every device and pipeline)."""
    from . import data as D

    info = D.dataset_info(dataset)
    x, y = D.load_uint8(dataset, data_root, train=True, subset=2048 if dataset == "fake" else None)
    gb = D.GpuBatches(x, y, info, batch_size=batch, train=True, drop_last=True)
    out = []
    for xb, _ in _repeat(lambda: gb.epoch(seed)):
        out.append(xb.to(device))
        if len(out) == n:
            return out
    return out


def _init_kl(model: torch.nn.Module, batches: list[torch.Tensor]) -> dict[str, float]:
    """Per-layer KL (ELA Eq. 11) of the initialised network, averaged over ``batches``."""
    from models.ela import ela_layers

    layers = ela_layers(model)
    sums: dict[str, list[float]] = {}
    for name, layer in layers.items():
        layer.layer_name = name
        layer.kl_sink = lambda n, kl: sums.setdefault(n, []).append(float(kl))
    model.train()
    try:
        with torch.no_grad():
            for x in batches:
                model(x)
    finally:
        for layer in layers.values():
            layer.kl_sink = None
    return {n: sum(v) / len(v) for n, v in sums.items()}


def select_ela_pruned(model: torch.nn.Module, how: str, batches_fn) -> dict[str, Any]:
    """Mark ELA layers of ``model`` pruned according to ``how`` (module docstring); returns what
    was done. ``batches_fn(n)`` gives n input batches on the model's device."""
    from models.ela import ELAPruning, ela_layers, prune
    from models.kl import PAPER_EPOCHS

    layers = ela_layers(model)
    info: dict[str, Any] = {"method": how, "kv_when_pruned": next(iter(layers.values())).kv_when_pruned,
                            "total_layers": len(layers)}
    if how == "none":
        names: list[str] = []
        info["choice"] = "no layer pruned (ELA = MRLA-B plus the KL bookkeeping hooks)"
    elif how == "controller":
        cb = next((c for c in model.training_callbacks() if isinstance(c, ELAPruning)), None)
        if cb is None:
            raise ConfigError("the ELA model has no pruning controller")
        cb.on_train_start(model, PAPER_EPOCHS[cb.preset])  # the paper's schedule: windows unscaled
        epochs = [e for a, b in cb.windows for e in range(a, b + 1)]
        batches = batches_fn(len(epochs))
        model.train()
        for e, x in zip(epochs, batches):
            cb.on_epoch_start(e - 1, model)
            with torch.no_grad():
                model(x)
            cb.on_epoch_end(e - 1, model, {})
        names = [n for n, l in layers.items() if l.pruned]
        info["choice"] = (f"the project's ELA pruning controller (models.ela.ELAPruning, preset {cb.preset!r}: "
                          f"{cb.settings()}) run through its {len(cb.windows)} decisions; KL of each window epoch "
                          f"measured on ONE batch of {batches[0].shape[0]} training images by the initialised "
                          f"network (train mode, no gradients), not by the trained one")
        info["decisions"] = cb.record()["decisions"]
    elif how == "half":
        kl = _init_kl(model, batches_fn(2))
        names = []
        for s in sorted({n.split(".")[0] for n in kl}):
            stage = sorted((v, n) for n, v in kl.items() if n.startswith(s + "."))
            names += [n for _, n in stage[: len(stage) // 2]]
        info["choice"] = ("per stage, the half (rounded down) of the non-first layers with the lowest KL "
                          "(ELA Eq. 11) measured by the initialised network on 2 training batches")
        info["kl"] = kl
    elif how.startswith("record:"):
        rec = json.loads(Path(how[len("record:"):]).read_text())
        names = list(rec["callbacks"]["ela_pruning"]["pruned"])
        info["choice"] = f"the final pruned set of the training run {how[len('record:'):]}"
    elif how.startswith("layers:"):
        names = [n for n in how[len("layers:"):].split(",") if n]
        info["choice"] = "explicit layer list"
    else:
        raise ConfigError(f"--ela-pruning {how!r}: use controller, half, none, record:PATH or layers:s0.b1,...")
    prune(model, names)
    pruned = [n for n, l in layers.items() if l.pruned]
    info.update(pruned=pruned, num_pruned=len(pruned), active_layers=len(layers) - len(pruned))
    return info


# --------------------------------------------------------------------------- measure
def measure(s: Settings, *, isolated: bool = False, invoked_as: list[str] | None = None) -> dict[str, Any]:
    """Run one measurement and write its record (atomically); returns the record."""
    from .config import RunConfig
    from .data import dataset_info
    from .distributed import DistInfo
    from .engine import train_epoch
    from .params import count_macs
    from .records import as_json, atomic_write_json, environment, git_commit
    from .run import build_model
    from models import count_parameters

    if s.pipeline not in PIPELINES:
        raise ConfigError(f"unknown pipeline {s.pipeline!r}; use {' or '.join(PIPELINES)}")
    if s.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but CUDA is not available here; use --device cpu")
    for k in ("batch_size", "steps", "repeats"):
        if getattr(s, k) < 1:
            raise ConfigError(f"--{k.replace('_', '-')} must be >= 1")
    if s.warmup < 0:
        raise ConfigError("--warmup must be >= 0")
    if s.threads:
        torch.set_num_threads(s.threads)
    device = torch.device(s.device)
    cuda = device.type == "cuda"
    load_before = _loadavg()
    torch.backends.cudnn.benchmark = cuda
    workers = s.workers if s.workers is not None else (min(4, os.cpu_count() or 1) if cuda else 0)
    dataset, source = _resolve_dataset(s)
    info = dataset_info(dataset)
    batches, pipe_desc, n_images = _batches(s, dataset, device, workers)
    rss_before_model = _rss_peak()

    cfg = RunConfig(model=s.model, dataset=dataset, recipe="cifar", seed=s.seed, device=s.device)
    recipe = cfg.effective_recipe()
    torch.manual_seed(s.seed)
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    params = count_parameters(model)
    model.to(device)
    ela = None
    if s.family == "ela":
        kl_bs = min(s.batch_size, 64)
        ela = select_ela_pruned(model, s.ela_pruning,
                                lambda n: _kl_batches(dataset, s.data_root, device, n, kl_bs, s.seed))
    with torch.device("meta"):
        meta = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    if ela is not None:
        from models.ela import prune

        prune(meta, ela["pruned"])
    macs = count_macs(meta, info.resolution, info.in_chans)
    del meta

    fast = s.pipeline == "fast"
    amp = fast and cuda and s.amp
    channels_last = fast and cuda and s.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    train_model = torch.compile(model) if (fast and s.compile) else model
    dist = DistInfo()

    def train(n: int, epoch: int):
        return train_epoch(train_model, itertools.islice(batches, n), opt, lambda _: recipe.lr, seed=s.seed,
                           epoch=epoch, start_step=0, steps_total=n, device=device, amp=amp, dist=dist,
                           should_stop=lambda: False)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    t0 = time.perf_counter()
    if s.warmup:
        warm = train(s.warmup, 0)
        if warm.steps != s.warmup:
            raise RuntimeError(f"warm-up ran {warm.steps} of {s.warmup} steps (diverged={warm.diverged})")
    sync()
    warmup_s = time.perf_counter() - t0
    warm_peak = torch.cuda.max_memory_allocated(device) if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times, walls, diverged = [], [], False
    for r in range(s.repeats):
        sync()
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        w0 = time.perf_counter()
        res = train(s.steps, r + 1)
        if cuda:
            end.record()
        sync()
        wall = time.perf_counter() - w0
        if res.steps != s.steps:
            raise RuntimeError(f"a timed window ran {res.steps} of {s.steps} steps")
        diverged |= res.diverged
        walls.append(wall)
        times.append(start.elapsed_time(end) / 1000 if cuda else wall)
    load_after = _loadavg()
    per_window = s.steps * s.batch_size
    rates = [per_window / t for t in times]
    rate = statistics.median(rates)
    if cuda:
        memory = {"peak_memory_bytes": torch.cuda.max_memory_allocated(device),
                  "memory_kind": "torch.cuda.max_memory_allocated over the timed steps (after warm-up)",
                  "memory_detail": {"max_memory_reserved_bytes": torch.cuda.max_memory_reserved(device),
                                    "warmup_max_memory_allocated_bytes": warm_peak}}
    else:
        memory = {"peak_memory_bytes": _rss_peak(),
                  "memory_kind": ("peak RSS of the benchmark process (resource.getrusage(RUSAGE_SELF).ru_maxrss; "
                                  "includes Python, torch and the dataset)"
                                  + (f"; its {workers} DataLoader worker processes not included" if workers else "")
                                  + ("; a fresh process per measurement" if isolated else
                                     "; NOT isolated: the process's peak since it started (earlier work included)")),
                  "memory_detail": {"rss_before_model_bytes": rss_before_model, "isolated_process": isolated,
                                    "dataloader_workers": workers}}
    memory["peak_memory_mib"] = memory["peak_memory_bytes"] / 2**20

    reduced = {k: getattr(s, k) for k, v in FULL.items() if getattr(s, k) < v}
    env = environment(device)
    env.update(cpu_model=_cpu_model(), cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
               loadavg_before=load_before, loadavg_after=load_after,
               tf32={"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
               cudnn_benchmark=torch.backends.cudnn.benchmark)
    epoch_s = EPOCH_IMAGES / rate
    cmd = [sys.executable, "-m", "experiments.bench", *s.argv()]
    rec: dict[str, Any] = {
        "kind": "bench", "schema": 1,
        "model": s.model, "family": s.family, "depth": s.depth, "pipeline": s.pipeline, "variant": s.variant,
        "device": s.device, "batch_size": s.batch_size,
        "images_per_s": rate, "images_per_s_windows": rates,
        "step_time_s": s.batch_size / rate,
        "epoch_images": EPOCH_IMAGES, "epoch_time_s": epoch_s, "epoch_time_extrapolated": True,
        "epoch_time_note": (f"extrapolated: {EPOCH_IMAGES:,} images / the median steady-state throughput of "
                            f"{s.repeats} timed windows of {s.steps} steps after {s.warmup} warm-up steps; "
                            "no evaluation, no DataLoader start-up at epoch boundaries, no partial last batch"),
        **memory,
        "timing": {"timer": "CUDA events (after torch.cuda.synchronize)" if cuda else "time.perf_counter",
                   "statistic": "median over windows", "warmup_steps": s.warmup, "measured_steps": s.steps,
                   "repeats": s.repeats, "window_seconds": times, "window_wall_seconds": walls,
                   "warmup_seconds": warmup_s, "diverged": diverged},
        "settings": dataclasses.asdict(s) | {"workers": workers},
        "reduced": reduced, "reduced_note": ("smaller than the issue's full settings "
                                             f"{FULL}: {reduced}" if reduced else None),
        "execution": {"pipeline": s.pipeline, "data": pipe_desc, "bf16_autocast": amp,
                      "channels_last": channels_last, "compile": fast and s.compile, "eager_fp32": not amp,
                      "note": (None if cuda or not fast else
                               "CPU: the fast pipeline runs only what applies on a CPU (GpuBatches on CPU "
                               "tensors); no autocast, NCHW" + (", torch.compile" if s.compile else ""))},
        "data": {"dataset": dataset, "source": source, "images": n_images,
                 "input_shape": [info.in_chans, info.resolution, info.resolution], "num_classes": info.num_classes},
        "params": params, "macs_per_image": macs,
        "optimizer": {"name": "SGD", "lr": recipe.lr, "momentum": recipe.momentum,
                      "weight_decay": recipe.weight_decay, "nesterov": recipe.nesterov,
                      "drop_path": recipe.drop_path, "recipe": "cifar"},
        "ela": ela,
        "environment": env, "git": git_commit(),
        "command": shlex.join(cmd),
        "reproduce_sh": shlex.join(["./reproduce.sh", "bench", *s.argv()]),
        "invoked_as": shlex.join(["python", "-m", "experiments.bench", *invoked_as]) if invoked_as else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if fast:  # the layout of a run's record.json that experiments.launch reads (measured epoch times)
        rec.update(config=cfg.to_dict() | {"batch_size": s.batch_size}, world_size=1,
                   dataset={"train_images": EPOCH_IMAGES, "name": dataset},
                   epochs=[{"epoch_time_s": epoch_s, "extrapolated": True}])
    rec = as_json(rec)
    path = record_path(s)
    atomic_write_json(path, rec)
    rec["_path"] = str(path)
    return rec


# =========================================================================== plans and runs
def table_models() -> list[tuple[str, int, str]]:
    """(family, depth, model) of the rows of ELA Table 1, DLA Table 1 and ELA Fig. 4, in order."""
    from .tables import get_table

    seen, out = set(), []
    for t in TABLES:
        for row in get_table(t).rows:
            if row.model not in seen:
                seen.add(row.model)
                out.append((row.family, row.depth, row.model))
    return out


def plan(models: Iterable[str] | None, depths: Iterable[int]) -> list[str]:
    """Model names to measure. Family names (``mrla_b``) expand over ``depths``; without
    ``models`` the rows of the tables (``TABLES``) at ``depths`` (DLA-B only at 20, as printed);
    full names (``mrla_b_resnet56``) are taken as given."""
    from models import list_models

    depths = list(depths)
    if not models:
        return [m for _, d, m in table_models() if d in depths]
    known = set(list_models())
    out = []
    for m in models:
        names = [m] if m in known else [f"resnet{d}" if m == "resnet" else f"{m}_resnet{d}" for d in depths]
        for n in names:
            if n not in known:
                raise ConfigError(f"no model {n!r}; give table families (resnet, se, eca, dia, cbam, bam, mrla_b, "
                                  f"mrla_l, ela, dla_b, dla_l) or registry names (`./reproduce.sh list models`)")
            split_name(n)
            if n not in out:
                out.append(n)
    return out


def _child(s: Settings, timeout: float | None) -> dict[str, Any]:
    """Measure in a fresh interpreter (own peak RSS, no allocator or compile state carried over)."""
    cmd = [sys.executable, "-m", "experiments.bench", *s.argv(), "--no-isolate", "--no-summary", "--_child"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"exit {proc.returncode}:\n{tail}")
    return json.loads(record_path(s).read_text())


# =========================================================================== reading records
def load_records(folder: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(Path(folder).glob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("kind") == "bench":
            rec["_path"] = str(p)
            out.append(rec)
    return out


def _gpu(rec: dict[str, Any]) -> str:
    return str((rec.get("environment") or {}).get("gpu") or "")


def _machine(rec: dict[str, Any]) -> str:
    env = rec.get("environment") or {}
    return env.get("gpu") or f"CPU {env.get('hostname', '?')} ({env.get('torch_threads', '?')} threads)"


def _on_target_gpu(rec: dict[str, Any]) -> bool:
    return rec.get("device") == "cuda" and any(g in _gpu(rec).upper() for g in TARGET_GPUS)


# --------------------------------------------------------------------------- ELA Fig. 4
FIG4 = {"mrla_b": "MRLA-B", "mrla_l": "MRLA-L", "ela": "ELA"}


def fig4_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (machine, pipeline variant, batch size, depth) with MRLA-B, MRLA-L and ELA
    per-epoch times and the % reduction of each vs MRLA-B: 100 * (t_B - t_X) / t_B
    (positive = less time than MRLA-B; None where a time is missing)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for r in records:
        if r.get("family") not in FIG4:
            continue
        key = (_machine(r), r["variant"], r["batch_size"], r["depth"])
        groups.setdefault(key, {})[r["family"]] = r
    rows = []
    for (machine, variant, bs, depth), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2],
                                                                                   kv[0][3])):
        t = {f: (g[f]["epoch_time_s"] if f in g else None) for f in FIG4}
        base = t["mrla_b"]

        def red(x):
            return None if base is None or x is None else 100.0 * (base - x) / base

        ela = (g.get("ela") or {}).get("ela") or {}
        rows.append({"machine": machine, "variant": variant, "batch_size": bs, "depth": depth,
                     "mrla_b_s": t["mrla_b"], "mrla_l_s": t["mrla_l"], "ela_s": t["ela"],
                     "mrla_l_reduction_pct": red(t["mrla_l"]), "ela_reduction_pct": red(t["ela"]),
                     "ela_pruned": ela.get("num_pruned"), "ela_layers": ela.get("total_layers"),
                     "ela_method": ela.get("method")})
    return rows


def _f(x, fmt: str, none: str = "-") -> str:
    return none if x is None else format(x, fmt)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fig4_markdown(rows: list[dict[str, Any]], records: list[dict[str, Any]] | None = None) -> str:
    body = _md_table(
        ["machine", "pipeline", "batch", "depth", "MRLA-B s/epoch", "MRLA-L s/epoch", "ELA s/epoch",
         "ELA layers pruned", "MRLA-L reduction vs MRLA-B", "ELA reduction vs MRLA-B"],
        [[r["machine"], r["variant"], str(r["batch_size"]), str(r["depth"]), _f(r["mrla_b_s"], ".3f"),
          _f(r["mrla_l_s"], ".3f"), _f(r["ela_s"], ".3f"),
          "-" if r["ela_pruned"] is None else f"{r['ela_pruned']}/{r['ela_layers']}",
          _f(r["mrla_l_reduction_pct"], ".1f") + ("%" if r["mrla_l_reduction_pct"] is not None else ""),
          _f(r["ela_reduction_pct"], ".1f") + ("%" if r["ela_reduction_pct"] is not None else "")]
         for r in rows])
    methods = sorted({(r.get("ela") or {}).get("choice", "") for r in records or [] if r.get("family") == "ela"})
    reduced = sorted({json.dumps(r.get("reduced")) for r in records or [] if r.get("reduced")})
    notes = [
        "# ELA Fig. 4 / Table 3 style: training time per CIFAR-size epoch",
        "",
        f"Seconds per epoch of {EPOCH_IMAGES:,} images of 32x32, EXTRAPOLATED from the median steady-state "
        "training throughput (experiments/bench.py; no evaluation). Reduction = 100 x (t_MRLA-B - t) / t_MRLA-B: "
        "positive = less time than MRLA-B. The papers' claim (ELA Fig. 4, CIFAR): MRLA-L 10-15% and ELA 30-35% "
        "less than MRLA-B; ELA Table 3 (ImageNet): ELA -29.7% (ResNet-50), -32.6% (ResNet-101).",
        "",
        body,
        "",
    ]
    if methods:
        notes += ["ELA pruned set: " + " / ".join(m for m in methods if m), ""]
    if reduced:
        notes += ["Reduced settings (not the full bench): " + "; ".join(reduced), ""]
    return "\n".join(notes)


def fig4_plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Grouped bars: seconds per epoch against depth, one bar per method, one panel per
    (machine, pipeline, batch); the % reduction vs MRLA-B printed over the MRLA-L and ELA bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    long = []
    for r in rows:
        panel = f"{r['machine']}\n{r['variant']}, batch {r['batch_size']}"
        for f, label in FIG4.items():
            t = r[f"{f}_s"]
            if t is not None:
                long.append({"panel": panel, "depth": str(r["depth"]), "method": label, "seconds": t,
                             "reduction": r.get(f"{f}_reduction_pct")})
    if not long:
        return None
    df = pd.DataFrame(long)
    panels = list(dict.fromkeys(df["panel"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    hue_order = [m for m in FIG4.values() if m in set(df["method"])]
    for ax, panel in zip(axes[0], panels):
        sub = df[df["panel"] == panel]
        order = sorted(sub["depth"].unique(), key=int)
        sns.barplot(data=sub, x="depth", y="seconds", hue="method", order=order, hue_order=hue_order, ax=ax,
                    palette="deep")
        for bar in ax.patches:  # label each bar by its position (depth) and height (method)
            h = bar.get_height()
            if not h or h != h:
                continue
            i = round(bar.get_x() + bar.get_width() / 2)
            if not 0 <= i < len(order):
                continue
            at = sub[sub["depth"] == order[i]]
            if at.empty:
                continue
            hit = at.iloc[(at["seconds"] - h).abs().argmin()]
            red = hit["reduction"]
            if hit["method"] == "MRLA-B" or red is None or pd.isna(red):
                continue
            ax.annotate(f"-{red:.0f}%" if red >= 0 else f"+{-red:.0f}%", (bar.get_x() + bar.get_width() / 2, h),
                        xytext=(0, 1), textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_title(panel, fontsize=8)
        ax.set_xlabel("ResNet depth")
        ax.set_ylabel(f"s per epoch ({EPOCH_IMAGES // 1000}k images, extrapolated)")
        ax.set_ylim(0, sub["seconds"].max() * 1.15)  # room for the labels
        ax.legend(fontsize=7, ncol=len(hue_order), loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- targets and summary
@dataclass
class Target:
    key: str
    description: str
    status: str  # PASS / FAIL / NOT MEASURED
    detail: str


def _pairs(records: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """(reference, fast) records of the same model, machine and batch size."""
    idx = {(r["model"], _machine(r), r["batch_size"], r["variant"]): r for r in records}
    out = []
    for (model, machine, bs, variant), fast in idx.items():
        if fast["pipeline"] != "fast":
            continue
        ref = idx.get((model, machine, bs, "reference"))
        if ref is not None:
            out.append((ref, fast))
    return out


def evaluate_targets(records: list[dict[str, Any]]) -> list[Target]:
    """The issue's three GPU targets over ``records`` (module docstring); information measured
    elsewhere (CPU, another GPU, another batch size) goes into the detail of NOT MEASURED."""
    on = [r for r in records if _on_target_gpu(r) and r["batch_size"] == 128]
    other = [r for r in records if r not in on]
    out = []

    # (1) MRLA-B-56 epoch on the fast path
    hits = [r for r in on if r["model"] == "mrla_b_resnet56" and r["pipeline"] == "fast"]
    if hits:
        best = min(hits, key=lambda r: r["epoch_time_s"])
        ok = best["epoch_time_s"] <= EPOCH_TARGET_S
        detail = "; ".join(f"{_machine(r)} {r['variant']}: {r['epoch_time_s']:.3f} s" for r in hits)
        out.append(Target("epoch", TARGETS["epoch"], "PASS" if ok else "FAIL",
                          f"best {best['epoch_time_s']:.3f} s ({best['variant']}) vs <= {EPOCH_TARGET_S} s; {detail}"))
    else:
        info = [f"{_machine(r)} {r['variant']} batch {r['batch_size']}: {r['epoch_time_s']:.1f} s"
                for r in other if r["model"] == "mrla_b_resnet56" and r["pipeline"] == "fast"]
        out.append(Target("epoch", TARGETS["epoch"], "NOT MEASURED",
                          "no fast-path MRLA-B ResNet-56 record at batch 128 on an H100/H200"
                          + (f" (elsewhere: {'; '.join(info)})" if info else "")))

    # (2) fast / reference throughput
    def ratios(recs):
        return [(f["model"], f["variant"], f["images_per_s"] / ref["images_per_s"]) for ref, f in _pairs(recs)]

    rs = ratios(on)
    if rs:
        bad = [f"{m} {v} {x:.2f}x" for m, v, x in rs if x < RATIO_TARGET]
        vals = [x for _, _, x in rs]
        out.append(Target("ratio", TARGETS["ratio"], "FAIL" if bad else "PASS",
                          f"{len(rs)} pairs, ratio min {min(vals):.2f}x / median {statistics.median(vals):.2f}x / "
                          f"max {max(vals):.2f}x" + (f"; below {RATIO_TARGET}x: {', '.join(bad)}" if bad else "")))
    else:
        vals = [x for _, _, x in ratios(other)]
        out.append(Target("ratio", TARGETS["ratio"], "NOT MEASURED",
                          "no reference+fast pair at batch 128 on an H100/H200"
                          + (f" (elsewhere, {len(vals)} pairs: median {statistics.median(vals):.2f}x, range "
                             f"{min(vals):.2f}-{max(vals):.2f}x)" if vals else "")))

    # (3) ELA vs MRLA-B
    def ela_rows(recs, fast_only=True):
        return [r for r in fig4_rows(recs) if r["ela_reduction_pct"] is not None
                and (not fast_only or r["variant"].startswith("fast"))]

    rows = ela_rows(on)
    if rows:
        bad = [f"depth {r['depth']} {r['variant']}: {r['ela_reduction_pct']:.1f}%" for r in rows
               if r["ela_reduction_pct"] < ELA_TARGET_PCT]
        txt = ", ".join(f"depth {r['depth']} {r['variant']}: {r['ela_reduction_pct']:.1f}% "
                        f"({r['ela_pruned']}/{r['ela_layers']} layers pruned)" for r in rows)
        out.append(Target("ela", TARGETS["ela"], "FAIL" if bad else "PASS",
                          txt + ("; measured finding: ELA is NOT 30% faster than MRLA-B there" if bad else "")))
    else:
        info = [f"{r['machine']} {r['variant']} bs {r['batch_size']} depth {r['depth']}: "
                f"{r['ela_reduction_pct']:.1f}% ({r['ela_pruned']}/{r['ela_layers']} pruned)"
                for r in ela_rows(other, fast_only=False)]
        out.append(Target("ela", TARGETS["ela"], "NOT MEASURED",
                          "no MRLA-B + ELA fast-path records at batch 128 on an H100/H200"
                          + (f" (elsewhere: {'; '.join(info)})" if info else "")))
    return out


def _records_table(records: list[dict[str, Any]]) -> str:
    fast_over = {(f["model"], _machine(f), f["batch_size"], f["variant"]): f["images_per_s"] / ref["images_per_s"]
                 for ref, f in _pairs(records)}
    rows = []
    for r in sorted(records, key=lambda r: (_machine(r), r["batch_size"], r["depth"], r["model"], r["variant"])):
        ratio = fast_over.get((r["model"], _machine(r), r["batch_size"], r["variant"]))
        load = (r.get("environment") or {}).get("loadavg_before")
        rows.append([r["model"], r["variant"], _machine(r), str(r["batch_size"]),
                     f"{r['timing']['warmup_steps']}+{r['timing']['repeats']}x{r['timing']['measured_steps']}",
                     f"{r['images_per_s']:.1f}", f"{r['epoch_time_s']:.1f}", f"{r['peak_memory_mib']:.0f}",
                     "-" if ratio is None else f"{ratio:.2f}x",
                     "-" if not load else f"{load[0]:.2f}"])
    return _md_table(["model", "pipeline", "machine", "batch", "steps (warm-up+repeats x steps)", "images/s",
                      "s/epoch (extrap.)", "peak MiB", "fast/reference", "load avg (1 min)"], rows)


def summary_markdown(records: list[dict[str, Any]], targets: list[Target]) -> str:
    kinds = sorted({r["memory_kind"] for r in records})
    lines = ["# Training-throughput benchmark", "",
             f"Per-epoch time = {EPOCH_IMAGES:,} images / median steady-state throughput (extrapolated). "
             "Peak memory: " + " | ".join(kinds) + ".", "",
             _records_table(records), ""]
    if any(r["device"] == "cpu" for r in records):
        lines += ["CPU records: a fast/reference ratio pairs the two records as found in this folder, possibly "
                  "measured at different times; on a shared CPU the same measurement can vary several-fold with "
                  "the load of other jobs (load average column), so CPU ratios near 1 mean 'no difference "
                  "measurable here'. The GPU targets below need GPU records.", ""]
    lines += ["## Targets", ""]
    lines += [f"- **{t.status}** {t.description}: {t.detail}" for t in targets]
    lines.append("")
    return "\n".join(lines)


def write_reports(folder: Path) -> tuple[list[dict[str, Any]], list[Target]]:
    """summary.md, ela_fig4.md and ela_fig4.png from every record in ``folder``."""
    from .records import _atomic_replace

    records = load_records(folder)
    targets = evaluate_targets(records)
    if not records:
        return records, targets
    text = summary_markdown(records, targets)
    _atomic_replace(folder / "summary.md", lambda f: f.write(text.encode()))
    rows = fig4_rows(records)
    if rows:
        md = fig4_markdown(rows, records)
        _atomic_replace(folder / "ela_fig4.md", lambda f: f.write(md.encode()))
        fig4_plot(rows, folder / "ela_fig4.png")
    return records, targets


# =========================================================================== command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.bench",
        description="Training throughput (images/s), per-epoch time (extrapolated to 50,000 images) and peak "
                    "memory of the ELA/DLA Table 1 models on the reference and fast pipelines.",
        epilog="full GPU bench: REPRO_PYTHON=python ./reproduce.sh bench --device cuda   |   "
               "CPU check: ./reproduce.sh bench --quick",
    )
    p.add_argument("--models", nargs="+", help="families (resnet se eca dia cbam bam mrla_b mrla_l ela dla_b dla_l) "
                   "or registry names; default: every row of ELA Table 1, DLA Table 1 and ELA Fig. 4")
    p.add_argument("--depths", nargs="+", type=int, help="default 20 56 110")
    p.add_argument("--batch-size", type=int, help="default 128")
    p.add_argument("--steps", type=int, help="measured steps per timed window (default 130: 3 windows = 1 epoch)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default 20)")
    p.add_argument("--repeats", type=int, help="timed windows; the median is reported (default 3)")
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dataset", default="auto", help="auto (Fashion-MNIST if found, else fake), fashionmnist, "
                   "cifar10, cifar100, fake")
    p.add_argument("--data-root", default=str(ROOT / "data"))
    p.add_argument("--workers", type=int, help="DataLoader workers of the reference pipeline (default: 4 on a GPU, "
                   "0 on the CPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; on a shared CPU 1 avoids "
                   "OpenMP stalls)")
    p.add_argument("--compile", action="store_true", help="torch.compile on the fast pipeline")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="fast pipeline without bf16 autocast")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--ela-pruning", default="controller",
                   help="controller (default) | half | none | record:PATH | layers:s0.b1,... (module docstring)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/bench", help="records go to OUT/<gpu name or hostname>/")
    p.add_argument("--tag", help="folder name under --out instead of the GPU name / hostname")
    p.add_argument("--quick", action="store_true",
                   help="CPU-sized: resnet, mrla_b, mrla_l, ela at depth 20, batch 32, 2+3x4 steps (explicit "
                        "options win)")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                   help="each measurement in a fresh process (default; own peak memory)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per isolated measurement")
    p.add_argument("--no-summary", dest="summary", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    return p


def _print_targets(targets: list[Target]) -> None:
    print("\ntargets:")
    for t in targets:
        print(f"  {t.status:12s} {t.description}\n               {t.detail}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        device = args.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but CUDA is not available here; use --device cpu")
        q = QUICK if args.quick else {}
        models = args.models or (list(q["families"]) if q else None)
        depths = args.depths or list(q.get("depths", (20, 56, 110)))
        sizes = {k: getattr(args, k) if getattr(args, k) is not None else q.get(k, FULL[k]) for k in FULL}
        names = plan(models, depths)
        base = Settings(model=names[0] if names else "resnet20", pipeline=args.pipelines[0], device=device,
                        dataset=args.dataset, data_root=args.data_root, workers=args.workers, threads=args.threads,
                        compile=args.compile, amp=args.amp, channels_last=args.channels_last,
                        ela_pruning=args.ela_pruning, seed=args.seed, out=args.out, tag=args.tag, **sizes)
        base.tag = base.tag or host_tag(device)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    jobs = [dataclasses.replace(base, model=m, pipeline=p) for m in names for p in args.pipelines]
    folder = Path(args.out) / base.tag
    if not args._child:
        print(f"[bench] {len(jobs)} measurements on {device} -> {folder}/ | batch {base.batch_size}, "
              f"{base.warmup} warm-up + {base.repeats} x {base.steps} timed steps | load average {_loadavg()}",
              flush=True)
    failures = 0
    t_all = time.perf_counter()
    for i, s in enumerate(jobs, 1):
        t0 = time.perf_counter()
        try:
            rec = _child(s, args.timeout) if args.isolate else measure(s, isolated=args._child, invoked_as=argv)
        except (RuntimeError, ConfigError, subprocess.TimeoutExpired, OSError) as e:
            failures += 1
            print(f"[bench] {i}/{len(jobs)} {s.model} {s.variant}: FAILED: {e}", file=sys.stderr, flush=True)
            continue
        if not args._child:
            ela = rec.get("ela") or {}
            print(f"[bench] {i}/{len(jobs)} {s.model:18s} {s.variant:16s} {rec['images_per_s']:9.1f} img/s  "
                  f"{rec['epoch_time_s']:8.2f} s/epoch  peak {rec['peak_memory_mib']:7.0f} MiB"
                  + (f"  ELA {ela['num_pruned']}/{ela['total_layers']} pruned" if ela else "")
                  + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.summary:
        records, targets = write_reports(folder)
        if records:
            print(f"\n[bench] {len(records)} records in {folder}/ (summary.md, ela_fig4.md, ela_fig4.png); "
                  f"{time.perf_counter() - t_all:.0f} s")
            pairs = _pairs(records)
            for ref, f in pairs:
                print(f"  fast/reference {f['model']:18s} {_machine(f)} bs {f['batch_size']}: "
                      f"{f['images_per_s'] / ref['images_per_s']:.2f}x")
            for r in fig4_rows(records):
                print(f"  ELA Fig.4 depth {r['depth']:3d} {r['variant']:14s} bs {r['batch_size']}: MRLA-B "
                      f"{_f(r['mrla_b_s'], '.2f')} s, MRLA-L {_f(r['mrla_l_s'], '.2f')} s "
                      f"({_f(r['mrla_l_reduction_pct'], '.1f')}%), ELA {_f(r['ela_s'], '.2f')} s "
                      f"({_f(r['ela_reduction_pct'], '.1f')}% less than MRLA-B)")
        _print_targets(targets)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
