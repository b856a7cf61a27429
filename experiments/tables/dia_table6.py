"""DIA Table VI: SAMs vs DIA-LSTM on STL-10 with ResNet164 and WRN52-4."""
from .base import Table
from .dia_table4 import BACKBONES, rows

TABLE = Table(
    id="dia.table6",
    title="DIA Table VI: top-1 accuracy (%) of SAMs and DIA-LSTM on STL-10 (96x96), ResNet164 / WRN52-4",
    rows=rows("stl10", BACKBONES[:2]),
    seeds=15,
    seeds_note="n not printed; std and t-tests printed; DIA's protocol is 15 repeats (Sec. III-A): 15",
    metric="test top-1 (%), mean +- std; Student's t-test against DIA-LSTM",
    decisions=("training settings as CIFAR-100's (Sec. IV-A: ResNet164 'identical to Table III', WRN as DIANet)",
               "STL-10 at its native 96x96 with CIFAR's augmentation scaled (crop padding 12); the CIFAR networks' "
               "AvgPool head adapts (experiments/data.py)", "model settings as Table IV's (SE biases, WRN SE r=4)"),
)
