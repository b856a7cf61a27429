"""ELA Figure 2(a): layer-attention softmax scores of six adjacent layers of MRLA-B, ResNet-56, stage 2.

ELA Sec. 1 and Fig. 2(a) ("Visualization of attention scores with six adjacent layers in
layer attention for ResNet-56 (stage 2)", CIFAR-100 per the figure's caption): the
attention weights of consecutive MRLA-B layers (the 4th, 5th and 6th in the text) are
nearly identical and concentrate on one earlier layer, the redundancy ELA prunes.
Drawn by ``analysis.visual`` (``./reproduce.sh report``, analysis/ela.ipynb).
"""
from .base import Table, cifar_rows

#: the stage drawn, 0-based (the paper's "stage 2"); ResNet-56 has 6 blocks per stage
STAGE = 1

TABLE = Table(
    id="ela.fig2a",
    title="ELA Figure 2(a): layer-attention scores of MRLA-B ResNet-56 (stage 2) on CIFAR-100",
    kind="figure",
    rows=cifar_rows(["mrla_b"], (56,), ("cifar100",), "cifar"),
    seeds=1,
    seeds_note="a read-out of one trained network: 1 seed (seed 0 of ELA Figure 2(b)'s MRLA-B-56 run, shared)",
    metric="mean softmax weight of every MRLA-B layer of stage 2 over the earlier layers of the stage",
    plots="one heatmap: row = attending layer (1-6 of stage 2), column = the layer it retrieves from, "
          "mean over test images and heads",
    readouts=("'layer_softmax' read-outs of the final checkpoint on test images: net(x, return_attention=True)",),
    decisions=("the paper does not say at which epoch or on which images the scores are taken: the final "
               "checkpoint, mean over a fixed batch of test images (eval transform) and over heads",
               "'six adjacent layers' of ResNet-56 stage 2 = all 6 blocks of the stage (54 / 9 per stage)",
               "the run is the seed-0 MRLA-B-56 CIFAR-100 run of ELA Figure 2(b) and Figure 4 (same settings, "
               "same run hash): nothing extra is trained"),
)
