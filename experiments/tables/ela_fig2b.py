"""ELA Figure 2(b): accuracy of layer-attention models against depth on CIFAR-100.

The caption: "Top1-accuracy comparison of MRLA-B, MRLA-L, ELANet (with ResNet as the
backbone) and ResNet at varying depths": four curves, ELA's included.
"""
from .base import Table, cifar_rows

TABLE = Table(
    id="ela.fig2b",
    title="ELA Figure 2(b): CIFAR-100 top-1 of ResNet, MRLA-B, MRLA-L and ELA against depth (20/56/110)",
    kind="figure",
    rows=cifar_rows(["resnet", "mrla_b", "mrla_l", "ela"], (20, 56, 110), ("cifar100",), "cifar"),
    seeds=5,
    seeds_note="ELA's CIFAR protocol (5 runs, Sec. 5.1)",
    metric="test top-1 (%), mean +- std over the seeds",
    plots="top-1 against depth, one line per method; the claim: MRLA-B falls behind, even below ResNet, as depth grows",
    decisions=("the figure prints no numbers or depths: depths 20/56/110 (ELA Table 1's) and the methods the caption "
               "names (MRLA-B, MRLA-L, ELANet and the ResNet baseline); ResNet, MRLA-L and ELA runs are shared with "
               "ELA Table 1 (same settings, same run hashes)",),
)
