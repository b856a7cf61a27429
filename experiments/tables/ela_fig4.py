"""ELA Figure 4: training time per epoch of MRLA-B, MRLA-L and ELA on CIFAR-10/100."""
from .base import Table, cifar_rows

TABLE = Table(
    id="ela.fig4",
    title="ELA Figure 4: per-epoch training time (s) of MRLA-B, MRLA-L and ELA at depths 20/56/110, CIFAR-10/100",
    kind="figure",
    rows=cifar_rows(["mrla_b", "mrla_l", "ela"], (20, 56, 110), ("cifar10", "cifar100"), "cifar"),
    seeds=1,
    seeds_note="a timing figure: 1 seed (seed 0, shared with ELA Table 1's runs)",
    metric="training time per epoch: mean of the record's epochs[].epoch_time_s",
    plots="seconds per epoch against depth, one bar group per depth and method, one panel per dataset; the claim: "
          "MRLA-L -10-15%, ELA -30-35% vs MRLA-B",
    decisions=("depths 20/56/110 (ELA Table 1's; the figure prints none)",
               "timings only comparable on identical hardware: run the table on one GPU type"),
)
