"""DIA Figure 9: Grad-CAM of ResNet50, SENet and DIA-LSTM on chest X-rays, with the softmax score of the target.

DIA Sec. IV-D ("Capturing discriminative features", Fig. 9): Grad-CAM (Selvaraju et al.
2017) heatmaps of the class Pneumonia and the models' softmax scores for it, ResNet50,
SE-ResNet50 and DIA-LSTM-ResNet50 trained from scratch on the pneumonia chest X-ray set
of DIA Table XI; DIA-LSTM's maps cover the discriminative regions.

Data: the full profile needs the chest X-ray pneumonia dataset of DIA Table XI (5,863
images, class folders NORMAL and PNEUMONIA; ``experiments.data`` names its expected path);
the smoke profile trains on Fashion-MNIST and draws its test images, with each image's
own label as the target. Drawn by ``analysis.visual`` (``./reproduce.sh report``,
analysis/dia.ipynb) with Grad-CAM from the pytorch-grad-cam package (PyPI ``grad-cam``).
"""
from .base import Table, imagenet_rows

#: the class whose Grad-CAM and softmax score are drawn on the full profile (label order NORMAL, PNEUMONIA)
TARGET_CLASS = "PNEUMONIA"

TABLE = Table(
    id="dia.fig9",
    title="DIA Figure 9: Grad-CAM and softmax score of Pneumonia, ResNet50 / SENet / DIA-LSTM on chest X-rays",
    kind="figure",
    rows=imagenet_rows(("resnet", "se", "dia"), (50,), "chestxray", head="ResNet50",
                       labels={"se": "+SE", "dia": "+DIA-LSTM"}, resources="default"),
    seeds=1,
    seeds_note="a read-out of trained networks: 1 seed (seed 0 of DIA Table XI's runs, shared)",
    metric="Grad-CAM map of the target class at the last block of the last stage; the softmax score of the target",
    plots="one row per image: the X-ray, then one Grad-CAM overlay per model with its softmax score of the target",
    readouts=("Grad-CAM (pytorch-grad-cam GradCAM) at stages[-1].blocks[-1] (the ImageNet ResNet's layer4[-1]) of the "
              "final checkpoints, and softmax(net(x)) of the target class",),
    decisions=("the runs are DIA Table XI's ResNet50, SE and DIA-LSTM rows (shared); DIA-LSTM (Light) is not drawn "
               "(the figure shows three models)",
               "target: Pneumonia on pneumonia test images (the caption's class); the smoke profile (Fashion-MNIST) "
               "uses each image's true label",
               "Grad-CAM's layer: the last bottleneck block's output (the usual Grad-CAM layer of a ResNet; the paper "
               "does not name one); maps normalised to [0, 1] per image and resized to the input"),
)
