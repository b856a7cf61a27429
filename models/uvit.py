"""U-ViT, the ViT backbone for diffusion models of Bao et al. 2023 ("All are Worth Words: A
ViT Backbone for Diffusion Models", CVPR 2023; DIA's reference [62]), with and without the
DIA unit between the Norm and the MLP of each block (DIA Sec. V-B "image generation",
Fig 7: "we place the DIA unit between the normalization (Norm) layer and the multi-layer
perception (MLP) layer"; Fig 8: FID of UViT with and without DIA on CIFAR-10).

Architecture (U-ViT Sec. 3 and Fig. 1; every number with its source)
-------------------------------------------------------------------
The input ``x_t`` in R^{B x c x H x W} and the time ``t`` are all tokens ("all are worth
words")::

    P      = PatchEmbed(x_t)                  # conv k = s = p, c -> D; N = (H/p)(W/p) tokens
    tau    = sinusoid(t, D)                    # the time token (no MLP: mlp_time_embed=False)
    z_0    = [tau ; (label) ; P] + E_pos       # E_pos in R^{(extras + N) x D}, learned
    in blocks   z_i = Block_i(z_{i-1}),                     i = 1 .. L_h     (kept as skips)
    mid block   z   = Block_mid(z_{L_h})
    out blocks  z   = Block_j(Linear_j([z ; z_{L_h + 1 - j}])),  j = 1 .. L_h
                                               # long skip: concatenate, then Linear(2D, D)
    y      = Conv3x3(unpatchify(Linear_{D -> p^2 c}(LN(z))[:, extras:]))

``Block`` is timm's pre-norm ViT block (``timm.models.vision_transformer.Block``: LN,
multi-head self-attention, LN, MLP with GELU), unchanged; the long skip's Linear runs before
the out block's first LN, as U-ViT Sec. 3.1 writes ``h_m = Linear(Concat(h_m, h_s))``.

U-ViT-S/2 for CIFAR-10 (``uvit_small_cifar``):

* 13 blocks ("#Layers 13"), width D = 512, MLP 2048 (ratio 4), 8 heads, 44M parameters:
  U-ViT Table 1 (U-ViT-Small). CIFAR-10 uses U-ViT-S/2, patch size 2 (U-ViT Table 2 / Sec.
  5.1); 32x32x3 images, N = 256 tokens.
* 13 blocks = 6 in + 1 mid + 6 out, 6 long skips (U-ViT Sec. 3: "long skip connections
  between shallow and deep layers"; the released CIFAR-10 configuration states
  ``depth=12``, which builds depth // 2 = 6 in and 6 out blocks plus the mid block).
  Here ``depth`` is the number of blocks, 13, and must be odd.
* time as a token, through a sinusoidal embedding of ``999 t`` (continuous t in (0, 1],
  the released code's "follow SDE" scaling) with no MLP (released CIFAR-10 config
  ``mlp_time_embed=False``; U-ViT Sec. 3.1 ablation "time as a token" vs adaptive LN).
  Decision: the embedding's half of cosines precedes the half of sines, as released; the
  order changes no count.
* qkv without bias (released config ``qkv_bias=False``), proj/MLP with biases (timm's
  defaults, as U-ViT's block); LayerNorm eps 1e-5 (``torch.nn.LayerNorm``; timm's ViT
  default would be 1e-6).
* a 3x3 convolution after the final linear layer (U-ViT Sec. 3.1, "an extra 3x3
  convolutional block after the linear projection"), c -> c with bias.
* init (released code): every Linear trunc-normal std 0.02 with zero bias, LN (1, 0),
  E_pos trunc-normal std 0.02; the conv layers keep PyTorch's default.
* unconditional (CIFAR-10, ``num_classes=-1``); ``num_classes > 0`` adds a learned label
  token in front, ``[label ; tau ; P]`` as released (class-conditional ImageNet); DIA Fig 8
  does not use it.

Parameters of U-ViT-S/2 on 32x32x3 (D = 512, p = 2, c = 3), computed by hand in
``tests/test_uvit.py``: per block ``12 D^2 + 10 D`` = 3,150,848 (x 13 = 40,961,024), six
skip Linears ``2 D^2 + D`` = 524,800 each (3,148,800), patch embedding ``c p^2 D + D`` =
6,656, position embedding ``(1 + 256) D`` = 131,584, final LN 1,024, decoder
``D p^2 c + p^2 c`` = 6,156, conv ``9 c^2 + c`` = 84: **44,255,328** (U-ViT Table 1: 44M).

DIA (``dia_uvit_small_cifar``)
------------------------------
The unit and its token reading are those of ``models.vit`` (its docstring states the
equations; :class:`models.vit.TokenAttention` and :class:`models.vit.TokenState` are
reused unchanged): each block's ``norm2`` is wrapped so that the normalised patch tokens are
rescaled channel-wise by ``h_l`` before the MLP, the pooled patch tokens ``s_l`` feeding
ONE DIA-LSTM cell for the whole network, its state carried from block to block in the
order the blocks run (6 in, mid, 6 out; ``h_0 = c_0 = 0`` at the first in-block)::

    (h_l, c_l) = cell(mean_n LN2(z)[:, extras + n, :], (h_{l-1}, c_{l-1})),   l = 1 .. 13

Choices (DIA does not state them for UViT): the prefix tokens (time, label) are not pooled
and not rescaled, as ``models.vit`` treats the class token; one state chain through all 13
blocks (Fig 7 draws one unit for the whole transformer, as for ViT); the unit's options are
the repository's DIA defaults (DIA-LSTM, r = 4): ``10 D (D // 4) + 2 (D // 4) + 8 D`` =
659,712 parameters for D = 512, so **44,915,040** in all. DIA publishes no count for UViT.
``create_model('uvit_small_cifar', family='dia_light')`` builds DIA-LSTM (Light) the same
way (not in Fig 8, so it has no name of its own).

Smoke configuration (Fashion-MNIST padded or resized to 32x32, one channel):
``create_model('uvit_small_cifar', **UVIT_SMOKE)`` (and ``dia_uvit_small_cifar``):
32x32x1, patch 4, width 64, 5 blocks (2 in, mid, 2 out), 4 heads.

Call as ``net(x_t, t)`` with ``t`` in [0, 1] (shape [B] or a scalar), returning the
predicted noise of the shape of ``x_t`` (``experiments.diffusion``).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn as nn
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block

from .family import FAMILIES
from .registry import ConfigError, register_model
from .vit import attach_token_units

__all__ = ["UVIT_ARCHS", "UVIT_FAMILIES", "UVIT_NAMED_FAMILIES", "UVIT_SMOKE", "UViT", "SkipBlock", "timestep_embedding",
           "uvit", "register_uvit_models"]

#: U-ViT-S/2 for CIFAR-10 (U-ViT Table 1 and Sec. 5.1; see the module docstring).
UVIT_ARCHS: dict[str, dict[str, Any]] = {
    "uvit_small_cifar": dict(img_size=32, patch_size=2, in_chans=3, embed_dim=512, depth=13, num_heads=8,
                             mlp_ratio=4.0),
}

#: The attention families placed as DIA Fig 7 shows. Only ``dia`` (Fig 8) gets a name;
#: ``create_model('uvit_small_cifar', family='dia_light')`` builds the Light unit.
UVIT_FAMILIES: tuple[str, ...] = ("dia", "dia_light")
UVIT_NAMED_FAMILIES: tuple[str, ...] = ("dia",)

#: The Fashion-MNIST smoke size (32x32x1).
UVIT_SMOKE: dict[str, Any] = dict(img_size=32, patch_size=4, in_chans=1, embed_dim=64, depth=5, num_heads=4)

KIND = "uvit"

#: The network reads ``TIME_SCALE * t`` for continuous t in [0, 1] (released U-ViT code).
TIME_SCALE = 999.0


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (fractional) times ``t`` [B] -> [B, dim] (Vaswani et al. 2017,
    Sec. 3.5; DDPM's time embedding): frequencies ``max_period^{-k / (dim/2)}``, cosines then
    sines, a zero column when ``dim`` is odd."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(max_period) * k / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=-1)
    return emb


class SkipBlock(nn.Module):
    """An out block of U-ViT: the long skip ``Linear(2D, D)`` on ``[z ; skip]``, then timm's
    ``Block`` (U-ViT Sec. 3.1, "concatenate then linear")."""

    def __init__(self, dim: int, block: nn.Module):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim)
        self.block = block

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(self.skip_linear(torch.cat([x, skip], dim=-1)))


class UViT(nn.Module):
    """U-ViT (module docstring). ``depth`` counts all blocks (odd: in + mid + out)."""

    def __init__(self, img_size: int = 32, patch_size: int = 2, in_chans: int = 3, embed_dim: int = 512,
                 depth: int = 13, num_heads: int = 8, mlp_ratio: float = 4.0, qkv_bias: bool = False,
                 num_classes: int = -1, conv: bool = True, skip: bool = True):
        super().__init__()
        if depth < 1 or depth % 2 == 0:
            raise ConfigError(f"U-ViT depth counts in + mid + out blocks and must be odd (13 for U-ViT-S), not {depth}")
        if img_size % patch_size:
            raise ConfigError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        if embed_dim % num_heads:
            raise ConfigError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.embed_dim = self.num_features = embed_dim
        self.num_classes = num_classes
        self.patch_embed = PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                                      embed_dim=embed_dim)
        self.grid_size = tuple(self.patch_embed.grid_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.label_emb = nn.Embedding(num_classes, embed_dim) if num_classes > 0 else None
        self.num_prefix_tokens = 2 if num_classes > 0 else 1  # U-ViT's "extras"
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix_tokens + num_patches, embed_dim))

        def block() -> Block:
            return Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_layer=nn.LayerNorm)

        half = (depth - 1) // 2
        self.in_blocks = nn.ModuleList([block() for _ in range(half)])
        self.mid_block = block()
        self.out_blocks = nn.ModuleList([SkipBlock(embed_dim, block()) if skip else block() for _ in range(half)])
        self.skip = skip
        self.norm = nn.LayerNorm(embed_dim)
        self.patch_dim = patch_size ** 2 * in_chans
        self.decoder_pred = nn.Linear(embed_dim, self.patch_dim)
        self.final_layer = nn.Conv2d(in_chans, in_chans, 3, padding=1) if conv else nn.Identity()
        trunc_normal_(self.pos_embed, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    def blocks(self) -> list[Block]:
        """timm's blocks in the order they run (in, mid, out)."""
        outs = [b.block if isinstance(b, SkipBlock) else b for b in self.out_blocks]
        return [*self.in_blocks, self.mid_block, *outs]

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, p^2 c] (each token's values ordered p1, p2, c) -> [B, c, H, W]."""
        b = x.shape[0]
        (h, w), p, c = self.grid_size, self.patch_size, self.in_chans
        x = x.reshape(b, h, w, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, h * p, w * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise for ``x`` [B, c, H, W] at times ``t`` in [0, 1] ([B] or scalar)."""
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32)
        if t.dim() == 0:
            t = t.expand(b)
        tokens = self.patch_embed(x)
        time_token = timestep_embedding(TIME_SCALE * t, self.embed_dim).to(tokens.dtype)[:, None]
        prefix = [time_token]
        if self.label_emb is not None:
            if y is None:
                raise ConfigError("a class-conditional U-ViT needs labels y")
            prefix.insert(0, self.label_emb(y)[:, None])
        z = torch.cat([*prefix, tokens], dim=1) + self.pos_embed
        skips = []
        for blk in self.in_blocks:
            z = blk(z)
            skips.append(z)
        z = self.mid_block(z)
        for blk in self.out_blocks:
            z = blk(z, skips.pop()) if self.skip else blk(z)
        z = self.decoder_pred(self.norm(z))[:, self.num_prefix_tokens:]
        return self.final_layer(self.unpatchify(z))


def uvit(arch: str = "uvit_small_cifar", *, family: str | None = None, attn_kwargs: dict[str, Any] | None = None,
         kind: str = KIND, **kwargs) -> UViT:
    """U-ViT ``arch`` (``UVIT_ARCHS``), ``kwargs`` overriding its configuration (e.g.
    ``UVIT_SMOKE``), with the ``family``'s unit after each block's ``norm2`` (DIA Fig 7)."""
    if kind != KIND:
        raise ConfigError(f"a U-ViT is of kind {KIND!r}, not {kind!r}")
    if arch not in UVIT_ARCHS:
        raise ConfigError(f"unknown U-ViT {arch!r}; use one of {', '.join(UVIT_ARCHS)}")
    net = UViT(**{**UVIT_ARCHS[arch], **kwargs})
    if family is None:
        if attn_kwargs:
            raise ConfigError("attn_kwargs given for a plain U-ViT: choose a model with attention")
        return net
    from . import zoo  # noqa: F401  (registers the families when models.uvit is imported first)

    fam = FAMILIES.get(family)
    if fam is None or family not in UVIT_FAMILIES:
        raise ConfigError(f"unknown U-ViT attention family {family!r}; use one of {', '.join(UVIT_FAMILIES)}")
    options, _ = fam.resolve(KIND, attn_kwargs)
    attach_token_units(list(net.blocks()), fam, options, net.embed_dim, net.grid_size, net.num_prefix_tokens)
    return net


def register_uvit_models() -> None:
    """Register ``<arch>`` and ``<family>_<arch>``: ``uvit_small_cifar``, ``dia_uvit_small_cifar``."""
    for arch in UVIT_ARCHS:
        register_model(arch, builder=functools.partial(uvit, arch=arch, kind=KIND))
        for family in UVIT_NAMED_FAMILIES:
            register_model(f"{family}_{arch}", builder=functools.partial(uvit, arch=arch, kind=KIND, family=family))


register_uvit_models()
