"""Multi-head Recurrent Layer Attention (MRLA, Fang et al. ICLR 2023) after a residual block:
MRLA-B (DLA Eqs 1-2, ELA Eqs 4-5) and MRLA-L (DLA Eq. 3, ELA Eqs 6-7).

Both treat the output ``x`` [B, C, H, W] of every block of a stage as one token, in the
form of the authors' released code (official-code.md, "MRLA"):

* query and key: ``y = GAP(x)`` read as a length-C sequence, ``Q = Conv1d_k(y)``,
  ``K = Conv1d_k(y)`` (one channel, no bias, ECA's kernel size ``k`` from C);
* value: ``V = DWConv3x3(x)`` (depthwise, no bias);
* ``g = C / dim_per_head`` heads (32 by default; 16 for MRLA-B on ImageNet), scale
  ``1 / sqrt(C / g)``.

**MRLA-B** (``'mrla_b'``) keeps the keys and values of all earlier blocks of the stage in
``state.memory`` (reset at each stage's first block) and retrieves from all of them::

    A = softmax_t(Q K_i^T * scale)       # [B, g, 1, t] over the t blocks so far (Eq. 2)
    O = sum_i A_i V_i                    # per head
    x = x + DropPath(ReLU(BN(O)))

**MRLA-L** (``'mrla_l'``) replaces the retrieval of earlier blocks by the recurrence
``O^l = lambda * O^{l-1} + attn(Q^l, K^l) V^l`` (Eq. 3); with a single key the softmax
would be 1, so the code gates each head with ``sigmoid(Q_h . K_h * scale)``, and it
stands the block's shortcut tensor in for ``O^{l-1}``; ``lambda`` is a learnable
per-channel vector initialised ``randn``::

    x = x + DropPath(BN(V * sigmoid(Q K^T * scale) + lambda * shortcut))

``drop_path`` (default 0.0; the recipes use 0.2) is timm's DropPath on the attention
branch only. Read-out (``state.recording``): MRLA-B records ``'layer_softmax'``
[B, heads, t], MRLA-L ``'layer_gate'`` [B, heads].

ImageNet: MRLA-B uses ``dim_per_head=16`` and the deep stem of the released code (three
3x3 convs 3->32 s2, 32->32, 32->64 instead of the 7x7 conv). The family's ImageNet
defaults set ``deep_stem=True`` and its setup hook swaps the stem of the built net
(``attn_kwargs={'deep_stem': False}`` keeps the 7x7 stem). MRLA-L keeps the 7x7 stem.

Widths: every block width must be a multiple of ``dim_per_head``; the 16-wide stage of
the basic-block CIFAR nets is not (a one-line ConfigError suggests ``dim_per_head=16``),
so no ``mrla_*_resnet*_basic`` names are registered; build them with
``create_model('cifar_resnet', block='basic', family='mrla_l', attn_kwargs={'dim_per_head': 16})``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.layers import DropPath

from .attention.eca import eca_kernel_size
from .backbone import ResidualBlock, ResNetBackbone, StageState, conv_init_
from .family import Family, register_family
from .imagenet_resnet import imagenet_stem
from .registry import ConfigError

__all__ = ["num_heads", "LayerAttention", "MRLALight", "MRLABase", "weighted_value", "use_deep_stem",
           "MRLAOptions", "StemOptions", "make_light", "make_base", "setup_base", "layer_attention_backbone"]


def num_heads(channels: int, dim_per_head: int) -> int:
    if dim_per_head < 1 or channels < dim_per_head or channels % dim_per_head:
        raise ConfigError(
            f"layer attention needs a width that is a multiple of dim_per_head={dim_per_head}, got {channels} "
            f"channels: pass attn_kwargs={{'dim_per_head': d}} with d dividing every stage width (e.g. 16 or 8)"
        )
    return channels // dim_per_head


class LayerAttention(nn.Module):
    """What MRLA-B and MRLA-L share: Q, K from GAP(x) by two 1-D convs, V by a depthwise
    3x3 conv, the heads, the scale, and the BN + DropPath of the attention branch."""

    last_norm = "bn"  # the branch's BN (models.backbone.scale_residual_init_)

    def __init__(self, channels: int, dim_per_head: int = 32, drop_path: float = 0.0):
        super().__init__()
        self.channels = channels
        self.heads = num_heads(channels, dim_per_head)
        self.dim_per_head = dim_per_head
        self.scale = dim_per_head ** -0.5
        k = eca_kernel_size(channels)
        self.conv_q = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.conv_k = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.conv_v = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def query_key(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q, K of shape [B, C] from GAP(x)."""
        y = x.mean((2, 3)).unsqueeze(1)  # [B, 1, C]: channels as a sequence
        return self.conv_q(y).squeeze(1), self.conv_k(y).squeeze(1)

    def heads_view(self, t: torch.Tensor) -> torch.Tensor:
        """[B, C, ...] -> [B, g, C/g, ...]."""
        return t.view(t.shape[0], self.heads, self.dim_per_head, *t.shape[2:])


class MRLALight(LayerAttention):
    """MRLA-L (DLA Eq. 3, ELA Eq. 7) in the released form (module docstring)."""

    def __init__(self, channels: int, dim_per_head: int = 32, drop_path: float = 0.0):
        super().__init__(channels, dim_per_head, drop_path)
        self.lambda_ = nn.Parameter(torch.randn(channels))

    def retrieve(self, x: torch.Tensor, o_prev: torch.Tensor, state: StageState | None = None) -> torch.Tensor:
        """``V * sigmoid(Q K^T * scale) + lambda * o_prev`` (before BN)."""
        q, k = self.query_key(x)
        gate = torch.sigmoid((self.heads_view(q) * self.heads_view(k)).sum(-1) * self.scale)  # [B, g]
        if state is not None and state.recording:
            state.record("layer_gate", gate)
        v = self.heads_view(self.conv_v(x)) * gate[:, :, None, None, None]
        return v.reshape_as(x) + self.lambda_.view(1, -1, 1, 1) * o_prev

    def forward(self, x: torch.Tensor, identity: torch.Tensor, state: StageState | None = None) -> torch.Tensor:
        return x + self.drop_path(self.bn(self.retrieve(x, identity, state)))


def weighted_value(a: torch.Tensor, v: torch.Tensor, broadcast: bool) -> torch.Tensor:
    """``a @ v`` for a weight ``a`` [..., 1, 1] and a value ``v`` [..., 1, N] (one term of
    MRLA-B's sum, DLA Eq. 2 / ELA Eq. 5).

    The inner size is 1, so every output element is a single product and the broadcast
    multiply ``a * v`` gives exactly the same numbers (fp32; under bf16 autocast ``a`` is
    cast to ``v``'s dtype, as autocast casts matmul's inputs). ``broadcast`` picks the
    form: on CUDA the multiply (cuBLAS ran these products as batched GEMV kernels that took
    18.5 of the 38.8 kernel ms of an MRLA-B-56 fast-path step on the H200:
    results/bench/nvidia-h200/gpucheck.md, profile); elsewhere ``matmul``, which
    FlopCounterMode counts as t*C*H*W multiply-adds where it does not count a multiply.
    """
    if broadcast:
        return a.to(v.dtype) * v
    return torch.matmul(a, v)


class MRLABase(LayerAttention):
    """MRLA-B (DLA Eq. 2, ELA Eq. 5) in the released form (module docstring).

    Keys [B, C] and values [B, C, H, W] of the stage's blocks are kept in
    ``state.memory[memory_key]`` as ``{'keys': [...], 'values': [...]}``.
    """

    memory_key = "mrla_b"

    def stored(self, state: StageState) -> dict[str, list[torch.Tensor]]:
        return state.memory.setdefault(self.memory_key, {"keys": [], "values": []})

    def weights(self, q: torch.Tensor, keys: list[torch.Tensor]) -> torch.Tensor:
        """softmax over the t keys of (Q . K_i * scale), per head: [B, g, 1, t]."""
        k = torch.stack(keys, dim=1).view(q.shape[0], len(keys), self.heads, self.dim_per_head)
        logits = torch.einsum("bgd,btgd->bgt", self.heads_view(q), k) * self.scale
        return logits.softmax(-1).unsqueeze(2)

    def aggregate(self, attn: torch.Tensor, values: list[torch.Tensor]) -> torch.Tensor:
        """sum_i attn_i V_i per head, one term per retrieved layer instead of one product
        with all values stacked: the stored values are never copied, so memory stays
        linear in the stage's depth (a stacked product would hold t copies at block t,
        quadratic overall); the multiply-adds (t*C*H*W) are the same and FlopCounterMode
        counts them (see ``weighted_value``)."""
        b, c, h, w = values[0].shape
        out = None
        for i, v in enumerate(values):
            term = weighted_value(attn[..., i:i + 1], v.reshape(b, self.heads, 1, -1), broadcast=v.is_cuda)
            out = term if out is None else out + term
        return out.view(b, c, h, w)

    def retrieve(self, x: torch.Tensor, state: StageState) -> torch.Tensor:
        """Store this block's K, V; attend over all stored ones (before BN)."""
        q, k = self.query_key(x)
        mem = self.stored(state)
        mem["keys"].append(k)
        mem["values"].append(self.conv_v(x))
        attn = self.weights(q, mem["keys"])
        if state.recording:
            state.record("layer_softmax", attn.squeeze(2))
        self.observe(attn, state)
        return self.aggregate(attn, mem["values"])

    def observe(self, attn: torch.Tensor, state: StageState) -> None:
        """Hook on the softmax [B, g, 1, t] of every retrieval (ELA measures KL here)."""

    def forward(self, x: torch.Tensor, identity: torch.Tensor, state: StageState) -> torch.Tensor:
        return x + self.drop_path(torch.relu(self.bn(self.retrieve(x, state))))


# --------------------------------------------------------------------------- families
def use_deep_stem(net: ResNetBackbone, deep_stem: bool = False) -> None:
    """Setup hook: give an ImageNet ResNet the deep stem of the MRLA-B release."""
    if not deep_stem:
        return
    first = net.stem[0]
    if not isinstance(net.stem[-1], nn.MaxPool2d):
        raise ConfigError("deep_stem applies to ImageNet ResNets only (CIFAR nets have a 3x3 stem already)")
    if first.kernel_size == (3, 3):
        return  # built with deep_stem=True already
    net.stem = imagenet_stem(first.in_channels, True, any(isinstance(m, nn.BatchNorm2d) for m in net.stem))
    conv_init_(net.stem)


#: Backbone defaults of the layer-attention families on ImageNet: the released MRLA and DLA
#: ImageNet code starts every residual branch's last BN at weight 0 (``zero_init_last_bn``,
#: models.imagenet_resnet); ``create_model(..., zero_init_last_bn=False)`` turns it off.
RELEASED_IMAGENET_INIT = {"imagenet": {"zero_init_last_bn": True}}


def layer_attention_backbone(name: str) -> bool:
    """Whether the named backbone ``name`` gets ``<family>_<backbone>`` names: all but the
    basic-block CIFAR nets, whose 16-wide first stage has no 32-channel head (see the module
    docstring)."""
    return not name.endswith("_basic")


@dataclass(frozen=True)
class MRLAOptions:
    """Module options of MRLA-L and MRLA-B (and the layer attention of DLA and ELA)."""

    dim_per_head: int = 32
    drop_path: float = 0.0


@dataclass(frozen=True)
class StemOptions:
    """Stage options of MRLA-B: the deep ImageNet stem of its release."""

    deep_stem: bool = False


def make_light(block: ResidualBlock, options: MRLAOptions = MRLAOptions()) -> MRLALight:
    module = MRLALight(block.out_channels, options.dim_per_head, options.drop_path)
    conv_init_(module)  # the released nets initialise every Conv2d of the model, V included
    return module


def make_base(block: ResidualBlock, options: MRLAOptions = MRLAOptions()) -> MRLABase:
    module = MRLABase(block.out_channels, options.dim_per_head, options.drop_path)
    conv_init_(module)
    return module


def setup_base(net: ResNetBackbone, options: StemOptions = StemOptions()) -> None:
    use_deep_stem(net, options.deep_stem)


def _register() -> None:
    register_family(Family(
        "mrla_l", make_light, slot="post", module_options=MRLAOptions, backbone_filter=layer_attention_backbone,
        backbone_defaults=RELEASED_IMAGENET_INIT,
        description="MRLA-L: light multi-head recurrent layer attention after every block",
    ))
    register_family(Family(
        "mrla_b", make_base, slot="post", setup=setup_base, module_options=MRLAOptions, stage_options=StemOptions,
        backbone_filter=layer_attention_backbone,
        defaults={"imagenet": {"dim_per_head": 16, "deep_stem": True}}, backbone_defaults=RELEASED_IMAGENET_INIT,
        description="MRLA-B: multi-head layer attention over all earlier blocks of the stage",
    ))


_register()
