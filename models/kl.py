"""KL divergence between adjacent layer-attention distributions (ELA section 3.3).

ELA ("Enhancing Layer Attention Efficiency through Pruning Redundant Retrievals")
measures how redundant an MRLA-B block is by the KL divergence between its softmax
over earlier layers and that of the block before it. Block l attends over l layers
(ELA Eq. 9: ``x^l = p_1 v_1 + ... + p_l v_l``), block l+1 over l+1 (Eq. 10), so the
two distributions have supports t and t+1. Eq. 11 pads the shorter one:

    P  = {p_1, ..., p_l, eps}         (eps -> 0, "an infinitesimally small value")
    D_KL(P || P') = sum_{i<=l} p_i log(p_i / p'_i) + eps log(eps / p'_{l+1})   (Eq. 11)

What is here (pure math, no model code):

* ``pad_to(p, length, eps)``: Eq. 11's padding.
* ``layer_kl(p, q, eps)``: Eq. 11 for MRLA-B's recorded ``'layer_softmax'`` tensors,
  ``p`` [B, heads, t] (block l) and ``q`` [B, heads, t+1] (block l+1), per sample and
  head, then the mean over batch and heads: a 0-d tensor.
* ``KLMeter``: the per-layer average over the batches of a measurement window
  (ELA section 4: "averaging the KL divergence values from the first to the third
  epoch ... repeated during the 45th to 48th epochs and again during the 91st to
  93rd epochs"), ``WINDOWS`` presets, ``window_end`` and ``scaled``.

Readings chosen where the paper is not explicit (docs/models.md, "ELA: KL redundancy
and EBQM", lists them all):

* Direction: KL(P || P') with P the EARLIER block (padded) and P' the later one, as
  Eq. 11 writes it. It is also the only direction with a finite eps -> 0 limit: the
  reverse, KL(P' || P), contains ``p'_{l+1} log(p'_{l+1} / eps)``, which diverges.
* No renormalisation after padding (default): Eq. 11 uses the p_i unchanged (its
  first sum is over the original p_i), so the padded P sums to 1 + eps. With eps -> 0
  the two readings agree (they differ by O(eps log eps)). ``renormalize=True`` divides
  the padded P by 1 + eps, a proper distribution.
* Mean of per-sample, per-head KL (``reduction='mean'``, default). The paper never
  says whether the KL of each image is averaged or the KL of the average attention
  is taken; ``reduction='kl_of_mean'`` is the second reading.
* Which layer a KL value belongs to (the caller's choice of key in ``KLMeter``):
  ELA Fig. 3 prints under each layer F_t "the KL divergence of the attention weights
  between the F_t and F_{t-1} layers", i.e. the value is the later block's.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Hashable, Mapping, Sequence, Union

import torch

from .registry import ConfigError

__all__ = [
    "DEFAULT_EPS",
    "WINDOWS",
    "below_floor",
    "windows",
    "KLMeter",
    "layer_kl",
    "pad_to",
    "resolve_windows",
    "scaled",
    "window_end",
    "window_index",
]

# Eq. 11's "infinitesimally small" eps. 1e-8 is representable in float32 (and far above
# its smallest normal number), its term eps*log(eps/p') is below 2e-7 for any
# p' >= 1e-8, i.e. under the float32 resolution of a KL of order 1.
DEFAULT_EPS = 1e-8

Windows = tuple[tuple[int, int], ...]

# ELA section 4 (epochs numbered from 1): CIFAR 180 epochs, ImageNet 100, detection 12.
WINDOWS: dict[str, Windows] = {
    "cifar": ((1, 3), (45, 48), (91, 93)),
    "imagenet": ((1, 3), (51, 53)),
    "detection": ((1, 1), (7, 7)),
}
PAPER_EPOCHS = {"cifar": 180, "imagenet": 100, "detection": 12}
windows = WINDOWS  # the name the project brief uses


def _check_eps(eps: float, where: str) -> float:
    if not isinstance(eps, Real) or not (0.0 <= float(eps) < 1.0):
        raise ConfigError(f"{where}: eps must be in [0, 1), got {eps!r}")
    return float(eps)


def pad_to(p: torch.Tensor, length: int, eps: float = DEFAULT_EPS, renormalize: bool = False) -> torch.Tensor:
    """ELA Eq. 11 padding: append ``eps`` to the last dim of ``p`` up to ``length``.

    ``p`` [..., t] -> [..., length] with entries t.. set to ``eps``. Eq. 11 pads one
    entry (t -> t+1); longer pads are allowed (same rule per entry).

    ``renormalize=False`` (default, the paper's reading): the p_i are kept as they are,
    so the result sums to 1 + (length - t) * eps. Eq. 11's first term is
    ``sum_{i<=l} p_i log(p_i / p'_i)`` with the unchanged p_i; with eps -> 0 this is a
    distribution in the limit. ``renormalize=True`` divides by that sum instead (a
    proper distribution for every eps; the two differ by O(eps)).
    """
    eps = _check_eps(eps, "pad_to")
    t = p.shape[-1]
    if length < t:
        raise ValueError(f"pad_to: length {length} is shorter than the distribution's {t} entries")
    if length > t:
        fill = p.new_full((*p.shape[:-1], length - t), eps)
        p = torch.cat([p, fill], dim=-1)
    if renormalize:
        p = p / p.sum(dim=-1, keepdim=True)
    return p


def layer_kl(
    p: torch.Tensor,
    q: torch.Tensor,
    eps: float = DEFAULT_EPS,
    *,
    renormalize: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """ELA Eq. 11: D_KL(P || P') between the attention of block l and block l+1.

    ``p``: block l's softmax over its t earlier layers, [..., t] (MRLA-B records
    [B, heads, t]); ``q``: block l+1's, [..., t+1], same leading dims. ``p`` is padded
    with ``eps`` (``pad_to``) and

        KL = sum_i p_i log(p_i / max(q_i, eps))

    per leading index, computed with ``torch.xlogy`` so that p_i = 0 (or eps = 0)
    contributes exactly 0 (never log 0). The clamp of ``q`` at ``eps`` (at the dtype's
    smallest normal when eps = 0) replaces EVERY entry q_i < eps by eps, not only entries
    that underflowed: each term is then at most p_i (log p_i - log eps) <= -log eps
    (18.4 for eps = 1e-8), so one near-zero q_i cannot dominate the sum. This is a
    departure from Eq. 11 wherever q_i < eps, and such entries are common: in a trained
    network about a third of the later layer's softmax entries fell below 1e-8.
    ``below_floor`` counts them; ELA's controller records the clamped fraction per
    layer and window. Per-row values are clamped at 0: KL is >= 0 (for the unnormalised
    padding too, by the log-sum inequality), so negatives can only be rounding.

    reduction: ``'mean'`` (default) the mean over all leading dims (batch, heads) of the
    per-row KL, a 0-d tensor; ``'none'`` the per-row KL [...]; ``'kl_of_mean'`` the KL of
    the two distributions first averaged over the leading dims (the other reading of
    "KL between the attention weights of adjacent layers").

    Half/bfloat16 inputs are computed in float32, float64 stays float64; the result is
    on the inputs' device (no host sync).
    """
    eps = _check_eps(eps, "layer_kl")
    if reduction not in ("mean", "none", "kl_of_mean"):
        raise ConfigError(f"layer_kl: reduction must be 'mean', 'none' or 'kl_of_mean', got {reduction!r}")
    if p.shape[:-1] != q.shape[:-1] or q.shape[-1] != p.shape[-1] + 1:
        raise ValueError(
            f"layer_kl: need p [..., t] and q [..., t+1] with the same leading dims "
            f"(adjacent blocks of one stage), got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(p.dtype, q.dtype), torch.float32)
    p = p.to(dtype)
    q = q.to(dtype)
    if reduction == "kl_of_mean":
        lead = tuple(range(p.dim() - 1))
        if lead:
            p = p.mean(dim=lead)
            q = q.mean(dim=lead)
    pp = pad_to(p, q.shape[-1], eps, renormalize=renormalize)
    floor = eps if eps > 0 else torch.finfo(dtype).tiny
    qq = q.clamp_min(floor)
    kl = (torch.xlogy(pp, pp) - torch.xlogy(pp, qq)).sum(dim=-1).clamp_min(0.0)
    if reduction == "none":
        return kl
    return kl.mean()


def below_floor(q: torch.Tensor, eps: float = DEFAULT_EPS) -> tuple[torch.Tensor, int]:
    """How many entries of ``q`` ``layer_kl`` clamps (q_i < eps, or below the dtype's
    smallest normal when eps = 0), as a 0-d tensor on ``q``'s device (no host sync), and
    the number of entries."""
    eps = _check_eps(eps, "below_floor")
    floor = eps if eps > 0 else torch.finfo(torch.promote_types(q.dtype, torch.float32)).tiny
    return (q < floor).sum(), q.numel()


# --------------------------------------------------------------------------- windows
def resolve_windows(windows: Union[str, Sequence[Sequence[int]]]) -> Windows:
    """A preset name (``'cifar'``, ``'imagenet'``, ``'detection'``) or explicit windows
    ``((start, end), ...)``: 1-based inclusive epochs, start <= end, in increasing order,
    non-overlapping. Returns a tuple of int pairs; anything else is a one-line ConfigError."""
    if isinstance(windows, str):
        try:
            return WINDOWS[windows]
        except KeyError:
            raise ConfigError(
                f"unknown KL window preset {windows!r}; valid: {', '.join(sorted(WINDOWS))}"
            ) from None
    out = []
    try:
        for w in windows:
            s, e = w
            if int(s) != s or int(e) != e:
                raise TypeError
            out.append((int(s), int(e)))
    except (TypeError, ValueError):
        raise ConfigError(f"KL windows must be ((start, end), ...) integer epoch pairs, got {windows!r}") from None
    prev_end = 0
    for s, e in out:
        if s < 1 or e < s:
            raise ConfigError(f"KL window ({s}, {e}) invalid: need 1 <= start <= end (epochs count from 1)")
        if s <= prev_end:
            raise ConfigError(f"KL windows must be increasing and non-overlapping, got {tuple(out)}")
        prev_end = e
    return tuple(out)


def window_index(epoch: int, windows: Union[str, Sequence[Sequence[int]]]) -> int | None:
    """Index of the window that contains ``epoch`` (1-based epochs), else None."""
    for i, (s, e) in enumerate(resolve_windows(windows)):
        if s <= epoch <= e:
            return i
    return None


def window_end(epoch: int, windows: Union[str, Sequence[Sequence[int]]]) -> bool:
    """True when ``epoch`` (1-based) is the last epoch of a window: after it the window's
    average KL is complete and the pruning decision (EBQM) is made."""
    return any(epoch == e for _, e in resolve_windows(windows))


def scaled(windows: Union[str, Sequence[Sequence[int]]], total_epochs: int, paper_total: int) -> Windows:
    """Map the windows of a ``paper_total``-epoch schedule onto ``total_epochs`` epochs.

    Epoch e of the paper covers the fraction ((e-1)/P, e/P] of training; window (s, e)
    becomes (floor((s-1) T/P) + 1, ceil(e T/P)) with T = total_epochs, P = paper_total,
    the run's epochs that overlap it. Windows are then kept non-empty, increasing and
    distinct: a window that would collide with the one before is moved to the next
    free epoch, and, if that runs past T, windows are pulled back from the end. With
    T = P this is the identity; CIFAR's ((1,3),(45,48),(91,93)) on 18 epochs gives
    ((1,1),(5,5),(10,10)). More windows than epochs is a ConfigError.
    """
    ws = resolve_windows(windows)
    if int(total_epochs) != total_epochs or int(paper_total) != paper_total or total_epochs < 1 or paper_total < 1:
        raise ConfigError(
            f"scaled: total_epochs and paper_total must be integers >= 1, got {total_epochs!r}, {paper_total!r}"
        )
    T, P = int(total_epochs), int(paper_total)
    if ws and ws[-1][1] > P:
        raise ConfigError(f"scaled: window {ws[-1]} ends after paper_total={P}")
    if len(ws) > T:
        raise ConfigError(f"scaled: {len(ws)} distinct windows do not fit in total_epochs={T}")
    out = []
    for s, e in ws:
        # integer arithmetic: floor((s-1)T/P) + 1 and ceil(eT/P)
        s2 = (s - 1) * T // P + 1
        e2 = max(s2, -(-e * T // P))
        out.append([s2, e2])
    for i in range(1, len(out)):  # forward: no overlap with the previous window
        if out[i][0] <= out[i - 1][1]:
            shift = out[i - 1][1] + 1 - out[i][0]
            out[i][0] += shift
            out[i][1] = max(out[i][1], out[i][0])
    limit = T
    for i in range(len(out) - 1, -1, -1):  # backward: stay within T
        out[i][1] = min(out[i][1], limit)
        out[i][0] = min(out[i][0], out[i][1])
        limit = out[i][0] - 1
    return tuple((s, e) for s, e in out)


# --------------------------------------------------------------------------- meter
Number = Union[float, int, torch.Tensor]


class KLMeter:
    """Per-layer running average of KL values over the batches of a window.

        meter = KLMeter("cifar")                    # or explicit ((1, 3), (45, 48), ...)
        for epoch in range(1, epochs + 1):          # epochs count from 1, as in the paper
            for batch in loader:
                ...
                if meter.measuring(epoch):
                    meter.update({name: layer_kl(p, q) for name, p, q in pairs}, epoch=epoch)
            if meter.closes(epoch):
                averages = meter.compute()          # {layer: mean KL over the window}
                ... EBQM decision ...
                meter.reset()

    ``update`` adds one value per layer (a float or a 0-d tensor; tensors are summed on
    their device, without a host sync, until ``compute``) with ``weight`` (default 1:
    the plain mean over batches, "averaging the KL divergence values" over the window's
    epochs; pass the batch size to weight by samples). Given ``epoch``, values outside
    every window are ignored (``update`` returns False). ``compute`` returns
    ``{layer: sum / weight}`` as floats, layers in first-seen order. ``state_dict`` /
    ``load_state_dict`` carry the sums, weights and windows (floats, for resume).
    """

    def __init__(self, windows: Union[str, Sequence[Sequence[int]]] = "cifar"):
        self.windows: Windows = resolve_windows(windows)
        self._sum: dict[Hashable, Number] = {}
        self._weight: dict[Hashable, float] = {}

    # window logic
    def measuring(self, epoch: int) -> bool:
        """True when ``epoch`` lies in a measurement window."""
        return window_index(epoch, self.windows) is not None

    def closes(self, epoch: int) -> bool:
        """True when ``epoch`` is the last of a window (decision time)."""
        return window_end(epoch, self.windows)

    # accumulation
    def update(self, values: Mapping[Hashable, Number], epoch: int | None = None, weight: float = 1.0) -> bool:
        if epoch is not None and not self.measuring(epoch):
            return False
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"KLMeter.update: weight must be a positive finite number, got {weight!r}")
        for key, v in values.items():
            if isinstance(v, torch.Tensor):
                v = v.detach()
                if v.numel() != 1:
                    raise ValueError(f"KLMeter.update: layer {key!r} got a tensor of shape {tuple(v.shape)}, need a scalar")
                v = v.reshape(()).to(torch.float32 if v.device.type == "mps" else torch.float64)
            else:
                v = float(v)
            term = v * weight
            self._sum[key] = self._sum[key] + term if key in self._sum else term
            self._weight[key] = self._weight.get(key, 0.0) + float(weight)
        return True

    def compute(self) -> dict[Hashable, float]:
        return {k: float(self._sum[k]) / self._weight[k] for k in self._sum}

    def reset(self) -> None:
        self._sum.clear()
        self._weight.clear()

    def __len__(self) -> int:
        return len(self._sum)

    # resume
    def state_dict(self) -> dict:
        return {
            "windows": [list(w) for w in self.windows],
            "sum": {k: float(v) for k, v in self._sum.items()},
            "weight": dict(self._weight),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.windows = resolve_windows(state["windows"])
        self._sum = {k: float(v) for k, v in state["sum"].items()}
        self._weight = {k: float(v) for k, v in state["weight"].items()}
        if self._sum.keys() != self._weight.keys():
            raise ValueError("KLMeter.load_state_dict: 'sum' and 'weight' name different layers")

    def __repr__(self) -> str:
        return f"KLMeter(windows={self.windows}, layers={len(self)})"
