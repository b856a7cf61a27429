"""Run a paper table: plan, check data, estimate cost, execute (local | debug | slurm), report status.

    ./reproduce.sh table1 --profile smoke                    # ELA Table 1 on Fashion-MNIST, CPU, runs one by one
    ./reproduce.sh dia.table4 --dry-run                      # the run list and its estimated GPU-hours
    ./reproduce.sh dla.table1 --executor slurm --cluster my-cluster --data-root /data/cifar
    ./reproduce.sh status dla.table1                         # done / running / failed / missing per run

Executors
---------
``local``  one run after another, each in its own process (``python -m experiments.run``),
           output shown and kept in ``<out>/_launch/<table>-<profile>/logs/<run>.log``.
``debug``  in this process (exceptions and breakpoints reach you).
``slurm``  ONE job array per table through submitit, or one per resource shape when the
           table mixes single-GPU rows and ImageNet rows (one array has one shape). The code
           is snapshotted first (``submitit.helpers.RsyncSnapshot``, the working tree as it is:
           tracked and untracked-but-not-ignored files) so later edits do not leak into queued
           jobs. Each task is a ``TableJob`` (a ``submitit.helpers.Checkpointable``): on a
           timeout or preemption submitit calls ``checkpoint()``, which resubmits the same
           run; the requeued task resumes from the run's last epoch checkpoint
           (``experiments.run``). Returns at once; ``status`` reports progress.
           ``--pack K|auto`` puts K single-GPU runs into one array task (``PackedJob``: one
           process per run sharing the task's GPU; a requeue resumes them all; ``auto`` takes K
           from measured packing records, ``results/bench/*/packing.*.json``).
           Detection rows whose ImageNet runs are still queued or running on SLURM (launched
           by their ImageNet tables) are submitted behind those jobs (``--dependency
           afterok``, cancelled if one fails); with no such job the launch refuses.

Runs whose record is final (done or diverged) are never started again; slurm also skips
runs whose last job is still queued or running. State (submission manifests, local logs,
code snapshots, submitit logs) lives in ``<out_root>/_launch/<table>-<profile>/``.

Modules
-------
``plan``    the table's runs with this machine's settings (``prepare``, ``cli_args``), data check,
            the ImageNet runs detection rows start from (``check_pretrained``)
``cost``    the cost estimate (measured epoch times in results/bench/, else FLOPs; packing
            from measured aggregate throughput)
``local``   the local and debug executors, their progress line and summary
``slurm``   the slurm executor: ``TableJob``, ``PackedJob``, cluster profiles, job states, submission,
            the jobs detection arrays wait for (``pretrained_jobs``)
``status``  per-run state from records and the launch's state files
"""
from __future__ import annotations

from .cost import Estimate, estimate
from .local import run_debug, run_local
from .plan import ROOT, check_data, check_pretrained, cli_args, default_data_root, prepare, state_dir
from .slurm import TableJob, available_clusters, load_cluster, pretrained_jobs, slurm_parameters, submit_slurm
from .status import ACTIVE, FINAL, RunState, read_record, row_labels, table_status

__all__ = [
    "ROOT", "prepare", "check_data", "check_pretrained", "estimate", "run_local", "run_debug", "submit_slurm", "table_status",
    "TableJob", "load_cluster", "slurm_parameters", "state_dir", "cli_args", "FINAL",
    "ACTIVE", "RunState", "read_record", "row_labels", "Estimate", "default_data_root", "available_clusters",
    "pretrained_jobs",
]
