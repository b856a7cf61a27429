"""DIA Table VIII: SAMs vs DIA-LSTM on ImageNet with ResNet18/34/50."""
from .base import Table, imagenet_rows
from .dia_table7 import FAMILIES

TABLE = Table(
    id="dia.table8",
    title="DIA Table VIII: top-1 accuracy (%) of SAMs and DIA-LSTM on ImageNet, ResNet18/34/50",
    rows=imagenet_rows(FAMILIES, (18, 34, 50), "imagenet", head="ResNet{d}"),
    seeds=15,
    seeds_note="n not printed; std (0.02-0.16) and t-tests printed; DIA's protocol is 15 repeats (Sec. III-A): 15 "
               "(use --seeds to afford fewer)",
    metric="validation top-1 (%), mean +- std; Student's t-test against DIA-LSTM",
    decisions=("recipe 'imagenet' (the paper gives none); multi-GPU runs (cluster profile 'imagenet' shape)",
               "DIA-LSTM r=20 on ImageNet (family default; shared with DLA Table 2's DIANet-50 run for seed 0)"),
)
