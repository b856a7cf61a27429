"""Dynamic Layer Attention (DLA, Wang et al. IJCAI 2024, section 3.3): MRLA whose earlier
layers are refreshed by a recurrent context before they are attended to; and DIANet's
layer-wise information integration (LII) with a swappable cell (DLA Table 6).

One recurrent cell per stage (hidden size = stage width; :mod:`models.dsu`), held in
``Stage.shared['dla_cell']`` by the family's setup hook, its state ``(h, c)`` in
``state.memory['dla_context']`` (zero at each stage's first block). Per block, as in
the released code (official-code.md, "DLA"), with ``x`` the block output and ``org`` its
shortcut tensor:

**DLA-L** (``'dla_l'``)::

    (h, c) = cell(GAP(x), (h, c))                 # forward path, context (Eq. 5)
    d      = cell(GAP(org), (h, c)).h             # backward path (Eq. 6), state not advanced
    org    = org * d + DWConv3x3(org)             # one extra depthwise conv per stage
    x      = x + DropPath(BN(MRLA-L(x) with lambda * org))   # Eq. 3 on the refreshed O^{l-1}

The extra depthwise conv is ``Stage.shared['dla_dwconv']`` (``refresh='released'``,
default). DLA Eq. 6 as printed has no such term, ``org = org * d`` (``refresh='paper'``,
9C parameters fewer per stage).

**DLA-B** (``'dla_b'``)::

    (h, c) = cell(GAP(x), (h, c))
    K_i <- K_i * cell(K_i, (h, c)).h,  V_i <- V_i * cell(GAP(V_i), (h, c)).h   for the stored i < l (Eq. 6)
    x      = x + DropPath(ReLU(BN(MRLA-B(x))))    # Eq. 2 over the refreshed keys and values

The refreshed K_i, V_i are stored back, so the gating compounds from block to block (and
the stored values are new tensors at every block: DLA-B's memory is quadratic in the
stage depth, as in the released code; the papers use it on ResNet-20 only).

Options (``attn_kwargs``): those of MRLA (``dim_per_head``, ``drop_path``; ``deep_stem``
for DLA-B on ImageNet, as MRLA-B), and of the cell: ``cell`` = 'dsu' (default), 'lstm',
'rnn' or 'dia' (DLA Table 4), ``reduction`` (r: 4; 16 on ImageNet as in the released
code, the paper says 20), ``dsu_form`` ('released' | 'paper') and ``norm`` (DLA Table 5);
``refresh`` ('released' | 'paper') for DLA-L; ``context`` ('per_image' | 'batch0') for both.
Read-out: DLA-L records ``'layer_gate'`` [B, heads], DLA-B ``'layer_softmax'`` [B, heads, t].

**Refresh context** (``context``). DLA Eq. 6 refreshes every earlier layer of an image
with that image's own context, ``d^m = Dyn(y^m, c^l)``: ``'per_image'`` (default) feeds
each image's ``(h, c)`` to the refresh. The released code (CIFAR DLA-B and DLA-L; its
ImageNet DLA-L indexes the same way) reads the recurrent state of the refresh call with
per-layer indexing applied to a [B, C] tensor, so it takes row 0: every image of a batch
is refreshed with IMAGE 0's ``(h, c)`` (the forward context of Eq. 5 stays per image).
That is a defect, not a design: an image's logits depend on which image leads its batch
(measured on ResNet-20 at initialisation, eval mode, float64, batch of 8: about 2e-3
relative for DLA-L and 3e-5 for DLA-B, both the change of images 1..7 when image 0 is
replaced and the gap between the released models and 'per_image'). ``'batch0'``
reproduces it (the refresh cell is called with ``(h[0], c[0])`` broadcast over the
batch): this repository's DLA-B/DLA-L then equal the released models to 1e-15 (eval,
and losses over three SGD steps). It adds no parameter.

**LII** (``'lii_dsu'``, ``'lii_lstm'``, ``'lii_dia'``; DLA section 5.3, Table 6): the DIA
unit of :mod:`models.dia` (GAP of the residual branch -> cell shared per stage ->
``branch * h``, in the ``attn`` slot) with the DSU, a standard LSTM cell
(torch.nn.LSTMCell, hidden C) or the DIA-LSTM cell. Options ``reduction``, ``dsu_form``,
``norm`` as above; on ImageNet r defaults to 16 for DSU (DLA's released r) and 20 for
the DIA cell (as the ``dia`` family).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn as nn

from .backbone import ResidualBlock, ResNetBackbone, StageState, conv_init_
from .dia import DIAUnit
from .dsu import create_cell, zero_state
from .family import Family, register_family
from .mrla import RELEASED_IMAGENET_INIT, MRLABase, MRLALight, layer_attention_backbone, use_deep_stem
from .registry import ConfigError

__all__ = ["DLALight", "DLABase", "CONTEXT_KEY", "CELL_KEY", "DWCONV_KEY", "CONTEXTS", "DLAOptions", "DLAStageOptions",
           "LIIOptions"]

CONTEXT_KEY = "dla_context"
CELL_KEY = "dla_cell"
DWCONV_KEY = "dla_dwconv"


def _context_step(x: torch.Tensor, state: StageState) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """Forward path (DLA Eq. 5): advance the stage's context with GAP(x)."""
    cell = state.memory["shared"][CELL_KEY]
    y = x.mean((2, 3))
    ctx = state.memory.get(CONTEXT_KEY)
    ctx = cell(y, zero_state(y, y.shape[1]) if ctx is None else ctx)
    state.memory[CONTEXT_KEY] = ctx
    return cell, ctx


#: Whose context refreshes an image's earlier layers (module docstring, "Refresh context").
CONTEXTS = ("per_image", "batch0")


def _check_context(context: str) -> None:
    if context not in CONTEXTS:
        raise ConfigError(f"unknown DLA context {context!r}; use 'per_image' (DLA Eq. 6) or 'batch0' (released code)")


def _refresh_context(ctx: tuple[torch.Tensor, torch.Tensor], context: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (h, c) the refresh (Eq. 6) is computed with: each image's own ('per_image'), or
    image 0's broadcast over the batch ('batch0', the released code's defect)."""
    if context == "per_image":
        return ctx
    h, c = ctx
    return h[:1].expand_as(h), c[:1].expand_as(c)


class DLALight(MRLALight):
    """DLA-L: context update, refresh of the shortcut (O^{l-1}), then MRLA-L (module docstring)."""

    def __init__(self, channels: int, dim_per_head: int = 32, drop_path: float = 0.0, context: str = "per_image"):
        _check_context(context)
        super().__init__(channels, dim_per_head, drop_path)
        self.context = context

    def forward(self, x: torch.Tensor, identity: torch.Tensor, state: StageState) -> torch.Tensor:
        cell, ctx = _context_step(x, state)
        # Eq. 6: d = Dyn(y^m, c^l), the state is not advanced
        d, _ = cell(identity.mean((2, 3)), _refresh_context(ctx, self.context))
        org = identity * d[:, :, None, None]
        shared = state.memory["shared"]
        if DWCONV_KEY in shared:  # refresh='released'
            org = org + shared[DWCONV_KEY](identity)
        return x + self.drop_path(self.bn(self.retrieve(x, org, state)))


class DLABase(MRLABase):
    """DLA-B: context update, refresh of every stored key and value, then MRLA-B (module docstring)."""

    def __init__(self, channels: int, dim_per_head: int = 32, drop_path: float = 0.0, context: str = "per_image"):
        _check_context(context)
        super().__init__(channels, dim_per_head, drop_path)
        self.context = context

    def forward(self, x: torch.Tensor, identity: torch.Tensor, state: StageState) -> torch.Tensor:
        cell, ctx = _context_step(x, state)
        h, c = _refresh_context(ctx, self.context)
        mem = self.stored(state)
        n = len(mem["keys"])
        if n:
            b = x.shape[0]
            # All 2n refreshes in one call of the (row-wise) cell, each with the same context.
            inputs = torch.cat(mem["keys"] + [v.mean((2, 3)) for v in mem["values"]])
            d = cell(inputs, (h.repeat(2 * n, 1), c.repeat(2 * n, 1)))[0].split(b)
            mem["keys"] = [k * g for k, g in zip(mem["keys"], d[:n])]
            mem["values"] = [v * g[:, :, None, None] for v, g in zip(mem["values"], d[n:])]
        return x + self.drop_path(torch.relu(self.bn(self.retrieve(x, state))))


# --------------------------------------------------------------------------- families
REFRESH = ("released", "paper")


@dataclass(frozen=True)
class DLAOptions:
    """Module options of DLA-L and DLA-B: the layer attention of each block."""

    dim_per_head: int = 32
    drop_path: float = 0.0
    refresh: str = "released"
    context: str = "per_image"


@dataclass(frozen=True)
class DLAStageOptions:
    """Stage options of DLA-L and DLA-B: the recurrent cell per stage (DLA-L: and its
    depthwise conv, ``refresh='released'``), and MRLA-B's deep ImageNet stem."""

    cell: str = "dsu"
    reduction: int = 4
    dsu_form: str = "released"
    norm: str = "sigmoid"
    refresh: str = "released"
    deep_stem: bool = False


@dataclass(frozen=True)
class LIIOptions:
    """Module options of the LII families: the cell of DIANet's shared unit."""

    reduction: int = 4
    dsu_form: str = "released"
    norm: str = "sigmoid"


def _make(cls, block: ResidualBlock, options: DLAOptions = DLAOptions()) -> nn.Module:
    if options.refresh not in REFRESH:
        raise ConfigError(f"unknown DLA refresh {options.refresh!r}; use 'released' (org * d + DWConv(org)) "
                          "or 'paper' (Eq. 6: org * d)")
    if cls is DLABase and options.refresh != "released":
        raise ConfigError("refresh applies to DLA-L only: DLA-B refreshes its stored keys and values")
    module = cls(block.out_channels, options.dim_per_head, options.drop_path, context=options.context)
    conv_init_(module)
    return module


def _setup(net: ResNetBackbone, options: DLAStageOptions = DLAStageOptions()) -> None:
    """One cell per stage that carries DLA (and, for DLA-L, one depthwise conv per stage)."""
    use_deep_stem(net, options.deep_stem)
    for stage in net.stages:
        kinds = {type(b.post) for b in stage.blocks if isinstance(b.post, (DLALight, DLABase))}
        if not kinds:
            continue
        width = stage.out_channels
        stage.shared[CELL_KEY] = create_cell(options.cell, width, reduction=options.reduction,
                                             dsu_form=options.dsu_form, norm=options.norm)
        if DLALight in kinds and options.refresh == "released":
            dwconv = nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False)
            conv_init_(dwconv)
            stage.shared[DWCONV_KEY] = dwconv


def _make_lii(cell_name: str, block: ResidualBlock, options: LIIOptions = LIIOptions()) -> DIAUnit:
    return DIAUnit([create_cell(cell_name, block.branch_channels, reduction=options.reduction,
                                dsu_form=options.dsu_form, norm=options.norm)])


def _register() -> None:
    dla = dict(slot="post", setup=_setup, module_options=DLAOptions, stage_options=DLAStageOptions,
               backbone_filter=layer_attention_backbone, backbone_defaults=RELEASED_IMAGENET_INIT)
    register_family(Family(
        "dla_l", functools.partial(_make, DLALight), defaults={"imagenet": {"reduction": 16}}, **dla,
        description="DLA-L: DSU context per stage refreshes O^{l-1} of MRLA-L (DLA section 3.3)",
    ))
    register_family(Family(
        "dla_b", functools.partial(_make, DLABase),
        defaults={"imagenet": {"reduction": 16, "dim_per_head": 16, "deep_stem": True}}, **dla,
        description="DLA-B: DSU context per stage refreshes the stored keys and values of MRLA-B",
    ))
    for cell, imagenet_r in (("dsu", 16), ("lstm", None), ("dia", 20)):
        register_family(Family(
            f"lii_{cell}", functools.partial(_make_lii, cell), share=True, module_options=LIIOptions,
            defaults={"imagenet": {"reduction": imagenet_r}} if imagenet_r else {},
            description=f"LII: DIANet's shared-per-stage unit with a {cell.upper()} cell (DLA Table 6)",
        ))


_register()
