"""Cost estimate of a table's runs: measured GPU epoch times (results/bench/) where known, else FLOPs;
and packing (issue 17): several small runs sharing one GPU, at the aggregate throughput measured
for k concurrent processes (``results/bench/<tag>/packing.<model>.bs<B>.json``)."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from models import ConfigError

from ..config import RunConfig
from ..data import dataset_info
from ..tables import Planned
from .plan import ROOT

__all__ = ["BENCH_DIR", "GPU_MACS_PER_S", "CPU_MACS_PER_S", "CPU_RUN_OVERHEAD_S", "Estimate", "estimate",
           "PackingRecord", "PACK_TOLERANCE", "pack_value", "packing_records", "best_pack", "choose_pack",
           "pack_groups", "shown_path"]

BENCH_DIR = ROOT / "results" / "bench"
#: Sustained training throughput assumed for the FLOP-based estimate, multiply-accumulates per
#: second per GPU, by input resolution (small CIFAR nets use a GPU far less well than ResNet-50).
GPU_MACS_PER_S = {32: 3e12, 96: 1e13, 224: 2e13}
#: The same for the CPU (smoke scale): ELA Table 1's smoke runs on the 2-core development machine.
CPU_MACS_PER_S = 1.2e10
CPU_RUN_OVERHEAD_S = 5.0  # process start, imports, model build, data loading


@dataclass
class Estimate:
    per_run_h: list[float]
    total_h: float
    device: str  # 'GPU' or 'CPU'
    method: str
    pack: int = 1  # runs per job sharing one GPU (slurm executor)


def _macs(cfg: RunConfig, cache: dict) -> float:
    """Forward MACs per image of the run's model at its dataset's resolution (memoised in ``cache``)."""
    import torch

    from ..params import count_macs
    from ..run import build_model

    info = dataset_info(cfg.dataset)
    key = json.dumps([cfg.model, cfg.model_kwargs, info.resolution, info.in_chans, info.num_classes], sort_keys=True)
    if key not in cache:
        with torch.device("meta"):
            net = build_model(dataclasses.replace(cfg, pruning={}), info.num_classes, info.in_chans, 0.0, 0.0)
        cache[key] = count_macs(net, info.resolution, info.in_chans)
    return cache[key]


def _bench_key(model: str, kwargs: dict, dataset: str) -> str:
    return json.dumps([model, kwargs or {}, dataset_info(dataset).resolution], sort_keys=True)


def _bench_records(bench_dir: Path = BENCH_DIR) -> dict[str, dict[int, tuple[float, str]]]:
    """Measured GPU seconds per training image, by (model, kwargs, input resolution) and batch
    size, from records under results/bench/ in the layout of experiments.run's record.json
    (``config``, ``epochs[].epoch_time_s``, ``dataset.train_images``, ``world_size``; the
    fast-pipeline records of ``./reproduce.sh bench`` have it). CPU records are ignored."""
    out: dict[str, dict[int, tuple[float, str]]] = {}
    if not bench_dir.is_dir():
        return out
    for path in sorted(bench_dir.rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
            cfg, eps = rec["config"], [e["epoch_time_s"] for e in rec["epochs"]]
            n = rec["dataset"]["train_images"]
            env = rec.get("environment") or {}
            if not eps or not n or str(env.get("device") or rec.get("device") or "cpu").startswith("cpu"):
                continue
            key = _bench_key(cfg["model"], cfg.get("model_kwargs") or {}, cfg["dataset"])
        except (OSError, ValueError, KeyError, TypeError, ConfigError):
            continue
        per_image = sum(eps) / len(eps) / n * rec.get("world_size", 1)
        out.setdefault(key, {})[int(cfg.get("batch_size") or 0)] = (per_image, str(env.get("gpu") or "GPU"))
    return out


def _read_cache(cache_path: Path | None) -> dict:
    if cache_path is None or not cache_path.exists():
        return {}
    try:
        return json.loads(cache_path.read_text())
    except ValueError:
        return {}


def _run_seconds(cfg: RunConfig, bench: dict, cache: dict, smoke: bool) -> tuple[float, bool]:
    """(seconds, measured): from a measured epoch time of the model, else from its FLOPs."""
    info = dataset_info(cfg.dataset)
    train_sub, test_sub = cfg.subsets()
    n_train, n_test = train_sub or info.train_size, test_sub or info.test_size
    epochs = cfg.effective_recipe().epochs
    key = _bench_key(cfg.model, cfg.model_kwargs, cfg.dataset)
    if not smoke and key in bench:
        by_bs = bench[key]
        bs = cfg.effective_recipe().batch_size
        per_image = (by_bs.get(bs) or next(iter(by_bs.values())))[0]  # prefer the recipe's batch size
        return per_image * n_train * epochs * (1 + n_test / (3 * n_train)), True
    macs = _macs(cfg, cache)
    work = epochs * macs * (3 * n_train + n_test)  # forward+backward ~ 3x forward, eval 1x
    if smoke:
        return work / CPU_MACS_PER_S + CPU_RUN_OVERHEAD_S, False
    rate = GPU_MACS_PER_S[min(GPU_MACS_PER_S, key=lambda r: abs(r - info.resolution))]
    return work / rate, False


def _method(n_runs: int, measured: int, smoke: bool, bench_dir: Path) -> tuple[str, str]:
    """(device, how the estimate was made)."""
    if smoke:
        return "CPU", (f"rough estimate for this CPU from FLOPs ({CPU_MACS_PER_S:.0e} MAC/s, training = 3x forward, "
                       f"+{CPU_RUN_OVERHEAD_S:.0f} s per run)")
    if measured == n_runs:
        return "GPU", f"from measured epoch times in {shown_path(bench_dir)}"
    rates = ", ".join(f"{v:.0e} MAC/s at {k}px" for k, v in GPU_MACS_PER_S.items())
    return "GPU", (f"ROUGH estimate from FLOPs for {n_runs - measured} of {n_runs} runs (assumed sustained "
                   f"{rates} per GPU, training = 3x forward; layer-attention models run below their FLOP rate)"
                   + (f"; {measured} from measured epoch times in results/bench/" if measured else
                      "; no measured epoch times found in results/bench/"))


# --------------------------------------------------------------------------- packing (issue 17)
#: ``--pack auto`` takes the smallest k whose aggregate throughput is within this fraction of the
#: highest measured (a larger pack that is barely faster only adds contention and GPU memory).
PACK_TOLERANCE = 0.05


@dataclass(frozen=True)
class PackingRecord:
    """Aggregate training throughput (images/s, all processes together) of k concurrent
    processes on one GPU, each training ``model`` at ``batch_size``: a
    ``results/bench/<tag>/packing.<model>.bs<B>.json`` record written by the GPU check."""
    model: str
    batch_size: int
    by_k: dict[int, float]
    path: Path

    def wall_factor(self, m: int) -> float | None:
        """Wall time of m runs packed on one GPU over the same runs one after another: m runs of
        W images each take m*W/R_m seconds packed and m*W/R_1 in sequence, so R_1/R_m. R_m is
        the rate measured at the largest k <= m (no speed-up is assumed beyond a measurement);
        None without a measurement at k = 1."""
        if 1 not in self.by_k:
            return None
        return self.by_k[1] / self.by_k[max(k for k in self.by_k if k <= m)]


def pack_value(pack: int | str) -> int | None:
    """``--pack`` -> k (>= 1), or None for 'auto'; anything else is a ConfigError."""
    if str(pack).strip().lower() == "auto":
        return None
    try:
        k = int(pack)
    except (TypeError, ValueError):
        k = 0
    if k < 1:
        raise ConfigError(f"--pack must be a number of runs per GPU (>= 1) or 'auto', got {pack!r}")
    return k


def packing_records(bench_dir: Path | None = None) -> dict[tuple[str, int], PackingRecord]:
    """(model, batch size) -> its packing record, from ``<bench_dir>/*/packing.*.json``
    (GPU records only; unreadable ones are ignored)."""
    bench_dir = BENCH_DIR if bench_dir is None else bench_dir
    out: dict[tuple[str, int], PackingRecord] = {}
    for path in sorted(bench_dir.glob("*/packing.*.json")) if bench_dir.is_dir() else []:
        rec = _read_packing(path)
        if rec is not None:
            out[(rec.model, rec.batch_size)] = rec
    return out


def _read_packing(path: Path) -> PackingRecord | None:
    try:
        raw = json.loads(path.read_text())
        if raw.get("kind") != "packing" or str(raw.get("device") or "cuda").startswith("cpu"):
            return None
        by_k = {int(k): float(v["images_per_s"]) for k, v in raw["by_k"].items()}
        rec = PackingRecord(str(raw["model"]), int(raw["batch_size"]), by_k, path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return rec if by_k and min(by_k) >= 1 and min(by_k.values()) > 0 else None


def best_pack(by_k: dict[int, float]) -> int:
    """The smallest k whose aggregate throughput is within PACK_TOLERANCE of the highest."""
    top = max(by_k.values())
    return min(k for k, rate in by_k.items() if rate >= (1 - PACK_TOLERANCE) * top)


def _record_for(cfg: RunConfig, packing: dict[tuple[str, int], PackingRecord], cache: dict) -> PackingRecord | None:
    """The packing record of ``cfg``'s model (at its batch size when measured there), else that
    of the measured model with the closest forward MACs, else None."""
    same = [r for (model, _), r in packing.items() if model == cfg.model]
    if same:
        bs = cfg.effective_recipe().batch_size
        return next((r for r in same if r.batch_size == bs), same[0])

    def distance(r: PackingRecord) -> float:
        try:
            return abs(_macs(dataclasses.replace(cfg, model=r.model, model_kwargs={}), cache) - _macs(cfg, cache))
        except (ConfigError, KeyError, TypeError, ValueError):
            return math.inf

    ranked = sorted(packing.values(), key=distance)
    return ranked[0] if ranked and distance(ranked[0]) < math.inf else None


def choose_pack(pack: int | str, plans: list[Planned], packing: dict[tuple[str, int], PackingRecord],
                cache: dict, *, max_pack: int | None = None) -> tuple[int, list[Path]]:
    """(k, the records it came from): the number given, or for 'auto' the smallest of the runs'
    models' ``best_pack`` (each model's own record, else the closest by MACs: ``_record_for``),
    capped by the cluster profile's ``max_pack``; 1 without records."""
    k = pack_value(pack)
    if k is not None:
        return k, []
    models = {p.cfg.model: p.cfg for p in plans}
    records = [_record_for(cfg, packing, cache) for cfg in models.values()]
    if not records or None in records:
        return 1, []
    k = min(best_pack(r.by_k) for r in records)
    return max(1, min(k, max_pack or k)), sorted({r.path for r in records})


def pack_groups(items: list, k: int) -> list[list]:
    """``items`` in jobs of at most k, in order (10 runs, k = 4: 4 + 4 + 2)."""
    return [items[i:i + k] for i in range(0, len(items), max(1, k))]


def _packed_hours(plans: list[Planned], per_run: list[float], k: int,
                  packing: dict[tuple[str, int], PackingRecord], cache: dict) -> tuple[list[float], list[Path]]:
    """Each run's share of its job's GPU time when the single-GPU ('default' shape) runs go k
    to a job, in plan order as the slurm executor packs them: its unpacked hours x R_1/R_m for a
    job of m runs (``PackingRecord.wall_factor``); unchanged without a measurement. Returns the
    hours and the records used."""
    out, used = list(per_run), set()
    single = [i for i, p in enumerate(plans) if p.resources == "default"]
    for job in pack_groups(single, k):
        for i in job:
            rec = _record_for(plans[i].cfg, packing, cache)
            factor = rec.wall_factor(len(job)) if rec else None
            if factor is not None:
                out[i] *= factor
                used.add(rec.path)
    return out, sorted(used)


def _pack_method(k: int, used: list[Path]) -> str:
    if used:
        return (f"pack {k} runs per GPU, at the aggregate throughput measured in "
                f"{', '.join(shown_path(p) for p in used)}")
    return f"pack {k}, no packing measurement: assumed no speed-up"


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def estimate(plans: list[Planned], cache_path: Path | None = None, *, pack: int | str = 1,
             max_pack: int | None = None, bench_dir: Path | None = None) -> Estimate:
    """Rough cost of the runs: measured epoch times (results/bench/) where known, else FLOPs.
    ``cache_path``: a JSON file that keeps the MAC counts between calls. ``pack`` (a number or
    'auto', see ``choose_pack``): runs per SLURM job sharing one GPU; each run's hours become its
    share of its job's wall time (``_packed_hours``)."""
    bench_dir = BENCH_DIR if bench_dir is None else bench_dir
    cache = _read_cache(cache_path)
    bench = _bench_records(bench_dir)
    smoke = all(p.cfg.scale == "smoke" for p in plans)
    per_run, measured = [], 0
    for p in plans:
        seconds, was_measured = _run_seconds(p.cfg, bench, cache, smoke)
        measured += was_measured
        per_run.append(seconds / 3600)
    device, method = _method(len(plans), measured, smoke, bench_dir)
    packing = packing_records(bench_dir) if not smoke else {}
    k, _ = choose_pack(pack, [p for p in plans if p.resources == "default"], packing, cache, max_pack=max_pack)
    if k > 1:
        per_run, used = _packed_hours(plans, per_run, k, packing, cache)
        method += "; " + _pack_method(k, used)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    return Estimate(per_run, sum(per_run), device, method, k)
