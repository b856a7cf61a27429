"""DIA Table XIV: output activation and number of stacked cells in DIA-LSTM (DIANet164, CIFAR-100)."""
from .base import Row, Table

_CASES = (("sigmoid", 1), ("tanh", 1), ("relu", 1), ("sigmoid", 3), ("tanh", 3))
_PRINTED = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU"}

TABLE = Table(
    id="dia.table14",
    title="DIA Table XIV: top-1 accuracy (%) of DIANet164 with sigmoid/tanh/ReLU output and 1 or 3 LSTM cells, CIFAR-100",
    rows=tuple(Row(label=f"{_PRINTED[act]}, {cells} LSTM cell{'s' if cells > 1 else ''}", family="dia",
                   backbone="resnet164", depth=164, dataset="cifar100", recipe="dia_resnet",
                   variant=f"activation={act};cells={cells}",
                   model_kwargs={} if (act, cells) == ("sigmoid", 1) else
                   {"attn_kwargs": {"activation": act, "cells": cells}})
               for act, cells in _CASES),
    seeds=15,
    seeds_note="not printed; the sigmoid/1-cell row (77.09) is Table IV's 15-seed mean: 15",
    metric="test top-1 (%), mean over the seeds",
    decisions=("sigmoid with 1 cell is the default DIA-LSTM: Table IV's runs (shared)",),
)
