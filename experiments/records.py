"""Run records: atomic JSON files and the environment that produced a run."""
from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_write_json", "atomic_write_text", "as_json", "atomic_torch_save", "read_json", "environment", "git_commit"]

#: The repository root (the one place that computes it).
ROOT = Path(__file__).resolve().parents[1]


def _atomic_replace(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON so that readers see either the old file or the complete new one."""
    data = json.dumps(obj, indent=1, sort_keys=False, default=_jsonable).encode()
    _atomic_replace(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that readers see either the old file or the complete new one."""
    data = text.encode()
    _atomic_replace(path, lambda f: f.write(data))


def as_json(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, tensors numbers)."""
    return json.loads(json.dumps(obj, default=_jsonable))


def atomic_torch_save(path: Path, obj: Any) -> None:
    _atomic_replace(path, lambda f: torch.save(obj, f))


def _jsonable(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _driver_version() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """Python, torch, CUDA, driver, GPU name, hostname: what a reader needs to trust a number."""
    import torchvision

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "gpu": None,
        "driver": None,
        "cpu_threads": torch.get_num_threads(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["driver"] = _driver_version()
    return env
