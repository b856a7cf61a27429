"""Where a training step's time goes (``torch.profiler``): host-bound or device-bound?

The first GPU check (H200, torch 2.11) measured ResNet-56 (bottleneck) at 3,678 images/s and
MRLA-B-56 at 1,433 images/s on the fast path, batch 128: 35 and 89 ms per step, far from what
the device's arithmetic allows, and the CPU-side pipeline was no slower (the reference pipeline
was even faster). This part says why: for each model it trains ``steps`` fast-path steps
(GpuBatches, channels_last, bf16 autocast, the project's ``sgd_step``) under the profiler and
records the wall time per step, the device's kernel time per step (sum of CUDA kernel self
times), their ratio (the GPU's busy fraction: a launch-bound step is far below 1), kernel
launches per step, the ten operators with the most host (CPU) time and the ten kernels with the
most device time.
"""
from __future__ import annotations

import time
from typing import Any

import torch

__all__ = ["profile_step"]


def profile_step(model_name: str, *, device: torch.device, data_root: str, batch_size: int, steps: int,
                 amp: bool = True, channels_last: bool = True) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    from .. import data as D
    from ..config import RunConfig
    from ..engine import sgd_step
    from ..run import build_model, build_optimizer

    cuda = device.type == "cuda"
    amp, channels_last = amp and cuda, channels_last and cuda
    torch.backends.cudnn.benchmark = cuda
    info = D.dataset_info("fashionmnist")
    x, y = D.load_uint8("fashionmnist", data_root, train=True, subset=(steps + 5) * batch_size)
    gb = D.GpuBatches(x.to(device), y.to(device), info, batch_size=batch_size, train=True, drop_last=True,
                      channels_last=channels_last)
    cfg = RunConfig(model=model_name, dataset="fashionmnist")
    recipe = cfg.effective_recipe()
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, recipe)
    batches = list(gb.epoch(0))
    for xb, yb in batches[:5]:  # warm-up: cuDNN autotuning, allocator
        sgd_step(model, opt, xb, yb, lr=recipe.lr, amp=amp)
    if cuda:
        torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for xb, yb in batches[5:5 + steps]:
            sgd_step(model, opt, xb, yb, lr=recipe.lr, amp=amp)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    return _summary(prof, model_name, batch_size, steps, wall, cuda, amp, channels_last)


def _summary(prof, model_name: str, batch_size: int, steps: int, wall: float, cuda: bool, amp: bool,
             channels_last: bool) -> dict[str, Any]:
    kernels_us, launches, by_kernel = 0.0, 0, {}
    for e in prof.events():
        if cuda and getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA:
            us = e.time_range.elapsed_us()
            kernels_us += us
            launches += 1
            k = by_kernel.setdefault(e.name, [0.0, 0])
            k[0], k[1] = k[0] + us, k[1] + 1
    top_kernels = sorted(by_kernel.items(), key=lambda kv: kv[1][0], reverse=True)[:10]
    top = sorted(prof.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)[:10]
    step_ms = 1000 * wall / steps
    kernel_ms = kernels_us / 1000 / steps
    return {"model": model_name, "batch_size": batch_size, "steps": steps, "amp": amp, "channels_last": channels_last,
            "wall_ms_per_step": step_ms, "images_per_s": batch_size * steps / wall,
            "kernel_ms_per_step": kernel_ms if cuda else None,
            "gpu_busy_fraction": kernel_ms / step_ms if cuda and step_ms else None,
            "kernels_per_step": launches / steps if cuda else None,
            "top_host_ops": [{"op": a.key, "self_cpu_ms_per_step": a.self_cpu_time_total / 1000 / steps,
                              "calls_per_step": a.count / steps} for a in top],
            "top_kernels": [{"kernel": name[:160], "ms_per_step": us / 1000 / steps, "launches_per_step": n / steps}
                            for name, (us, n) in top_kernels]}
