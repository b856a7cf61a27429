"""DIA Figure 2: correlation of attention maps across layers (SE, ECA; ResNet164/CIFAR-100, ResNet50/ImageNet)."""
from .base import Row, Table

TABLE = Table(
    id="dia.fig2",
    title="DIA Figure 2: Pearson correlation of SE/ECA attention maps between blocks of a stage, "
          "ResNet164 on CIFAR-100 and ResNet50 on ImageNet",
    kind="figure",
    rows=(
        Row(label="ResNet164 / SE", family="se", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet", model_kwargs={"attn_kwargs": {"bias": True}}),
        Row(label="ResNet164 / ECA", family="eca", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet"),
        Row(label="ResNet50 / SE", family="se", backbone="resnet50_imagenet", depth=50, dataset="imagenet",
            recipe="imagenet", resources="imagenet"),
        Row(label="ResNet50 / ECA", family="eca", backbone="resnet50_imagenet", depth=50, dataset="imagenet",
            recipe="imagenet", resources="imagenet"),
    ),
    seeds=1,
    seeds_note="a read-out of trained networks: 1 seed (seed 0 of DIA Tables IV and VIII, shared)",
    metric="Pearson correlation coefficients between attention maps of block pairs of one stage",
    plots="(a, b) attention values of two sampled blocks of the first and last stage against each other, per input; "
          "(c) distribution of the Pearson coefficient over inputs for block pairs",
    readouts=("per-block channel attention maps on test images from the final checkpoint: "
              "create_model(...) then net(x, return_attention=True)",),
    decisions=("trained networks (the paper does not say at which epoch: the final checkpoint); the runs are the "
               "SE/ECA runs of DIA Table IV (ResNet164) and Table VIII (ResNet50)",),
)
