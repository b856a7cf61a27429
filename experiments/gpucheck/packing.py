"""Part 3 of the GPU check: aggregate training throughput of k runs sharing one GPU.

A CIFAR ResNet at batch 128 leaves most of an H100 idle (kernel launches, not arithmetic, set
its pace), so k independent runs in k processes on one GPU can finish k runs in less than k
times one run's wall time. ``measure_packing`` starts k worker processes (this module with
``--worker``), each training the model on the fast path (GPU-resident data, bf16 autocast,
channels_last, the project's ``sgd_step``); each warms up, says it is ready, and waits; when all
k are ready the parent says go and every worker counts its steps over the same ``seconds`` of
wall time. The aggregate images/s is the sum of the k rates over that common window.

Its record, ``packing.<model>.bs<B>.json`` under the bench folder, is what the launcher's
``--pack auto`` and the cost estimate read (``by_k``: aggregate images/s per k; ``best_k``: the
smallest k within 5% of the highest aggregate).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["measure_packing", "best_k", "worker_main"]


def best_k(by_k: dict[int, float]) -> int:
    """The smallest k whose aggregate throughput is within 5% of the best."""
    top = max(by_k.values())
    return min(k for k, v in by_k.items() if v >= 0.95 * top)


def _worker_cmd(model: str, batch_size: int, device: str, data_root: str, seconds: float, sync: Path, i: int,
                threads: int) -> list[str]:
    return [sys.executable, "-m", "experiments.gpucheck.packing", "--worker", "--model", model,
            "--batch-size", str(batch_size), "--device", device, "--data-root", data_root,
            "--seconds", str(seconds), "--sync", str(sync), "--index", str(i), "--threads", str(threads)]


def _run_k(k: int, model: str, batch_size: int, device: str, data_root: str, seconds: float,
           timeout: float) -> dict[str, Any]:
    """k workers over one common window; their rates and the aggregate."""
    with tempfile.TemporaryDirectory(prefix="pack-") as tmp:
        sync = Path(tmp)
        threads = max(1, (os.cpu_count() or 1) // k) if device == "cpu" else 1
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        procs = [subprocess.Popen(_worker_cmd(model, batch_size, device, data_root, seconds, sync, i, threads),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(k)]
        t_end = time.monotonic() + timeout
        while len(list(sync.glob("ready.*"))) < k and time.monotonic() < t_end:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.05)
        (sync / "go").touch()
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=max(1.0, t_end - time.monotonic()) + seconds)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            outs.append((p.returncode, out, err))
    rates = []
    for rc, out, err in outs:
        if rc != 0 or not out.strip():
            return {"k": k, "error": (err or "no output").strip().splitlines()[-1:] or ["worker failed"]}
        rates.append(json.loads(out.strip().splitlines()[-1])["images_per_s"])
    return {"k": k, "images_per_s": sum(rates), "per_process_images_per_s": rates}


def measure_packing(model: str, *, ks: tuple[int, ...], batch_size: int, device: torch.device, data_root: str,
                    seconds: float, out_dir: Path, deadline: float | None = None, log=print) -> dict[str, Any]:
    """Aggregate throughput for each k (until ``deadline``); returns the record, and writes it
    when at least one k was measured."""
    from ..records import atomic_write_json

    by_k, detail = {}, []
    for k in ks:
        if deadline is not None and time.monotonic() + seconds + 20 > deadline:
            detail.append({"k": k, "skipped": "time budget spent"})
            continue
        t0 = time.perf_counter()
        r = _run_k(k, model, batch_size, device.type, data_root, seconds, timeout=180)
        r["wall_seconds"] = time.perf_counter() - t0
        detail.append(r)
        if "images_per_s" in r:
            by_k[k] = r["images_per_s"]
            log(f"  packing {model} k={k}: {r['images_per_s']:,.0f} images/s in all "
                f"({', '.join(f'{v:,.0f}' for v in r['per_process_images_per_s'])})")
        else:
            log(f"  packing {model} k={k}: ERROR {r.get('error')}")
    rec: dict[str, Any] = {"kind": "packing", "model": model, "batch_size": batch_size, "dataset": "fashionmnist",
                           "device": device.type, "window_seconds": seconds, "detail": detail,
                           "by_k": {str(k): {"images_per_s": v} for k, v in by_k.items()},
                           "best_k": best_k(by_k) if by_k else None,
                           "pipeline": "fast (GpuBatches, bf16 autocast, channels_last on CUDA; fp32 NCHW on CPU)"}
    if device.type == "cuda":
        rec["gpu_name"] = torch.cuda.get_device_name(device)
    if not by_k:  # nothing measured: no record for the launcher to read (the check's own record says why)
        return rec
    path = out_dir / f"packing.{model}.bs{batch_size}.json"
    atomic_write_json(path, rec)
    rec["_path"] = str(path)
    return rec


# --------------------------------------------------------------------------- the worker process
def _worker(args: argparse.Namespace) -> dict[str, Any]:
    from .. import data as D
    from ..config import RunConfig
    from ..engine import sgd_step
    from ..run import build_model, build_optimizer

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = cuda
    info = D.dataset_info("fashionmnist")
    x, y = D.load_uint8("fashionmnist", args.data_root, train=True, subset=None if cuda else 4 * args.batch_size)
    gb = D.GpuBatches(x.to(device), y.to(device), info, batch_size=args.batch_size, train=True, drop_last=True,
                      channels_last=cuda)
    cfg = RunConfig(model=args.model, dataset="fashionmnist")
    recipe = cfg.effective_recipe()
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, recipe)

    def batches():
        epoch = 0
        while True:
            yield from gb.epoch(1000 * args.index + epoch)
            epoch += 1

    it = batches()
    for _ in range(10 if cuda else 2):  # cuDNN autotuning, allocator
        xb, yb = next(it)
        sgd_step(model, opt, xb, yb, lr=0.01, amp=cuda)
    if cuda:
        torch.cuda.synchronize()
    sync = Path(args.sync)
    (sync / f"ready.{args.index}").touch()
    while not (sync / "go").exists():
        time.sleep(0.01)
    steps, t0 = 0, time.perf_counter()
    while True:
        xb, yb = next(it)
        sgd_step(model, opt, xb, yb, lr=0.01, amp=cuda)
        steps += 1
        if steps % 10 == 0:
            if cuda:
                torch.cuda.synchronize()
            if time.perf_counter() - t0 >= args.seconds:
                break
    elapsed = time.perf_counter() - t0
    return {"images_per_s": steps * args.batch_size / elapsed, "steps": steps, "seconds": elapsed}


def worker_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.gpucheck.packing")
    p.add_argument("--worker", action="store_true", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-root", default="data")
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--sync", required=True)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    print(json.dumps(_worker(p.parse_args(argv))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
