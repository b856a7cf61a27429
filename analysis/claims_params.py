"""Parameter claims computed from the model zoo (no training): the arms' models are the ones the
claim's paper tables plan (``experiments.tables``: the row with the arm's dataset, backbone,
depth, model key and variant, its registry name and ``model_kwargs``), built on the meta device
and counted with ``models.count_parameters``.

    from analysis.claims_params import arm_params, params_measure
    n = arm_params(("dia.table3",), ("cifar100", "resnet", 164, "dia_se", ""))

Two measures (``params_measure``): with a ``base`` arm (the plain backbone), the fraction of the
other arm's extra parameters (over the base) that the subject saves, 1 - (P_s - P_b) / (P_o - P_b)
(DIA Sec. III-A: sharing an SE across the 18 blocks of a ResNet164 stage keeps 1/18 of them, a
94.4% saving); without one, how many million parameters fewer the subject has than the other,
(P_o - P_s) / 1e6 (DLA Sec. 4.2: "DLA-L-50 has 0.9M fewer parameters than SE-50").
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch

from experiments.data import DATASETS
from experiments.tables import get_table
from models import count_parameters, create_model

from .records import parse_variant

__all__ = ["arm_params", "params_measure"]

@functools.lru_cache(maxsize=None)
def arm_params(tables: Sequence[str], key: tuple[str, str, int, str, str]) -> int | None:
    """Parameters of the model of the first row of ``tables`` (table ids such as 'dia.table3')
    whose results.csv key is ``key`` = (dataset, backbone, depth, model, variant); None when no
    row of those tables has it."""
    want = (*key[:4], parse_variant(key[4]))
    for tid in tables:
        for row in get_table(tid).rows:
            ds, bb, depth, model, variant = row.key
            if (ds, bb, int(depth), model, parse_variant(variant)) == want:
                with torch.device("meta"):
                    net = create_model(row.model, num_classes=DATASETS[ds].info.num_classes, **dict(row.model_kwargs))
                return int(count_parameters(net))
    return None


def params_measure(subject: int, other: int, base: int | None = None) -> float:
    """The claim's measure: saved fraction of the extra parameters over ``base``, or (no base)
    million parameters fewer than the other."""
    if base is None:
        return (other - subject) / 1e6
    return 1.0 - (subject - base) / (other - base)
