"""DIA Table VII: SAMs vs DIA-LSTM on miniImageNet with ResNet18/34/50."""
from .base import Table, imagenet_rows

FAMILIES = ("resnet", "se", "eca", "cbam", "srm", "spa", "dia", "dia_light")

TABLE = Table(
    id="dia.table7",
    title="DIA Table VII: top-1 accuracy (%) of SAMs and DIA-LSTM on miniImageNet (100 classes, 224x224), "
          "ResNet18/34/50",
    rows=imagenet_rows(FAMILIES, (18, 34, 50), "miniimagenet", head="ResNet{d}", resources="default"),
    seeds=15,
    seeds_note="n not printed; std and t-tests printed; DIA's protocol is 15 repeats (Sec. III-A): 15",
    metric="validation top-1 (%), mean +- std; Student's t-test against DIA-LSTM",
    decisions=("the paper gives no miniImageNet recipe: the 'imagenet' recipe (100 epochs, batch 256, warm-up, x0.1 "
               "every 30) at 224x224 as its Table V lists; one GPU per run (50k images)",
               "DIA-LSTM on ImageNet backbones: r=20 (family default, as DIANet's ImageNet model)"),
)
