"""Cost estimate of a table's runs: measured GPU epoch times (results/bench/) where known, else FLOPs."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from models import ConfigError

from ..config import RunConfig
from ..data import dataset_info
from ..tables import Planned
from .plan import ROOT

__all__ = ["BENCH_DIR", "GPU_MACS_PER_S", "CPU_MACS_PER_S", "CPU_RUN_OVERHEAD_S", "Estimate", "estimate"]

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


def _method(n_runs: int, measured: int, smoke: bool) -> tuple[str, str]:
    """(device, how the estimate was made)."""
    if smoke:
        return "CPU", (f"rough estimate for this CPU from FLOPs ({CPU_MACS_PER_S:.0e} MAC/s, training = 3x forward, "
                       f"+{CPU_RUN_OVERHEAD_S:.0f} s per run)")
    if measured == n_runs:
        return "GPU", f"from measured epoch times in {BENCH_DIR.relative_to(ROOT)}"
    rates = ", ".join(f"{v:.0e} MAC/s at {k}px" for k, v in GPU_MACS_PER_S.items())
    return "GPU", (f"ROUGH estimate from FLOPs for {n_runs - measured} of {n_runs} runs (assumed sustained "
                   f"{rates} per GPU, training = 3x forward; layer-attention models run below their FLOP rate)"
                   + (f"; {measured} from measured epoch times in results/bench/" if measured else
                      "; no measured epoch times found in results/bench/"))


def estimate(plans: list[Planned], cache_path: Path | None = None) -> Estimate:
    """Rough cost of the runs: measured epoch times (results/bench/) where known, else FLOPs.
    ``cache_path``: a JSON file that keeps the MAC counts between calls."""
    cache = _read_cache(cache_path)
    bench = _bench_records(BENCH_DIR)
    smoke = all(p.cfg.scale == "smoke" for p in plans)
    per_run, measured = [], 0
    for p in plans:
        seconds, was_measured = _run_seconds(p.cfg, bench, cache, smoke)
        measured += was_measured
        per_run.append(seconds / 3600)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    device, method = _method(len(plans), measured, smoke)
    return Estimate(per_run, sum(per_run), device, method)
