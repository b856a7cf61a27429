"""ViT-S/16 and ViT-B/16 with SE, ECA, SPA, DIA-LSTM and DIA-LSTM (Light) between the Norm
and the MLP of each block (DIA Table IX, Fig 7; models.vit).

Every expected parameter count below is computed by hand from the formulas, not read off a
model: a ViT with width C, depth L, patch p, P = (224/p)^2 patches, 3 input channels and
1000 classes has

    patch embedding   3 p^2 C + C
    class token       C
    position embed.   (P + 1) C
    per block         LN1 2C + qkv 3C^2 + 3C + proj C^2 + C + LN2 2C + fc1 4C^2 + 4C + fc2 4C^2 + C
                      = 12 C^2 + 13 C
    final norm        2C
    head              1000 C + 1000
"""
from __future__ import annotations

import pytest
import timm
import torch
import torch.nn as nn

from models import ConfigError, count_parameters, create_model, list_models
from models.dia import DIALightCell, DIALSTMCell, DIAUnit
from models.vit import VIT_FAMILIES, TokenAttention

ARCHS = ("vit_small_patch16_224", "vit_base_patch16_224")
NAMES = [a for a in ARCHS] + [f"{f}_{a}" for a in ARCHS for f in VIT_FAMILIES]
SMOKE = dict(img_size=32, patch_size=4, in_chans=1, num_classes=10)  # Fashion-MNIST


def plain_vit(c: int, depth: int = 12, p: int = 16, img: int = 224, classes: int = 1000) -> int:
    """The parameter count of the formula in the module docstring."""
    patches = (img // p) ** 2
    return (3 * p * p * c + c) + c + (patches + 1) * c + depth * (12 * c * c + 13 * c) + 2 * c + (1000 * c + 1000)


# --- plain, hand-computed (C = 384 and 768, L = 12, p = 16, 196 patches):
# ViT-S/16: 295,296 + 384 + 75,648 + 12 * 1,774,464 + 768 + 385,000 = 22,050,664
# ViT-B/16: 590,592 + 768 + 151,296 + 12 * 7,088,640 + 1,536 + 769,000 = 86,567,656
VIT_S, VIT_B = 22_050_664, 86_567_656

# --- units (the repository's defaults; models.vit docstring):
# SE, r = 16, no bias, per block 2 C (C // 16):
#   S: 2 * 384 * 24 = 18,432 per block, x 12 = 221,184;  B: 2 * 768 * 48 = 73,728, x 12 = 884,736
# ECA, k = |(log2 C + 1) / 2|_odd: log2 384 = 8.58 -> t = 4 -> k = 5; log2 768 = 9.58 -> t = 5 -> k = 5;
#   5 per block, x 12 = 60 (both)
# SPA, r = 16, pyramid 1 + 4 + 16 = 21, no bias, per block 21 C (C // 16) + (C // 16) C = 22 C (C // 16):
#   S: 22 * 384 * 24 = 202,752, x 12 = 2,433,024;  B: 22 * 768 * 48 = 811,008, x 12 = 9,732,096
# DIA-LSTM, r = 4, ONE unit: two transforms Linear(C, h) + Linear(h, 4C) with biases, h = C // 4:
#   2 (C h + h + 4 C h + 4 C) = 10 C h + 2 h + 8 C
#   S: h = 96: 368,640 + 192 + 3,072 = 371,904;  B: h = 192: 1,474,560 + 384 + 6,144 = 1,481,088
# DIA-LSTM (Light), r = 8, ONE unit: two FCs Linear(C, h) with bias, h = C // 8, and 3 x 4 x C
#   element-wise gate parameters: 2 (C h + h) + 12 C
#   S: h = 48: 36,864 + 96 + 4,608 = 41,568;  B: h = 96: 147,456 + 192 + 9,216 = 156,864
EXPECTED = {
    "vit_small_patch16_224": VIT_S,
    "se_vit_small_patch16_224": VIT_S + 221_184,
    "eca_vit_small_patch16_224": VIT_S + 60,
    "spa_vit_small_patch16_224": VIT_S + 2_433_024,
    "dia_vit_small_patch16_224": VIT_S + 371_904,
    "dia_light_vit_small_patch16_224": VIT_S + 41_568,
    "vit_base_patch16_224": VIT_B,
    "se_vit_base_patch16_224": VIT_B + 884_736,
    "eca_vit_base_patch16_224": VIT_B + 60,
    "spa_vit_base_patch16_224": VIT_B + 9_732_096,
    "dia_vit_base_patch16_224": VIT_B + 1_481_088,
    "dia_light_vit_base_patch16_224": VIT_B + 156_864,
}


def meta_count(name: str, **kwargs) -> int:
    with torch.device("meta"):
        return count_parameters(create_model(name, **kwargs))


def smoke_net(name: str, depth: int) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, depth=depth, **SMOKE).eval()


def units(net: nn.Module) -> list[nn.Module]:
    return [b.norm2.unit for b in net.blocks]


# --------------------------------------------------------------------------- registry and counts
def test_all_twelve_are_registered():
    assert sorted(n for n in list_models("*vit*") if "uvit" not in n) == sorted(NAMES)  # U-ViTs: tests/test_uvit.py


def test_plain_formula_is_timms_count():
    assert plain_vit(384) == VIT_S and plain_vit(768) == VIT_B
    for arch in ARCHS:
        with torch.device("meta"):
            ref = timm.create_model(arch, pretrained=False)
        assert count_parameters(ref) == EXPECTED[arch]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_is_hand_computed(name):
    assert meta_count(name) == EXPECTED[name]


def test_smoke_counts_follow_the_same_formulas():
    # img 32, patch 4 -> 64 patches; 1 input channel; 10 classes. Only the embedding, the
    # position embedding and the head change; the units depend on C alone.
    c = 384
    plain = (16 * c + c) + c + 65 * c + 12 * (12 * c * c + 13 * c) + 2 * c + (10 * c + 10)
    assert meta_count("vit_small_patch16_224", **SMOKE) == plain
    assert meta_count("dia_vit_small_patch16_224", **SMOKE) == plain + 371_904


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize("name", [n for n in NAMES if n.split("_vit")[0] in VIT_FAMILIES])
def test_unit_sits_between_norm2_and_mlp(name):
    with torch.device("meta"):
        net = create_model(name)
    for block in net.blocks:
        assert isinstance(block.norm2, TokenAttention) and isinstance(block.norm2.norm, nn.LayerNorm)
        assert isinstance(block.mlp, timm.layers.Mlp)
    shared = name.startswith("dia")
    assert (len({id(u) for u in units(net)}) == 1) == shared


def test_plain_is_timms_vision_transformer():
    with torch.device("meta"):
        net = create_model("vit_small_patch16_224")
    assert type(net) is timm.models.vision_transformer.VisionTransformer
    assert all(isinstance(b.norm2, nn.LayerNorm) for b in net.blocks)


@pytest.mark.parametrize("family,cell", [("dia", DIALSTMCell), ("dia_light", DIALightCell)])
def test_dia_unit_is_one_module_for_all_blocks(family, cell):
    nets = {d: create_model(f"{family}_vit_small_patch16_224", depth=d, **SMOKE) for d in (2, 4)}
    for net in nets.values():
        us = units(net)
        assert all(u is us[0] for u in us) and isinstance(us[0], DIAUnit) and isinstance(us[0].cells[0], cell)
    # depth 2 -> 4 adds two plain blocks (12 C^2 + 13 C each) and nothing of the unit
    c = 384
    assert count_parameters(nets[4]) - count_parameters(nets[2]) == 2 * (12 * c * c + 13 * c)
    per_block_se = create_model("se_vit_small_patch16_224", depth=4, **SMOKE)
    assert count_parameters(per_block_se) - count_parameters(
        create_model("se_vit_small_patch16_224", depth=2, **SMOKE)) == 2 * (12 * c * c + 13 * c) + 2 * 18_432


# --------------------------------------------------------------------------- forward / backward
@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_smoke(name):
    torch.manual_seed(0)
    net = create_model(name, drop_path_rate=0.1, **SMOKE).train()
    x, y = torch.randn(2, 1, 32, 32), torch.tensor([3, 7])
    out = net(x)
    assert out.shape == (2, 10)
    loss = nn.functional.cross_entropy(out, y)
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, missing[:5]
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    if not name.startswith("vit"):
        grads = [p.grad for u in units(net) for p in u.parameters()]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        assert net.blocks[0].norm2.tokens.state is None  # dropped by the last block


def test_state_is_carried_across_blocks_and_reset_per_forward():
    net = smoke_net("dia_vit_small_patch16_224", 3)
    block1 = net.blocks[1].norm2
    tokens = torch.randn(2, 65, 384)
    with torch.no_grad():
        # block 1 right after block 0: the unit starts from block 0's (h_0, c_0) -> (h_1, c_1)
        net.blocks[0].norm2(torch.randn(2, 65, 384))
        carried = block1(tokens)
        # the same tokens at block 1 with no state: (h, c) start at zero
        block1.tokens.state = None
        fresh = block1(tokens)
        block1.tokens.state = None
        # the class token passes unscaled either way; the patch tokens differ
        torch.testing.assert_close(carried[:, 0], fresh[:, 0])
        assert not torch.allclose(carried[:, 1:], fresh[:, 1:])
        # a whole forward pass leaves no state behind and is repeatable
        x = torch.randn(2, 1, 32, 32)
        a, b = net(x), net(x)
    assert block1.tokens.state is None
    torch.testing.assert_close(a, b)


def test_dia_recurrence_matches_the_cell_by_hand():
    """w_l = h_l with (h_l, c_l) = cell(mean of patch tokens, (h_{l-1}, c_{l-1})), h_0 = c_0 = 0."""
    net = smoke_net("dia_light_vit_small_patch16_224", 2)
    cell = net.blocks[0].norm2.unit.cells[0]
    seen = []
    hooks = [b.norm2.register_forward_hook(lambda m, i, o: seen.append((i[0], o))) for b in net.blocks]
    with torch.no_grad():
        net(torch.randn(2, 1, 32, 32))
        zero = torch.zeros(2, 384)
        hc = (zero, zero)
        for block, (inp, out) in zip(net.blocks, seen):
            u = block.norm2.norm(inp)
            hc = cell(u[:, 1:].mean(1), hc)
            torch.testing.assert_close(out[:, 1:], u[:, 1:] * hc[0][:, None, :])
            torch.testing.assert_close(out[:, :1], u[:, :1])
    for h in hooks:
        h.remove()


def test_se_acts_on_token_mean():
    site = smoke_net("se_vit_small_patch16_224", 1).blocks[0].norm2
    x = torch.randn(2, 65, 384)
    with torch.no_grad():
        u = site.norm(x)
        w = torch.sigmoid(site.unit.fc(u[:, 1:].mean(1)))
        torch.testing.assert_close(site(x), torch.cat([u[:, :1], u[:, 1:] * w[:, None]], 1))


def test_options_and_errors():
    net = create_model("se_vit_small_patch16_224", attn_kwargs={"bias": True}, **SMOKE)
    assert net.blocks[0].norm2.unit.fc[0].bias is not None
    with pytest.raises(ConfigError):
        create_model("vit_small_patch16_224", attn_kwargs={"reduction": 8})
    with pytest.raises(ConfigError):
        create_model("dia_vit_small_patch16_224", dynamic_img_size=True, **SMOKE)
