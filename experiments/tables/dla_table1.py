"""DLA Table 1: accuracy on CIFAR-10/100 with ResNet-20/56/110 (DLA-B, DLA-L and baselines)."""
from .base import Table, cifar_rows

_LABELS = {"dia": "DIANet", "dla_b": "DLA-B (ours)", "dla_l": "DLA-L (ours)"}
_ALL = ["resnet", "se", "eca", "dia", "mrla_b", "dla_b", "mrla_l", "dla_l"]
_DEEP = ["resnet", "se", "eca", "dia", "mrla_l", "dla_l"]  # no MRLA-B / DLA-B rows at 56 and 110

TABLE = Table(
    id="dla.table1",
    title="DLA Table 1: top-1 accuracy (%) on CIFAR-10 and CIFAR-100, CIFAR bottleneck ResNet-20/56/110",
    rows=cifar_rows(_ALL, (20,), ("cifar10", "cifar100"), "cifar", labels=_LABELS)
    + cifar_rows(_DEEP, (56, 110), ("cifar10", "cifar100"), "cifar", labels=_LABELS),
    seeds=5,
    seeds_note="'we conducted five runs of experiments' (Sec. 4.1)",
    metric="test top-1 (%), mean +- std over the seeds",
    decisions=("DIANet = DIA-LSTM, r=4; DLA uses the DSU as released (8C^2/r, r=4), which matches the printed counts",
               "recipe 'cifar' (the DLA repository's)"),
)
