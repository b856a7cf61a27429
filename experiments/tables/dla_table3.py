"""DLA Table 3: COCO val2017 detection with Faster R-CNN and Mask R-CNN on ResNet-50/101 (DLA Sec. 4.2)."""
from .base import NL_DECISION, RELEASED_IMAGENET_SE, Table, detection_rows

_FASTER = ["resnet", "se", "eca", "mrla_l", "dla_l"]
_MASK = ["resnet", "se", "eca", "nl", "gc", "mrla_l", "dla_l"]
_KW = {"se": RELEASED_IMAGENET_SE}  # the backbone of DLA Table 2's SE row (its ImageNet checkpoint)

TABLE = Table(
    id="dla.table3",
    title="DLA Table 3: COCO val2017 box (and mask) AP (%) with Faster R-CNN and Mask R-CNN, ResNet-50/101",
    rows=detection_rows("faster_rcnn", _FASTER, (50, 101), "mmdet_1x_b8", kwargs=_KW)
    + detection_rows("mask_rcnn", _MASK, (50, 101), "mmdet_1x_b8", kwargs=_KW),
    seeds=1,
    seeds_note="n and std not printed; the baselines are copied from their own papers: 1 seed",
    metric="COCO val2017 box AP, AP50, AP75, APS, APM, APL (Faster R-CNN); box and mask AP/AP50/AP75 (Mask R-CNN)",
    not_run=("RLAg (RLA-Net) rows of both detectors: not implemented here",
             "BA (BA-Net) rows: not implemented here"),
    decisions=(
        "Mask R-CNN's six numbers under 'AP AP50 AP75 APS APM APL' are box AP/AP50/AP75 then mask AP/AP50/AP75 "
        "(the MRLA paper's layout; by their values)",
        "recipe 'mmdet_1x_b8': MMDetection's 1x schedule with DLA's batch 8 at lr 0.01 (Sec. 4.2)",
        "full profile: backbones start from this repository's ImageNet runs of the same method (DLA Table 2's rows; experiments.detection.pretrained finds them); the launcher refuses --profile full until it hands them to the runs; the smoke profile trains from scratch on the offline COCO-format set",
        NL_DECISION,
    ),
)
