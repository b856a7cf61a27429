"""DIA Table III: SAMs with and without the DIA (shared) unit, ResNet83/164 on CIFAR-10/100."""
from .base import LABELS, Row, Table

_SAMS = ("se", "eca", "cbam", "srm", "spa")
_SE = {"attn_kwargs": {"bias": True}}  # DIA's SE has biases (r=16)


def _rows():
    for ds in ("cifar10", "cifar100"):
        for d in (83, 164):
            yield Row(label=f"ResNet{d} / Org", family="resnet", backbone=f"resnet{d}", depth=d, dataset=ds,
                      recipe="dia_resnet")
            for sam in _SAMS:
                for fam, tag in ((sam, "w/o DIA"), (f"dia_{sam}", "with DIA")):
                    yield Row(label=f"ResNet{d} / {LABELS[sam]} / {tag}", family=fam, backbone=f"resnet{d}", depth=d,
                              dataset=ds, recipe="dia_resnet", model_kwargs=_SE if sam == "se" else {})


TABLE = Table(
    id="dia.table3",
    title="DIA Table III: top-1 accuracy (%) of SE/ECA/CBAM/SRM/SPA with and without DIA, ResNet83/164, CIFAR-10/100",
    rows=tuple(_rows()),
    seeds=15,
    seeds_note="'all models undergo 15 repeated verifications with random seeds' (Sec. III-A)",
    metric="test top-1 (%), mean +- std over 15 seeds; Student's t-test with vs without DIA",
    decisions=("recipe 'dia_resnet' (DIANet's released ResNet-164 recipe: 180 epochs, x0.1 at 60/120); the paper "
               "cites He et al.'s CIFAR configuration",
               "SE (alone and shared) keeps its biases as DIA's SE does; SRM with DIA does not share BN (Sec. VI-B2)"),
)
