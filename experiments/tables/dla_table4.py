"""DLA Table 4: recurrent cells inside DLA-L-110 on CIFAR-100."""
from .base import Row, Table

_CELLS = (("Original RNN", "rnn"), ("LSTM", "lstm"), ("DIA", "dia"), ("DSU", "dsu"))

TABLE = Table(
    id="dla.table4",
    title="DLA Table 4: top-1 accuracy (%) of DLA-L-110 with RNN, LSTM, DIA and DSU cells, CIFAR-100",
    rows=tuple(Row(label=label, family="dla_l", backbone="resnet110", depth=110, dataset="cifar100", recipe="cifar",
                   variant=f"cell={cell}", model_kwargs={} if cell == "dsu" else {"attn_kwargs": {"cell": cell}})
               for label, cell in _CELLS),
    seeds=5,
    seeds_note="'Each experiment was run five times' (Sec. 5.1)",
    metric="test top-1 (%), mean +- std over the seeds",
    decisions=("the caption says DLA-110, the section DLA-L: DLA-L (the DSU row equals Table 1's DLA-L-110)",
               "DSU row = DLA Table 1's DLA-L-110/CIFAR-100 runs (default cell, shared)"),
)
