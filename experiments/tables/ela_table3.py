"""ELA Table 3: training time per epoch of MRLA-B, MRLA-L and ELA on ImageNet-1K."""
from .base import Table, imagenet_rows

TABLE = Table(
    id="ela.table3",
    title="ELA Table 3: training time per epoch (hours) of MRLA-B, MRLA-L and ELA, ResNet-50/101, ImageNet-1K",
    rows=imagenet_rows(["mrla_b", "mrla_l", "ela"], (50, 101), "imagenet", kwargs={"mrla_b": {"deep_stem": True}},
                       head="{d}"),
    seeds=1,
    seeds_note="a timing table (no std): 1 seed",
    metric="training time per epoch: mean of the record's epochs[].epoch_time_s (the paper prints hours)",
    decisions=(
        "the same runs as ELA Table 2 (identical settings, shared run folders) plus MRLA-B-101, which Table 2 "
        "does not print; ELA's time includes its KL-measurement epochs, as a real training does",
        "timings are only comparable on identical hardware: pin one GPU type (cluster profile 'constraint') and "
        "compare ratios to MRLA-B (the paper: -29.7% / -32.6% for ELA), not absolute hours (hardware not stated)",
    ),
)
