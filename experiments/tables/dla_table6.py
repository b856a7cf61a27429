"""DLA Table 6: recurrent cells in layer-wise information integration (LII, the DIANet arrangement)."""
from .base import Table, cifar_rows

TABLE = Table(
    id="dla.table6",
    title="DLA Table 6: top-1 accuracy (%) of LII with LSTM, DIA and DSU cells, ResNet-56/110, CIFAR-100",
    rows=cifar_rows(["resnet", "lii_lstm", "lii_dia", "lii_dsu"], (56, 110), ("cifar100",), "cifar",
                    labels={"resnet": "ResNet"}),
    seeds=5,
    seeds_note="five runs per CIFAR experiment (Sec. 4.1)",
    metric="test top-1 (%), mean +- std over the seeds",
    decisions=("LII (DIA) is DIANet (the paper prints Table 1's DIANet numbers); we train the lii_dia model as "
               "params.csv maps it, so these runs are not shared with Table 1's dia_* runs",
               "ResNet rows = DLA Table 1's ResNet/CIFAR-100 runs (shared)"),
)
