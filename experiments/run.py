"""One run: config -> model, data, recipe -> train and evaluate -> a results record.

    ./reproduce.sh run --model resnet20 --dataset fashionmnist --scale smoke
    python -m experiments.run --model se_resnet56 --dataset cifar100 --data-root /data
    torchrun --nproc-per-node 8 -m experiments.run --model mrla_b_resnet50_imagenet \\
        --dataset imagenet --recipe imagenet --data-root /data/imagenet

The run writes into ``<out_root>/<run_name>/`` (the name ends with a hash of the config):
``config.json``, ``checkpoint.pt`` (after every epoch, atomically) and ``record.json``
(after every epoch with status ``running``; finally ``done`` or ``diverged``). Relaunching
a finished run does nothing; relaunching an unfinished one resumes from its checkpoint.
SIGTERM and SIGUSR2 (what SLURM sends before a time limit) save a checkpoint at the next
step and exit with status ``interrupted``.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from models import ConfigError, count_parameters, create_model
from models.zoo import FAMILIES, model_spec, takes_drop_path

from .config import RunConfig
from .distributed import DistInfo, all_reduce_sum, broadcast_buffers, init_distributed, shutdown
from .engine import Callback, EpochSampler, Progress, evaluate, mix_seed, train_epoch
from .params import count_macs
from .records import as_json, atomic_torch_save, atomic_write_json, environment, git_commit, read_json

__all__ = ["run", "build_model", "FINAL_STATUSES", "main"]

FINAL_STATUSES = ("done", "diverged")
RECORD, CHECKPOINT, CONFIG = "record.json", "checkpoint.pt", "config.json"


# --------------------------------------------------------------------------- model
def build_model(cfg: RunConfig, num_classes: int, in_chans: int, drop_path: float, dropout: float) -> nn.Module:
    """The registry model with the dataset's head and the recipe's regularisers.

    DropPath goes only to families whose modules take it (the layer-attention branches of
    MRLA/DLA/ELA, official-code.md); dropout only into WRN blocks (DIANet WRN recipe).
    """
    kwargs = dict(cfg.model_kwargs)
    kwargs.setdefault("num_classes", num_classes)
    kwargs.setdefault("in_chans", in_chans)
    spec = model_spec(cfg.model)
    family = spec.get("family") or ""
    fam = FAMILIES.get(family)
    params = inspect.signature(fam.make).parameters if fam is not None else {}
    if drop_path and takes_drop_path(family):
        kwargs["attn_kwargs"] = {"drop_path": drop_path, **kwargs.get("attn_kwargs", {})}
    if cfg.pruning:
        if "pruning" not in params:
            raise ConfigError(f"pruning settings given but {cfg.model} has no pruning controller (use an ela_* model)")
        kwargs["attn_kwargs"] = {**kwargs.get("attn_kwargs", {}), "pruning": dict(cfg.pruning)}
    if dropout and spec.get("kind") == "wrn":
        kwargs.setdefault("dropout", dropout)
    return create_model(cfg.model, **kwargs)


def _device(cfg: RunConfig, dist: DistInfo) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{dist.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device!r} requested but CUDA is not available here; use --device cpu")
    return torch.device(cfg.device)


# --------------------------------------------------------------------------- data
class _Data:
    """Train batches per (epoch, start step) and test batches, on either path."""

    def __init__(self, cfg: RunConfig, device: torch.device, per_rank_bs: int, dist: DistInfo):
        from . import data as D

        self.info = D.dataset_info(cfg.dataset)
        train_sub, test_sub = cfg.subsets()
        self.fast = cfg.fast and device.type == "cuda" and self.info.small
        self.cfg, self.device, self.bs, self.dist = cfg, device, per_rank_bs, dist
        if self.fast:
            xs, ys = D.load_uint8(cfg.dataset, cfg.data_root, train=True, subset=train_sub, download=cfg.download)
            xt, yt = D.load_uint8(cfg.dataset, cfg.data_root, train=False, subset=test_sub, download=cfg.download)
            kw = dict(channels_last=cfg.channels_last)
            # every rank holds the data and draws the same global batch; it keeps its slice
            self.train = D.GpuBatches(xs.to(device), ys.to(device), self.info, batch_size=per_rank_bs * dist.world_size,
                                      train=True, augment=cfg.augment, **kw)
            self.test = D.GpuBatches(xt.to(device), yt.to(device), self.info, batch_size=512, train=False, **kw)
            self.n_train = len(ys)
        else:
            self.train_ds, self.test_ds, built = D.build_datasets(
                cfg.dataset, cfg.data_root, download=cfg.download, augment=cfg.augment,
                train_subset=train_sub, test_subset=test_sub)
            # ImageFolder datasets: the class folders decide the classes and their names
            self.info = dataclasses.replace(self.info, num_classes=built.num_classes, classes=built.classes)
            self.n_train = len(self.train_ds)

    def steps_per_epoch(self) -> int:
        if self.fast:
            return len(self.train)
        per_rank = math.ceil(self.n_train / self.dist.world_size)
        return math.ceil(per_rank / self.bs)

    def train_batches(self, epoch: int, start: int):
        seed = mix_seed(self.cfg.seed, epoch)
        if self.fast:
            r, b = self.dist.rank, self.bs
            for x, y in self.train.epoch(seed, start=start):
                yield (x[r * b:(r + 1) * b], y[r * b:(r + 1) * b]) if self.dist.enabled else (x, y)
            return
        sampler = EpochSampler(len(self.train_ds), self.cfg.seed, epoch, self.bs, self.dist, start_batch=start)
        g = torch.Generator().manual_seed(mix_seed(self.cfg.seed, epoch, start, 7))
        loader = torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, sampler=sampler, num_workers=self.cfg.workers, generator=g,
            pin_memory=self.device.type == "cuda", persistent_workers=False)
        it = iter(loader)
        for k in range(start, start + len(loader)):
            # without workers the transforms draw from this process's generator: seed it per
            # batch so a run resumed mid-epoch augments exactly as an uninterrupted one
            torch.manual_seed(mix_seed(self.cfg.seed, epoch, k, 2))
            yield next(it)

    def test_batches(self):
        if self.fast:
            if self.dist.enabled:  # shard the test set: each rank scores every world_size-th batch
                return (b for i, b in enumerate(self.test.epoch(0)) if i % self.dist.world_size == self.dist.rank)
            return self.test.epoch(0)
        idx = list(range(self.dist.rank, len(self.test_ds), self.dist.world_size))
        # 512 images a batch on a GPU; on the CPU small batches are faster (one thread: 687 vs 172
        # img/s for ResNet-20, 140 vs 48 for ResNet-110 at 32 vs 512, measured on the 2-core machine)
        eval_bs = 512 if self.device.type == "cuda" else 32
        return torch.utils.data.DataLoader(torch.utils.data.Subset(self.test_ds, idx), batch_size=eval_bs,
                                           num_workers=self.cfg.workers, pin_memory=self.device.type == "cuda")


# --------------------------------------------------------------------------- signals
class _StopFlag:
    """Set by SIGTERM/SIGUSR2; checked at step boundaries (all ranks agree)."""

    def __init__(self, dist: DistInfo, install: bool):
        self.hit, self.dist, self.calls, self.previous = False, dist, 0, {}
        if install:
            for sig in (signal.SIGTERM, signal.SIGUSR2):
                self.previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        print(f"[run] received signal {signum}: checkpointing at the next step", flush=True)
        self.hit = True

    def __call__(self) -> bool:
        self.calls += 1
        if not self.dist.enabled:
            return self.hit
        if self.calls % 10:
            return False
        t = torch.tensor([1.0 if self.hit else 0.0])
        all_reduce_sum(t, self.dist)
        return bool(t.item() > 0)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------- run
def _callbacks(model: nn.Module) -> list[Callback]:
    fn = getattr(model, "training_callbacks", None)
    return list(fn()) if callable(fn) else []


class _EffectiveMacs:
    """Forward MACs per image of the model as it is NOW: the extra state of its modules
    (ELA's pruned flags) copied onto a meta-device twin, counted once per distinct state.
    ELA Table 2's FLOPs (4.4B / 8.1B) are those of the pruned network."""

    def __init__(self, model: nn.Module, meta_model: nn.Module, resolution: int, in_chans: int):
        self.model, self.meta, self.resolution, self.in_chans = model, meta_model, resolution, in_chans
        self.cache: dict[str, float] = {}

    def _stateful(self, net: nn.Module) -> dict[str, nn.Module]:
        return {n: m for n, m in net.named_modules() if type(m).get_extra_state is not nn.Module.get_extra_state}

    def __call__(self) -> float:
        live = self._stateful(self.model)
        key = repr(sorted((n, m.get_extra_state()) for n, m in live.items()))
        if key not in self.cache:
            twins = self._stateful(self.meta)
            for n, m in live.items():
                twins[n].set_extra_state(m.get_extra_state())
            self.cache[key] = count_macs(self.meta, self.resolution, self.in_chans)
        return self.cache[key]


def _weight_checksum(model: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _line(name: str, rec: dict[str, Any], total: int, eta_s: float) -> str:
    return (f"[{name}] epoch {rec['epoch'] + 1}/{total} | train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.2f}% "
            f"| test loss {rec['test_loss']:.4f} top1 {rec['test_top1']:.2f}% top5 {rec['test_top5']:.2f}% "
            f"| lr {rec['lr']:.4g} | {rec['images_per_s']:.0f} img/s | {rec['epoch_time_s']:.1f}s "
            f"| ETA {time.strftime('%H:%M:%S', time.gmtime(max(eta_s, 0)))}")


def run(cfg: RunConfig, *, handle_signals: bool = True) -> dict[str, Any]:
    """Train and evaluate one configuration; returns its record (see module docstring)."""
    run_dir = cfg.run_dir
    record_path, ckpt_path = run_dir / RECORD, run_dir / CHECKPOINT
    if record_path.exists():
        rec = read_json(record_path)
        if rec.get("status") in FINAL_STATUSES:
            print(f"[{cfg.run_name}] already {rec['status']}: nothing to do", flush=True)
            return rec

    dist = init_distributed("cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu")
    try:
        return _train(cfg, dist, run_dir, record_path, ckpt_path, handle_signals)
    finally:
        shutdown(dist)


def _train(cfg: RunConfig, dist: DistInfo, run_dir: Path, record_path: Path, ckpt_path: Path,
           handle_signals: bool) -> dict[str, Any]:
    device = _device(cfg, dist)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.benchmark = device.type == "cuda" and not cfg.deterministic
    recipe = cfg.effective_recipe()
    if recipe.batch_size % dist.world_size:
        raise ConfigError(f"batch size {recipe.batch_size} is not divisible by {dist.world_size} processes")
    per_rank_bs = recipe.batch_size // dist.world_size
    torch.manual_seed(mix_seed(cfg.seed, -1))
    data = _Data(cfg, device, per_rank_bs, dist)
    info = data.info
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    n_params = count_parameters(model)
    with torch.device("meta"):
        meta_model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    macs = count_macs(meta_model, info.resolution, info.in_chans)
    macs_now = _EffectiveMacs(model, meta_model, info.resolution, info.in_chans)
    callbacks = _callbacks(model)
    for cb in callbacks:  # before anything is written: a run that cannot hold its schedule fails here
        cb.on_train_start(model, recipe.epochs)
        if hasattr(cb, "macs_fn"):
            cb.macs_fn = macs_now
    model.to(device)
    fast = data.fast
    if fast and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    steps = data.steps_per_epoch()

    state = {"epoch": 0, "step": 0, "history": [], "resumes": 0, "train_partial": None, "wall_s": 0.0}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        for cb in callbacks:
            cb.load_state_dict(ck["callbacks"].get(cb.name, {}))
        state = ck["state"]
        state["resumes"] += 1
        if dist.is_main:
            print(f"[{cfg.run_name}] resuming at epoch {state['epoch'] + 1}, step {state['step']}", flush=True)

    train_model: nn.Module = model
    if dist.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=getattr(model, "has_unused_parameters", False))
    if cfg.compile:
        train_model = torch.compile(train_model)
    amp = fast and cfg.amp

    base = {
        "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(),
        "smoke": cfg.scale == "smoke", "recipe": dataclasses.asdict(recipe), "seed": cfg.seed,
        "git": git_commit(), "environment": environment(device), "world_size": dist.world_size,
        "dataset": dataclasses.asdict(info) | {"train_images": data.n_train},
        "params": n_params, "macs_per_image": macs,  # as built; macs_per_image_final: after pruning
        "execution": {"fast_path": fast, "bf16_autocast": amp, "channels_last": fast and cfg.channels_last,
                      "compile": cfg.compile, "deterministic": cfg.deterministic},
    }

    def checkpoint() -> None:
        if dist.is_main:
            atomic_torch_save(ckpt_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                          "callbacks": {cb.name: cb.state_dict() for cb in callbacks},
                                          "state": state})

    def write_record(status: str, diverged_at: dict | None = None) -> dict[str, Any]:
        hist = state["history"]
        best = max(hist, key=lambda r: r["test_top1"]) if hist else None
        rec = {**base, "status": status, "epochs_done": state["epoch"], "epochs_total": recipe.epochs,
               "resumes": state["resumes"], "epochs": hist,
               "final": {k: hist[-1][k] for k in ("test_top1", "test_top5", "test_loss", "test_class_acc")
                         if k in hist[-1]} if hist else None,
               "best": {k: best[k] for k in ("test_top1", "test_top5", "test_class_acc", "epoch") if k in best}
               if best else None,
               "diverged": status == "diverged", "diverged_at": diverged_at,
               "callbacks": {cb.name: cb.record() for cb in callbacks},
               "train_time_s": sum(r["epoch_time_s"] for r in hist), "macs_per_image_final": macs_now()}
        rec = as_json(rec)
        if dist.is_main:
            atomic_write_json(record_path, rec)
        return rec

    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / CONFIG, cfg.to_dict())
        print(f"[{cfg.run_name}] {cfg.model} on {cfg.dataset} ({'smoke' if cfg.scale == 'smoke' else 'full'}) | "
              f"{n_params / 1e6:.3f}M params | {macs / 1e6:.1f}M MACs | {recipe.epochs} epochs x {steps} steps | "
              f"device {device}{' x' + str(dist.world_size) if dist.enabled else ''} | fast path {fast}", flush=True)
    stop = _StopFlag(dist, install=handle_signals)
    try:
        while state["epoch"] < recipe.epochs:
            epoch, start = state["epoch"], state["step"]
            for cb in callbacks:  # also when resuming inside the epoch (ELA: a measurement window)
                cb.on_epoch_start(epoch, model)
            prog = Progress(steps - start, f"epoch {epoch + 1}", enabled=cfg.progress and dist.is_main)
            partial = state["train_partial"] or {"loss_sum": 0.0, "correct": 0.0, "seen": 0, "seconds": 0.0}
            # single process: the loss sum of an interrupted epoch continues inside train_epoch
            # (exact); with several ranks each rank's share restarts at 0 and the all-reduced
            # part is added here (equal up to float rounding)
            carry = partial["loss_sum"] if not dist.enabled else 0.0
            res = train_epoch(
                train_model, data.train_batches(epoch, start), optimizer,
                lambda s, e=epoch: recipe.lr_at(e + s / steps), seed=cfg.seed, epoch=epoch, start_step=start,
                steps_total=steps, device=device, amp=amp, dist=dist, should_stop=stop, progress=prog,
                carry_loss=carry)
            prog.close()
            partial = {"loss_sum": partial["loss_sum"] - carry + res.loss_sum, "correct": partial["correct"] + res.correct,
                       "seen": partial["seen"] + res.seen, "seconds": partial["seconds"] + res.seconds}
            if res.diverged:
                where = {"epoch": epoch, "step": start + res.steps}
                print(f"[{cfg.run_name}] loss is not finite at epoch {epoch + 1}, step {where['step']}: "
                      f"recorded as diverged", flush=True)
                state["step"] = start + res.steps
                return write_record("diverged", where)
            if res.interrupted:
                state["step"], state["train_partial"] = start + res.steps, partial
                checkpoint()
                print(f"[{cfg.run_name}] interrupted at epoch {epoch + 1}, step {state['step']}: checkpoint saved",
                      flush=True)
                return write_record("interrupted")
            broadcast_buffers(model, dist)
            t_eval = time.perf_counter()
            metrics = evaluate(model, data.test_batches(), device=device, amp=amp, dist=dist,
                               num_classes=info.num_classes)
            seen = max(partial["seen"], 1)
            rec = {"epoch": epoch, "lr": recipe.lr_at(epoch), "train_loss": partial["loss_sum"] / seen,
                   "train_acc": 100 * partial["correct"] / seen, **metrics,
                   "epoch_time_s": partial["seconds"], "eval_time_s": time.perf_counter() - t_eval,
                   "images_per_s": partial["seen"] / max(partial["seconds"], 1e-9)}
            for cb in callbacks:
                cb.on_epoch_end(epoch, model, rec)
            state["history"].append(rec)
            state["epoch"], state["step"], state["train_partial"] = epoch + 1, 0, None
            checkpoint()
            write_record("running")
            if dist.is_main:
                left = recipe.epochs - state["epoch"]
                mean_t = sum(r["epoch_time_s"] + r["eval_time_s"] for r in state["history"]) / len(state["history"])
                print(_line(cfg.run_name, rec, recipe.epochs, left * mean_t), flush=True)
        if dist.enabled:  # evidence that data-parallel ranks ended with identical weights
            from .distributed import gather_object

            base["rank_weight_checksums"] = gather_object(_weight_checksum(model), dist)
        final = write_record("done")
        if dist.is_main:
            print(f"[{cfg.run_name}] done: final top1 {final['final']['test_top1']:.2f}%, "
                  f"best {final['best']['test_top1']:.2f}% (epoch {final['best']['epoch'] + 1}) -> {record_path}",
                  flush=True)
        return final
    finally:
        stop.restore()


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./reproduce.sh run", description="Train and evaluate one configuration.")
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model":
            p.add_argument(flag, required=True, help="registered model name (./reproduce.sh list models)")
        elif f.name in ("model_kwargs", "pruning"):
            p.add_argument(flag, type=json.loads, default={}, help="JSON object")
        elif f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"int | None": int, "float | None": float, "int": int, "str": str}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=f.default)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        rec = run(RunConfig(**vars(args)))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return {"done": 0, "diverged": 0, "interrupted": 3}.get(rec["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
