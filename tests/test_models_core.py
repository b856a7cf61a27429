"""Registry, backbones and attachment slots: behaviour pinned to numbers."""
import math

import pytest
import torch
import torch.nn as nn

from models import ConfigError, count_parameters, create_model, list_models, register_model
from models.attach import select_blocks
from models.backbone import StageState
from models.cifar_resnet import blocks_per_stage
from experiments.params import count_macs


# --------------------------------------------------------------------------- registry
def test_duplicate_registration_is_an_error():
    register_model("tmp_unique_test_model", builder=lambda **kw: nn.Linear(1, 1))
    with pytest.raises(ValueError, match="already registered"):
        register_model("tmp_unique_test_model", builder=lambda **kw: nn.Linear(1, 1))


def test_unknown_model_is_one_line_with_closest_names():
    with pytest.raises(ConfigError) as exc:
        create_model("se_resnet57")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "se_resnet56" in msg and "unknown model 'se_resnet57'" in msg


def test_list_models_pattern():
    names = list_models("se_resnet*")
    assert "se_resnet56" in names and "resnet56" not in names
    assert names == sorted(names)


@pytest.mark.parametrize("depth,block,valid", [(21, "bottleneck", "9n+2"), (57, "basic", "6n+2"), (50, "preact", "9n+2")])
def test_invalid_depth_is_one_line_naming_valid_depths(depth, block, valid):
    with pytest.raises(ConfigError) as exc:
        create_model("cifar_resnet", depth=depth, block=block)
    msg = str(exc.value)
    assert "\n" not in msg and valid in msg and f"depth {depth}" in msg
    if block == "bottleneck":
        assert "20, 56, 83, 110, 164" in msg


def test_invalid_imagenet_depth():
    with pytest.raises(ConfigError, match="18, 34, 50, 101"):
        create_model("imagenet_resnet", depth=152)


def test_blocks_per_stage():
    assert [blocks_per_stage(d, "bottleneck") for d in (20, 56, 110, 164, 407)] == [2, 6, 12, 18, 45]
    assert blocks_per_stage(32, "basic") == 5


# --------------------------------------------------------------------------- backbones
@pytest.mark.parametrize(
    "name,classes,published",
    [
        ("resnet20", 10, 0.22), ("resnet20", 100, 0.24), ("resnet56", 10, 0.59), ("resnet56", 100, 0.61),
        ("resnet110", 10, 1.15), ("resnet110", 100, 1.17), ("resnet164", 100, 1.73),
        ("resnet50_imagenet", 1000, 25.6), ("resnet101_imagenet", 1000, 44.5),
    ],
)
def test_backbone_counts_match_papers(name, classes, published):
    # ELA/DLA Table 1 (CIFAR), DIA Table XII (ResNet164 = 1.73M), ELA/DLA Table 2 (ImageNet)
    n = count_parameters(create_model(name, num_classes=classes)) / 1e6
    digits = 1 if published > 10 else 2
    assert round(n, digits) == published


def test_exact_resnet20_count_by_hand():
    # stem 3*9*16 + BN 32; per bottleneck conv1 cin*p, conv2 9p^2, conv3 4p^2 (+BN 2p,2p,8p)
    def block(cin, p):
        n = cin * p + 9 * p * p + p * 4 * p + 2 * (p + p + 4 * p)
        if cin != 4 * p:
            n += cin * 4 * p + 2 * 4 * p
        return n

    total = 3 * 9 * 16 + 32
    cin = 16
    for p in (16, 32, 64):
        total += block(cin, p) + block(4 * p, p)
        cin = 4 * p
    total += 256 * 10 + 10
    assert count_parameters(create_model("resnet20", num_classes=10)) == total


def test_cifar_bottleneck_shape():
    net = create_model("resnet56", num_classes=100)
    assert [s.out_channels for s in net.stages] == [64, 128, 256]
    assert [len(s.blocks) for s in net.stages] == [6, 6, 6]
    assert net.fc.in_features == 256
    # released init: conv weights N(0, sqrt(2 / (k*k*out)))
    w = net.stages[2].blocks[1].conv2.weight
    assert abs(w.std().item() - math.sqrt(2 / (9 * 64))) < 0.01


def test_imagenet_flops_match_table2():
    # ELA/DLA Table 2: ResNet-50 4.1B, ResNet-101 7.8B (multiply-accumulates)
    with torch.device("meta"):
        r50, r101 = create_model("resnet50_imagenet"), create_model("resnet101_imagenet")
    assert round(count_macs(r50, 224) / 1e9, 1) == 4.1
    assert round(count_macs(r101, 224) / 1e9, 1) == 7.8


def test_cifar_flops_match_environment_notes():
    # measured facts in ../shared/notes/environment.md (CIFAR-100 head, FLOPs = 2 x MACs as
    # torch.utils.flop_counter counts them): 67.5M, 174.5M, 334.9M
    for name, mflops in (("resnet20", 67.5), ("resnet56", 174.5), ("resnet110", 334.9)):
        with torch.device("meta"):
            net = create_model(name, num_classes=100)
        assert round(2 * count_macs(net, 32) / 1e6, 1) == mflops


def test_deep_stem():
    net = create_model("imagenet_resnet", depth=50, deep_stem=True)
    convs = [m for m in net.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(3, 32, 2), (32, 32, 1), (32, 64, 1)]
    assert net(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_no_batchnorm_option_removes_every_bn():
    net = create_model("resnet56", use_bn=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert count_parameters(net) < count_parameters(create_model("resnet56"))
    assert torch.isfinite(net(torch.randn(2, 3, 32, 32))).all()


def test_no_skip_option_drops_identity_path():
    net = create_model("resnet20", skip=False).eval()
    blk = net.stages[1].blocks[1]
    x = torch.randn(2, 128, 16, 16)
    out = blk(x, StageState(stage=1))
    assert torch.allclose(out, torch.relu(blk.branch(x)))
    net_skip = create_model("resnet20").eval()
    blk2 = net_skip.stages[1].blocks[1]
    assert torch.allclose(blk2(x, StageState(stage=1)), torch.relu(blk2.branch(x) + x))


def test_in_chans_and_other_resolutions():
    net = create_model("resnet20", in_chans=1, num_classes=10)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)  # Fashion-MNIST
    assert create_model("resnet20")(torch.randn(1, 3, 96, 96)).shape == (1, 10)  # STL-10


# --------------------------------------------------------------------------- attachment
def test_se_attached_to_every_block_and_readout():
    net = create_model("se_resnet20", num_classes=10)
    assert all(b.attn is not None for b in net.blocks())
    logits, readout = net(torch.randn(2, 3, 32, 32), return_attention=True)
    assert logits.shape == (2, 10) and len(readout) == 6
    assert [(r["stage"], r["block"]) for r in readout] == [(s, b) for s in range(3) for b in range(2)]
    assert [tuple(r["value"].shape) for r in readout] == [(2, 64)] * 2 + [(2, 128)] * 2 + [(2, 256)] * 2
    assert isinstance(net(torch.randn(2, 3, 32, 32)), torch.Tensor)  # no read-out unless asked


def test_shared_se_counts_one_module_per_stage():
    plain = count_parameters(create_model("resnet56"))
    per_block = count_parameters(create_model("se_resnet56")) - plain
    shared = count_parameters(create_model("dia_se_resnet56")) - plain
    se = lambda c: 2 * c * (c // 16)  # noqa: E731 - two bias-free linear layers
    assert per_block == 6 * (se(64) + se(128) + se(256))
    assert shared == se(64) + se(128) + se(256)


def test_attn_stages_and_blocks_select_where_attention_goes():
    net = create_model("se_resnet56", attn_stages=(0, 2), attn_blocks=2)
    has = [[b.attn is not None for b in s.blocks] for s in net.stages]
    assert has == [[True, True, False, False, False, False], [False] * 6, [True, True, False, False, False, False]]
    assert select_blocks(6, 3, "spread") == [0, 2, 5] or select_blocks(6, 3, "spread") == [0, 3, 5]
    with pytest.raises(ConfigError, match="stage 3 does not exist"):
        create_model("se_resnet56", attn_stages=(3,))
    with pytest.raises(ConfigError, match="attn_blocks=7"):
        create_model("se_resnet56", attn_blocks=7)


def test_attn_kwargs_on_plain_backbone_is_an_error():
    with pytest.raises(ConfigError, match="plain backbone"):
        create_model("resnet20", attn_kwargs={"reduction": 8})
