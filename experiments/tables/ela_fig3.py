"""ELA Figure 3: Score-CAM of six consecutive MRLA layers of ResNet-101 on ImageNet, with their KL values.

ELA Sec. 3.1 and Fig. 3 ("Visualization of feature maps from consecutive six attention
layers on ResNet-101. The values below each feature map represent the KL divergence of
the attention weights between the F_t and F_{t-1} layers"): Score-CAM (Wang et al. 2020)
maps of successive MRLA layers on ImageNet-1K images; where the KL divergence between two
layers' attention weights is small, their maps are nearly identical (redundant layers).

The full profile needs ImageNet-1K (the run trains on it; the figure reads validation
images); the smoke profile trains the same ResNet-101 on Fashion-MNIST and draws its
test images. Drawn by ``analysis.visual`` (``./reproduce.sh report``, analysis/ela.ipynb)
with Score-CAM from the pytorch-grad-cam package (PyPI ``grad-cam``).
"""
from .base import Table, imagenet_rows

#: the layers drawn: blocks FIRST_BLOCK .. FIRST_BLOCK + LAYERS - 1 (0-based) of stage STAGE (0-based)
STAGE = 2
FIRST_BLOCK = 1
LAYERS = 6

TABLE = Table(
    id="ela.fig3",
    title="ELA Figure 3: Score-CAM of six consecutive MRLA-B layers of ResNet-101 on ImageNet, with KL(F_{t-1}, F_t)",
    kind="figure",
    rows=imagenet_rows(["mrla_b"], (101,), "imagenet", kwargs={"mrla_b": {"deep_stem": True}}),
    seeds=1,
    seeds_note="a read-out of one trained network: 1 seed",
    metric="Score-CAM map of each block's output for the predicted class; KL divergence (Eq. 11) between the "
           "attention weights of each layer and the previous one",
    plots="one row per image: the image, then six Score-CAM maps of consecutive layers, the KL value under each",
    readouts=("Score-CAM (pytorch-grad-cam ScoreCAM) of the outputs of blocks 2-7 of stage 3 of the final "
              "checkpoint, target = the predicted class",
              "'layer_softmax' read-outs of the same images: KL(P_{t-1} || P_t), models.kl.layer_kl"),
    decisions=("'MRLA layers' read as MRLA-B: the KL of Eq. 11 needs a softmax over layers, which MRLA-L lacks; "
               "ELA Table 2 prints no MRLA-B-101, so this figure schedules its own run, with MRLA-B's ImageNet form "
               "as in ELA Table 2's MRLA-B-50 row (deep stem, 16 channels per head)",
               "which six layers the paper shows is not said: blocks 2-7 of stage 3 (the longest stage, 23 blocks; "
               "the first block has no KL); the feature map of a layer = the output of its block",
               "the CAM target is the predicted class of each image; the KL is the mean over the drawn images and "
               "heads (models.kl.layer_kl), under the later layer F_t as the caption prints it",
               "images: the first validation images (ImageNet) or test images (smoke: Fashion-MNIST) of a fixed "
               "subset, eval transform"),
)
