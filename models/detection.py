"""COCO detectors on this zoo's ImageNet ResNets: Faster R-CNN, Mask R-CNN and RetinaNet with
an FPN, in MMDetection's 1x settings (ELA Sec. 4.2 / Table 5, DLA Sec. 4.2 / Table 3, DIA
Sec. IV-C / Table X: "implemented using the MMDetection toolkit ... default settings").

    from models.detection import create_detector
    det = create_detector("faster_rcnn", "dla_l_resnet50_imagenet", num_classes=80,
                          pretrained_backbone="runs/.../checkpoint.pt")
    losses = det(images, targets)          # train mode: dict of losses
    det.eval(); detections = det(images)   # list of {'boxes', 'labels', 'scores'(, 'masks')}

Backbone adapter
----------------
torchvision's ``BackboneWithFPN`` is not used: its ``IntermediateLayerGetter`` calls the
direct children of the backbone in order with one tensor each, but our stages sit in one
``ModuleList`` (``net.stages``) and ``Stage.forward`` takes ``(x, readout)`` and creates the
per-forward :class:`~models.backbone.StageState` through which the layer-attention state
(MRLA/ELA keys and values, DLA's DSU context) flows from block to block and through which
blocks reach the stage's shared modules (DIA's shared cell, DLA's cell and depthwise conv).
:class:`ResNetFeatures` therefore runs the network's own ``stem`` and ``Stage`` modules
(exactly the path of ``ResNetBackbone.forward_features``) and returns C2..C5 as an
``OrderedDict`` keyed by stage index (``'0'``: C2 ... ``'3'``: C5; strides 4/8/16/32,
channels 256/512/1024/2048 for ResNet-50/101). Every attention module stays live. The
classifier (``fc``) is replaced by ``Identity``; the rest of the ``ResNetBackbone`` is kept
as ``ResNetFeatures.net`` so its ``training_callbacks()`` (ELA's pruning controller) and
``has_unused_parameters`` stay reachable: ``detector.backbone.body.training_callbacks()``.
The FPN is torchvision's ``FeaturePyramidNetwork`` (256 channels) with ``LastLevelMaxPool``
(Faster/Mask: P2-P6, MMDet ``num_outs=5``) or, for RetinaNet, C3-C5 only (MMDet
``start_level=1``) and ``LastLevelP6P7(2048, 256)``: P6 from C5 (MMDet
``add_extra_convs='on_input'``), P7 from ReLU(P6).

Freezing and BatchNorm (MMDetection's ``frozen_stages=1``, ``norm_eval=True``,
``norm_cfg=dict(type='BN', requires_grad=True)`` of ``configs/_base_/models/*_r50_fpn.py``)
-------------------------------------------------------------------------------------------
* The stem and stage 1 (everything in them: convs, BNs, stage-1 attention modules and
  stage-1 shared modules) get ``requires_grad=False`` (``frozen_stages``: -1 none, 0 stem,
  k stem + first k stages; MMDet's numbering).
* Every BatchNorm of the backbone is kept in eval mode permanently by a ``train()`` override
  of :class:`ResNetFeatures` (not ``FrozenBatchNorm2d``): running statistics never update.
  The BN affine parameters of stages 2-4 stay TRAINABLE, as in MMDetection
  (``requires_grad=True`` + ``norm_eval=True``); ``bn_requires_grad=False`` freezes them too,
  torchvision's FrozenBatchNorm2d behaviour. (The brief asked for "eval mode and no grad";
  MMDetection's default trains the affine parameters, so that is the default here.)
* BN inside attention modules (MRLA/ELA/DLA layer attention, SRM, CBAM, BAM; DIA-LSTM has none): the
  papers do not say. MMDetection's ``ResNet.train()`` puts every ``_BatchNorm`` under the
  backbone in eval mode, attention modules included, so the default is the same freezing
  as the backbone (``attention_norm_eval=None`` follows ``norm_eval``);
  ``attention_norm_eval=False`` lets the attention modules' BNs track batch statistics.

Settings: :data:`MMDET_1X` (MMDetection 2.x, ``configs/_base_/models/faster_rcnn_r50_fpn.py``,
``mask_rcnn_r50_fpn.py``, ``retinanet_r50_fpn.py``, ``configs/_base_/datasets/coco_*.py``).
Anchors are generated without torchvision's rounding of the base anchors and at each
level's fixed stride (:class:`MMDetAnchorGenerator`); RoI features use :class:`MMDetRoIExtractor` (MMDet's
``SingleRoIExtractor``: RoIAlign ``aligned=True``, ``sampling_ratio=0``, level by
``floor(log2(sqrt(wh) / 56))``; this mapping equals torchvision's ``LevelMapper``).

Classes and labels
------------------
``num_classes`` is the number of FOREGROUND classes (80 for COCO, MMDetection's contiguous
class indices). torchvision's ``FasterRCNN``/``MaskRCNN`` count the background as class 0
(``num_classes`` = 81, target labels 1..80); its ``RetinaNet`` has no background class
(``num_classes`` = 80, labels 0..79). :data:`LABEL_OFFSET` is what to add to a contiguous
0-based class index to get each detector's label. (torchvision's own COCO models use 91 =
the raw COCO category ids 1..90 with gaps; MMDetection and the papers use 80.)

Remaining differences from MMDetection 2.x
-------------------------------------------
1. Box regression loss: torchvision's RPN and RoI heads use smooth-L1 with beta 1/9;
   MMDetection's Faster/Mask R-CNN use L1Loss (RetinaNet: both L1).
2. RoI box head: torchvision's ``FastRCNNPredictor`` regresses 4 values for every class
   including background (81 x 4 outputs; MMDet 80 x 4): +4,100 parameters. Both
   class-specific. Mask head: torchvision predicts a mask for the background class too (81
   vs 80 channels): +257 parameters; both class-specific, 4 convs + deconv, 28x28 targets.
3. RPN low-quality matches: torchvision keeps every anchor with the best IoU for a gt box
   whatever that IoU; MMDet only if it is >= ``min_pos_iou`` 0.3.
4. RetinaNet's focal loss is normalised by the positives of each image then averaged over
   images (torchvision); MMDet divides the batch's sum by the batch's positives.
5. Small boxes: torchvision drops proposals under 1e-3 px and detections under 1e-2 px;
   MMDet ``min_bbox_size=0``.
6. Mask R-CNN eval returns soft masks (probabilities, N x 1 x H x W); MMDet binarises at
   ``mask_thr_binary=0.5``: threshold them at 0.5 for COCO mask AP.
7. Resizing interpolation (torch bilinear vs cv2 bilinear in MMDet) and the data pipeline
   (random flip 0.5, normalisation mean/std 123.675,116.28,103.53/58.395,57.12,57.375 on 0-255
   = torchvision's ImageNet mean/std on 0-1) are the data loader's business.
8. ELA's pruning (KL at epochs 1 and 7, ``models.kl.WINDOWS['detection']``, Beta(2,5), mu 0.2
   in ELA Sec. 4.2) needs the training loop to call ``body.training_callbacks()`` and
   ``attn_kwargs={'pruning': ...}`` through ``backbone_kwargs``; without them ELA runs unpruned.
   Frozen stages are kept in eval mode (MMDet's ``_freeze_stages``), so ELA's stage-1 layers
   measure no KL during training and are never pruned.

Parameter counts (``count_parameters``: trainable, i.e. requires_grad, parameters, which is
what mmcv's ``get_model_parameters_number`` counts; frozen stem + stage 1 excluded)
-------------------------------------------------------------------------------------------
Papers (ELA Table 5 = DLA Table 3, MMDetection, 80 classes): Faster R-CNN R-50 41.5M,
Mask R-CNN R-50 44.2M. Measured here (80 foreground classes):

* ``resnet50_imagenet`` Faster R-CNN 41,531,812 trainable (41,757,156 in all) -> 41.5M.
  MMDetection's: 41,527,712 trainable = ResNet-50 without fc 23,508,032 + FPN 3,344,384 +
  RPN head 593,935 + box head 14,306,705 - frozen stem/stage 1 225,344; ours is 4,100 more
  (difference 2: 81 x 4 box outputs instead of 80 x 4).
* ``resnet50_imagenet`` Mask R-CNN 44,175,349 trainable (44,400,693 in all) -> 44.2M;
  MMDetection's 44,170,992 = ours - 4,100 - 257 (difference 2).
* RetinaNet R-50: 37,743,348 trainable (MMDetection's log: 37.74M; Table X prints no counts).
* Faster R-CNN R-50 with attention, trainable (paper: ELA Table 5 / DLA Table 3):
  se 44,037,412 (44.0M; paper 44.0M), eca 41,531,883 (41.5M; 41.5M),
  mrla_l 41,703,986 (41.7M; 41.7M), ela 41,689,650 (41.7M; 41.7M),
  dla_l 44,510,706 (44.5M; paper 44.2M), dia 44,300,040 and dia_light 42,951,972 (DIA
  Table X prints no counts), gc 44,053,553, sge 41,533,476 (no printed Faster R-CNN count).
* Mask R-CNN R-50: se 46,680,949 (46.7M; 46.7M), eca 44,175,420 (44.2M; 44.2M),
  mrla_l 44,347,523 (44.3M; 44.3M), ela 44,333,187 (44.3M; 44.3M), dla_l 47,154,243
  (47.2M; paper 46.9M), gc 46,697,090 (46.7M; ELA Table 5 46.9M, DLA Table 3 54.4M).
* DLA-L does not match either way: the zoo's released cell (r=16) adds 3.0M to the detector
  (paper: +2.7M Faster, +2.7M Mask) and its ImageNet classifier is 28.6M against DLA
  Table 2's 27.2M (docs/models.md); the paper-form cell (``dsu_form='paper', reduction=20``,
  27.2M as a classifier) gives 43,116,594 Faster / 45,760,131 Mask (43.1M / 45.8M), below
  the printed 44.2M / 46.9M. DLA's detection and classification counts are not consistent
  with one cell (+1.6M on the classifier, +2.7M on the detectors).
* GC: the zoo's GC (r=16 on every block) adds 2.5M to the detector. ELA's 46.9M and DLA's
  54.4M for GC Mask R-CNN R-50 are MMDetection's GCNet models (GC on c3-c5 only, r=16 and r=4)
  counted with every parameter, as the GCNet paper counts (46,922,434 / 54,401,602 here); the
  papers do not say so, and R-101's 82.2M is not reproduced either way
  (``results/paper/params_differences.csv``, ``tests/test_params_detectors.py``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import torch
import torch.nn as nn
from torchvision.models.detection import FasterRCNN, MaskRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign, roi_align
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from .backbone import ResNetBackbone
from .registry import ConfigError, create_model

__all__ = [
    "MMDetSettings",
    "MMDET_1X",
    "LABEL_OFFSET",
    "KINDS",
    "ResNetFeatures",
    "ResNetFPN",
    "MMDetAnchorGenerator",
    "MMDetRoIExtractor",
    "build_backbone",
    "faster_rcnn",
    "mask_rcnn",
    "retinanet",
    "create_detector",
    "count_parameters",
]

KINDS = ("faster_rcnn", "mask_rcnn", "retinanet")
#: add to a contiguous 0-based class index (0..79) to get the detector's target label
LABEL_OFFSET = {"faster_rcnn": 1, "mask_rcnn": 1, "retinanet": 0}


@dataclass(frozen=True)
class MMDetSettings:
    """MMDetection 2.x 1x defaults (``configs/_base_/models/faster_rcnn_r50_fpn.py``,
    ``mask_rcnn_r50_fpn.py``, ``retinanet_r50_fpn.py``, ``datasets/coco_detection.py``);
    the torchvision default it replaces is in the comment where they differ."""

    # data / transform: Resize img_scale=(1333, 800), keep_ratio; Pad size_divisor=32
    min_size: int = 800
    max_size: int = 1333
    # backbone: ResNet(frozen_stages=1, norm_eval=True, norm_cfg=BN requires_grad=True)
    frozen_stages: int = 1
    norm_eval: bool = True
    bn_requires_grad: bool = True
    fpn_channels: int = 256
    # RPN: AnchorGenerator(scales=[8], ratios=[0.5, 1, 2], strides=[4, 8, 16, 32, 64])
    rpn_anchor_sizes: tuple = ((32,), (64,), (128,), (256,), (512,))
    rpn_aspect_ratios: tuple = (0.5, 1.0, 2.0)  # RetinaNet: the same ratios
    rpn_strides: tuple = (4, 8, 16, 32, 64)
    rpn_pre_nms_top_n_train: int = 2000   # train_cfg.rpn_proposal.nms_pre (per level)
    rpn_pre_nms_top_n_test: int = 1000    # test_cfg.rpn.nms_pre
    rpn_post_nms_top_n_train: int = 1000  # train_cfg.rpn_proposal.max_per_img (torchvision 2000)
    rpn_post_nms_top_n_test: int = 1000   # test_cfg.rpn.max_per_img
    rpn_nms_thresh: float = 0.7
    rpn_fg_iou_thresh: float = 0.7        # MaxIoUAssigner pos_iou_thr
    rpn_bg_iou_thresh: float = 0.3        # neg_iou_thr
    rpn_batch_size_per_image: int = 256   # RandomSampler num
    rpn_positive_fraction: float = 0.5
    # RoI: SingleRoIExtractor(RoIAlign(output_size=7, sampling_ratio=0), strides 4..32)
    roi_output_size: int = 7
    mask_roi_output_size: int = 14
    roi_sampling_ratio: int = 0           # torchvision 2
    roi_aligned: bool = True              # mmcv RoIAlign default; torchvision's pooler: False
    box_fg_iou_thresh: float = 0.5
    box_bg_iou_thresh: float = 0.5
    box_batch_size_per_image: int = 512
    box_positive_fraction: float = 0.25
    box_score_thresh: float = 0.05        # test_cfg.rcnn.score_thr
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 100
    bbox_reg_weights: tuple = (10.0, 10.0, 5.0, 5.0)  # 1 / target_stds (0.1, 0.1, 0.2, 0.2)
    # RetinaNet: octave_base_scale=4, scales_per_octave=3, ratios [0.5, 1, 2], strides 8..128
    retina_octave_base_scale: int = 4
    retina_scales_per_octave: int = 3
    retina_strides: tuple = (8, 16, 32, 64, 128)
    retina_fg_iou_thresh: float = 0.5
    retina_bg_iou_thresh: float = 0.4
    retina_score_thresh: float = 0.05
    retina_nms_thresh: float = 0.5
    retina_topk_candidates: int = 1000    # test_cfg.nms_pre
    retina_detections_per_img: int = 100  # test_cfg.max_per_img (torchvision 300)
    source: str = field(default="MMDetection 2.x configs/_base_/models/{faster,mask}_rcnn_r50_fpn.py, "
                                "retinanet_r50_fpn.py; schedule_1x.py", compare=False)

    def retina_anchor_sizes(self) -> tuple:
        octaves = [2 ** (i / self.retina_scales_per_octave) for i in range(self.retina_scales_per_octave)]
        return tuple(tuple(self.retina_octave_base_scale * s * o for o in octaves) for s in self.retina_strides)


MMDET_1X = MMDetSettings()


# --------------------------------------------------------------------------- backbone
def _is_bn(m: nn.Module) -> bool:
    return isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm))


class ResNetFeatures(nn.Module):
    """C2..C5 of a zoo ``ResNetBackbone``, computed by its own stem and stages (attention live).

    ``return_levels``: stage indices to return (0: C2 ... 3: C5), keyed ``str(index)``.
    See the module docstring for ``frozen_stages``, ``norm_eval``, ``bn_requires_grad`` and
    ``attention_norm_eval``.
    """

    def __init__(self, net: ResNetBackbone, return_levels=(0, 1, 2, 3), frozen_stages: int = 1,
                 norm_eval: bool = True, bn_requires_grad: bool = True,
                 attention_norm_eval: bool | None = None):
        super().__init__()
        if not isinstance(net, ResNetBackbone):
            raise ConfigError(f"detection needs a zoo ResNetBackbone, got {type(net).__name__}")
        net.fc = nn.Identity()
        net.head_drop = nn.Identity()
        self.net = net
        self.return_levels = tuple(int(i) for i in return_levels)
        self.out_channels_list = [net.stages[i].out_channels for i in self.return_levels]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.attention_norm_eval = norm_eval if attention_norm_eval is None else attention_norm_eval
        self._attention_bn = {id(bn) for mod in self.attention_modules() for bn in mod.modules() if _is_bn(bn)}
        if not bn_requires_grad:
            for m in net.modules():
                if _is_bn(m):
                    m.requires_grad_(False)
        frozen = ([net.stem] if frozen_stages >= 0 else []) + list(net.stages[:max(frozen_stages, 0)])
        for m in frozen:
            m.requires_grad_(False)
        self.train(self.training)

    def attention_modules(self) -> list[nn.Module]:
        """Every attention module of the network: block ``attn``/``post`` slots and the
        stages' shared modules (one entry per slot; shared ones may repeat)."""
        out: list[nn.Module] = []
        for stage in self.net.stages:
            out += list(stage.shared.values())
            for blk in stage.blocks:
                out += [m for m in (blk.attn, blk.post) if m is not None]
        return out

    def frozen_modules(self) -> list[nn.Module]:
        return ([self.net.stem] if self.frozen_stages >= 0 else []) + list(self.net.stages[:max(self.frozen_stages, 0)])

    def train(self, mode: bool = True) -> "ResNetFeatures":
        super().train(mode)
        if mode:
            for m in self.net.modules():
                if not _is_bn(m):
                    continue
                attention = id(m) in self._attention_bn
                if (attention and self.attention_norm_eval) or (not attention and self.norm_eval):
                    m.eval()
            for m in self.frozen_modules():  # MMDet's _freeze_stages: frozen stages in eval mode
                m.eval()
        return self

    def training_callbacks(self) -> list:
        """The backbone's training callbacks (ELA's pruning controller)."""
        return self.net.training_callbacks()

    @property
    def has_unused_parameters(self) -> bool:
        return self.net.has_unused_parameters

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.net.stem(x)
        last = len(self.net.stages) - 1
        for i, stage in enumerate(self.net.stages):
            x = stage(x)
            if i == last:
                x = self.net.final(x)
            if i in self.return_levels:
                out[str(i)] = x
            if i >= max(self.return_levels):
                break
        return out


class ResNetFPN(nn.Module):
    """``body`` (:class:`ResNetFeatures`) + torchvision FPN; ``out_channels`` for the heads."""

    def __init__(self, body: ResNetFeatures, out_channels: int = 256, extra_blocks: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(body.out_channels_list, out_channels, extra_blocks=extra_blocks)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(self.body(x))


def _load_state(path_or_state) -> dict:
    state = torch.load(path_or_state, map_location="cpu") if not isinstance(path_or_state, Mapping) else path_or_state
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def build_backbone(backbone_name: str, *, pretrained_backbone=None, return_levels=(0, 1, 2, 3),
                   settings: MMDetSettings = MMDET_1X, attention_norm_eval: bool | None = None,
                   backbone_kwargs: Mapping[str, Any] | None = None) -> ResNetFeatures:
    """``create_model(backbone_name, num_classes=1000)``, ImageNet weights loaded (a state
    dict or a checkpoint path; ``fc`` included, strict), classifier dropped, frozen as set."""
    net = create_model(backbone_name, num_classes=1000, **dict(backbone_kwargs or {}))
    if not isinstance(net, ResNetBackbone) or len(net.stages) != 4:
        raise ConfigError(f"{backbone_name!r} is not a 4-stage ResNet: detection needs an ImageNet ResNet")
    if pretrained_backbone is not None:
        net.load_state_dict(_load_state(pretrained_backbone))
    return ResNetFeatures(net, return_levels, frozen_stages=settings.frozen_stages, norm_eval=settings.norm_eval,
                          bn_requires_grad=settings.bn_requires_grad, attention_norm_eval=attention_norm_eval)


# --------------------------------------------------------------------------- MMDet pieces
class MMDetAnchorGenerator(AnchorGenerator):
    """torchvision's AnchorGenerator as MMDet 2.x's ``AnchorGenerator`` (``center_offset=0``):
    base anchors not rounded, and, given ``strides``, each level's fixed stride instead of
    torchvision's ``padded image size // feature size`` (which gives e.g. 800 // 13 = 61, not
    64, for P6 of an image padded to 800 rows)."""

    def __init__(self, sizes, aspect_ratios, strides=None):
        super().__init__(sizes, aspect_ratios)
        self.strides = None if strides is None else tuple(int(s) for s in strides)

    def generate_anchors(self, scales, aspect_ratios, dtype=torch.float32, device=torch.device("cpu")):
        scales = torch.as_tensor(scales, dtype=dtype, device=device)
        aspect_ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
        h_ratios = torch.sqrt(aspect_ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        return torch.stack([-ws, -hs, ws, hs], dim=1) / 2

    def forward(self, image_list, feature_maps: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.strides is None:
            return super().forward(image_list, feature_maps)
        if len(self.strides) != len(feature_maps):
            raise ConfigError(f"{len(self.strides)} anchor strides for {len(feature_maps)} feature maps")
        grid_sizes = [f.shape[-2:] for f in feature_maps]
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        strides = [[torch.tensor(s, dtype=torch.int64, device=device)] * 2 for s in self.strides]
        self.set_cell_anchors(dtype, device)
        per_level = torch.cat(self.grid_anchors(grid_sizes, strides))
        return [per_level for _ in range(len(image_list.image_sizes))]


class MMDetRoIExtractor(MultiScaleRoIAlign):
    """MMDet 2.x ``SingleRoIExtractor``: RoI level ``floor(log2(sqrt(w*h) / finest_scale))``
    clamped to the levels, then mmcv RoIAlign (``aligned=True``, ``sampling_ratio=0``).
    A ``MultiScaleRoIAlign`` (torchvision's detectors accept no other type) whose
    ``forward`` (same arguments) is MMDet's; the level mapping equals torchvision's."""

    def __init__(self, featmap_names: list[str], output_size: int, sampling_ratio: int = 0,
                 strides=(4, 8, 16, 32), finest_scale: int = 56, aligned: bool = True):
        super().__init__(list(featmap_names), output_size, sampling_ratio)
        self.featmap_names = list(featmap_names)
        self.output_size = (output_size, output_size)
        self.strides = tuple(strides)
        self.finest_scale = finest_scale
        self.aligned = aligned

    def forward(self, x: dict, boxes: list[torch.Tensor], image_shapes: list | None = None) -> torch.Tensor:
        feats = [x[k] for k in self.featmap_names]
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)], dim=0)
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1], *self.output_size))
        if rois.shape[0] == 0:
            return out
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6)).clamp(0, len(feats) - 1).long()
        for lvl, (feat, stride) in enumerate(zip(feats, self.strides)):
            idx = torch.nonzero(levels == lvl).squeeze(1)
            if idx.numel():
                out[idx] = roi_align(feat, rois[idx], self.output_size, spatial_scale=1.0 / stride,
                                     sampling_ratio=self.sampling_ratio, aligned=self.aligned).to(out.dtype)
            else:  # keep every level in the graph (DDP without find_unused_parameters)
                out = out + 0.0 * feat.sum()
        return out


# --------------------------------------------------------------------------- detectors
def _settings(overrides: dict) -> tuple[MMDetSettings, dict]:
    names = {f for f in MMDetSettings.__dataclass_fields__ if f != "source"}
    mine = {k: overrides.pop(k) for k in list(overrides) if k in names}
    return replace(MMDET_1X, **mine), overrides


def _rcnn_kwargs(s: MMDetSettings) -> dict:
    return dict(
        min_size=s.min_size, max_size=s.max_size,
        rpn_anchor_generator=MMDetAnchorGenerator(s.rpn_anchor_sizes, (s.rpn_aspect_ratios,) * len(s.rpn_anchor_sizes),
                                                  s.rpn_strides),
        rpn_pre_nms_top_n_train=s.rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test=s.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_train=s.rpn_post_nms_top_n_train, rpn_post_nms_top_n_test=s.rpn_post_nms_top_n_test,
        rpn_nms_thresh=s.rpn_nms_thresh, rpn_fg_iou_thresh=s.rpn_fg_iou_thresh, rpn_bg_iou_thresh=s.rpn_bg_iou_thresh,
        rpn_batch_size_per_image=s.rpn_batch_size_per_image, rpn_positive_fraction=s.rpn_positive_fraction,
        box_roi_pool=MMDetRoIExtractor(["0", "1", "2", "3"], s.roi_output_size, s.roi_sampling_ratio,
                                       aligned=s.roi_aligned),
        box_score_thresh=s.box_score_thresh, box_nms_thresh=s.box_nms_thresh,
        box_detections_per_img=s.box_detections_per_img, box_fg_iou_thresh=s.box_fg_iou_thresh,
        box_bg_iou_thresh=s.box_bg_iou_thresh, box_batch_size_per_image=s.box_batch_size_per_image,
        box_positive_fraction=s.box_positive_fraction, bbox_reg_weights=s.bbox_reg_weights,
    )


def faster_rcnn(backbone_name: str, num_classes: int = 80, *, pretrained_backbone=None,
                attention_norm_eval: bool | None = None, backbone_kwargs: Mapping[str, Any] | None = None,
                **overrides) -> FasterRCNN:
    """Faster R-CNN + FPN; ``num_classes`` foreground classes (torchvision gets +1 background).
    ``overrides``: any :class:`MMDetSettings` field, else a torchvision ``FasterRCNN`` argument."""
    s, rest = _settings(dict(overrides))
    body = build_backbone(backbone_name, pretrained_backbone=pretrained_backbone, settings=s,
                          attention_norm_eval=attention_norm_eval, backbone_kwargs=backbone_kwargs)
    backbone = ResNetFPN(body, s.fpn_channels, LastLevelMaxPool())
    return FasterRCNN(backbone, num_classes=num_classes + 1, **{**_rcnn_kwargs(s), **rest})


def mask_rcnn(backbone_name: str, num_classes: int = 80, *, pretrained_backbone=None,
              attention_norm_eval: bool | None = None, backbone_kwargs: Mapping[str, Any] | None = None,
              **overrides) -> MaskRCNN:
    """Mask R-CNN + FPN (mask RoIAlign 14x14, 4 convs, deconv, 28x28 class-specific masks)."""
    s, rest = _settings(dict(overrides))
    body = build_backbone(backbone_name, pretrained_backbone=pretrained_backbone, settings=s,
                          attention_norm_eval=attention_norm_eval, backbone_kwargs=backbone_kwargs)
    backbone = ResNetFPN(body, s.fpn_channels, LastLevelMaxPool())
    mask_pool = MMDetRoIExtractor(["0", "1", "2", "3"], s.mask_roi_output_size, s.roi_sampling_ratio,
                                  aligned=s.roi_aligned)
    return MaskRCNN(backbone, num_classes=num_classes + 1, **{**_rcnn_kwargs(s), "mask_roi_pool": mask_pool, **rest})


def retinanet(backbone_name: str, num_classes: int = 80, *, pretrained_backbone=None,
              attention_norm_eval: bool | None = None, backbone_kwargs: Mapping[str, Any] | None = None,
              **overrides) -> RetinaNet:
    """RetinaNet: FPN on C3-C5, P6 from C5, P7 (P3-P7); sigmoid focal loss, no background."""
    s, rest = _settings(dict(overrides))
    body = build_backbone(backbone_name, pretrained_backbone=pretrained_backbone, return_levels=(1, 2, 3),
                          settings=s, attention_norm_eval=attention_norm_eval, backbone_kwargs=backbone_kwargs)
    backbone = ResNetFPN(body, s.fpn_channels, LastLevelP6P7(body.out_channels_list[-1], s.fpn_channels))
    sizes = s.retina_anchor_sizes()
    kwargs = dict(
        min_size=s.min_size, max_size=s.max_size,
        anchor_generator=MMDetAnchorGenerator(sizes, (s.rpn_aspect_ratios,) * len(sizes), s.retina_strides),
        score_thresh=s.retina_score_thresh, nms_thresh=s.retina_nms_thresh,
        detections_per_img=s.retina_detections_per_img, fg_iou_thresh=s.retina_fg_iou_thresh,
        bg_iou_thresh=s.retina_bg_iou_thresh, topk_candidates=s.retina_topk_candidates,
    )
    return RetinaNet(backbone, num_classes=num_classes, **{**kwargs, **rest})


_BUILDERS = {"faster_rcnn": faster_rcnn, "mask_rcnn": mask_rcnn, "retinanet": retinanet}


def create_detector(kind: str, backbone_name: str, *, num_classes: int = 80, pretrained_backbone=None,
                    **overrides) -> nn.Module:
    """``kind`` in :data:`KINDS`; ``num_classes`` foreground classes; ``pretrained_backbone``
    None, a state dict or a checkpoint path of the ImageNet classifier; ``overrides``: fields
    of :class:`MMDetSettings`, ``attention_norm_eval``, ``backbone_kwargs`` (to
    ``create_model``, e.g. ``{'attn_kwargs': {...}}``) or torchvision detector arguments."""
    if kind not in _BUILDERS:
        raise ConfigError(f"unknown detector {kind!r}; use one of {', '.join(KINDS)}")
    return _BUILDERS[kind](backbone_name, num_classes, pretrained_backbone=pretrained_backbone, **overrides)


def count_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Parameters, shared tensors once; ``trainable``: only requires_grad ones (mmcv's count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
