"""The non-local block (models.attention.nl) and the NL rows of ELA Table 5 / DLA Table 3:
its output by hand, its parameter formula, its one placement (after block n-2 of stage c4),
identity at initialisation, the plain ResNet's ImageNet weights loading into it, and the
NL Mask R-CNN's parameter counts beside the printed 46.5M / 65.5M."""
import math

import pytest
import torch

from experiments.params import agrees
from experiments.tables import get_table
from models import ConfigError, count_parameters, create_model
from models.attention import create_attn
from models.attention.nl import NonLocal, NonLocalAfterBlock, nl_parameters
from models.detection import count_parameters as count_detector_parameters
from models.detection import create_detector

#: ResNet-50 / ResNet-101 Mask R-CNN, trainable and every parameter (tests/test_params_detectors.py)
MASK_R50, MASK_R50_ALL = 44_175_349, 44_400_693
MASK_R101, MASK_R101_ALL = 63_167_477, 63_392_821
#: one block at C = 1024, C' = 512: theta, phi, g 3 x (1024*512 + 512); W_z 512*1024; BN 2*1024
NL_C4 = 3 * (1024 * 512 + 512) + 512 * 1024 + 2 * 1024


def _randomised(block: NonLocal) -> NonLocal:
    """Every parameter and BN statistic random, so the output is not the identity."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        block.norm.running_mean.copy_(torch.randn_like(block.norm.running_mean))
        block.norm.running_var.copy_(torch.rand_like(block.norm.running_var) + 0.5)
    return block.eval()


def _by_hand(block: NonLocal, x: torch.Tensor, scale: float) -> torch.Tensor:
    """Eq. 1-3 and 6 of Wang et al. 2018 with plain tensor ops on the block's own weights."""
    b, c, h, w = x.shape
    xs = x.flatten(2)                                            # [B, C, N]

    def conv(m, v):
        out = torch.einsum("oc,bcn->bon", m.weight[:, :, 0, 0], v)
        return out if m.bias is None else out + m.bias[None, :, None]

    theta, phi, g = conv(block.t, xs), conv(block.p, xs), conv(block.g, xs)   # [B, C', N]
    out = torch.empty_like(xs)
    for n in range(b):
        y = torch.zeros(theta.shape[1], h * w, dtype=x.dtype)
        for i in range(h * w):
            logits = torch.stack([theta[n, :, i] @ phi[n, :, j] * scale for j in range(h * w)])
            f = torch.exp(logits - logits.max())
            weights = f / f.sum()                                # C(x) = sum_j f(x_i, x_j)
            y[:, i] = sum(weights[j] * g[n, :, j] for j in range(h * w))
        z = block.z.weight[:, :, 0, 0] @ y                       # W_z, no bias
        bn = block.norm
        z = (z - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps) * bn.weight[:, None] \
            + bn.bias[:, None]
        out[n] = z + xs[n]
    return out.view(b, c, h, w)


@pytest.mark.parametrize("use_scale", [True, False])
def test_block_output_by_hand(use_scale):
    block = _randomised(create_attn("nl", 8, use_scale=use_scale)).double()
    assert isinstance(block, NonLocal) and block.inter_channels == 4
    scale = 1 / math.sqrt(4) if use_scale else 1.0  # mmcv: 1/sqrt(inter channels), not timm's 1/sqrt(in channels)
    assert block.scale == scale
    x = torch.randn(2, 8, 3, 2, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        hand = _by_hand(block, x, scale)
        other = _by_hand(block, x, 1 / math.sqrt(8) if use_scale else 0.5)
    assert out.shape == x.shape
    torch.testing.assert_close(out, hand, rtol=1e-10, atol=1e-10)
    assert (out - other).abs().max() > 1e-3  # the scale matters: another one is detected


def test_parameter_formula():
    for c, r in ((8, 2), (1024, 2), (64, 4)):
        inter = c // r
        hand = 3 * (c * inter + inter) + inter * c + 2 * c  # theta/phi/g with bias, W_z without, BN
        block = create_attn("nl", c, reduction=r)
        assert count_parameters(block) == nl_parameters(c, r) == hand
        assert block.z.bias is None and all(m.bias is not None for m in (block.t, block.p, block.g))
    assert nl_parameters(8) == 156 and nl_parameters(1024) == NL_C4 == 2_100_736 == 2 * 1024 ** 2 + 3.5 * 1024
    assert count_parameters(create_model("nl_resnet50_imagenet")) - count_parameters(create_model("resnet50_imagenet")) \
        == NL_C4


@pytest.mark.parametrize("depth,after", [(50, 4), (101, 21)])
def test_exactly_one_block_after_block_n_minus_2_of_stage_c4(depth, after):
    with torch.device("meta"):
        net = create_model(f"nl_resnet{depth}_imagenet")
    blocks = net.stages[2].blocks
    assert after == len(blocks) - 2
    nls = [m for m in net.modules() if isinstance(m, NonLocal)]
    assert len(nls) == 1 and nls[0] is blocks[after].post and isinstance(nls[0], NonLocalAfterBlock)
    assert nls[0].t.in_channels == 1024 and nls[0].inter_channels == 512
    slots = [(s, i) for s, st in enumerate(net.stages) for i, b in enumerate(st.blocks) if b.attn is not None
             or b.post is not None]
    assert slots == [(2, after)]


def test_block_sees_block_n_minus_2_output_and_feeds_the_last_block():
    net = create_model("nl_resnet50_imagenet").eval()
    blocks = net.stages[2].blocks
    seen = {}
    blocks[4].post.register_forward_hook(lambda m, args, out: seen.update(nl_in=args[0], nl_out=out))
    blocks[5].register_forward_pre_hook(lambda m, args: seen.update(last_in=args[0]))
    blocks[3].register_forward_hook(lambda m, args, out: seen.update(prev_out=out))
    with torch.no_grad():
        torch.nn.init.ones_(blocks[4].post.norm.weight)  # not the identity, to tell in from out
        net(torch.randn(1, 3, 64, 64))
    assert seen["nl_in"].shape == (1, 1024, 4, 4)
    assert not torch.equal(seen["nl_in"], seen["nl_out"]) and torch.equal(seen["nl_out"], seen["last_in"])
    with torch.no_grad():  # its input is block 4's own output (block 3's output through block 4)
        blk = blocks[4]
        expected = torch.relu(blk.branch(seen["prev_out"]) + blk.shortcut(seen["prev_out"]))
    torch.testing.assert_close(seen["nl_in"], expected)


def test_placement_options_and_errors():
    net = create_model("nl_resnet50_imagenet", attn_kwargs={"stage": 3, "after_block": 0, "reduction": 4})
    nls = [(s, i) for s, st in enumerate(net.stages) for i, b in enumerate(st.blocks) if isinstance(b.post, NonLocal)]
    assert nls == [(3, 0)] and net.stages[3].blocks[0].post.inter_channels == 512
    with pytest.raises(ConfigError, match="after_block=6"):
        create_model("nl_resnet50_imagenet", attn_kwargs={"after_block": 6})
    with pytest.raises(ConfigError, match="stage 4"):
        create_model("nl_resnet50_imagenet", attn_kwargs={"stage": 4})


def test_starts_as_the_identity_and_loads_the_plain_resnet():
    block = create_attn("nl", 16)
    assert (block.norm.weight == 0).all() and (block.norm.bias == 0).all()
    x = torch.randn(2, 16, 5, 4)
    assert torch.equal(block.train()(x), x) and torch.equal(block.eval()(x), x)
    torch.manual_seed(0)
    plain = create_model("resnet50_imagenet").eval()
    net = create_model("nl_resnet50_imagenet").eval()
    net.load_state_dict(plain.state_dict())  # strict: the block's keys are absent and keep their init
    assert (net.stages[2].blocks[4].post.norm.weight == 0).all()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), plain(x), rtol=1e-5, atol=1e-4)
    partial = {k: v for k, v in net.state_dict().items() if not k.startswith("stages.2.blocks.4.post.t.")}
    with pytest.raises(RuntimeError, match=r"stages\.2\.blocks\.4\.post\.t\.weight"):
        net.load_state_dict(partial)  # some of the block's keys: a strict load still fails


def test_forward_backward_at_a_small_input():
    torch.manual_seed(0)
    net = create_model("nl_resnet50_imagenet", num_classes=7).train()
    out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
    nl = net.stages[2].blocks[4].post
    # at init only the zero BN receives gradient; theta/phi/g/W_z start learning once it moves
    assert nl.norm.weight.grad.abs().sum() > 0 and nl.norm.bias.grad.abs().sum() > 0
    assert nl.z.weight.grad.abs().sum() == 0 and nl.t.weight.grad.abs().sum() == 0


@pytest.mark.parametrize("depth,plain,plain_all,printed", [
    (50, MASK_R50, MASK_R50_ALL, "46.5"), (101, MASK_R101, MASK_R101_ALL, "65.5"),
])
def test_nl_mask_rcnn_parameter_counts(depth, plain, plain_all, printed):
    """Trainable (mmcv's count) = plain + one block; the printed count is met counted whole
    (frozen stem + stage 1 included), the GCNet paper's convention, as for the GC rows."""
    with torch.device("meta"):
        det = create_detector("mask_rcnn", f"nl_resnet{depth}_imagenet", num_classes=80)
        base = create_detector("mask_rcnn", f"resnet{depth}_imagenet", num_classes=80)
    assert (count_parameters(base), count_detector_parameters(base, trainable=False)) == (plain, plain_all)
    assert count_parameters(det) == plain + NL_C4
    assert count_detector_parameters(det, trainable=False) == plain_all + NL_C4
    assert agrees((plain_all + NL_C4) / 1e6, printed) and not agrees((plain + NL_C4) / 1e6, printed)
    assert {50: 46_276_085, 101: 65_268_213}[depth] == plain + NL_C4


def test_detector_starts_from_the_plain_imagenet_weights():
    torch.manual_seed(0)
    plain = create_model("resnet50_imagenet").state_dict()
    det = create_detector("mask_rcnn", "nl_resnet50_imagenet", num_classes=3, pretrained_backbone=plain,
                          min_size=64, max_size=64).train()
    body = det.backbone.body
    nl = body.net.stages[2].blocks[4].post
    assert torch.equal(body.net.stages[2].blocks[4].conv1.weight, plain["stages.2.blocks.4.conv1.weight"])
    assert (nl.norm.weight == 0).all() and nl.norm.weight.requires_grad
    assert not nl.norm.training  # MMDetection's norm_eval: every backbone BN frozen, the block's too
    assert nl in body.attention_modules()


def test_table_rows_and_their_imagenet_run():
    """ELA Table 5 and DLA Table 3 train Mask R-CNN NL rows at R-50/101; each starts from the
    plain ResNet's ImageNet run (the ResNet rows' run, ELA/DLA Table 2's ResNet row)."""
    imagenet = {r.depth: r.config("full", 0).run_name for r in get_table("ela.table2").rows if r.family == "resnet"}
    for tid in ("ela.table5", "dla.table3"):
        t = get_table(tid)
        nl = [r for r in t.rows if r.family == "nl"]
        assert [(r.label, r.detector, r.model) for r in nl] == [
            ("Mask R-CNN / ResNet-50 / NL", "mask_rcnn", "nl_resnet50_imagenet"),
            ("Mask R-CNN / ResNet-101 / NL", "mask_rcnn", "nl_resnet101_imagenet")]
        for r in nl:
            pre = r.pretraining_row()
            assert (pre.model, pre.dataset, dict(pre.model_kwargs)) == (f"resnet{r.depth}_imagenet", "imagenet", {})
            assert r.config("full", 0).pretrained == "run:" + imagenet[r.depth]
            assert r.config("smoke", 0).pretrained is None
        assert not any("NL" in n for n in t.not_run)
