"""ELA Table 2: top-1/top-5 accuracy with ResNet-50/101 on ImageNet-1K."""
from .base import RELEASED_IMAGENET_SE, Table, imagenet_rows

_R50 = ["resnet", "se", "cbam", "gc", "eca", "mrla_l", "mrla_b", "ela"]
_R101 = ["resnet", "se", "cbam", "eca", "mrla_l", "ela"]
_KW = {"mrla_b": {"deep_stem": True},  # MRLA-B's ImageNet code uses a deep stem (official-code.md)
       "se": RELEASED_IMAGENET_SE}  # the MRLA/DLA code's bias-free ImageNet SE (official-code.md)

TABLE = Table(
    id="ela.table2",
    title="ELA Table 2: top-1/top-5 accuracy (%) with ResNet-50/101 on ImageNet-1K",
    rows=imagenet_rows(_R50, (50,), "imagenet", kwargs=_KW) + imagenet_rows(_R101, (101,), "imagenet", kwargs=_KW),
    seeds=1,
    seeds_note="n and std not printed; the baselines are the original papers' single runs: 1 seed",
    metric="validation top-1 and top-5 (%), final and best over epochs",
    not_run=("ResNet-50 / A^2 (A^2-Nets): not implemented here",
             "ResNet-50 / AA and ResNet-101 / AA (attention-augmented convolutions): not implemented here",
             "ResNet-50 / RLA and ResNet-101 / RLA (RLA-Net): not implemented here"),
    decisions=(
        "recipe 'imagenet' (MRLA's released code: 100 epochs, batch 256, lr 0.1, 3-epoch warm-up as its gen_lr: "
        "epoch 0 at 1e-4, epochs 1-2 at 0.1 e/3; x0.1 every 30, wd 1e-4, DropPath 0.2 on layer-attention branches)",
        "MRLA-L, MRLA-B and ELA start every bottleneck's bn3 at weight 0 as the released MRLA ImageNet code "
        "(zero_init_last_bn=True, the families' ImageNet default; not stated in the paper)",
        "ELA on ImageNet: the controller's ImageNet preset (Beta(2,5), mu 0.25, KL windows 1-3 and 51-53), "
        "MRLA-B's deep stem and 16 channels per head (family defaults)",
        "runs are multi-GPU (the cluster profile's 'imagenet' shape)",
        "SE as in the released MRLA/DLA ImageNet code: no biases in its two Linear layers (28,071,976 / "
        "49,292,328 parameters; the SENet paper's form with biases, the zoo's ImageNet default, has 28,088,024 / "
        "49,326,872; both print as 28.1 / 49.3M)",
    ),
)
