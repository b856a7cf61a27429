"""One measurement (``measure``): build the model as a training run does, feed it batches from
one pipeline, time warm-up and windows of the project's own training step, write the record."""
from __future__ import annotations

import dataclasses
import itertools
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from models import ConfigError

from .machine import cpu_model, loadavg, rss_peak
from .pipelines import batches, resolve_dataset
from .pruned import kl_batches, select_ela_pruned
from .settings import EPOCH_IMAGES, FULL, PIPELINES, Settings, record_path

__all__ = ["measure", "check", "open_data", "build_net", "trainer", "time_windows", "bench_record",
           "Data", "Net", "Timing", "Run"]


@dataclass
class Data:
    """The images a measurement trains on and the pipeline that serves them."""

    name: str
    source: str
    info: Any  # experiments.data.DatasetInfo
    batches: Iterator
    description: str
    images: int


@dataclass
class Net:
    """The model as a training run builds it (ELA: with its pruned set) and what it costs."""

    cfg: Any  # experiments.config.RunConfig
    recipe: Any  # experiments.recipes.Recipe
    model: torch.nn.Module
    params: int
    ela: dict[str, Any] | None
    macs: int


@dataclass
class Timing:
    seconds: list[float]  # per timed window: CUDA events on a GPU, else wall time
    wall_seconds: list[float]
    warmup_seconds: float
    diverged: bool
    warmup_peak: int | None  # torch.cuda.max_memory_allocated after warm-up (GPU)


@dataclass
class Run:
    """Everything one measurement found, in the order it found it."""

    s: Settings
    device: torch.device
    workers: int
    isolated: bool
    load_before: list[float] | None
    data: Data
    rss_before_model: int
    net: Net
    amp: bool
    channels_last: bool
    timing: Timing
    load_after: list[float] | None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def fast(self) -> bool:
        return self.s.pipeline == "fast"


def measure(s: Settings, *, isolated: bool = False, invoked_as: list[str] | None = None) -> dict[str, Any]:
    """Run one measurement and write its record (atomically); returns the record."""
    from ..records import atomic_write_json

    check(s)
    if s.threads:
        torch.set_num_threads(s.threads)
    device = torch.device(s.device)
    cuda = device.type == "cuda"
    load_before = loadavg()
    torch.backends.cudnn.benchmark = cuda
    workers = s.workers if s.workers is not None else (min(4, os.cpu_count() or 1) if cuda else 0)
    data = open_data(s, device, workers)
    rss_before_model = rss_peak()
    net = build_net(s, data, device)
    train, amp, channels_last = trainer(s, net, data, device)
    timing = time_windows(s, train, device)
    run = Run(s, device, workers, isolated, load_before, data, rss_before_model, net, amp, channels_last, timing,
              loadavg())
    rec = bench_record(run, invoked_as)
    path = record_path(s)
    atomic_write_json(path, rec)
    rec["_path"] = str(path)
    return rec


def check(s: Settings) -> None:
    """ConfigError for settings that cannot be measured here."""
    if s.pipeline not in PIPELINES:
        raise ConfigError(f"unknown pipeline {s.pipeline!r}; use {' or '.join(PIPELINES)}")
    if s.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but CUDA is not available here; use --device cpu")
    for k in ("batch_size", "steps", "repeats"):
        if getattr(s, k) < 1:
            raise ConfigError(f"--{k.replace('_', '-')} must be >= 1")
    if s.warmup < 0:
        raise ConfigError("--warmup must be >= 0")


# --------------------------------------------------------------------------- setting up
def open_data(s: Settings, device: torch.device, workers: int) -> Data:
    from ..data import dataset_info

    dataset, source = resolve_dataset(s)
    info = dataset_info(dataset)
    it, description, images = batches(s, dataset, device, workers)
    return Data(dataset, source, info, it, description, images)


def build_net(s: Settings, data: Data, device: torch.device) -> Net:
    """The model of ``s`` on ``device`` (seeded; ELA layers pruned as ``s.ela_pruning`` says)."""
    from models import count_parameters

    from ..config import RunConfig
    from ..run import build_model

    cfg = RunConfig(model=s.model, dataset=data.name, recipe="cifar", seed=s.seed, device=s.device)
    recipe = cfg.effective_recipe()
    torch.manual_seed(s.seed)
    model = build_model(cfg, data.info.num_classes, data.info.in_chans, recipe.drop_path, recipe.dropout)
    params = count_parameters(model)
    model.to(device)
    ela = None
    if s.family == "ela":
        kl_bs = min(s.batch_size, 64)
        ela = select_ela_pruned(model, s.ela_pruning,
                                lambda n: kl_batches(data.name, s.data_root, device, n, kl_bs, s.seed))
    return Net(cfg, recipe, model, params, ela, count_macs_pruned(cfg, data.info, recipe, ela))


def count_macs_pruned(cfg: Any, info: Any, recipe: Any, ela: dict[str, Any] | None) -> int:
    """MACs per image of the model (on the meta device), without the pruned ELA layers' work."""
    from ..params import count_macs
    from ..run import build_model

    with torch.device("meta"):
        meta = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    if ela is not None:
        from models.ela import prune

        prune(meta, ela["pruned"])
    return count_macs(meta, info.resolution, info.in_chans)


def trainer(s: Settings, net: Net, data: Data, device: torch.device) -> tuple[Callable[[int, int], Any], bool, bool]:
    """(train(n steps, epoch) with the project's training step, bf16 autocast?, channels_last?)."""
    from ..distributed import DistInfo
    from ..engine import train_epoch

    fast, cuda, recipe = s.pipeline == "fast", device.type == "cuda", net.recipe
    amp = fast and cuda and s.amp
    channels_last = fast and cuda and s.channels_last
    if channels_last:
        net.model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    train_model = torch.compile(net.model) if (fast and s.compile) else net.model
    dist = DistInfo()

    def train(n: int, epoch: int):
        return train_epoch(train_model, itertools.islice(data.batches, n), opt, lambda _: recipe.lr, seed=s.seed,
                           epoch=epoch, start_step=0, steps_total=n, device=device, amp=amp, dist=dist,
                           should_stop=lambda: False)

    return train, amp, channels_last


# --------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_windows(s: Settings, train: Callable[[int, int], Any], device: torch.device) -> Timing:
    """``s.warmup`` untimed steps, then ``s.repeats`` timed windows of ``s.steps`` steps."""
    cuda = device.type == "cuda"
    warmup_s = warm_up(s, train, device)
    warm_peak = torch.cuda.max_memory_allocated(device) if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times, walls, diverged = [], [], False
    for r in range(s.repeats):
        seconds, wall, div = timed_window(s, train, device, r + 1)
        diverged |= div
        walls.append(wall)
        times.append(seconds)
    return Timing(times, walls, warmup_s, diverged, warm_peak)


def warm_up(s: Settings, train: Callable[[int, int], Any], device: torch.device) -> float:
    """Run the warm-up steps (cuDNN autotuning, torch.compile, DataLoader start-up); seconds."""
    t0 = time.perf_counter()
    if s.warmup:
        warm = train(s.warmup, 0)
        if warm.steps != s.warmup:
            raise RuntimeError(f"warm-up ran {warm.steps} of {s.warmup} steps (diverged={warm.diverged})")
    _sync(device)
    return time.perf_counter() - t0


def timed_window(s: Settings, train: Callable[[int, int], Any], device: torch.device,
                 epoch: int) -> tuple[float, float, bool]:
    """(seconds by CUDA events on a GPU / wall clock on the CPU, wall seconds, diverged) of one window."""
    cuda = device.type == "cuda"
    _sync(device)
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    w0 = time.perf_counter()
    res = train(s.steps, epoch)
    if cuda:
        end.record()
    _sync(device)
    wall = time.perf_counter() - w0
    if res.steps != s.steps:
        raise RuntimeError(f"a timed window ran {res.steps} of {s.steps} steps")
    return (start.elapsed_time(end) / 1000 if cuda else wall), wall, res.diverged


# --------------------------------------------------------------------------- the record
def bench_record(run: Run, invoked_as: list[str] | None) -> dict[str, Any]:
    """The JSON record of ``run`` (the layout ``analysis.bench_report`` and ``experiments.launch`` read)."""
    from ..records import as_json

    s = run.s
    rates = [s.steps * s.batch_size / t for t in run.timing.seconds]
    rate = statistics.median(rates)
    rec: dict[str, Any] = {
        "kind": "bench", "schema": 1,
        "model": s.model, "family": s.family, "depth": s.depth, "pipeline": s.pipeline, "variant": s.variant,
        "device": s.device, "batch_size": s.batch_size,
        **throughput_fields(s, rate, rates), **memory_fields(run), "timing": timing_fields(run),
        **settings_fields(run), "execution": execution_fields(run), "data": data_fields(run.data),
        **model_fields(run.net), "environment": environment_fields(run), **provenance_fields(s, invoked_as),
    }
    if run.fast:  # the layout of a run's record.json that experiments.launch reads (measured epoch times)
        rec.update(config=run.net.cfg.to_dict() | {"batch_size": s.batch_size}, world_size=1,
                   dataset={"train_images": EPOCH_IMAGES, "name": run.data.name},
                   epochs=[{"epoch_time_s": EPOCH_IMAGES / rate, "extrapolated": True}])
    return as_json(rec)


def throughput_fields(s: Settings, rate: float, rates: list[float]) -> dict[str, Any]:
    return {
        "images_per_s": rate, "images_per_s_windows": rates,
        "step_time_s": s.batch_size / rate,
        "epoch_images": EPOCH_IMAGES, "epoch_time_s": EPOCH_IMAGES / rate, "epoch_time_extrapolated": True,
        "epoch_time_note": (f"extrapolated: {EPOCH_IMAGES:,} images / the median steady-state throughput of "
                            f"{s.repeats} timed windows of {s.steps} steps after {s.warmup} warm-up steps; "
                            "no evaluation, no DataLoader start-up at epoch boundaries, no partial last batch"),
    }


def memory_fields(run: Run) -> dict[str, Any]:
    """Peak memory: torch.cuda.max_memory_allocated over the timed steps, on the CPU the peak RSS."""
    device, workers, isolated = run.device, run.workers, run.isolated
    if run.cuda:
        memory = {"peak_memory_bytes": torch.cuda.max_memory_allocated(device),
                  "memory_kind": "torch.cuda.max_memory_allocated over the timed steps (after warm-up)",
                  "memory_detail": {"max_memory_reserved_bytes": torch.cuda.max_memory_reserved(device),
                                    "warmup_max_memory_allocated_bytes": run.timing.warmup_peak}}
    else:
        memory = {"peak_memory_bytes": rss_peak(),
                  "memory_kind": ("peak RSS of the benchmark process (resource.getrusage(RUSAGE_SELF).ru_maxrss; "
                                  "includes Python, torch and the dataset)"
                                  + (f"; its {workers} DataLoader worker processes not included" if workers else "")
                                  + ("; a fresh process per measurement" if isolated else
                                     "; NOT isolated: the process's peak since it started (earlier work included)")),
                  "memory_detail": {"rss_before_model_bytes": run.rss_before_model, "isolated_process": isolated,
                                    "dataloader_workers": workers}}
    memory["peak_memory_mib"] = memory["peak_memory_bytes"] / 2**20
    return memory


def timing_fields(run: Run) -> dict[str, Any]:
    s, t = run.s, run.timing
    return {"timer": "CUDA events (after torch.cuda.synchronize)" if run.cuda else "time.perf_counter",
            "statistic": "median over windows", "warmup_steps": s.warmup, "measured_steps": s.steps,
            "repeats": s.repeats, "window_seconds": t.seconds, "window_wall_seconds": t.wall_seconds,
            "warmup_seconds": t.warmup_seconds, "diverged": t.diverged}


def settings_fields(run: Run) -> dict[str, Any]:
    s = run.s
    reduced = {k: getattr(s, k) for k, v in FULL.items() if getattr(s, k) < v}
    return {"settings": dataclasses.asdict(s) | {"workers": run.workers},
            "reduced": reduced, "reduced_note": ("smaller than the issue's full settings "
                                                 f"{FULL}: {reduced}" if reduced else None)}


def execution_fields(run: Run) -> dict[str, Any]:
    s, fast = run.s, run.fast
    return {"pipeline": s.pipeline, "data": run.data.description, "bf16_autocast": run.amp,
            "channels_last": run.channels_last, "compile": fast and s.compile, "eager_fp32": not run.amp,
            "note": (None if run.cuda or not fast else
                     "CPU: the fast pipeline runs only what applies on a CPU (GpuBatches on CPU "
                     "tensors); no autocast, NCHW" + (", torch.compile" if s.compile else ""))}


def data_fields(data: Data) -> dict[str, Any]:
    info = data.info
    return {"dataset": data.name, "source": data.source, "images": data.images,
            "input_shape": [info.in_chans, info.resolution, info.resolution], "num_classes": info.num_classes}


def model_fields(net: Net) -> dict[str, Any]:
    r = net.recipe
    return {"params": net.params, "macs_per_image": net.macs,
            "optimizer": {"name": "SGD", "lr": r.lr, "momentum": r.momentum, "weight_decay": r.weight_decay,
                          "nesterov": r.nesterov, "drop_path": r.drop_path, "recipe": "cifar"},
            "ela": net.ela}


def environment_fields(run: Run) -> dict[str, Any]:
    from ..records import environment

    env = environment(run.device)
    env.update(cpu_model=cpu_model(), cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
               loadavg_before=run.load_before, loadavg_after=run.load_after,
               tf32={"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
               cudnn_benchmark=torch.backends.cudnn.benchmark)
    return env


def provenance_fields(s: Settings, invoked_as: list[str] | None) -> dict[str, Any]:
    """The code version and the command lines that repeat the measurement."""
    from ..records import git_commit

    cmd = [sys.executable, "-m", "experiments.bench", *s.argv()]
    return {"git": git_commit(), "command": shlex.join(cmd),
            "reproduce_sh": shlex.join(["./reproduce.sh", "bench", *s.argv()]),
            "invoked_as": shlex.join(["python", "-m", "experiments.bench", *invoked_as]) if invoked_as else None,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
