"""DIA Figure 13: gradient distribution per stage of ResNet56 without skip connections."""
from .base import Row, Table

TABLE = Table(
    id="dia.fig13",
    title="DIA Figure 13: |gradient| at each stage output of ResNet56 without skip connections, with and without DIA",
    kind="figure",
    rows=(
        Row(label="ResNet56 w/o skip", family="resnet", backbone="resnet56", depth=56, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False}),
        Row(label="ResNet56 w/o skip / SE", family="se", backbone="resnet56", depth=56, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False, "attn_kwargs": {"bias": True}}),
        Row(label="ResNet56 w/o skip / DIA-LSTM", family="dia", backbone="resnet56", depth=56, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False}),
    ),
    seeds=1,
    seeds_note="a distribution read-out: 1 seed",
    metric="distribution of |dL/d(stage output)| per stage",
    plots="per stage, the distribution (mean, variance) of the absolute gradient at the stage's output tensor",
    readouts=("absolute gradients at the three stage outputs on training batches, from the checkpoint(s) of these "
              "runs (and at initialisation, which the seed reproduces)",),
    decisions=("CIFAR-100 (Sec. V: 'all experiments are performed on CIFAR100') and DIANet's recipe; the paper "
               "does not say when the gradients are taken: the analysis reads them at initialisation and after "
               "training; SE included as in Fig. 14's comparison",),
)
