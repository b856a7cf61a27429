"""DLA Figure 2: stage-3 layer-attention scores of static (MRLA-B) and dynamic (DLA-B) layer attention, ResNet-56.

DLA Sec. 1 and Fig. 2 ("Visualization of attention scores from stage 3 of the ResNet-56
between static and the proposed dynamic layer attention on CIFAR-100 dataset"): with
static attention (a) each layer activates the keys of only one earlier layer; with the
DSU's dynamic context (b) the attention spreads over several layers.
Drawn by ``analysis.visual`` (``./reproduce.sh report``, analysis/dla.ipynb).
"""
from .base import Table, cifar_rows

#: the stage drawn, 0-based (the paper's "stage 3")
STAGE = 2

TABLE = Table(
    id="dla.fig2",
    title="DLA Figure 2: stage-3 layer-attention scores of MRLA-B and DLA-B, ResNet-56 on CIFAR-100",
    kind="figure",
    rows=cifar_rows(["mrla_b", "dla_b"], (56,), ("cifar100",), "cifar", labels={"dla_b": "DLA-B (ours)"}),
    seeds=1,
    seeds_note="a read-out of trained networks: 1 seed (seed 0)",
    metric="mean softmax weight of every layer of stage 3 over the earlier layers of the stage",
    plots="two heatmaps side by side, (a) static MRLA-B and (b) dynamic DLA-B: row = attending layer, column = the "
          "layer it retrieves from",
    readouts=("'layer_softmax' read-outs of the final checkpoints on test images: net(x, return_attention=True)",),
    decisions=("DLA Table 1 prints MRLA-B and DLA-B only at depth 20: this figure schedules its own DLA-B-56 "
               "CIFAR-100 run (recipe 'cifar', the DLA repository's); the MRLA-B-56 run is ELA Figure 2(b)'s "
               "(same settings, same run hash)",
               "'static' = MRLA-B (the figure's static layer attention is MRLA's; MRLA-L has no softmax over layers), "
               "'dynamic' = DLA-B, the softmax form of DLA",
               "final checkpoint, mean over a fixed batch of test images and over heads (the paper does not say)"),
)
