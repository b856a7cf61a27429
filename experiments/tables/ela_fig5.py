"""ELA Figure 5 (Appendix B): feature maps of pruned attention layers before and after their removal.

ELA Appendix B, Fig. 5: "a comparison of the feature maps before and after the removal of
redundant attention layers. The l-th and l+1-th layers represent the attention layers
identified for removal"; removing the MRLA layer while keeping the ResNet block changes
the features, in some layers towards more precise ones.

The full profile needs ImageNet-1K; the smoke profile trains the same network on
Fashion-MNIST. Drawn by ``analysis.visual`` (``./reproduce.sh report``,
analysis/ela.ipynb) with Score-CAM from the pytorch-grad-cam package (PyPI ``grad-cam``).
"""
from .base import Table, imagenet_rows

#: consecutive pruned layer pairs (l, l+1) drawn, at most
PAIRS = 2

TABLE = Table(
    id="ela.fig5",
    title="ELA Figure 5: Score-CAM of the l-th and (l+1)-th ELA layers of ResNet-101 on ImageNet, with the "
          "attention layer kept (before) and removed (after)",
    kind="figure",
    rows=imagenet_rows(["ela"], (101,), "imagenet"),
    seeds=1,
    seeds_note="a read-out of one trained network: 1 seed (seed 0 of ELA Table 2's ELA-101 run, shared)",
    metric="Score-CAM map of the outputs of the blocks whose attention layers ELA pruned, with the layers "
           "unpruned and pruned",
    plots="per image two rows, 'before' (attention layers active) and 'after' (pruned, as trained), one column per "
          "pruned layer of the drawn pairs",
    readouts=("Score-CAM (pytorch-grad-cam ScoreCAM) of the pruned blocks' outputs of the final checkpoint, target = "
              "the predicted class of the pruned network; 'before' = the same weights with every pruned flag "
              "cleared (models.ela.ela_layers)",),
    decisions=("the paper names neither network nor dataset for Fig. 5: ResNet-101 on ImageNet as Fig. 3, whose "
               "redundant layers it continues; the run is ELA Table 2's ELA-101 (shared)",
               "'before removal' = the trained ELA network with its pruned attention layers switched back on (their "
               "weights as they were when pruned), 'after' = the network as trained (layers skipped, backbone blocks "
               "kept): one set of weights, so the difference is the attention layers' alone",
               "which pair (l, l+1) is not said: the first pairs of consecutive pruned layers of a stage in network "
               "order (at most 2 pairs); without such a pair, the first pruned layers singly"),
)
