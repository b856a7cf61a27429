"""Facts about the machine a measurement ran on: load average, CPU model, peak memory."""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

__all__ = ["loadavg", "cpu_model", "rss_peak"]


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def rss_peak(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident set size in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(who).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
