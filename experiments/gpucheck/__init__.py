"""One prepared check for a lent GPU (``./reproduce.sh gpucheck``), also runnable on the CPU.

A GPU is lent to a development session only for minutes, so everything the repository has
never run on CUDA is checked by one command, within one time budget (``--budget``, default
420 s), in order of importance; a part that would not fit is recorded as skipped, never
silently left out:

1. ``paths``: every CUDA path of the training step (fp32, bf16 autocast, channels_last,
   torch.compile, a one-process NCCL DDP, the fast path with and without compile) trains the
   same initial weights on the same batches as the CPU fp32 reference; loss trajectories within
   stated tolerances (``paths``). The GPU-resident data path (crop + flip per batch on the
   device) is checked exactly against torchvision's transforms of the same images.
2. ``targets``: ``experiments.bench`` on MRLA-B / ELA / ResNet-56 (bottleneck) at batch 128:
   fast vs the released-code-shaped reference pipeline, one 50,000-image epoch, ELA after real
   pruning vs MRLA-B, peak memory; MRLA-B with torch.compile too. ``analysis.bench_report``
   checks the targets (epoch <= 1.5 s, fast >= 4x reference, ELA >= 30% below MRLA-B).
3. ``packing``: aggregate throughput of k = 1, 2, 4, 8 runs sharing the GPU (``packing``):
   the records the launcher's ``--pack auto`` and the cost estimate read.
4. ``accuracy``: short complete Fashion-MNIST runs, fp32 vs bf16 and MRLA-B vs ELA, 3 seeds
   (``accuracy``); ``analysis.gpucheck_report`` gives means, std and Welch's t-test.

Everything is written under ``results/bench/<gpu name>/`` (``gpucheck-<start time>.json`` after
every part, atomically; the bench and packing records beside it; ``gpucheck.md`` takes each
part from the latest check that ran it); the accuracy runs' folders under
``results/gpucheck/<gpu name>/runs/``. On the CPU (``--device cpu``) the same parts run at the
sizes of ``CPU_SIZES`` (the tests run it so), so only the CUDA-specific behaviour is new when
a GPU appears.

On the device machine (torch 2.11 there, no network, no submitit): ``REPRO_PYTHON=python3
./reproduce.sh gpucheck``, with Fashion-MNIST's four .gz files carried along and placed in
``/usr/share/datasets/fashion-mnist/`` (see README, "GPU check").
"""
from .check import CPU_SIZES, GPU_SIZES, PARTS, Outcome, Sizes, parser, run
from .packing import best_k, measure_packing
from .paths import PATHS, TOLERANCES, PathSpec, check_gpu_data, check_paths

__all__ = ["run", "parser", "Outcome", "Sizes", "GPU_SIZES", "CPU_SIZES", "PARTS", "PATHS", "TOLERANCES", "PathSpec",
           "check_paths", "check_gpu_data", "measure_packing", "best_k"]
