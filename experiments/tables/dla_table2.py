"""DLA Table 2: ImageNet-1K accuracy with ResNet-50/101."""
from .base import Table, imagenet_rows

_LABELS = {"dia": "DIANet", "dla_l": "DLA-L (ours)"}
_R50 = ["resnet", "se", "cbam", "gc", "eca", "dia", "mrla_l", "dla_l"]
_R101 = ["resnet", "se", "cbam", "eca", "mrla_l", "dla_l"]

TABLE = Table(
    id="dla.table2",
    title="DLA Table 2: top-1/top-5 accuracy (%) on ImageNet-1K, ResNet-50/101",
    rows=imagenet_rows(_R50, (50,), "imagenet", labels=_LABELS) + imagenet_rows(_R101, (101,), "imagenet", labels=_LABELS),
    seeds=1,
    seeds_note="n and std not printed (baselines 'captured from their original papers'): 1 seed",
    metric="validation top-1 and top-5 (%)",
    not_run=("ResNet-50 / A^2, ResNet-50 and -101 / AA, ResNet-50 and -101 / RLAg: not implemented here",),
    decisions=("DIANet on ImageNet: DIA-LSTM with r=20 ('consistent with DIANet', Sec. 4.1; the family default "
               "on ImageNet backbones, so the run is shared with DIA Table VIII's ResNet-50 DIA-LSTM)",
               "DLA-L's DSU on ImageNet: r=16 as the released code (the paper says 20; family default)",
               "recipe 'imagenet'; multi-GPU runs (cluster profile 'imagenet' shape)"),
)
