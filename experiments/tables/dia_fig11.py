"""DIA Figure 11: random-forest Gini importance of earlier hidden states h_n for h_t, per stage of ResNet164.

DIA Sec. V ("feature integration", Fig. 11): for every stage of ResNet164 (3 stages of 18
blocks), a random forest takes h_n, 1 <= n < t, as inputs and h_t as output; its Gini
(impurity) importances of the inputs form row t. DIA-LSTM integrates information from many
earlier layers (e.g. h_5 matters most for h_17 in stage 1); SENet's importance sits on the
diagonal (the previous one or two layers).
Drawn by ``analysis.visual`` (``./reproduce.sh report``, analysis/dia.ipynb).
"""
from .base import Row, Table

TABLE = Table(
    id="dia.fig11",
    title="DIA Figure 11: Gini importance of h_1..h_{t-1} for h_t per stage, DIA-LSTM and SE on ResNet164/CIFAR-100",
    kind="figure",
    rows=(
        Row(label="ResNet164 / DIA-LSTM", family="dia", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet"),
        Row(label="ResNet164 / SE", family="se", backbone="resnet164", depth=164, dataset="cifar100",
            recipe="dia_resnet", model_kwargs={"attn_kwargs": {"bias": True}}),
    ),
    seeds=1,
    seeds_note="a read-out of trained networks: 1 seed (seed 0 of DIA Table IV's ResNet164 runs, shared)",
    metric="Gini importance of each source h_n (n < t) for the target h_t; each row sums to 1",
    plots="per model one row of three heatmaps (stages 1-3): row = target h_t, column = source h_n",
    readouts=("per-block channel attention vectors (DIA-LSTM's h_t, SE's excitation) of the final checkpoint on "
              "test images: net(x, return_attention=True)",),
    decisions=("one observation = one (image, channel) pair, the n-th input = h_n at that image and channel (the "
               "paper does not say how the vectors become samples); scikit-learn RandomForestRegressor, "
               "max_features=1.0, its impurity importances (normalised: each row sums to 1)",
               "CIFAR-100 (Sec. V: 'all experiments are performed on CIFAR100'); the runs are DIA Table IV's "
               "ResNet164 DIA-LSTM and SE runs (shared); SE's maps for the paper's contrast",
               "final checkpoint on a fixed batch of test images; at most 4,000 observations and 50 trees per "
               "forest (the paper gives no forest settings)"),
)
