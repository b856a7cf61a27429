"""DIA Table XII: the reduction ratio r of DIA-LSTM, ResNet164 on CIFAR-100."""
from .base import Row, Table

TABLE = Table(
    id="dia.table12",
    title="DIA Table XII: top-1 accuracy (%) of DIA-LSTM-ResNet164 with r = 1, 4, 8, 16, CIFAR-100",
    rows=tuple(Row(label=f"r={r}", family="dia", backbone="resnet164", depth=164, dataset="cifar100",
                   recipe="dia_resnet", variant=f"r={r}",
                   model_kwargs={} if r == 4 else {"attn_kwargs": {"reduction": r}})
               for r in (1, 4, 8, 16)),
    seeds=15,
    seeds_note="not printed; the r=4 row (77.09) is Table IV's 15-seed mean: 15",
    metric="test top-1 (%), mean over the seeds",
    decisions=("r=4 is the default DIA-LSTM: those runs are DIA Table IV's ResNet164 DIA-LSTM runs (shared)",),
)
