"""DLA Table 5: the function normalising the DSU cell state, DLA-L-56/110 on CIFAR-100."""
from .base import Row, Table

_NORMS = (("Identity mapping", "identity"), ("Tanh", "tanh"), ("ReLU", "relu"), ("Sigmoid", "sigmoid"))

TABLE = Table(
    id="dla.table5",
    title="DLA Table 5: top-1 accuracy (%) of DLA-L with identity/tanh/ReLU/sigmoid on c^(m-1), CIFAR-100",
    rows=tuple(Row(label=f"DLA-L-{d} / {label}", family="dla_l", backbone=f"resnet{d}", depth=d, dataset="cifar100",
                   recipe="cifar", variant=f"norm={norm}",
                   model_kwargs={} if norm == "sigmoid" else {"attn_kwargs": {"norm": norm}})
               for d in (56, 110) for label, norm in _NORMS),
    seeds=5,
    seeds_note="five runs per CIFAR experiment (Sec. 4.1) and per ablation (Sec. 5.1)",
    metric="test top-1 (%), mean +- std over the seeds",
    decisions=("Sigmoid rows = DLA Table 1's DLA-L/CIFAR-100 runs (the default DSU, shared; the printed numbers "
               "are identical)",),
)
