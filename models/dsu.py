"""Dynamic Sharing Unit (DSU), the recurrent cell of Dynamic Layer Attention (DLA section 3.4),
and the cells DLA's ablations put in its place (DLA Tables 4 and 6).

Every cell is called as ``cell(y, (h, c)) -> (h, c)`` with ``y``, ``h``, ``c`` of shape
[B, C]; ``h`` is what DLA and LII multiply features with (DLA Eq. 6: ``x * d``).

DSU comes in two forms, ``dsu_form``:

* ``'released'`` (default; the authors' code, official-code.md "DLA"): LSTM-like with
  each of ``W_ih``, ``W_hh`` = Linear(C, C/r) -> ReLU -> Linear(C/r, 3C) (with biases),
  ``gates = W_ih(y) + W_hh(h)`` split into ``i, f, g``; ``c' = sigmoid(f) * c +
  sigmoid(i) * tanh(g)`` and ``h' = norm(c')``: no output gate. 8C^2/r weights. The
  hidden vector fed back into ``W_hh`` at the next step is the normalised cell, which is
  the paper's ``sigma(c^{m-1})``.
* ``'paper'``: DLA Eqs 7-9 as printed. ``s = ReLU(W1 [norm(c), y])`` with W1 in
  R^{C/r x 2C} (Eq. 7, no bias), ``c~, i, f`` = tanh / sigmoid / sigmoid of
  ``W2 s + b`` (Eq. 8, W2 in R^{C x C/r} each, with biases), ``c' = f * c + i * c~``
  (Eq. 9). 5C^2/r weights. The incoming ``h`` is not used (the state is ``c`` alone);
  the returned ``h`` is ``norm(c')``, the gate the released code multiplies with.

The published DLA parameter counts (DLA-L-20 = 0.41M, ...) match the released form, not
Eq. 7-9 (docs/models.md, "Layer attention"). ``norm`` is the function applied to the
cell state (DLA Table 5): 'sigmoid' (default), 'identity', 'tanh' or 'relu'. ``reduction``
is r: 4 on CIFAR; on ImageNet the released code uses 16, the paper says 20 (DLA
section 4.1) - the ImageNet families default to 16.

:func:`create_cell` builds a cell by name: 'dsu', 'lstm' (torch.nn.LSTMCell with hidden
size C), 'rnn' (plain tanh RNN, torch.nn.RNNCell with hidden size C) or 'dia' (the
DIA-LSTM cell of ``models.dia``).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .registry import ConfigError

__all__ = ["DSU", "RNNCell", "create_cell", "zero_state", "NORMS", "CELLS", "DSU_FORMS"]

#: Normalising functions of the cell state (DLA Table 5).
NORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "identity": lambda z: z,
    "tanh": torch.tanh,
    "relu": torch.relu,
}
DSU_FORMS = ("released", "paper")
CELLS = ("dsu", "lstm", "rnn", "dia")

State = tuple[torch.Tensor, torch.Tensor]


def zero_state(y: torch.Tensor, hidden: int) -> State:
    """(h0, c0) = 0 on ``y``'s device and dtype: the released code starts every stage from
    zeros (the paper's "c^0 is randomly initialised" is not what produced its numbers)."""
    z = y.new_zeros(y.shape[0], hidden)
    return z, z


def _bottleneck(channels: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


class DSU(nn.Module):
    """Dynamic Sharing Unit (DLA Eqs 7-9), ``form`` 'released' or 'paper' (module docstring)."""

    def __init__(self, channels: int, reduction: int = 4, form: str = "released", norm: str = "sigmoid"):
        super().__init__()
        if form not in DSU_FORMS:
            raise ConfigError(f"unknown dsu_form {form!r}; use 'released' (authors' code) or 'paper' (DLA Eqs 7-9)")
        if norm not in NORMS:
            raise ConfigError(f"unknown DSU norm {norm!r}; use one of {', '.join(NORMS)} (DLA Table 5)")
        hidden = channels // reduction
        if hidden < 1:
            raise ConfigError(f"DSU reduction {reduction} leaves no hidden unit for {channels} channels: "
                              f"use r <= {channels}")
        self.channels, self.reduction, self.form, self.norm_name = channels, reduction, form, norm
        self.norm = NORMS[norm]
        if form == "released":
            self.ih = _bottleneck(channels, hidden, 3 * channels)
            self.hh = _bottleneck(channels, hidden, 3 * channels)
        else:
            self.compress = nn.Linear(2 * channels, hidden, bias=False)  # W1, Eq. 7
            self.expand = nn.Linear(hidden, 3 * channels)  # W2^i, W2^f, W2^c with b^i, b^f, b^c, Eq. 8

    def forward(self, y: torch.Tensor, state: State | None = None) -> State:
        h, c = zero_state(y, self.channels) if state is None else state
        if self.form == "released":
            gates = self.ih(y) + self.hh(h)
        else:
            gates = self.expand(torch.relu(self.compress(torch.cat([self.norm(c), y], dim=1))))
        i, f, g = gates.chunk(3, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # Eq. 9
        return self.norm(c), c

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, form={self.form!r}, norm={self.norm_name!r}"


class RNNCell(nn.RNNCell):
    """Plain tanh RNN cell (DLA Table 4 "Original RNN") with the ``(h, c)`` interface;
    it has no cell state, so ``c`` is returned equal to ``h``."""

    def forward(self, y: torch.Tensor, state: State | None = None) -> State:  # type: ignore[override]
        h = super().forward(y, None if state is None else state[0])
        return h, h


def create_cell(
    name: str, channels: int, *, reduction: int = 4, dsu_form: str = "released", norm: str = "sigmoid"
) -> nn.Module:
    """The recurrent cell ``name`` of hidden size ``channels`` (DLA Tables 4 and 6).

    ``reduction`` applies to 'dsu' and 'dia'; ``dsu_form`` and ``norm`` to 'dsu' only.
    """
    if name not in CELLS:
        raise ConfigError(f"unknown recurrent cell {name!r}; use one of {', '.join(CELLS)} (DLA Table 4)")
    if name != "dsu" and (dsu_form != "released" or norm != "sigmoid"):
        raise ConfigError(f"dsu_form and norm select DSU variants; they do not apply to cell {name!r}")
    if name == "dsu":
        return DSU(channels, reduction, dsu_form, norm)
    if name == "lstm":
        return nn.LSTMCell(channels, channels)
    if name == "rnn":
        return RNNCell(channels, channels)
    from .dia import DIALSTMCell  # written beside this module; imported lazily

    return DIALSTMCell(channels, reduction=reduction, activation="sigmoid")
