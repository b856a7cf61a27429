"""DIA Table XI: pneumonia chest X-ray classification with ResNet50 trained from scratch."""
from .base import Table, imagenet_rows

TABLE = Table(
    id="dia.table11",
    title="DIA Table XI: accuracy (%) per class (Pneumonia, Normal) and overall on chest X-rays, ResNet50 from scratch",
    rows=imagenet_rows(("resnet", "se", "dia", "dia_light"), (50,), "chestxray", head="ResNet50",
                       labels={"se": "+SE", "dia": "+DIA-LSTM", "dia_light": "+DIA-LSTM (Light)"}, resources="default"),
    seeds=15,
    seeds_note="'mean classification accuracies over 15 repeated experiments'",
    metric="accuracy on the Pneumonia and Normal test images and overall (acc_pneumonia, acc_normal, acc_all)",
    decisions=("per-class accuracy is recorded every epoch (class folders NORMAL and PNEUMONIA); the table takes "
               "the best epoch by overall top-1, like every other table (which='final': the last epoch)",
               "the paper gives no recipe or preprocessing: the 'imagenet' recipe at 224x224, grey X-rays read as "
               "RGB; one GPU per run (5,216 training images)",),
)
