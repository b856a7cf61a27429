"""ELA Table 5: COCO 2017 detection with Faster R-CNN and Mask R-CNN on ResNet-50/101 (ELA Sec. 4.2)."""
from .base import NL_DECISION, RELEASED_IMAGENET_SE, Table, detection_rows

_FASTER = ["resnet", "se", "eca", "mrla_l", "ela"]
_MASK = ["resnet", "se", "eca", "nl", "gc", "mrla_l", "ela"]
_KW = {"se": RELEASED_IMAGENET_SE}  # the backbone of ELA Table 2's SE row (its ImageNet checkpoint)

TABLE = Table(
    id="ela.table5",
    title="ELA Table 5: COCO 2017 box (and mask) AP (%) with Faster R-CNN and Mask R-CNN, ResNet-50/101",
    rows=detection_rows("faster_rcnn", _FASTER, (50, 101), "mmdet_1x", kwargs=_KW)
    + detection_rows("mask_rcnn", _MASK, (50, 101), "mmdet_1x", kwargs=_KW),
    seeds=1,
    seeds_note="n and std not printed; the baselines are copied from their own papers: 1 seed",
    metric="COCO val2017 box AP, AP50, AP75, APS, APM, APL (Faster R-CNN); box and mask AP/AP50/AP75 (Mask R-CNN)",
    not_run=("RLA (RLA-Net) rows of both detectors: not implemented here",),
    decisions=(
        "Mask R-CNN's six numbers under 'AP AP50 AP75 APS APM APL' are box AP/AP50/AP75 then mask AP/AP50/AP75 "
        "(the MRLA paper's layout; by their values: 37.2 58.9 40.3 | 34.1 55.5 36.2, mask below box)",
        "recipe 'mmdet_1x' (MMDetection's default 1x schedule, Sec. 4.2: 12 epochs, batch 16, lr 0.02, x0.1 at "
        "epochs 8 and 11, linear warm-up); torchvision detectors set to MMDetection's values (models/detection.py)",
        "full profile: backbones start from this repository's ImageNet runs of the same method (ELA Table 2's rows; experiments.detection.pretrained finds them); the launcher refuses --profile full until it hands them to the runs; the smoke profile trains from scratch on the offline COCO-format set",
        "ELA while detecting: KL at epochs 1 and 7, EBQM with Beta(2,5), mu 0.2 (Sec. 4.2)",
        NL_DECISION,
    ),
)
