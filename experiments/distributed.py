"""Data-parallel set-up: torchrun, or a SLURM job with one task per GPU.

torchrun exports RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. Inside a
SLURM job started with one task per GPU (submitit's ``tasks_per_node = gpus``), the
SLURM variables are turned into the same ones with submitit's
``TorchDistributedEnvironment`` (it picks the master node from the job's node list).
NCCL on GPUs, gloo on CPU. Only rank 0 writes records and checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from models import ConfigError

__all__ = ["DistInfo", "init_distributed", "shutdown", "all_reduce_sum", "gather_object", "broadcast_buffers",
           "broadcast_object", "collective_device", "per_rank_batch", "weight_checksum"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _from_slurm() -> None:
    """Export torch.distributed variables from a multi-task SLURM step (via submitit)."""
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    try:
        from submitit.helpers import TorchDistributedEnvironment
    except ImportError:  # pragma: no cover - submitit is a pinned requirement
        return
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group if this process was started as one of several."""
    _from_slurm()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    DDP keeps parameters identical, and copies rank 0's buffers only at the start of each
    training forward; the last forward of an epoch leaves each rank with running statistics
    of its own shard. Called before evaluation so that every rank tests the model rank 0
    checkpoints.
    """
    if info.enabled:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def gather_object(obj, info: DistInfo, dst: int | None = None) -> list | None:
    """Every rank's ``obj``, in rank order: on every rank (``dst`` None), or only on rank
    ``dst`` (None on the others; what a large object such as a val set's predictions needs)."""
    if not info.enabled:
        return [obj]
    if dst is None:
        out = [None] * info.world_size
        dist.all_gather_object(out, obj)
        return out
    out = [None] * info.world_size if info.rank == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def broadcast_object(obj, info: DistInfo, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank (picklable; the others pass anything, e.g. None)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def collective_device(info: DistInfo) -> torch.device:
    """Where a tensor for a collective must live: this rank's GPU under NCCL (which has no CPU
    collectives), else the CPU (gloo, one process)."""
    if info.enabled and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def per_rank_batch(batch_size: int, info: DistInfo) -> int:
    """The batch of one rank: the recipe's batch is the global one, split evenly over the ranks."""
    if batch_size % info.world_size:
        raise ConfigError(f"batch size {batch_size} is not divisible by {info.world_size} processes")
    return batch_size // info.world_size


def weight_checksum(model: torch.nn.Module) -> str:
    """A short hash of ``model``'s state (tensors' bytes; extra states such as ELA's pruned
    flags by their repr): data-parallel ranks that hold identical models give the same."""
    import hashlib

    h = hashlib.sha256()
    for v in model.state_dict().values():
        if isinstance(v, torch.Tensor):
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())  # any dtype
        else:
            h.update(repr(v).encode())
    return h.hexdigest()[:16]
