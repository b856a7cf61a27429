"""U-ViT with and without DIA (models.uvit; DIA Fig 7/8) and the diffusion core
(experiments.diffusion).

Expected parameter counts are computed by hand from the architecture, not read off a model.
A U-ViT of width D, L blocks (L odd: (L-1)/2 in, 1 mid, (L-1)/2 out), patch p, c channels,
image S x S, one prefix (time) token, qkv without bias, no time MLP:

    patch embedding   c p^2 D + D
    position embed.   (1 + (S/p)^2) D
    per block         LN1 2D + qkv 3D^2 + proj D^2 + D + LN2 2D + fc1 4D^2 + 4D + fc2 4D^2 + D
                      = 12 D^2 + 10 D
    long skips        (L-1)/2 x (Linear(2D, D): 2 D^2 + D)
    final LN          2D
    decoder           D p^2 c + p^2 c
    final conv 3x3    9 c^2 + c
    DIA-LSTM (r = 4, one unit, h = D // 4): 10 D h + 2 h + 8 D
"""
from __future__ import annotations

import math

import pytest
import torch

from models import ConfigError, count_parameters, create_model, list_models
from models.dia import DIALSTMCell
from models.uvit import UVIT_SMOKE, UViT
from models.vit import TokenAttention
from experiments.diffusion import (EMA_DECAY, VPSDE, ddim_sample, euler_maruyama_sample, make_ema,
                                   noise_prediction_loss)

NAMES = ("uvit_small_cifar", "dia_uvit_small_cifar")


def uvit_params(d: int, depth: int, p: int, c: int, img: int) -> int:
    """The formula of the module docstring."""
    half = (depth - 1) // 2
    return ((c * p * p * d + d) + (1 + (img // p) ** 2) * d + depth * (12 * d * d + 10 * d)
            + half * (2 * d * d + d) + 2 * d + (d * p * p * c + p * p * c) + (9 * c * c + c))


def dia_params(d: int) -> int:
    h = d // 4
    return 10 * d * h + 2 * h + 8 * d


# U-ViT-S/2, CIFAR-10 (D = 512, L = 13, p = 2, c = 3, 32x32), by hand:
#   patch 3*4*512 + 512 = 6,656; pos 257*512 = 131,584; blocks 13 * (12*262,144 + 5,120) = 13 * 3,150,848
#   = 40,961,024; skips 6 * (524,288 + 512) = 3,148,800; LN 1,024; decoder 512*12 + 12 = 6,156; conv 84
#   total 44,255,328 (U-ViT Table 1: U-ViT-S, 44M)
UVIT_S2 = 44_255_328
# DIA-LSTM, D = 512, h = 128: 655,360 + 256 + 4,096 = 659,712
DIA_512 = 659_712
# smoke (D = 64, L = 5, p = 4, c = 1): 1,088 + 4,160 + 5 * 49,792 + 2 * 8,256 + 128 + 1,040 + 10 = 271,898;
# DIA h = 16: 10,240 + 32 + 512 = 10,784
SMOKE_PLAIN, SMOKE_DIA = 271_898, 10_784


def smoke(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return create_model(name, **UVIT_SMOKE)


def test_registered_names():
    assert list_models("*uvit*") == sorted(NAMES)


def test_formula_matches_hand_arithmetic():
    assert uvit_params(512, 13, 2, 3, 32) == UVIT_S2
    assert dia_params(512) == DIA_512
    assert uvit_params(64, 5, 4, 1, 32) == SMOKE_PLAIN and dia_params(64) == SMOKE_DIA


@pytest.mark.parametrize("name,expected", [("uvit_small_cifar", UVIT_S2), ("dia_uvit_small_cifar", UVIT_S2 + DIA_512)])
def test_paper_size_parameter_counts(name, expected):
    with torch.device("meta"):
        net = create_model(name)
    assert count_parameters(net) == expected
    if name == "uvit_small_cifar":
        assert round(count_parameters(net) / 1e6) == 44  # U-ViT Table 1, U-ViT-S: 44M
    assert len(net.in_blocks) == 6 and len(net.out_blocks) == 6 and len(net.blocks()) == 13
    assert net.grid_size == (16, 16) and net.pos_embed.shape == (1, 257, 512)
    assert all(b.attn.qkv.bias is None and b.mlp.fc1.out_features == 2048 and b.attn.num_heads == 8
               for b in net.blocks())


@pytest.mark.parametrize("name,expected", [("uvit_small_cifar", SMOKE_PLAIN),
                                           ("dia_uvit_small_cifar", SMOKE_PLAIN + SMOKE_DIA)])
def test_smoke_parameter_counts(name, expected):
    assert count_parameters(smoke(name)) == expected


def test_dia_light_by_family_and_bad_configs():
    net = create_model("uvit_small_cifar", family="dia_light", **UVIT_SMOKE)
    # Light, r = 8, h = 8: 2 (64*8 + 8) + 12*64 = 1,040 + 768 = 1,808
    assert count_parameters(net) == SMOKE_PLAIN + 1_808
    with pytest.raises(ConfigError):
        create_model("uvit_small_cifar", depth=12)
    with pytest.raises(ConfigError):
        create_model("uvit_small_cifar", family="se")


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_cpu(name):
    net = smoke(name).train()
    x = torch.randn(3, 1, 32, 32)
    out = net(x, torch.tensor([0.1, 0.5, 0.9]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing[:5]
    net.eval()
    with torch.no_grad():
        a, b = net(x[:1], 0.2), net(x[:1], 0.8)
    assert a.shape == (1, 1, 32, 32) and (a - b).abs().max() > 1e-4  # the time token matters


def test_dia_unit_is_shared_and_state_chained():
    net = smoke("dia_uvit_small_cifar")
    wrappers = [b.norm2 for b in net.blocks()]
    assert all(isinstance(w, TokenAttention) for w in wrappers)
    assert [w.index for w in wrappers] == [0, 1, 2, 3, 4]
    assert len({id(w.unit) for w in wrappers}) == 1 and len({id(w.tokens) for w in wrappers}) == 1
    assert sum(isinstance(m, DIALSTMCell) for m in net.modules()) == 1
    assert all(w.num_prefix_tokens == 1 and w.grid == (8, 8) for w in wrappers)
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, 1, 32, 32), 0.5)
    assert wrappers[0].tokens.state is None  # dropped after the last block: nothing leaks


def test_long_skips_concatenate_then_linear():
    net = smoke("uvit_small_cifar")
    assert [b.skip_linear.in_features for b in net.out_blocks] == [128, 128]
    assert all(b.skip_linear.out_features == 64 for b in net.out_blocks)
    # zeroing the skip half of the first out block's Linear changes the output
    net.eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        y0 = net(x, 0.3)
        net.out_blocks[0].skip_linear.weight[:, 64:] = 0
        y1 = net(x, 0.3)
    assert (y0 - y1).abs().max() > 1e-5


def test_vp_schedule_numbers():
    sde = VPSDE()
    t = torch.tensor([0.0, 0.5, 1.0])
    # int_0^t beta = 0.1 t + 9.95 t^2: 0, 2.5375, 10.05
    assert torch.allclose(sde.alpha(t) ** 2, torch.tensor([1.0, math.exp(-2.5375), math.exp(-10.05)]), rtol=1e-5)
    assert torch.allclose(sde.alpha(t) ** 2 + sde.sigma(t) ** 2, torch.ones(3))
    # the continuous limit of DDPM's linear schedule (1e-4 .. 0.02, 1000 steps): alpha-bar at step 500
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar_500 = torch.prod(1 - betas[:500]).item()
    assert abar_500 == pytest.approx(sde.alpha(torch.tensor(0.5)).item() ** 2, rel=0.02)


def test_noise_prediction_loss_is_mse_of_the_noise():
    sde = VPSDE()
    x0, t, eps = torch.randn(4, 1, 8, 8), torch.rand(4), torch.randn(4, 1, 8, 8)

    def oracle(xt, tt):  # the exact noise, knowing x0
        return (xt - sde.alpha(tt).view(-1, 1, 1, 1) * x0) / sde.sigma(tt).view(-1, 1, 1, 1)

    assert noise_prediction_loss(oracle, x0, sde, t=t, eps=eps).item() == pytest.approx(0.0, abs=1e-8)
    zero = noise_prediction_loss(lambda xt, tt: torch.zeros_like(xt), x0, sde, t=t, eps=eps)
    assert zero.item() == pytest.approx(eps.square().mean().item(), rel=1e-6)


def _point_mass_oracle(c: float, sde: VPSDE):
    def model(xt, t):
        return (xt - sde.alpha(t).view(-1, 1, 1, 1) * c) / sde.sigma(t).view(-1, 1, 1, 1)
    return model


def test_samplers_recover_a_point_mass_with_the_exact_noise():
    sde = VPSDE()
    model = _point_mass_oracle(0.3, sde)
    x = ddim_sample(model, (2, 1, 4, 4), steps=10, seed=0, device="cpu")
    assert torch.allclose(x, torch.full_like(x, 0.3), atol=1e-4)
    y = euler_maruyama_sample(model, (2, 1, 4, 4), steps=500, seed=0, device="cpu")
    assert (y - 0.3).abs().max() < 0.05


@pytest.mark.parametrize("sampler,steps", [(ddim_sample, 4), (euler_maruyama_sample, 4)])
def test_sampler_shape_and_determinism(sampler, steps):
    net = smoke("dia_uvit_small_cifar").eval()
    torch.manual_seed(123)
    a = sampler(net, (2, 1, 32, 32), steps=steps, seed=7)
    torch.manual_seed(456)  # the global RNG does not matter
    b = sampler(net, (2, 1, 32, 32), steps=steps, seed=7)
    c = sampler(net, (2, 1, 32, 32), steps=steps, seed=8)
    assert a.shape == (2, 1, 32, 32) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_ema_weights():
    net = smoke("dia_uvit_small_cifar")
    ema = make_ema(net, decay=0.5)
    assert EMA_DECAY == 0.9999
    # the copy keeps one DIA unit shared by all blocks
    assert len({id(b.norm2.unit) for b in ema.module.blocks()}) == 1
    p = net.pos_embed
    with torch.no_grad():
        p.fill_(1.0)
        ema.update_parameters(net)  # first update copies
        p.fill_(3.0)
        ema.update_parameters(net)  # 0.5 * 1 + 0.5 * 3
        p.fill_(5.0)
        ema.update_parameters(net)  # 0.5 * 2 + 0.5 * 5
    assert torch.allclose(ema.module.pos_embed, torch.full_like(p, 3.5))
    assert count_parameters(ema.module) == SMOKE_PLAIN + SMOKE_DIA


@pytest.mark.fashion_mnist
@pytest.mark.parametrize("name", NAMES)
def test_training_steps_lower_the_denoising_loss_on_fashion_mnist(name, tmp_path_factory):
    from experiments.data import dataset_spec

    ds = dataset_spec("fashionmnist").open(tmp_path_factory.mktemp("fmnist"), train=False)
    x = ds.data[:16].float().div(127.5).sub(1.0)  # 16 test images in [-1, 1] (U-ViT's scaling)
    x = torch.nn.functional.pad(x[:, None], (2, 2, 2, 2), value=-1.0)  # 28x28 -> 32x32, background -1
    assert x.shape == (16, 1, 32, 32)
    net = smoke(name)
    g = torch.Generator().manual_seed(1)
    xs = x.repeat(4, 1, 1, 1)
    t_fix, eps_fix = torch.rand(64, generator=g), torch.randn(xs.shape, generator=g)

    def evaluate() -> float:
        net.eval()
        with torch.no_grad():
            return noise_prediction_loss(net, xs, t=t_fix, eps=eps_fix).item()

    before = evaluate()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.03)
    gen = torch.Generator().manual_seed(2)
    for _ in range(30):
        net.train()
        loss = noise_prediction_loss(net, x, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate()
    assert before > 0.9 and after < 0.75 * before, (before, after)
