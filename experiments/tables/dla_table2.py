"""DLA Table 2: ImageNet-1K accuracy with ResNet-50/101."""
from .base import RELEASED_IMAGENET_SE, Table, imagenet_rows

_LABELS = {"dia": "DIANet", "dla_l": "DLA-L (ours)"}
_R50 = ["resnet", "se", "cbam", "gc", "eca", "dia", "mrla_l", "dla_l"]
_R101 = ["resnet", "se", "cbam", "eca", "mrla_l", "dla_l"]
_KW = {"se": RELEASED_IMAGENET_SE}  # the MRLA/DLA code's bias-free ImageNet SE (official-code.md)

TABLE = Table(
    id="dla.table2",
    title="DLA Table 2: top-1/top-5 accuracy (%) on ImageNet-1K, ResNet-50/101",
    rows=imagenet_rows(_R50, (50,), "imagenet", labels=_LABELS, kwargs=_KW)
    + imagenet_rows(_R101, (101,), "imagenet", labels=_LABELS, kwargs=_KW),
    seeds=1,
    seeds_note="n and std not printed (baselines 'captured from their original papers'): 1 seed",
    metric="validation top-1 and top-5 (%)",
    not_run=("ResNet-50 / A^2, ResNet-50 and -101 / AA, ResNet-50 and -101 / RLAg: not implemented here",),
    decisions=("DIANet on ImageNet: DIA-LSTM with r=20 ('consistent with DIANet', Sec. 4.1; the family default "
               "on ImageNet backbones, so the run is shared with DIA Table VIII's ResNet-50 DIA-LSTM)",
               "DLA-L's DSU on ImageNet: r=16 as the released code (the paper says 20; family default)",
               "recipe 'imagenet' (the released gen_lr warm-up: epoch 0 at 1e-4, epochs 1-2 at 0.1 e/3); multi-GPU "
               "runs (cluster profile 'imagenet' shape)",
               "MRLA-L and DLA-L start every bottleneck's bn3 at weight 0 as the released ImageNet code "
               "(zero_init_last_bn=True, the families' ImageNet default; not stated in the paper)",
               "SE as in the released MRLA/DLA ImageNet code: no biases in its two Linear layers (28,071,976 / "
               "49,292,328 parameters; the SENet paper's form with biases, the zoo's ImageNet default, has "
               "28,088,024 / 49,326,872; both print as 28.1 / 49.3M; DIA Table VIII's SE keeps the biases)"),
)
