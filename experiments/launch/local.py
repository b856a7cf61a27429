"""The local executors: one process per run (``run_local``) or everything in this process (``run_debug``)."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..tables import Planned
from .plan import ROOT, cli_args
from .status import FINAL, append_jsonl, now, read_record, row_labels, top1_text

__all__ = ["run_local", "run_debug", "start_order"]


class _Progress:
    """One line for the whole launch: runs done / running / left, elapsed and ETA (the mean
    wall time of the runs finished here, spread over the parallel slots)."""

    def __init__(self, total: int, jobs: int, out):
        self.total, self.jobs, self.out, self.t0 = total, jobs, out, time.perf_counter()
        self.done, self.running, self.times = 0, 0, []

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        left = self.total - self.done - self.running
        if self.times:
            eta = sum(self.times) / len(self.times) * (left + self.running) / self.jobs
            eta_s = time.strftime("%H:%M:%S", time.gmtime(eta))
        else:
            eta_s = "--:--:--"
        return (f"[table] {self.done}/{self.total} done, {self.running} running, {left} left | elapsed "
                f"{time.strftime('%H:%M:%S', time.gmtime(elapsed))} | ETA {eta_s}")

    def show(self) -> None:
        print(self.line(), file=self.out, flush=True)


def _run_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    # Idle OpenMP threads sleep instead of spinning: on a CPU shared with other work, spinning
    # threads made small-batch CPU runs 3-4x slower (measured on the 2-core machine, load 3.5).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads follow it
    return env


class _LocalLaunch:
    """The run processes of one ``run_local`` call, at most ``jobs`` at a time; ``results`` holds
    ``(i, plan, status, seconds, log)`` in order of completion."""

    def __init__(self, plans: list[Planned], sdir: Path, out, jobs: int, costs: list[float] | None = None):
        self.n, self.sdir, self.out, self.results = len(plans), sdir, out, []
        self.logs = sdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.jobs = max(1, min(int(jobs), self.n or 1))
        self.env = _run_env(max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else None)
        self.prog = _Progress(self.n, self.jobs, out)
        self.pending = start_order(list(enumerate(plans, 1)), costs, self.jobs)
        self.active: dict[int, tuple] = {}  # i -> (plan, proc, log file, log path, t0)

    def run(self) -> None:
        while self.pending or self.active:
            while self.pending and len(self.active) < self.jobs:
                self.start(*self.pending.pop(0))
            for i in [i for i, a in self.active.items() if a[1].poll() is not None]:
                self.finish(i, self.active[i][1].wait())
            if self.active:
                time.sleep(0.2)

    def start(self, i: int, p: Planned) -> None:
        """Skip a finished run, else start (or resume) it; with one job at a time its output is streamed."""
        cfg = p.cfg
        rec = read_record(cfg)
        head = f"[{i}/{self.n}] {cfg.run_name}  ({row_labels(p)}, seed {cfg.seed})"
        if rec and rec.get("status") in FINAL:
            print(f"{head}: already {rec['status']} {top1_text(rec)}", file=self.out, flush=True)
            self.results.append((i, p, rec["status"], 0.0, None))
            self.prog.done += 1
            return
        print(f"{head}: {'resuming' if rec else 'starting'}", file=self.out, flush=True)
        log = self.logs / f"{cfg.run_name}.log"
        cmd = [sys.executable, "-m", "experiments.run", *cli_args(cfg)]
        lf = open(log, "a")
        lf.write(f"# {now()} {' '.join(cmd)}\n")
        lf.flush()
        stream = self.jobs == 1
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE if stream else lf,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.active[i] = (p, proc, lf, log, time.perf_counter())
        self.prog.running += 1
        if stream:
            for line in proc.stdout:
                lf.write(line)
                print("    " + line.rstrip(), file=self.out, flush=True)

    def finish(self, i: int, rc: int) -> None:
        p, proc, lf, log, t0 = self.active.pop(i)
        lf.close()
        secs = time.perf_counter() - t0
        rec = read_record(p.cfg)
        status = rec.get("status") if rec else "failed"
        if rc != 0 and status not in FINAL:
            status = "failed"
        append_jsonl(self.sdir / "local.jsonl", {"time": now(), "run": p.cfg.run_name, "rc": rc, "status": status,
                                                 "log": str(log), "seconds": round(secs, 1)})
        print(f"[{i}/{self.n}] {status} in {secs:.0f} s {top1_text(rec)}"
              + (f" -> log {log}" if status == "failed" else ""), file=self.out, flush=True)
        self.results.append((i, p, status, secs, log))
        self.prog.running, self.prog.done = self.prog.running - 1, self.prog.done + 1
        self.prog.times.append(secs)
        self.prog.show()

    def interrupt(self) -> None:
        """Ctrl-C: each running run checkpoints at its next step and exits; noted in local.jsonl."""
        for _, proc, _, _, _ in self.active.values():
            proc.send_signal(signal.SIGTERM)
        for p, proc, lf, log, _ in self.active.values():
            proc.wait()
            lf.close()
            append_jsonl(self.sdir / "local.jsonl", {"time": now(), "run": p.cfg.run_name, "rc": 130, "log": str(log)})
        print(f"\ninterrupted: {len(self.active)} running run(s) checkpointed; the same command resumes them",
              file=self.out)


def start_order(pending: list[tuple[int, Planned]], costs: list[float] | None, jobs: int
                ) -> list[tuple[int, Planned]]:
    """The order in which ``jobs`` parallel slots start the runs: the costliest first (``costs``,
    e.g. ``estimate().per_run_h``, in the plans' order; longest-processing-time-first, which
    keeps the last minutes from running one long run on one core while the others idle);
    the plans' own order with one slot or without costs. Runs keep their ``[i/n]`` numbers."""
    if jobs <= 1 or not costs or len(costs) != len(pending):
        return pending
    return [pending[k] for k in sorted(range(len(pending)), key=lambda k: (-costs[k], k))]


def run_local(plans: list[Planned], sdir: Path, *, out=None, jobs: int = 1, costs: list[float] | None = None) -> int:
    """One process per run (``python -m experiments.run``): one after another with its output
    streamed (``jobs=1``), or ``jobs`` at a time (the costliest first: ``start_order``), each
    with ``cpus // jobs`` threads and its output in its log (one line per start and finish,
    and the launch's progress line)."""
    out = sys.stdout if out is None else out  # looked up now: a caller may have redirected it
    t_all = time.perf_counter()
    launch = _LocalLaunch(plans, sdir, out, jobs, costs)
    try:
        launch.run()
    except KeyboardInterrupt:
        launch.interrupt()
        return 130
    results = [r[1:] for r in sorted(launch.results, key=lambda r: r[0])]
    _summary(results, time.perf_counter() - t_all, out)
    return 0 if all(s in FINAL for _, s, _, _ in results) else 1


def run_debug(plans: list[Planned], *, out=None) -> int:
    """In this process, one after another; errors propagate (for debugging)."""
    from ..run import run

    out = sys.stdout if out is None else out
    results, t_all = [], time.perf_counter()
    for i, p in enumerate(plans, 1):
        print(f"[{i}/{len(plans)}] {p.cfg.run_name}  ({row_labels(p)}, seed {p.cfg.seed})", file=out, flush=True)
        t0 = time.perf_counter()
        rec = run(dataclasses.replace(p.cfg, progress=True))
        results.append((p, rec["status"], time.perf_counter() - t0, None))
    _summary(results, time.perf_counter() - t_all, out)
    return 0 if all(s in FINAL for _, s, _, _ in results) else 1


def _summary(results, seconds: float, out) -> None:
    counts: dict[str, int] = {}
    for _, s, _, _ in results:
        counts[s] = counts.get(s, 0) + 1
    print(f"\nsummary: {len(results)} runs in {seconds / 60:.1f} min: "
          + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), file=out)
    for p, s, secs, log in results:
        rec = read_record(p.cfg)
        print(f"  {s:11s} {secs:7.1f} s  {p.cfg.run_name}  {top1_text(rec)}" + (f"  log: {log}" if s == "failed" else ""),
              file=out)
    print(f"records: {results[0][0].cfg.out_root if results else ''}/<run>/record.json", file=out, flush=True)
