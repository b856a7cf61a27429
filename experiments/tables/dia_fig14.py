"""DIA Figure 14: test accuracy and training loss of ResNet164 without skip connections."""
from .base import Row, Table

TABLE = Table(
    id="dia.fig14",
    title="DIA Figure 14: test accuracy and train loss curves of ResNet164 without skip connections "
          "(Org, SE, DIA-LSTM), CIFAR-100",
    kind="figure",
    rows=(
        Row(label="ResNet164 w/o skip", family="resnet", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False}),
        Row(label="ResNet164 w/o skip / SE", family="se", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False, "attn_kwargs": {"bias": True}}),
        Row(label="ResNet164 w/o skip / DIA-LSTM", family="dia", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet", variant="no_skip", model_kwargs={"skip": False}),
    ),
    seeds=1,
    seeds_note="training curves of single runs: 1 seed",
    metric="per-epoch test top-1 and train loss (the record's epochs[])",
    plots="test top-1 and train loss against epoch, one curve per model",
    decisions=("models: ResNet, SENet and DIA-LSTM, the ones the text compares ('various self-attention modules')",
               "recipe: DIANet's ('the training configuration described in [1]')"),
)
