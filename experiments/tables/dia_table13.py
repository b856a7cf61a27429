"""DIA Table XIII: SENet vs DIA-LSTM at depths 83/164/245/407 on CIFAR-100."""
from .base import Row, Table

TABLE = Table(
    id="dia.table13",
    title="DIA Table XIII: top-1 accuracy (%) of SENet and DIA-LSTM (r=4) with ResNet83/164/245/407, CIFAR-100",
    rows=tuple(row for d in (83, 164, 245, 407) for row in (
        Row(label=f"ResNet{d} / SENet", family="se", backbone=f"resnet{d}", depth=d, dataset="cifar100",
            recipe="dia_resnet", model_kwargs={"attn_kwargs": {"bias": True}}),
        Row(label=f"ResNet{d} / DIA-LSTM (r=4)", family="dia", backbone=f"resnet{d}", depth=d, dataset="cifar100",
            recipe="dia_resnet", variant="r=4"))),
    seeds=15,
    seeds_note="not printed; the ResNet164 rows repeat Table IV's 15-seed means: 15",
    metric="test top-1 (%), mean over the seeds",
    decisions=("ResNet83/164 rows are Table III/IV's runs (shared)",),
)
