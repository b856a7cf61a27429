"""DIA Table XVI: training without BatchNorm, ResNet83/164/245/326 on CIFAR-100."""
from .base import Row, Table


def _rows():
    for d in (83, 164, 245, 326):
        yield Row(label=f"ResNet{d} / Origin", family="resnet", backbone=f"resnet{d}", depth=d, dataset="cifar100",
                  recipe="dia_resnet", variant="no_bn", model_kwargs={"use_bn": False})
        yield Row(label=f"ResNet{d} / SENet", family="se", backbone=f"resnet{d}", depth=d, dataset="cifar100",
                  recipe="dia_resnet", variant="no_bn", model_kwargs={"use_bn": False, "attn_kwargs": {"bias": True}})
        yield Row(label=f"ResNet{d} / DIA-LSTM (r=16)", family="dia", backbone=f"resnet{d}", depth=d,
                  dataset="cifar100", recipe="dia_resnet", variant="no_bn;r=16",
                  model_kwargs={"use_bn": False, "attn_kwargs": {"reduction": 16}})


TABLE = Table(
    id="dia.table16",
    title="DIA Table XVI: top-1 accuracy (%) without BN ('nan' = numerical explosion), ResNet83-326, CIFAR-100",
    rows=tuple(_rows()),
    seeds=15,
    seeds_note="not printed; DIA's protocol is 15 repeats: 15 (a 'nan' cell = every run diverged?)",
    metric="test top-1 (%) or 'diverged' (the record's status; the paper prints nan)",
    decisions=("batch 128, lr 0.1 as the paper states: recipe 'dia_resnet' unchanged (no warm-up, no clipping), "
               "so divergence can happen as printed; a diverged run is final (status 'diverged'), not a failure",),
)
