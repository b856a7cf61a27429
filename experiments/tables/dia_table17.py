"""DIA Table XVII: training without data augmentation, ResNet164 on CIFAR-10/100."""
from .base import Row, Table

_MODELS = (("resnet", "ResNet164", {}), ("se", "SE", {"attn_kwargs": {"bias": True}}), ("dia", "DIA-LSTM", {}))

TABLE = Table(
    id="dia.table17",
    title="DIA Table XVII: top-1 accuracy (%) without data augmentation, ResNet164, CIFAR-10 and CIFAR-100",
    rows=tuple(Row(label=label if f == "resnet" else f"ResNet164 / {label}", family=f, backbone="resnet164",
                   depth=164, dataset=ds, recipe="dia_resnet", variant="no_augment", model_kwargs=kw, augment=False)
               for f, label, kw in _MODELS for ds in ("cifar10", "cifar100")),
    seeds=15,
    seeds_note="not printed; DIA's protocol is 15 repeats: 15",
    metric="test top-1 (%), mean over the seeds",
    decisions=("'without data augment': the training images get the test transform (normalisation only)",),
)
