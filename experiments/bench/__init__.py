"""Training-throughput benchmark: images/s, per-epoch time and peak memory of every model of
ELA Table 1 and DLA Table 1 (and ELA Fig. 4), on the reference and the fast data path.

    ./reproduce.sh bench --quick                              # CPU-sized: 4 models, depth 20, minutes
    REPRO_PYTHON=python ./reproduce.sh bench --device cuda    # the full bench on a GPU machine
    python -m experiments.bench --models mrla_b_resnet56 --pipelines fast --device cuda --compile

What one measurement is (``measure``): build the model exactly as a training run does
(``experiments.run.build_model``, recipe ``cifar``: DropPath 0.2 on the attention branches, SGD
lr 0.1, momentum 0.9, wd 1e-4), feed it batches of ``--batch-size`` from one pipeline and train
with the project's own step (``experiments.engine.train_epoch``): ``--warmup`` steps first
(cuDNN autotuning, torch.compile, DataLoader start-up), then ``--repeats`` timed windows of
``--steps`` steps each. Each window is timed with CUDA events after ``torch.cuda.synchronize``
on a GPU and with ``time.perf_counter`` on the CPU; the record's throughput is the MEDIAN over
the windows. The per-epoch time is EXTRAPOLATED from that steady-state throughput to a
CIFAR-size epoch (50,000 images of 32x32; evaluation, the last partial batch and DataLoader
start-up at epoch boundaries are not in it). The defaults (3 x 130 steps of 128 images) cover
one epoch's 390 steps.

Pipelines:

* ``reference``: shaped like the released code: eager fp32, a torch DataLoader (``--workers``
  processes; 4 on a GPU, 0 on the CPU) with the torchvision transforms of ``experiments.data``
  (crop with padding 4 + flip + normalise, per image, in PIL) on real-format data.
* ``fast``: our GPU path (``experiments.data.GpuBatches``: the uint8 dataset resident on the
  device, crop/flip per batch there) + bf16 autocast + channels_last (+ torch.compile with
  ``--compile``). On the CPU only what applies there runs: GpuBatches on CPU tensors, fp32
  (no autocast), NCHW; the record's ``execution`` says what ran.

Data: Fashion-MNIST (60,000 real 28x28 images, zero-padded to 1x32x32 as every run does) from
Debian's files (``experiments.data.prepare_fashion_mnist``) by default, else ``fake``
(torchvision FakeData, 3x32x32; the record says which). ``--dataset cifar100 --data-root DIR``
uses CIFAR where it exists. The CIFAR networks run unchanged on 1x32x32 (only the stem's input
channels differ: a negligible share of the work).

Memory: ``torch.cuda.max_memory_allocated`` over the timed steps on a GPU; on the CPU the peak
resident set size of the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes
the Python/torch libraries and the dataset: ``rss_before_model_bytes`` is the same figure just
before the model was built). Each measurement runs in a fresh process (``--isolate``, the
default), so the CPU peak is this configuration's own.

ELA after pruning: ``--ela-pruning controller`` (default) runs the project's real pruning
controller (``models.ela.ELAPruning``, the paper's CIFAR settings: KL windows at epochs 1-3,
45-48, 91-93, EBQM Beta(5,1), mu 0.3) through its three decisions, measuring the KL of each
window epoch on one batch of the initialised network (train mode, no gradients) instead of the
trained one; the layers it prunes stay pruned for the timing. ``half`` prunes, per stage, the
half (rounded down) of the non-first layers with the lowest such KL; ``none``; ``record:PATH``
takes the final pruned set of a training run's record.json; ``layers:s0.b1,s1.b2`` an explicit
set. Every ELA record lists the pruned layers and the decisions.

Outputs under ``--out``/<tag>/ (tag = the GPU's name on a GPU, the hostname on the CPU):
one record per (model, pipeline, device, batch size) ``<model>.<pipeline>.<device>.bs<B>.json``
(written atomically, with hardware, versions, load average, the command that reproduces it).
This package only measures: ``python -m experiments.bench`` writes the records and nothing else.
The reports are ``analysis.bench_report``'s (``summary.md``: all records of the folder,
fast/reference ratios, the targets; ``ela_fig4.md`` and ``ela_fig4.png``/``.pdf``: MRLA-B vs
MRLA-L vs ELA per-epoch time, % reduction vs MRLA-B); ``./reproduce.sh bench`` measures, then
writes them (``python -m analysis.bench_report OUT/<tag>`` rewrites them from the records).

Targets (checked by ``analysis.bench_report`` and printed as PASS / FAIL / NOT MEASURED, never
asserted): on an H100/H200 at batch 128, (1) MRLA-B ResNet-56 one CIFAR-size epoch <= 1.5 s on
the fast path; (2) fast >= 4x the reference throughput for every model measured on both; (3)
ELA's per-epoch time >= 30% below MRLA-B's (ELA's claim; a FAIL is the measured finding that it
is not).

Fast records also carry ``config``/``epochs``/``dataset.train_images`` in the layout of a run's
record.json, so ``experiments.launch`` can read measured GPU epoch times from results/bench/.

Layout: ``settings`` (Settings, record paths, ``plan``), ``machine`` (load average, CPU model,
peak RSS), ``pipelines`` (dataset and the two data pipelines), ``pruned`` (ELA pruned-set
selection), ``measure`` (one measurement in named steps, its record), ``cli`` (options, the
isolated child processes, ``run``/``main``).
"""
from models import ConfigError

from .cli import Outcome, configure, main, measure_in_child, parser, run
from .measure import measure
from .pruned import select_ela_pruned
from .settings import (EPOCH_IMAGES, PIPELINES, TABLES, Settings, host_tag, plan, record_path, split_name,
                       table_models)

__all__ = ["Settings", "measure", "plan", "record_path", "host_tag", "split_name", "table_models",
           "select_ela_pruned", "run", "main", "parser", "configure", "measure_in_child", "Outcome", "ConfigError",
           "EPOCH_IMAGES", "PIPELINES", "TABLES"]
