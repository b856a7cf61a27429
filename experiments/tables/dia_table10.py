"""DIA Table X: COCO 2017 detection with Faster R-CNN and RetinaNet on ResNet-50/101 (DIA Sec. IV-C)."""
from .base import Table, detection_rows

_FAMILIES = ["resnet", "se", "eca", "sge", "dia", "dia_light"]

TABLE = Table(
    id="dia.table10",
    title="DIA Table X: COCO 2017 box AP (%) with Faster R-CNN and RetinaNet, ResNet50/101 (n = 15)",
    rows=detection_rows("faster_rcnn", _FAMILIES, (50, 101), "mmdet_1x", head="ResNet{d}")
    + detection_rows("retinanet", _FAMILIES, (50, 101), "mmdet_1x", head="ResNet{d}"),
    seeds=15,
    seeds_note="'Each model is verified 15 times with random seeds' (Sec. IV-C); Student's t-test marks against "
               "DIA-LSTM",
    metric="COCO val2017 box AP, AP50, AP75, APS, APM, APL, mean over 15 seeds; Student's t-test against DIA-LSTM",
    decisions=(
        "recipe 'mmdet_1x': 'the same settings as [39]' with MMDetection (Sec. IV-C), read as MMDetection's "
        "default 1x schedule (12 epochs, batch 16, lr 0.02)",
        "full profile: backbones start from this repository's ImageNet runs of the same method (DIA Table "
        "VIII's rows, SE with biases; no DIA table trains ResNet-101 or SGE on ImageNet: "
        "experiments.detection.pretrained plans those runs and names the command); the launcher refuses "
        "--profile full until it hands them to the runs; the smoke profile trains from scratch on the offline "
        "COCO-format set",
    ),
)
