"""DIA Figure 15: SRM shared by DIA with shared vs per-layer BatchNorm (ResNet164, CIFAR-100)."""
from .base import Row, Table

TABLE = Table(
    id="dia.fig15",
    title="DIA Figure 15: test accuracy over the first 50 epochs of SRM+DIA with shared vs unshared BN, "
          "ResNet164, CIFAR-100",
    kind="figure",
    rows=(
        Row(label="SRM with DIA, BN not shared", family="dia_srm", backbone="resnet164", depth=164,
            dataset="cifar100", recipe="dia_resnet", variant="share_bn=false"),
        Row(label="SRM with DIA, BN shared", family="dia_srm", backbone="resnet164", depth=164,
            dataset="cifar100", recipe="dia_resnet", variant="share_bn=true", model_kwargs={"share_bn": True}),
    ),
    seeds=1,
    seeds_note="training curves of single runs: 1 seed",
    metric="per-epoch test top-1 of epochs 1-50 (the record's epochs[])",
    plots="test top-1 against epoch for the first 50 epochs, shared vs unshared BN",
    decisions=("full-length runs with the usual recipe, of which the first 50 epochs are plotted (a 50-epoch run "
               "would compress the schedule); the unshared run is DIA Table III's SRM-with-DIA run (shared)",),
)
