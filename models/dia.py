"""DIA: Dense-and-Implicit Attention, one recurrent attention cell shared by all blocks
of a stage (Huang et al., DIANet, AAAI 2020; journal version "A Generic Shared Attention
Mechanism for Various Backbone Neural Networks", cited here as DIA).

For each residual block ``t`` of a stage, with ``a_t`` the residual branch output (the
bn3 output of a bottleneck, before the addition), DIA Eq. 4 and Table II::

    (h_t, c_t) = cell(GAP(a_t), (h_{t-1}, c_{t-1}))     # one cell per stage, shared
    x_{t+1}    = x_t + a_t * h_t                          # h_t is the channel attention map

with ``h_0 = c_0 = 0`` at the first block of every stage; the state lives in the stage's
``StageState.memory`` (fresh for every stage and every forward pass), so nothing leaks
between stages, batches or devices. The unit records ``h_t`` as a ``'channel'`` map.

Families registered here (model names ``dia_<backbone>`` and ``dia_light_<backbone>``):

``dia`` -- DIA-LSTM as released (official-code.md, "DIA"): :class:`DIALSTMCell`.
    W_ih and W_hh are each Linear(N, N/r) -> ReLU -> Linear(N/r, 4N), all with biases;
    gates i, f, o sigmoid, g tanh; ``c' = f*c + i*g``; ``h' = o * sigmoid(c')``
    (sigmoid in place of tanh, DIA III-C1, Fig 6 middle). Parameters per stage of width
    N: ``10 N^2/r + 2N/r + 8N`` (DIA III-D counts the weights, ``10 N^2/r``).
    ``attn_kwargs``: ``reduction`` (r, default 4; DIA Table XII uses 1/4/8/16; ``None``
    gives plain Linear(N, 4N) gates, i.e. a standard LSTM with ``activation='tanh'``),
    ``activation`` of the output ``h' = o * act(c')`` ('sigmoid', 'tanh', 'relu': DIA
    Table XIV) and ``cells`` (stacked cells, 1 or more: Table XIV uses 3). In a stack the
    first cell is the reduced DIA-LSTM cell and each further cell, fed with the ``h`` of
    the cell below, has full Linear(N, 4N) gates with biases; the last cell's ``h`` is the
    attention map. This reading gives Table XIV's 3.33M for ResNet164; three reduced
    cells give 2.38M and full gates without biases 3.32M.
    On WRN52-4, Table IV's 12.30M needs the BN that DIANet's WRN adds at the end of
    every residual branch (``create_model('dia_wrn52_4', branch_bn=True)``; 12.29M without).
    On ImageNet backbones the default reduction is 20: DLA Table 2 lists DIANet-50 at
    28.4M parameters, which r = 20 gives (28.37M) and r = 16 does not (29.07M).

``dia_light`` -- DIA-LSTM (Light), DIA III-C3, Eq. 5, Fig 6 right: :class:`DIALightCell`.
    No code for it is public; the reading below is the one the paper's counts fix.
    For each input x in {y_t, h_{t-1}}: ``z_x = ReLU(FC_x(x))`` with FC_x: N -> N/r, "the
    same fully connected layer as the DIA-LSTM" (N^2/r weights + N/r biases). Each gate
    k in {i, f, g, o} then applies Eq. 5's element-wise linear transformation to each
    input and sums them: ``pre_k = W_k^y * E(z_y) + W_k^h * E(z_h) + b_k`` with W, b in
    R^N and ``E`` the expansion of the N/r-vector to N channels (channel j reads unit
    floor(j / r)). Since the two transformed inputs are added, their two biases would
    be one parameter (b^y + b^h), so each gate keeps one bias: 3N per gate, 12N per cell.
    Gates and the sigmoid output are those of DIA-LSTM. Per stage:
    ``2 N^2/r + 2 N/r + 12 N``. The text of III-D counts a bias per input
    (``2N^2/r + 16N``); ``bias='per_input'`` builds that variant.

    Why r = 8 and one bias per gate (CIFAR-100, Table IV). The cell widths are
    N = 64/128/256 for ResNet164 and WRN52-4 (sum N^2 = 86,016, sum N = 448) and
    128/256/512 for ResNeXt101 8x32 (344,064 and 896). Parameters (published total):

    * ResNet164 (Org 1,727,284; published Light 1.75M): shared r=8 1,754,276 (1.75);
      per_input r=8 1,756,068 (1.76); per_input r=16 1,745,260 (1.75); shared r=4
      1,775,892 (1.78).
    * WRN52-4 with DIANet's branch BN (``branch_bn=True``, +7,168, which the DIA-LSTM
      row's 12.30M needs too; Org 12,072,500; published 12.11M): shared r=8 12,106,660
      (12.11); per_input r=8 12,108,452 (12.11); per_input r=16 12,097,644 (12.10).
    * ResNeXt101 8x32d (Org 32,138,244; published 32.24M): shared r=8 32,235,236
      (32.24); per_input r=8 32,238,820 (32.24); per_input r=16 32,195,700 (32.20).

    Writing the cell as ``a N^2/r + b N`` (b N: the element-wise transforms and the
    FCs' biases), the three rows hold together for a/r = 1/4 and 12 <= b < 13.9 (the
    only other fit, a/r = 5/16, leaves b < 2): two N -> N/8 FCs and 12N element-wise
    parameters (b = 12.25) fit. The text's 16N misses ResNet164 by 1,068 parameters at
    r = 8, and r = 16 misses WRN52-4 and ResNeXt. Reading the FC as N -> N (no
    reduction) gives 2N^2 + 16N, +0.18M on ResNet164 (1.91M): ruled out. The margins
    are small (ResNeXt: 236 parameters above the 32.235M rounding edge; ResNet164: 724
    below 1.755M), so this is the reading the counts allow, not a certainty.

The DIA cells are reusable on ``[B, N]`` vectors (DLA's "DIA" block):
``DIALSTMCell(channels, reduction=4, activation='sigmoid')(y, (h, c)) -> (h, c)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn

from .backbone import ResidualBlock, StageState
from .family import Family, register_family
from .registry import ConfigError

__all__ = ["DIALSTMCell", "DIALightCell", "DIAUnit", "ACTIVATIONS", "MEMORY_KEY", "DIA_FAMILIES", "DIAOptions",
           "DIALightOptions"]

#: Output activations of the modified LSTM, ``h' = o * act(c')`` (DIA Table XIV).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}

#: Key of the per-stage recurrent state in ``StageState.memory``.
MEMORY_KEY = "dia_lstm"

State = tuple[torch.Tensor, torch.Tensor]


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown DIA activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _reduced(channels: int, reduction: int) -> int:
    if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
        raise ConfigError(f"DIA reduction {reduction!r} is invalid: use a positive integer, e.g. 4")
    return max(1, channels // reduction)


def _lstm_update(i: torch.Tensor, f: torch.Tensor, g: torch.Tensor, o: torch.Tensor,
                 c: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) act(c')``."""
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * act(c), c


class DIALSTMCell(nn.Module):
    """The modified LSTM cell of DIA-LSTM as released (Fig 6 middle; module docstring).

    ``reduction=None`` replaces each reduced transformation by one Linear(N, 4N), the
    standard LSTM's (used by the upper cells of a stack; with ``activation='tanh'`` the
    cell is a standard LSTM cell, 8N^2 + 8N parameters).
    """

    def __init__(self, channels: int, reduction: int | None = 4, activation: str = "sigmoid"):
        super().__init__()
        self.channels, self.reduction, self.activation = channels, reduction, activation
        self.act = _activation(activation)
        self.w_ih = self._transform(channels, reduction)
        self.w_hh = self._transform(channels, reduction)

    @staticmethod
    def _transform(n: int, reduction: int | None) -> nn.Module:
        if reduction is None:
            return nn.Linear(n, 4 * n)
        hidden = _reduced(n, reduction)
        return nn.Sequential(nn.Linear(n, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 4 * n))

    def forward(self, y: torch.Tensor, state: State) -> State:
        h, c = state
        i, f, g, o = (self.w_ih(y) + self.w_hh(h)).chunk(4, dim=1)
        return _lstm_update(i, f, g, o, c, self.act)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, activation={self.activation!r}"


class DIALightCell(nn.Module):
    """DIA-LSTM (Light) cell (DIA III-C3, Eq. 5); the reading is in the module docstring.

    ``bias='shared'`` (default): one bias per gate, ``2N^2/r + 2N/r + 12N`` parameters;
    ``bias='per_input'``: a bias in each input's element-wise transform, as DIA III-D
    counts, ``2N^2/r + 2N/r + 16N``. The element-wise transforms start as identities
    (scale 1, bias 0), like a BatchNorm's affine parameters.
    """

    def __init__(self, channels: int, reduction: int = 8, activation: str = "sigmoid", bias: str = "shared"):
        super().__init__()
        if bias not in ("shared", "per_input"):
            raise ConfigError(f"unknown DIA-LSTM (Light) bias {bias!r}; use 'shared' or 'per_input'")
        self.channels, self.reduction, self.activation, self.bias_mode = channels, reduction, activation, bias
        self.act = _activation(activation)
        hidden = _reduced(channels, reduction)
        self.fc_y = nn.Linear(channels, hidden)
        self.fc_h = nn.Linear(channels, hidden)
        # Eq. 5 per gate (rows i, f, g, o): W_k^y, W_k^h and the bias(es) b_k.
        self.scale_y = nn.Parameter(torch.ones(4, channels))
        self.scale_h = nn.Parameter(torch.ones(4, channels))
        self.bias_y = nn.Parameter(torch.zeros(4, channels))
        self.bias_h = nn.Parameter(torch.zeros(4, channels)) if bias == "per_input" else None

    def _expand(self, z: torch.Tensor) -> torch.Tensor:
        """[B, N/r] -> [B, N]: channel j reads reduced unit floor(j * (N/r) / N)."""
        n, m = self.channels, z.shape[1]
        index = torch.arange(n, device=z.device) * m // n
        return z.index_select(1, index)

    def forward(self, y: torch.Tensor, state: State) -> State:
        h, c = state
        zy = self._expand(torch.relu(self.fc_y(y)))[:, None]  # [B, 1, N]
        zh = self._expand(torch.relu(self.fc_h(h)))[:, None]
        pre = self.scale_y * zy + self.bias_y + self.scale_h * zh  # [B, 4, N]
        if self.bias_h is not None:
            pre = pre + self.bias_h
        i, f, g, o = pre.unbind(1)
        return _lstm_update(i, f, g, o, c, self.act)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, "
                f"activation={self.activation!r}, bias={self.bias_mode!r}")


class DIAUnit(nn.Module):
    """The DIA unit in a block's ``attn`` slot: GAP -> (stacked) cells -> ``a * h``.

    ``cells[0]`` reads GAP(a_t), each further cell the new ``h`` of the one below; the
    last ``h`` is the attention map. One (h, c) pair per cell is kept in
    ``state.memory[MEMORY_KEY]`` and starts at zero (on the input's device and dtype)
    when the stage starts, or on every call when no state is given.
    """

    def __init__(self, cells: Sequence[nn.Module]):
        super().__init__()
        if not cells:
            raise ConfigError("a DIA unit needs at least one cell")
        self.cells = nn.ModuleList(cells)

    def forward(self, x: torch.Tensor, state: StageState | None = None) -> torch.Tensor:
        inp = x.mean((2, 3))
        prev = state.memory.get(MEMORY_KEY) if state is not None else None
        if prev is None:
            zero = inp.new_zeros(inp.shape)
            prev = [(zero, zero)] * len(self.cells)
        new = []
        for cell, hc in zip(self.cells, prev):
            inp, c = cell(inp, hc)
            new.append((inp, c))
        if state is not None:
            state.memory[MEMORY_KEY] = new
            if state.recording:
                state.record("channel", inp)
        return x * inp[:, :, None, None]


# --------------------------------------------------------------------------- families
@dataclass(frozen=True)
class DIAOptions:
    """Module options of ``dia`` (see the module docstring)."""

    reduction: int | None = 4
    activation: str = "sigmoid"
    cells: int = 1


@dataclass(frozen=True)
class DIALightOptions:
    """Module options of ``dia_light`` (see the module docstring)."""

    reduction: int = 8
    activation: str = "sigmoid"
    bias: str = "shared"


def _make_dia(block: ResidualBlock, options: DIAOptions = DIAOptions()) -> DIAUnit:
    cells = options.cells
    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1:
        raise ConfigError(f"DIA cells={cells!r} is invalid: use a positive integer (DIA Table XIV: 1 or 3)")
    n = block.branch_channels
    stack = [DIALSTMCell(n, options.reduction, options.activation)]
    stack += [DIALSTMCell(n, None, options.activation) for _ in range(cells - 1)]
    return DIAUnit(stack)


def _make_dia_light(block: ResidualBlock, options: DIALightOptions = DIALightOptions()) -> DIAUnit:
    return DIAUnit([DIALightCell(block.branch_channels, options.reduction, options.activation, options.bias)])


DIA_FAMILIES = (
    Family(
        "dia", _make_dia, share=True, module_options=DIAOptions, defaults={"imagenet": {"reduction": 20}},
        backbone_defaults={"wrn": {"branch_bn": True}},
        description="DIA-LSTM, one modified LSTM cell shared per stage (DIA III-B, released cell)",
    ),
    Family(
        "dia_light", _make_dia_light, share=True, module_options=DIALightOptions,
        backbone_defaults={"wrn": {"branch_bn": True}},
        description="DIA-LSTM (Light), element-wise gate transforms (DIA III-C3, Eq. 5)",
    ),
)


for _family in DIA_FAMILIES:
    register_family(_family)
