"""DLA Figure 4: test accuracy against depth on CIFAR-10/100."""
from .base import Table, cifar_rows

TABLE = Table(
    id="dla.fig4",
    title="DLA Figure 4: top-1 against depth (20/56/110) of ResNet, DIANet, MRLA-L and DLA-L, CIFAR-10/100",
    kind="figure",
    rows=cifar_rows(["resnet", "dia", "mrla_l", "dla_l"], (20, 56, 110), ("cifar10", "cifar100"), "cifar",
                    labels={"dia": "DIANet"}),
    seeds=5,
    seeds_note="the figure plots DLA Table 1's numbers (5 runs): the same runs",
    metric="test top-1 (%), mean +- std over the seeds",
    plots="top-1 against depth, one line per method, one panel per dataset",
    decisions=("methods: the four the text names for Figure 4 (ResNet, DIANet, MRLA-L, DLA-L); all runs are "
               "DLA Table 1's (shared)",),
)
