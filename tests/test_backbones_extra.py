"""Wide ResNet and CIFAR ResNeXt: counts pinned to DIA Table IV, options, depth errors."""
import pytest
import torch
import torch.nn as nn

from models import ConfigError, count_parameters, create_model
from models.backbone import ResidualBlock
from models.resnext import ResNeXtBottleneck, cifar_resnext
from models.wide_resnet import WideBasicBlock, wide_resnet


# --------------------------------------------------------------------------- counts
@pytest.mark.parametrize(
    "name,exact,published",
    [
        ("wrn52_4", 12_072_500, "12.07"),            # DIA Table IV, WRN52-4 "Org"
        ("resnext101_8x32d", 32_138_244, "32.14"),   # DIA Table IV, ResNeXt101,8x32 "Org"
    ],
)
def test_counts_match_dia_table4(name, exact, published):
    n = count_parameters(create_model(name, num_classes=100))
    assert n == exact
    assert f"{n / 1e6:.2f}" == published


def test_reference_counts_of_the_original_layouts():
    # WRN-28-10 on CIFAR-10: 36.5M (Zagoruyko & Komodakis 2016, Table 4).
    assert f"{count_parameters(wide_resnet(28, 10, num_classes=10)) / 1e6:.1f}" == "36.5"
    # ResNeXt-29 8x64d on CIFAR-10: 34.4M (Xie et al. 2017, Table 7; bearpaw: 34.43M).
    assert f"{count_parameters(cifar_resnext(29, 8, 64, num_classes=10)) / 1e6:.2f}" == "34.43"


def test_wrn_branch_bn_is_dianets_extra_bn():
    plain = count_parameters(wide_resnet(52, 4, num_classes=100))
    extra = count_parameters(wide_resnet(52, 4, num_classes=100, branch_bn=True))
    assert extra - plain == 2 * 8 * (64 + 128 + 256)  # one BN per block
    # DIA Table IV DIA-LSTM on WRN52-4: 12.30M = backbone with the extra BN + three
    # released DIA-LSTM cells 2 * (C*C/4 + C/4 + C/4*4C + 4C), C = 64, 128, 256.
    lstm = sum(2 * (c * c // 4 + c // 4 + (c // 4) * 4 * c + 4 * c) for c in (64, 128, 256))
    assert f"{(extra + lstm) / 1e6:.2f}" == "12.30"
    assert f"{(plain + lstm) / 1e6:.2f}" == "12.29"


def test_shapes_and_block_attributes():
    wrn = wide_resnet(52, 4, num_classes=100)
    assert [len(s.blocks) for s in wrn.stages] == [8, 8, 8]
    assert [s.out_channels for s in wrn.stages] == [64, 128, 256] and wrn.fc.in_features == 256
    assert all(isinstance(b, WideBasicBlock) and isinstance(b, ResidualBlock) and not b.post_act for b in wrn.blocks())
    rx = create_model("resnext101_8x32d", num_classes=100)
    assert [len(s.blocks) for s in rx.stages] == [11, 11, 11]
    assert [s.out_channels for s in rx.stages] == [128, 256, 512] and rx.fc.in_features == 512
    assert isinstance(rx.stem[0], nn.Conv2d) and rx.stem[0].out_channels == 32
    first = [s.blocks[0] for s in rx.stages]
    assert all(isinstance(b, ResNeXtBottleneck) and b.post_act for b in first)
    assert [b.conv2.groups for b in first] == [8, 8, 8]
    assert [b.conv2.in_channels for b in first] == [256, 512, 1024]  # 8 groups x 32 / 64 / 128
    assert [b.stride for b in first] == [1, 2, 2]


def test_wrn_dropout_sits_inside_the_block():
    net = wide_resnet(16, 2, dropout=0.3)
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 6 and all(d.p == 0.3 for d in drops)
    assert isinstance(net.head_drop, nn.Identity)
    assert not any(isinstance(m, nn.Dropout) for m in wide_resnet(16, 2).modules())


# --------------------------------------------------------------------------- forward / backward
@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: wide_resnet(16, 2, dropout=0.3, **kw),
        lambda **kw: cifar_resnext(20, 4, 4, **kw),
    ],
    ids=["wrn16_2", "resnext20_4x4d"],
)
@pytest.mark.parametrize("opts", [{}, {"use_bn": False}, {"skip": False}], ids=["default", "no_bn", "no_skip"])
def test_forward_backward(build, opts):
    net = build(num_classes=7, **opts)
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for name, p in net.named_parameters() if opts.get("skip", True) or "downsample" not in name]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)  # without skip the projections are unused


@pytest.mark.parametrize("name", ["wrn52_4", "resnext101_8x32d"])
def test_full_size_forward_backward(name):
    net = create_model(name, num_classes=100)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 100)
    out.mean().backward()


def test_in_chans_and_other_input_sizes():
    assert wide_resnet(10, 1, in_chans=1, num_classes=10)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert cifar_resnext(11, 2, 4, in_chans=1, num_classes=10)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("build", [lambda **kw: wide_resnet(16, 2, **kw), lambda **kw: cifar_resnext(20, 4, 4, **kw)])
def test_use_bn_false_removes_every_batchnorm(build):
    assert any(isinstance(m, nn.BatchNorm2d) for m in build().modules())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in build(use_bn=False).modules())


class _Zero(nn.Module):
    """Attention stub that zeroes the residual branch."""

    def forward(self, x, state):
        return torch.zeros_like(x)


@pytest.mark.parametrize("build", [lambda **kw: wide_resnet(16, 2, **kw), lambda **kw: cifar_resnext(20, 4, 4, **kw)])
def test_skip_false_removes_identity_paths(build):
    # With the branch zeroed by the attention slot, a block returns its shortcut when
    # skip=True and zero (after the optional ReLU) when skip=False: the attention
    # slot acts on the branch output, before the addition.
    for skip in (True, False):
        net = build(skip=skip).eval()
        blk = net.stages[0].blocks[1]  # an identity block
        blk.attn = _Zero()
        x = torch.randn(2, blk.in_channels, 8, 8)
        from models.backbone import StageState

        y = blk(x, StageState(stage=0))
        expected = (torch.relu(x) if blk.post_act else x) if skip else torch.zeros_like(x)
        torch.testing.assert_close(y, expected)


def test_wrn_projection_reads_the_preactivated_input_once():
    blk = wide_resnet(16, 2).stages[1].blocks[0]
    assert blk.downsample is not None
    calls = []
    blk.bn1.register_forward_hook(lambda *a: calls.append(1))
    from models.backbone import StageState

    x = torch.randn(2, blk.in_channels, 8, 8)
    y = blk.train()(x, StageState(stage=1))
    assert len(calls) == 1  # BN1 runs once per forward (running stats updated once)
    blk.eval()
    pre = torch.relu(blk.bn1(x))
    torch.testing.assert_close(blk(x, StageState(stage=1)), blk.branch_from(pre) + blk.downsample(pre))
    assert y.shape == (2, blk.out_channels, 4, 4)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("depth", [50, 9, 53])
def test_wrn_invalid_depth_is_one_line(depth):
    with pytest.raises(ConfigError) as exc:
        wide_resnet(depth=depth)
    msg = str(exc.value)
    assert "\n" not in msg and f"depth {depth}" in msg and "6n+4" in msg and "28, 40, 52" in msg


@pytest.mark.parametrize("depth", [100, 29.0, 2])
def test_resnext_invalid_depth_is_one_line(depth):
    with pytest.raises(ConfigError) as exc:
        cifar_resnext(depth=depth)
    msg = str(exc.value)
    assert "\n" not in msg and "9n+2" in msg and "29" in msg and "101" in msg


def test_invalid_depth_through_the_registry():
    with pytest.raises(ConfigError, match="6n\\+4"):
        create_model("wrn", depth=51)
    with pytest.raises(ConfigError, match="9n\\+2"):
        create_model("resnext", depth=100)


@pytest.mark.parametrize("kw", [{"widen": 0}, {"dropout": 1.0}])
def test_wrn_invalid_width_or_dropout(kw):
    with pytest.raises(ConfigError):
        wide_resnet(16, **{"widen": 2, **kw})


@pytest.mark.parametrize("kw", [{"cardinality": 0}, {"base_width": -1}, {"widen": 0}])
def test_resnext_invalid_widths(kw):
    with pytest.raises(ConfigError):
        cifar_resnext(11, **kw)
