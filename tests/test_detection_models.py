"""Detectors on the zoo's ImageNet ResNets (models.detection): the C2-C5 adapter with every
attention module live, MMDetection's freezing conventions, forward/backward of Faster R-CNN,
Mask R-CNN and RetinaNet, and the ResNet-50 parameter counts against ELA Table 5 / DLA Table 3."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from models.detection import (KINDS, LABEL_OFFSET, MMDET_1X, ResNetFPN, build_backbone, count_parameters,
                              create_detector)

FAMILIES = ("", "se_", "eca_", "gc_", "sge_", "mrla_l_", "dla_l_", "ela_", "dia_", "dia_light_")
SMALL = dict(min_size=128, max_size=128)
#: fewer proposals and sampled RoIs keep a CPU training step short
SMALL_TRAIN = dict(SMALL, rpn_post_nms_top_n_train=100, box_batch_size_per_image=64)


def _bns(module: nn.Module):
    return [m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: (f or "plain_").rstrip("_"))
def test_adapter_c2_c5_and_fpn_shapes(family):
    torch.manual_seed(0)
    body = build_backbone(f"{family}resnet50_imagenet")
    fpn = ResNetFPN(body, 256, LastLevelMaxPool()).eval()
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        feats = body(x)
        assert list(feats) == ["0", "1", "2", "3"]
        for (name, f), ch, stride in zip(feats.items(), (256, 512, 1024, 2048), (4, 8, 16, 32)):
            assert f.shape == (1, ch, 128 // stride, 96 // stride), name
        # the adapter computes exactly the classifier's own feature path (attention included)
        assert torch.equal(feats["3"], body.net.forward_features(x))
        pyramid = fpn(x)
    assert list(pyramid) == ["0", "1", "2", "3", "pool"]
    assert all(p.shape[1] == 256 for p in pyramid.values())
    assert pyramid["pool"].shape[-2:] == (2, 2)
    if family:
        assert body.attention_modules(), "attention modules must be present in the adapter"


def test_retinanet_pyramid_p3_to_p7_from_c5():
    det = create_detector("retinanet", "dia_resnet50_imagenet", num_classes=80, **SMALL).eval()
    with torch.no_grad():
        pyramid = det.backbone(torch.randn(1, 3, 128, 128))
    assert list(pyramid) == ["1", "2", "3", "p6", "p7"]
    assert [p.shape[-1] for p in pyramid.values()] == [16, 8, 4, 2, 1]
    assert all(p.shape[1] == 256 for p in pyramid.values())
    assert det.backbone.fpn.extra_blocks.p6.in_channels == 2048  # P6 from C5 ('on_input')
    assert det.head.classification_head.num_classes == 80


def _targets(kind: str):
    boxes = torch.tensor([[10.0, 20.0, 70.0, 90.0], [50.0, 40.0, 120.0, 110.0]])
    t = {"boxes": boxes, "labels": torch.tensor([3, 17]) + LABEL_OFFSET[kind]}
    if kind == "mask_rcnn":
        masks = torch.zeros(2, 128, 128, dtype=torch.uint8)
        for m, (x0, y0, x1, y1) in zip(masks, boxes.long().tolist()):
            m[y0:y1, x0:x1] = 1
        t["masks"] = masks
    return [t]


EXPECTED_LOSSES = {
    "faster_rcnn": {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"},
    "mask_rcnn": {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg", "loss_mask"},
    "retinanet": {"classification", "bbox_regression"},
}
#: one layer-attention / shared-module family per detector
CASES = [("faster_rcnn", "dla_l_resnet50_imagenet"), ("mask_rcnn", "dia_resnet50_imagenet"),
         ("retinanet", "mrla_l_resnet50_imagenet"), ("faster_rcnn", "ela_resnet50_imagenet")]


@pytest.mark.parametrize("kind,backbone", CASES)
def test_train_step_losses_gradients_and_freezing(kind, backbone):
    torch.manual_seed(0)
    det = create_detector(kind, backbone, num_classes=80, **SMALL_TRAIN)
    det.train()
    body = det.backbone.body
    net = body.net
    # frozen: stem and stage 1 (their attention modules too); BN always in eval mode
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert not any(p.requires_grad for p in net.stages[0].parameters())
    assert all(p.requires_grad for p in net.stages[1].parameters())
    assert all(not bn.training for bn in _bns(net))
    assert all(not m.training for m in net.stages[0].modules())
    running = [bn.running_mean.clone() for bn in _bns(net) if bn.running_mean is not None]

    losses = det([torch.rand(3, 128, 128)], _targets(kind))
    assert set(losses) == EXPECTED_LOSSES[kind]
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()

    assert all(p.grad is None for p in net.stem.parameters())
    assert all(p.grad is None for p in net.stages[0].parameters())
    stage2_attn = [p for m in net.stages[1].shared.values() for p in m.parameters()] + [
        p for blk in net.stages[1].blocks for m in (blk.attn, blk.post) if m is not None for p in m.parameters()]
    assert stage2_attn
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in stage2_attn)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in det.parameters())
    # running statistics did not move
    after = [bn.running_mean for bn in _bns(net) if bn.running_mean is not None]
    assert all(torch.equal(a, b) for a, b in zip(running, after))


def test_bn_options_attention_norm_and_frozen_affine():
    body = build_backbone("dla_l_resnet50_imagenet", attention_norm_eval=False)
    body.train()
    att = {id(bn) for m in body.attention_modules() for bn in _bns(m)}
    assert att, "DLA-L's layer attention has BNs"
    assert all(bn.training == (id(bn) in att) for bn in _bns(body.net.stages[1]))
    # MMDetection default: BN affine of stages 2-4 trainable; bn_requires_grad=False freezes it
    assert all(bn.weight.requires_grad for bn in _bns(body.net.stages[2]))
    frozen = create_detector("faster_rcnn", "resnet50_imagenet", bn_requires_grad=False, **SMALL)
    assert not any(p.requires_grad for bn in _bns(frozen.backbone.body.net) for p in bn.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_eval_forward_returns_detections(kind):
    torch.manual_seed(0)
    det = create_detector(kind, "eca_resnet50_imagenet", num_classes=80, **SMALL).eval()
    with torch.no_grad():
        out = det([torch.rand(3, 128, 100)])
    keys = {"boxes", "labels", "scores"} | ({"masks"} if kind == "mask_rcnn" else set())
    assert len(out) == 1 and set(out[0]) == keys
    n = out[0]["boxes"].shape[0]
    assert out[0]["boxes"].shape == (n, 4) and out[0]["scores"].shape == (n,)
    assert n <= MMDET_1X.box_detections_per_img
    if kind == "mask_rcnn":
        assert out[0]["masks"].shape == (n, 1, 128, 100)


def test_mmdet_settings_applied():
    det = create_detector("faster_rcnn", "resnet50_imagenet", num_classes=80)
    assert (det.transform.min_size, det.transform.max_size) == ((800,), 1333)
    assert det.rpn._post_nms_top_n == {"training": 1000, "testing": 1000}
    assert det.rpn._pre_nms_top_n == {"training": 2000, "testing": 1000}
    assert det.roi_heads.box_roi_pool.sampling_ratio == 0 and det.roi_heads.box_roi_pool.aligned
    assert det.roi_heads.box_predictor.cls_score.out_features == 81  # 80 + background
    sizes = MMDET_1X.retina_anchor_sizes()
    assert sizes[0] == pytest.approx((32.0, 32 * 2 ** (1 / 3), 32 * 2 ** (2 / 3)))
    with pytest.raises(Exception, match="unknown detector"):
        create_detector("yolo", "resnet50_imagenet")


def test_pretrained_backbone_state_dict_loads():
    from models import create_model
    src = create_model("se_resnet50_imagenet", num_classes=1000)
    body = build_backbone("se_resnet50_imagenet", pretrained_backbone={"state_dict": src.state_dict()})
    assert torch.equal(body.net.stages[2].blocks[0].conv1.weight, src.stages[2].blocks[0].conv1.weight)


def test_resnet50_parameter_counts():
    # Papers (ELA Table 5, DLA Table 3; MMDetection, 80 classes, counting requires_grad
    # parameters as mmcv does): Faster R-CNN R-50 41.5M, Mask R-CNN R-50 44.2M.
    # MMDetection's exact counts are 41,527,712 and 44,170,992; torchvision's box predictor
    # regresses the background class too (+4 x 1024 + 4 = 4,100) and its mask predictor has a
    # background mask channel (+256 + 1 = 257). Frozen stem + stage 1: 225,344.
    faster = create_detector("faster_rcnn", "resnet50_imagenet", num_classes=80)
    assert count_parameters(faster) == 41_531_812 == 41_527_712 + 4_100
    assert count_parameters(faster, trainable=False) == 41_531_812 + 225_344
    mask = create_detector("mask_rcnn", "resnet50_imagenet", num_classes=80)
    assert count_parameters(mask) == 44_175_349 == 44_170_992 + 4_100 + 257
    assert round(count_parameters(faster) / 1e6, 1) == 41.5
    assert round(count_parameters(mask) / 1e6, 1) == 44.2


def test_anchors_fixed_strides_unrounded():
    from torchvision.models.detection.image_list import ImageList
    det = create_detector("retinanet", "resnet50_imagenet", num_classes=80)
    gen = det.anchor_generator
    feats = [torch.zeros(1, 1, 800 // s + (800 % s > 0), 1216 // s + (1216 % s > 0)) for s in (8, 16, 32, 64, 128)]
    anchors = gen(ImageList(torch.zeros(1, 3, 800, 1216), [(800, 1216)]), feats)[0]
    per_level = [9 * f.shape[-2] * f.shape[-1] for f in feats]
    p6 = anchors[sum(per_level[:3]):sum(per_level[:4])].view(-1, 9, 4)
    centres = (p6[:, 0, :2] + p6[:, 0, 2:]) / 2
    assert torch.allclose(centres[1] - centres[0], torch.tensor([64.0, 0.0]))  # fixed stride 64
    assert torch.allclose(centres[feats[3].shape[-1]] - centres[0], torch.tensor([0.0, 64.0]))  # torchvision: 800 // 13 = 61
    w = anchors[:9, 2] - anchors[:9, 0]
    assert w.tolist() != [round(v) for v in w.tolist()]  # MMDet keeps fractional sizes (32 * 2^(1/3) ...)
