"""DIA Table IV: SAMs vs DIA-LSTM on CIFAR-100 with ResNet164, WRN52-4 and ResNeXt101 8x32d."""
from .base import LABELS, Row, Table

FAMILIES = ("resnet", "se", "eca", "cbam", "srm", "spa", "sem", "spem", "dia", "dia_light")
# backbone, depth, printed name, recipe, SE kwargs (from the published counts, results/paper/params.csv)
BACKBONES = (
    ("resnet164", 164, "ResNet164", "dia_resnet", {"attn_kwargs": {"bias": True}}),
    ("wrn52_4", 52, "WRN52-4", "dia_wrn", {"attn_kwargs": {"bias": True, "reduction": 4}}),
    ("resnext101_8x32d", 101, "ResNeXt101,8x32", "dia_resnext", {"attn_kwargs": {"reduction": 4}}),
)


def rows(dataset: str, backbones=BACKBONES):
    return tuple(Row(label=f"{name} / {LABELS[f]}", family=f, backbone=bb, depth=d, dataset=dataset, recipe=recipe,
                     model_kwargs=se_kw if f == "se" else {})
                 for bb, d, name, recipe, se_kw in backbones for f in FAMILIES)


TABLE = Table(
    id="dia.table4",
    title="DIA Table IV: top-1 accuracy (%) of SAMs and DIA-LSTM on CIFAR-100, ResNet164 / WRN52-4 / ResNeXt101 8x32d",
    rows=rows("cifar100"),
    seeds=15,
    seeds_note="n not printed; ResNet164 settings 'identical to Table III' (15 seeds, the ResNet164 rows repeat "
               "Table III's numbers); std and t-tests printed for WRN/ResNeXt too: 15 seeds for all",
    metric="test top-1 (%), mean +- std; Student's t-test against DIA-LSTM",
    decisions=("recipes: 'dia_resnet' (ResNet164), 'dia_wrn' (WRN52-4: 200 epochs, dropout 0.3), 'dia_resnext' "
               "(ResNeXt: milestones 150/225; 300 epochs is our reading)",
               "SE: biases on ResNet164 and WRN; r=4 on WRN and ResNeXt (inferred from the printed counts)"),
)
