"""Vision transformers with channel attention between the Norm and the MLP of each block
(DIA Table IX: ViT-S/16 and ViT-B/16 with SE, ECA, SPA, DIA-LSTM and DIA-LSTM (Light)).

The backbone is timm's ``VisionTransformer`` unchanged (its ``Block``, ``Attention`` and
``Mlp``); only each block's ``norm2`` is wrapped by :class:`TokenAttention`, so the
attention unit sits between the Norm and the MLP, where DIA Fig 7 puts the DIA unit
("Motivated by the setting in [55], we place the DIA unit between the normalization
(Norm) layer and the multi-layer perception (MLP) layer"); [55] is ASR, "Attention-alike
structural re-parameterization" (Zhong et al., arXiv:2304.06345), whose attention output
multiplies the output of a normalisation layer channel-wise.

Block ``l`` (timm's pre-norm block, ``x`` in R^{B x (P+N) x C}: P prefix tokens, the
class token, and N = H*W patch tokens)::

    x'    = x + DropPath(LS1(Attn(LN1(x))))                 # timm, unchanged
    u     = LN2(x') = [u_cls ; U],   U in R^{B x N x C}     # normalised tokens
    s     = (1/N) sum_n U[:, n, :]                           # "GAP" over patch tokens, [B, C]
    w_l   = unit(s)                                          # per-channel weights, [B, C]
    U~    = U * w_l[:, None, :]                              # channel-wise rescaling
    x''   = x' + DropPath(LS2(MLP([u_cls ; U~])))            # timm, unchanged

with the units of this repository, unchanged, applied to the patch tokens viewed as their
``[B, C, H, W]`` grid (``models.attention``, ``models.dia``):

* SE (``se``):  ``w = sigmoid(W2 ReLU(W1 s))``, W1: C -> C/r, W2: C/r -> C, r = 16, no
  biases (the repository's SE default): ``2 C (C // 16)`` parameters per block.
* ECA (``eca``): ``w = sigmoid(conv1d_k(s))``, k from ECA-Net Eq. 12 (k = 5 for C = 384
  and 768): ``k`` parameters per block.
* SPA (``spa``): ``w = sigmoid(W2 ReLU(W1 [AAP_1; AAP_2; AAP_4](grid(U))))``, the pyramid
  pooled over the H x W grid of patch tokens, W1: 21C -> C/16, W2: C/16 -> C, no biases:
  ``22 C (C // 16)`` parameters per block.
* DIA-LSTM (``dia``) and DIA-LSTM (Light) (``dia_light``): ONE unit for the whole network
  (all blocks are one "stage"), its state carried from block to block as DIA carries it
  across the blocks of a ResNet stage (DIA Eq. 4)::

      (h_l, c_l) = cell(s_l, (h_{l-1}, c_{l-1})),   h_0 = c_0 = 0,   w_l = h_l

  DIA-LSTM reduction r = 4 (the DIA default, Table XII): ``10 C (C // 4) + 2 (C // 4) + 8C``
  parameters in all; Light r = 8 with one bias per gate: ``2 C (C // 8) + 2 (C // 8) + 12C``
  (see ``models.dia`` for the cells). The state lives in a ``StageState`` that the first
  block starts afresh and the last block drops, so nothing leaks between forward passes.

What is read, and what is interpretation:

* Read from DIA Fig 7 / [55]: the position (after ``norm2``, before ``mlp``) and, for DIA,
  one unit shared by all blocks with its LSTM state carried across them.
* Interpretation (neither paper spells it out for tokens): the unit's global pooling is
  the mean over the patch tokens, ``[B, N, C] -> [B, C]``, and its weights rescale the
  normalised patch tokens channel-wise; SPA's pyramid pools the patch tokens on their
  H x W grid. Unlike ASR, the unit's input is the token statistics, not a learned constant
  vector: DIA's cell reads the features of each block (Eq. 4), and Table IX compares the
  input-dependent SE/ECA/SPA.
* Choice: the class token (all prefix tokens) is left out of the pooling and is not
  rescaled; it enters the MLP as LN2 normalised it. The units then see exactly the image's
  spatial features, as in the CNNs, and SPA's pyramid has a grid to pool; the class token
  takes up the recalibrated patch features through the next blocks' self-attention.
  Neither DIA nor ASR says how the class token is treated.
* Choice: the unit options are the repository's defaults (the ``"vit"`` kind has no
  per-kind defaults in ``models.family``); ``attn_kwargs`` overrides them as for the
  ResNets, e.g. ``create_model('se_vit_small_patch16_224', attn_kwargs={'bias': True})``
  for ASR's released SE (r = 16 with biases). Table IX publishes no parameter counts.

Models (``create_model(name, **kwargs)``; kwargs go to timm's ``VisionTransformer``:
``img_size``, ``patch_size``, ``in_chans``, ``num_classes``, ``drop_path_rate``, ...):
``vit_{small,base}_patch16_224`` (timm's ViT-S/16: depth 12, dim 384, 6 heads; ViT-B/16:
depth 12, dim 768, 12 heads) and ``{se,eca,spa,dia,dia_light}_vit_{small,base}_patch16_224``.
A Fashion-MNIST smoke configuration is the same name with
``img_size=32, patch_size=4, in_chans=1, num_classes=10``.

Not supported: ``dynamic_img_size`` with a unit (the grid must be fixed), and timm's
gradient checkpointing with the DIA units (a recomputed block would not see its
predecessor's state).
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn as nn
from timm.models.vision_transformer import VisionTransformer

from .backbone import StageState
from .family import FAMILIES
from .registry import ConfigError, register_model

__all__ = ["VIT_ARCHS", "VIT_FAMILIES", "TokenAttention", "TokenState", "vit", "register_vit_models",
           "attach_token_units"]

#: timm's configurations (``timm.models.vision_transformer.vit_{small,base}_patch16_224``).
VIT_ARCHS: dict[str, dict[str, int]] = {
    "vit_small_patch16_224": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_base_patch16_224": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
}

#: The attention families of DIA Table IX, by the repository's family names.
VIT_FAMILIES: tuple[str, ...] = ("se", "eca", "spa", "dia", "dia_light")

#: Backbone kind under which the families' per-kind defaults are looked up (none are set).
KIND = "vit"


class TokenState:
    """The per-forward state shared by the blocks of one ViT (one "stage").

    Block 0 starts a fresh ``StageState`` (DIA's ``h_0 = c_0 = 0``); the last block drops
    it after use, so no autograd graph outlives the forward pass (and the model stays
    deep-copyable, e.g. for EMA weights).
    """

    def __init__(self, depth: int):
        self.depth = depth
        self.state: StageState | None = None

    def enter(self, index: int) -> StageState:
        if index == 0 or self.state is None:
            self.state = StageState(stage=0)
        self.state.block = index
        return self.state

    def leave(self, index: int) -> None:
        if index == self.depth - 1:
            self.state = None


class TokenAttention(nn.Module):
    """A block's ``norm2`` followed by a channel-attention unit on the patch tokens.

    ``norm``: timm's LayerNorm of the block (kept as is); ``unit``: a module called as
    ``unit(x, state)`` on ``[B, C, H, W]`` that returns ``x * w[:, :, None, None]`` (the
    units of ``models.attention`` and ``models.dia``); ``grid``: (H, W) of the patch tokens;
    ``num_prefix_tokens``: class (and register) tokens, passed through unscaled.
    """

    def __init__(self, norm: nn.Module, unit: nn.Module, tokens: TokenState, index: int,
                 grid: tuple[int, int], num_prefix_tokens: int):
        super().__init__()
        self.norm, self.unit = norm, unit
        self.tokens, self.index = tokens, index
        self.grid, self.num_prefix_tokens = tuple(grid), num_prefix_tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.norm(x)
        p = self.num_prefix_tokens
        prefix, patches = u[:, :p], u[:, p:]
        b, n, c = patches.shape
        h, w = self.grid
        if n != h * w:
            raise ConfigError(f"{n} patch tokens do not fill the {h}x{w} grid the unit was built for; "
                              "build the model at this img_size (dynamic sizes are not supported)")
        state = self.tokens.enter(self.index)
        try:
            out = self.unit(patches.transpose(1, 2).reshape(b, c, h, w), state)
        finally:
            self.tokens.leave(self.index)
        return torch.cat([prefix, out.flatten(2).transpose(1, 2)], dim=1)

    def extra_repr(self) -> str:
        return f"index={self.index}, grid={self.grid}, num_prefix_tokens={self.num_prefix_tokens}"


def vit(arch: str = "vit_small_patch16_224", *, family: str | None = None,
        attn_kwargs: dict[str, Any] | None = None, kind: str = KIND, **kwargs) -> VisionTransformer:
    """timm's ViT ``arch`` (``VIT_ARCHS``) with the attention ``family`` after each ``norm2``.

    ``kwargs`` override the timm configuration (``img_size``, ``patch_size``, ``in_chans``,
    ``num_classes``, ``drop_path_rate``, ...); ``attn_kwargs`` the unit's options; ``kind``
    only names the backbone kind for ``models.zoo.model_spec`` and must stay ``"vit"``.
    """
    if kind != KIND:
        raise ConfigError(f"a ViT is of kind {KIND!r}, not {kind!r}")
    if arch not in VIT_ARCHS:
        raise ConfigError(f"unknown ViT {arch!r}; use one of {', '.join(VIT_ARCHS)}")
    if family is None:
        if attn_kwargs:
            raise ConfigError("attn_kwargs given for a plain ViT: choose a model with attention")
        return VisionTransformer(**{**VIT_ARCHS[arch], **kwargs})
    if kwargs.get("dynamic_img_size"):
        raise ConfigError("a ViT with an attention unit needs a fixed grid: leave dynamic_img_size off")
    from . import zoo  # noqa: F401  (registers the families when models.vit is imported first)

    fam = FAMILIES.get(family)
    if fam is None or family not in VIT_FAMILIES:
        raise ConfigError(f"unknown ViT attention family {family!r}; use one of {', '.join(VIT_FAMILIES)}")
    net = VisionTransformer(**{**VIT_ARCHS[arch], **kwargs})
    options, _ = fam.resolve(KIND, attn_kwargs)
    attach_token_units(list(net.blocks), fam, options, net.embed_dim, net.patch_embed.grid_size, net.num_prefix_tokens)
    return net


def attach_token_units(blocks: list[nn.Module], fam, options, width: int, grid_size, num_prefix_tokens: int) -> None:
    """Wrap every block's ``norm2`` in a :class:`TokenAttention` with ``fam``'s unit (``options``
    resolved): one unit shared by all blocks in run order when the family shares (DIA), else
    one per block; ``width`` is the token width the unit sees (a block's ``branch_channels``).
    The ViTs of DIA Table IX and the U-ViTs of DIA Fig 8 attach their units this way."""
    site = SimpleNamespace(branch_channels=width)  # what a family's make() reads of a block
    shared = fam.make(site, options) if fam.share else None
    tokens = TokenState(len(blocks))
    for i, block in enumerate(blocks):
        unit = shared if shared is not None else fam.make(site, options)
        block.norm2 = TokenAttention(block.norm2, unit, tokens, i, grid_size, num_prefix_tokens)


def register_vit_models() -> None:
    """Register ``<arch>`` and ``<family>_<arch>`` for every ViT and family of Table IX."""
    for arch in VIT_ARCHS:
        register_model(arch, builder=functools.partial(vit, arch=arch, kind=KIND))
        for family in VIT_FAMILIES:
            register_model(f"{family}_{arch}", builder=functools.partial(vit, arch=arch, kind=KIND, family=family))


register_vit_models()
