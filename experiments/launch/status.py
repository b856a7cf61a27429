"""Per-run state of a launched table (done / running / queued / failed / incomplete / missing),
from the runs' records and the launch's state files in ``<out_root>/_launch/<table>-<profile>/``
(``local.jsonl``: local runs' exit codes; ``slurm.jsonl``: submitted job arrays)."""
from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..tables import Planned

__all__ = ["FINAL", "ACTIVE", "RunState", "read_record", "table_status", "row_labels", "top1_text",
           "latest_jobs", "state_word", "append_jsonl", "read_jsonl", "now"]

#: Record statuses of a finished run: never started again.
FINAL = ("done", "diverged")
#: SLURM job states of a job that is queued or running.
ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
          "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD")


def read_record(cfg: RunConfig) -> dict[str, Any] | None:
    path = cfg.run_dir / "record.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def top1_text(rec: dict | None) -> str:
    """'top1 x% (best y%)' of a record with final accuracies ('box AP x (best y)' of a
    detection record), else ''."""
    if not rec or not rec.get("final"):
        return ""
    if "bbox" in rec["final"]:
        return f"box AP {rec['final']['bbox']['AP']:.2f} (best {rec['best']['bbox']['AP']:.2f})"
    return f"top1 {rec['final']['test_top1']:.2f}% (best {rec['best']['test_top1']:.2f}%)"


def row_labels(planned: Planned) -> str:
    """The table rows a run serves ('a | b'), with their datasets when the run trains on another."""
    labels = list(dict.fromkeys(r.label for r in planned.rows))
    datasets = list(dict.fromkeys(r.dataset for r in planned.rows))
    tail = f" [{'+'.join(datasets)}]" if planned.cfg.dataset not in datasets else ""
    return " | ".join(labels) + tail


# --------------------------------------------------------------------------- state files
def append_jsonl(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def latest_jobs(sdir: Path) -> dict[str, dict]:
    """run name -> {job_id, stderr, stdout} of its most recent submission."""
    latest = {}
    for sub in read_jsonl(sdir / "slurm.jsonl"):
        for t in sub.get("tasks", []):
            latest[t["run"]] = t
    return latest


def state_word(state: str) -> str:
    """'CANCELLED by 0' -> 'CANCELLED'; '' stays ''."""
    return state.split()[0] if state else ""


# --------------------------------------------------------------------------- status
@dataclass
class RunState:
    planned: Planned
    state: str  # done | running | queued | failed | incomplete | missing
    detail: str = ""
    job_id: str = ""
    log: str = ""
    record: dict | None = None


def table_status(plans: list[Planned], sdir: Path) -> list[RunState]:
    from .slurm import slurm_states  # here: the slurm module imports this one

    latest = latest_jobs(sdir)
    live = slurm_states(t["job_id"] for t in latest.values())
    local = {e["run"]: e for e in read_jsonl(sdir / "local.jsonl")}
    return [_run_state(p, latest.get(p.cfg.run_name), live, local.get(p.cfg.run_name)) for p in plans]


def _run_state(p: Planned, job: dict | None, live: dict[str, str], loc: dict | None) -> RunState:
    """The state of one run: its record, else its last SLURM job, else its last local exit code."""
    rec = read_record(p.cfg)
    status = rec.get("status") if rec else None
    progress = f"epoch {rec['epochs_done']}/{rec['epochs_total']}" if rec and "epochs_done" in rec else ""
    if status in FINAL:
        detail = top1_text(rec) + (" (diverged)" if status == "diverged" else "")
        return RunState(p, "done", detail, job["job_id"] if job else "", record=rec)
    if job:
        state = state_word(live.get(job["job_id"], ""))
        if state == "PENDING":
            after = f"after ImageNet job {job['after']} (afterok)" if job.get("after") else ""
            return RunState(p, "queued", ", ".join(filter(None, (progress, after))), job["job_id"], record=rec)
        if state in ACTIVE:
            return RunState(p, "running", progress, job["job_id"], record=rec)
        if state:
            return RunState(p, "failed", f"job {state.lower()}" + (f", {progress}" if progress else ""),
                            job["job_id"], job["stderr"], record=rec)
    if loc and loc.get("rc", 0) != 0 and status not in FINAL:
        return RunState(p, "failed", f"exit code {loc['rc']}" + (f", {progress}" if progress else ""),
                        log=loc.get("log", ""), record=rec)
    if rec:
        age = time.time() - (p.cfg.run_dir / "record.json").stat().st_mtime
        return RunState(p, "incomplete", f"{status}, {progress}, last update {age / 60:.0f} min ago; "
                                         f"relaunching resumes it", record=rec)
    return RunState(p, "missing")
