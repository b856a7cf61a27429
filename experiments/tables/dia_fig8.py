"""DIA Figure 8: FID against training steps of U-ViT on CIFAR-10 with and without DIA, by batch size.

DIA Sec. V-B ("image generation"): DIA is applied to UViT [62] as in Fig. 7 (the unit between
the Norm and the MLP of each block); Fig. 8 plots the FID of the generated images against
training steps, and the text reads it as: DIA improves the generated images, "particularly when
the batch size is small, such as 32", because small batches make UViT's training less stable.

Rows: batch size x {UViT, DIA-UViT}, the models of ``models.uvit`` (U-ViT-S/2,
``uvit_small_cifar`` and ``dia_uvit_small_cifar``). Results key: dataset cifar10, backbone
``uvit_small_cifar``, depth 13 (blocks), model 'resnet' for the plain network (as 'Org' in the
other DIA tables) or 'dia', variant ``batch=<B>``.

These rows are diffusion runs, not classification runs: they are trained by
``experiments.diffusion_run`` (``run_table('smoke' | 'full')`` or
``python -m experiments.diffusion_run --table dia.fig8 --profile smoke``), whose recipe is
U-ViT's released CIFAR-10 configuration (``experiments.diffusion_run.UVIT_CIFAR10``); the
``recipe`` field of the rows is only the registry's placeholder (the table launcher of
``cli.py`` would train them as classifiers, which a U-ViT is not). The drawing is
``analysis.diffusion_figures.draw_fig8``.

Readings of the paper (``decisions``):

* batch sizes: the text names only 32; the figure's grid is read as {32, 64, 128}, 128 being
  U-ViT's CIFAR-10 batch. The lr stays U-ViT's 2e-4 at every batch size (no scaling stated).
* n = 1: a figure of training curves, no repeats or error bars described.
* FID: 10,000 EMA samples every 50,000 steps against the CIFAR-10 training set, Inception
  features (torchmetrics / torch-fidelity); Euler-Maruyama 1,000 steps (U-ViT's CIFAR-10
  sampler; DIA names none).

Smoke profile: Fashion-MNIST padded to 32x32x1 with the small U-ViT (``models.uvit.UVIT_SMOKE``),
the smoke recipe of ``experiments.diffusion_run`` (40 steps, DDIM-10, 64 samples) and FID on the
stand-in feature extractor, labelled as such in the records.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..config import RunConfig
from .base import Row, Table

__all__ = ["TABLE", "DiffusionRow", "BATCH_SIZES", "MODELS", "SMOKE_UVIT", "RUNNER"]

#: what trains this figure's runs (a launcher that dispatches on it would run ``RUNNER(profile,
#: seeds, limit, out_root=..., ...)``; the classification launcher does not yet)
RUNNER = "experiments.diffusion_run.run_table"

#: the batch sizes of the figure (decision above)
BATCH_SIZES = (32, 64, 128)
#: (printed name, family) of the two networks
MODELS = (("UViT", "resnet"), ("DIA-UViT", "dia"))
#: the smoke U-ViT geometry (``models.uvit.UVIT_SMOKE``, written out: tables import no model module)
SMOKE_UVIT: Mapping[str, Any] = {"img_size": 32, "patch_size": 4, "in_chans": 1, "embed_dim": 64, "depth": 5,
                                 "num_heads": 4}


@dataclass(frozen=True)
class DiffusionRow(Row):
    """A Fig 8 row: its batch size enters the run config; ``smoke_model_kwargs`` replace the
    model's kwargs in the smoke profile."""

    batch_size: int = 128
    smoke_model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def config(self, profile: str, seed: int) -> RunConfig:
        row = self
        if profile == "smoke" and self.smoke_model_kwargs:
            row = replace(self, model_kwargs={**self.model_kwargs, **self.smoke_model_kwargs})
        return dataclasses.replace(Row.config(row, profile, seed), batch_size=self.batch_size)


def fig8_rows() -> tuple[DiffusionRow, ...]:
    return tuple(
        DiffusionRow(label=f"batch {b} / {name}", family=fam, backbone="uvit_small_cifar", depth=13,
                     dataset="cifar10", recipe="cifar", variant=f"batch={b}", augment=True, batch_size=b,
                     smoke_model_kwargs=dict(SMOKE_UVIT))
        for b in BATCH_SIZES for name, fam in MODELS)


TABLE = Table(
    id="dia.fig8",
    title="DIA Figure 8: FID of UViT with and without DIA on CIFAR-10 against training steps, by batch size",
    kind="figure",
    rows=fig8_rows(),
    seeds=1,
    seeds_note="training curves of one run each (no repeats described)",
    metric="FID (lower is better) of EMA samples against the training set, by training step",
    plots="FID against training steps, one panel per batch size, UViT vs DIA-UViT; claims: DIA lowers FID, "
          "most at batch 32",
    decisions=(
        "diffusion rows: trained by experiments.diffusion_run (run_table / --table dia.fig8), not by the "
        "classification launcher; recipe field 'cifar' is a registry placeholder",
        "recipe: U-ViT's released CIFAR-10 configuration (AdamW lr 2e-4, wd 0.03, betas (0.99, 0.999), 2,500 "
        "warm-up steps, batch 128, 500k steps, EMA 0.9999), the batch size varied as in the figure, lr unscaled",
        "batch sizes {32, 64, 128}: the text names 32 only; 128 is U-ViT's CIFAR-10 batch",
        "FID: 10k EMA samples every 50k steps vs the CIFAR-10 training set, Inception (torchmetrics 1.9.0 / "
        "torch-fidelity 0.4.0), Euler-Maruyama 1000 steps; smoke: stand-in features, DDIM-10, labelled",
    ),
)
