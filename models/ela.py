"""ELA: Efficient Layer Attention — MRLA-B with redundant attention layers pruned during
training by the KL divergence of adjacent layers and EBQM (ELA section 3.3, Algorithm 1).

No public code of ELA exists; this is the first implementation. What it does:

* **The network** is MRLA-B (ELA Eqs. 4-5; ``models.mrla.MRLABase``) with one switch per
  attention layer: ``pruned``. ELA keeps the parameter count of MRLA-B (ELA Table 1:
  ELA = MRLA-B's counts) and its ImageNet FLOPs (4.4B) lie between MRLA-L's and
  MRLA-B's: pruned layers skip their computation while the backbone block stays
  (section 3.2: "skipping these redundant attention layers while retaining the original
  backbone layers").
* **What a pruned layer still does** (``kv_when_pruned``), the one thing the paper leaves
  open: ``'drop'`` (default) skips the whole MRLA layer, query, key, value and retrieval,
  so later layers of the stage retrieve only from unpruned layers — the reading of
  "skip attention layers" that saves the most time (the paper's ~30% claim);
  ``'keep'`` skips only the retrieval: the layer still computes and stores its key and
  value, so later layers keep retrieving its features.
* **Measuring redundancy**: during the measurement windows (CIFAR epochs 1-3, 45-48,
  91-93; ImageNet 1-3 and 51-53; detection 1 and 7; ``models.kl.WINDOWS``) every
  unpruned layer computes D_KL(P || P') (Eq. 11, ``models.kl.layer_kl``) between the
  softmax P of the previous unpruned layer of its stage and its own P', averaged over
  batch and heads, and over the window's TRAINING batches (``KLMeter``). Only forward
  passes in training mode are measured: the evaluation that runs inside a window epoch
  (eval mode, test data) never reaches the KL averages, so test data cannot influence
  which layers are pruned. The first layer of a
  stage retrieves from itself only and has no KL: it is never pruned. With
  ``kv_when_pruned='keep'`` the support can grow by more than one layer between two
  unpruned layers; P is then padded with eps to P''s length (Eq. 11's rule per entry).
* **Deciding**: when a window closes, the per-layer averages of the whole network go to
  ``models.ebqm.select_pruned`` (Algorithm 1's input is "KL divergences from layer 1 to
  layer l"; ``scope='stage'`` decides per stage instead) with the paper's preset (CIFAR
  Beta(5,1), mu 0.3; ImageNet Beta(2,5), mu 0.25) or an alternative of Tables 4, 6, 7.
  Layers pruned earlier keep their -1 (Algorithm 1 line 8) and stay pruned.
* **Records and resume**: each decision (epoch, window, KL per layer, the fraction of
  softmax entries Eq. 11's eps clamp touched per layer, newly pruned, all pruned, the
  network's forward MACs per image after the decision) is logged, kept in the
  controller's ``record()`` (written into the run record) and in its ``state_dict``
  (checkpoints); the pruned flags are part of every layer's ``state_dict`` (extra
  state), so a run interrupted anywhere, inside a window epoch included, resumes with the
  same pruned set and the partial KL sums of the unfinished window, and decides exactly
  as the uninterrupted run (the training loop calls ``on_epoch_start`` again when it
  resumes an epoch).

A run shorter than the paper's (the smoke scale) maps the windows proportionally
(``models.kl.scaled``); explicit windows must lie within the run's epochs. Either check
fails in ``on_train_start``, which the training loop calls before it writes anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

from .backbone import ResidualBlock, ResNetBackbone, StageState, conv_init_
from .ebqm import select_pruned
from .family import Family, register_family
from .kl import PAPER_EPOCHS, WINDOWS, KLMeter, below_floor, layer_kl, pad_to, resolve_windows, scaled
from .mrla import RELEASED_IMAGENET_INIT, MRLABase, layer_attention_backbone, use_deep_stem
from .registry import ConfigError

__all__ = ["ELALayer", "ELAPruning", "ela_layers", "prune", "KV_WHEN_PRUNED", "ELAOptions", "ELAStageOptions",
           "make_ela", "setup_ela"]

KV_WHEN_PRUNED = ("drop", "keep")
_PREV = "ela_prev_attention"


class ELALayer(MRLABase):
    """An MRLA-B layer that can be pruned (skipped) and can measure its KL divergence."""

    def __init__(self, channels: int, dim_per_head: int = 32, drop_path: float = 0.0,
                 kv_when_pruned: str = "drop"):
        super().__init__(channels, dim_per_head, drop_path)
        if kv_when_pruned not in KV_WHEN_PRUNED:
            raise ConfigError(f"kv_when_pruned={kv_when_pruned!r} is invalid; use one of {', '.join(KV_WHEN_PRUNED)}")
        self.kv_when_pruned = kv_when_pruned
        self.pruned = False
        self.layer_name = ""
        self.kl_sink = None  # set by ELAPruning while a window is open: sink(name, kl, clamped, entries)

    # the pruned flag travels with the weights (checkpoints, resume)
    def get_extra_state(self) -> dict[str, Any]:
        return {"pruned": self.pruned}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.pruned = bool(state["pruned"])

    def forward(self, x: torch.Tensor, identity: torch.Tensor, state: StageState) -> torch.Tensor:
        if not self.pruned:
            return super().forward(x, identity, state)
        if self.kv_when_pruned == "keep":
            mem = self.stored(state)
            _, k = self.query_key(x)
            mem["keys"].append(k)
            mem["values"].append(self.conv_v(x))
        return x

    def observe(self, attn: torch.Tensor, state: StageState) -> None:
        """While a window is open and the network trains: KL(P_prev || P_this) (Eq. 11)
        against the previous unpruned layer of the stage, handed to the controller's sink
        with the count of P' entries the eps clamp touched. Eval-mode forward passes (the
        test set, inside a window epoch) are not measured."""
        if self.kl_sink is None or not self.training:
            return
        p_new = attn.squeeze(2).detach().float()
        prev = state.memory.get(_PREV)
        state.memory[_PREV] = p_new
        if prev is not None:  # layer_kl pads one entry (Eq. 11); 'keep' may need more
            clamped, entries = below_floor(p_new)
            self.kl_sink(self.layer_name, layer_kl(pad_to(prev, p_new.shape[-1] - 1), p_new), clamped, entries)


def ela_layers(model: nn.Module) -> dict[str, ELALayer]:
    """The ELA layers of ``model`` by name ``s<stage>.b<block>`` (stage, block from 0)."""
    out = {}
    for s, stage in enumerate(getattr(model, "stages", [])):
        for b, block in enumerate(stage.blocks):
            if isinstance(block.post, ELALayer):
                out[f"s{s}.b{b}"] = block.post
    return out


def prune(model: nn.Module, names) -> None:
    """Mark the named layers pruned (e.g. to measure an ELA network after pruning)."""
    layers = ela_layers(model)
    unknown = sorted(set(names) - set(layers))
    if unknown:
        raise ConfigError(f"no ELA layer named {', '.join(unknown)}; layers are {', '.join(layers)}")
    for n in names:
        layers[n].pruned = True


class ELAPruning:
    """The pruning controller: a training callback (``experiments.engine.Callback``
    interface: on_train_start, on_epoch_start, on_epoch_end, state_dict,
    load_state_dict, record).

    Settings (``pruning`` in the run config / ``attn_kwargs``): ``preset`` 'cifar' |
    'imagenet' | 'detection' (windows and EBQM parameters), ``windows`` (explicit,
    epochs from 1), ``method`` 'ebqm' | 'threshold' | 'fixed' (Table 4), ``tau`` for
    'threshold', ``k`` for 'fixed' (an int: layers per decision; or a list: the layers
    pruned at each window, one entry per window), EBQM options ``alpha``, ``beta``,
    ``mu``, ``gamma``, ``mapping`` ('beta', 'normal', 'gamma', 'softmax', 'sigmoid' of
    Table 6; 'bqm', 'gqm', 'eqm' of Table 7) and ``calibration`` (how Table 7's quantile
    mappings get their parameters, ``models.ebqm``), ``scope`` 'network' | 'stage'. The
    preset's windows are mapped onto a run shorter than the paper's; explicit ``windows``
    are used as given and must lie within the run's epochs.

    ``macs_fn`` (set by the training loop; optional): returns the network's forward MACs
    per image as it is now; each decision records it after pruning.
    """

    name = "ela_pruning"
    _EBQM_KEYS = ("alpha", "beta", "mu", "gamma", "mapping", "mapping_params", "quantile_method", "on_degenerate",
                  "calibration")

    def __init__(self, preset: str = "cifar", windows=None, method: str = "ebqm", scope: str = "network",
                 tau: float | None = None, k: int | list[int] | None = None, **ebqm_options):
        if preset not in WINDOWS:
            raise ConfigError(f"unknown ELA preset {preset!r}; use one of {', '.join(WINDOWS)}")
        if scope not in ("network", "stage"):
            raise ConfigError(f"ELA scope={scope!r} is invalid; use 'network' or 'stage'")
        unknown = set(ebqm_options) - set(self._EBQM_KEYS)
        if unknown:
            raise ConfigError(f"unknown ELA pruning option(s) {', '.join(sorted(unknown))}")
        self.preset, self.method, self.scope, self.tau = preset, method, scope, tau
        self.k = list(k) if isinstance(k, (list, tuple)) else k
        self.ebqm_options = ebqm_options
        self.explicit_windows = windows is not None
        self.paper_windows = resolve_windows(windows if windows is not None else preset)
        self.windows = self.paper_windows
        if isinstance(self.k, list) and len(self.k) != len(self.paper_windows):
            raise ConfigError(f"ELA fixed pruning: k lists {len(self.k)} counts for {len(self.paper_windows)} windows; "
                              f"give one count per window or a single int")
        self.meter = KLMeter(self.windows)
        self.clamped: dict[str, list] = {}  # layer -> [entries below eps, entries] in the open window
        self.decisions: list[dict[str, Any]] = []
        self.layers: dict[str, ELALayer] = {}
        self.macs_fn = None
        # validate the selection settings now (a one-line error before training starts)
        for w in range(len(self.paper_windows)):
            self._select({"a": 0.1, "b": 0.2, "c": 0.3}, w)

    def settings(self) -> dict[str, Any]:
        return {"preset": self.preset, "method": self.method, "scope": self.scope, "tau": self.tau, "k": self.k,
                "paper_windows": [list(w) for w in self.paper_windows], **self.ebqm_options}

    # ------------------------------------------------------------------ callback
    def on_train_start(self, model: nn.Module, total_epochs: int) -> None:
        """Name the layers and fit the windows to the run; a ConfigError when they cannot
        fit (the training loop calls this before it writes anything)."""
        self.layers = ela_layers(model)
        for name, layer in self.layers.items():
            layer.layer_name = name
        paper_total = PAPER_EPOCHS[self.preset]
        if self.explicit_windows:
            late = [w for w in self.windows if w[1] > total_epochs]
            if late:
                raise ConfigError(f"ELA KL window {late[0]} ends after the run's last epoch {total_epochs}: "
                                  f"train at least {self.windows[-1][1]} epochs or give windows within the run")
        elif total_epochs != paper_total:  # the smoke scale
            if len(self.paper_windows) > total_epochs:
                raise ConfigError(f"ELA preset {self.preset!r} has {len(self.paper_windows)} KL windows, more than "
                                  f"the run's {total_epochs} epochs: train at least {len(self.paper_windows)} epochs "
                                  f"or give explicit windows (pruning={{'windows': [[1, 1]]}})")
            self.windows = scaled(self.paper_windows, total_epochs, paper_total)
            self.meter.windows = self.windows

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        """Open the sinks in a window epoch (idempotent: called again when an interrupted
        epoch resumes)."""
        measuring = self.meter.measuring(epoch + 1)
        for layer in self.layers.values():
            layer.kl_sink = self._sink if measuring and not layer.pruned else None

    def _sink(self, name: str, kl: torch.Tensor, clamped: torch.Tensor, entries: int) -> None:
        self.meter.update({name: kl})
        c = self.clamped.setdefault(name, [0.0, 0])
        c[0], c[1] = c[0] + clamped, c[1] + entries

    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict[str, Any]) -> None:
        for layer in self.layers.values():
            layer.kl_sink = None
        if not self.meter.closes(epoch + 1):
            return
        kl = self._all_reduce(self.meter.compute())
        clamped = {n: float(c) / e for n, (c, e) in self.clamped.items() if e}
        self.meter.reset()
        self.clamped = {}
        values = {n: (-1.0 if layer.pruned else kl[n]) for n, layer in self.layers.items() if n in kl or layer.pruned}
        selected = self._select(values, len(self.decisions))
        newly = [n for n in selected if not self.layers[n].pruned]
        for n in newly:
            self.layers[n].pruned = True
        decision = {"epoch": epoch, "window": len(self.decisions), "kl": {n: kl[n] for n in kl},
                    "clamped_fraction": clamped,
                    "newly_pruned": newly, "pruned": [n for n, l in self.layers.items() if l.pruned],
                    "active_layers": sum(not l.pruned for l in self.layers.values()),
                    "total_layers": len(self.layers),
                    "macs_per_image": self.macs_fn() if self.macs_fn is not None else None}
        self.decisions.append(decision)
        print(f"[ela] epoch {epoch + 1}: window {decision['window'] + 1} closed, KL over "
              f"{len(kl)} layers; pruned {len(newly)} more ({', '.join(newly) or 'none'}), "
              f"{len(decision['pruned'])}/{len(self.layers)} pruned", flush=True)

    def _select(self, values: dict[str, float], window: int) -> list[str]:
        groups = [values]
        if self.scope == "stage":
            stages = sorted({n.split(".")[0] for n in values})
            groups = [{n: v for n, v in values.items() if n.startswith(s + ".")} for s in stages]
        chosen: list[str] = []
        for group in groups:
            if not group:
                continue
            if self.method == "ebqm":
                sel = select_pruned(group, "ebqm", preset=self.preset, **self.ebqm_options)
            else:
                k = self.k[window] if isinstance(self.k, list) else self.k
                sel = select_pruned(group, self.method, tau=self.tau, k=k)
            chosen += [n for n in sel.pruned_keys()]
        return chosen

    @staticmethod
    def _all_reduce(kl: dict[str, float]) -> dict[str, float]:
        """Average the per-layer KL over data-parallel ranks, so every rank decides alike."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return kl
        names = sorted(kl)
        t = torch.tensor([kl[n] for n in names], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        t /= dist.get_world_size()
        return dict(zip(names, t.tolist()))

    # ------------------------------------------------------------------ resume, record
    def state_dict(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "meter": self.meter.state_dict(),
                "clamped": {n: [float(c), int(e)] for n, (c, e) in self.clamped.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.decisions = list(state["decisions"])
        self.meter.load_state_dict(state["meter"])
        self.clamped = {n: [c, e] for n, (c, e) in state.get("clamped", {}).items()}

    def record(self) -> dict[str, Any]:
        return {"settings": self.settings(), "windows": [list(w) for w in self.windows],
                "decisions": self.decisions,
                "pruned": [n for n, l in self.layers.items() if l.pruned],
                "total_layers": len(self.layers)}


# --------------------------------------------------------------------------- family
@dataclass(frozen=True)
class ELAOptions:
    """Module options of ELA: MRLA-B's, and what a pruned layer does with its key and value."""

    dim_per_head: int = 32
    drop_path: float = 0.0
    kv_when_pruned: str = "drop"


@dataclass(frozen=True)
class ELAStageOptions:
    """Network options of ELA: MRLA-B's deep ImageNet stem and the pruning controller's
    settings (:class:`ELAPruning`)."""

    deep_stem: bool = False
    pruning: dict | None = None


def make_ela(block: ResidualBlock, options: ELAOptions = ELAOptions()) -> ELALayer:
    module = ELALayer(block.out_channels, options.dim_per_head, options.drop_path, options.kv_when_pruned)
    conv_init_(module)
    return module


def setup_ela(net: ResNetBackbone, options: ELAStageOptions = ELAStageOptions()) -> None:
    """Deep stem on ImageNet (as MRLA-B) and the pruning controller as a training callback."""
    use_deep_stem(net, options.deep_stem)
    settings = dict(options.pruning or {})
    imagenet = isinstance(net.stem, nn.Sequential) and isinstance(net.stem[-1], nn.MaxPool2d)
    settings.setdefault("preset", "imagenet" if imagenet else "cifar")
    net.callbacks.append(ELAPruning(**settings))
    net.has_unused_parameters = True  # pruned layers get no gradient (DDP must know)


def _register() -> None:
    register_family(Family(
        "ela", make_ela, slot="post", setup=setup_ela, module_options=ELAOptions, stage_options=ELAStageOptions,
        backbone_filter=layer_attention_backbone,
        defaults={"imagenet": {"dim_per_head": 16, "deep_stem": True}}, backbone_defaults=RELEASED_IMAGENET_INIT,
        description="ELA: MRLA-B whose redundant layers are pruned by KL divergence and EBQM",
    ))


_register()
