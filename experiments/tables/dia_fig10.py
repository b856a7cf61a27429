"""DIA Figure 10: accuracy with SAMs in k of the 18 blocks of each ResNet164 stage, with and without DIA."""
from .base import Row, Table

_SE = {"bias": True}
COUNTS = (3, 6, 9, 12, 15, 18)


def _rows():
    yield Row(label="k=0 (ResNet164)", family="resnet", backbone="resnet164", depth=164, dataset="cifar100",
              recipe="dia_resnet")
    for k in COUNTS:
        for fam, tag in (("se", "SE"), ("dia_se", "SE with DIA")):
            kw = {"attn_kwargs": dict(_SE)} if k == 18 else {"attn_kwargs": dict(_SE), "attn_blocks": k}
            yield Row(label=f"k={k} / {tag}", family=fam, backbone="resnet164", depth=164, dataset="cifar100",
                      recipe="dia_resnet", variant=f"blocks={k}", model_kwargs=kw)


TABLE = Table(
    id="dia.fig10",
    title="DIA Figure 10: CIFAR-100 top-1 of ResNet164 with SE in k of 18 blocks per stage, with and without DIA",
    kind="figure",
    rows=tuple(_rows()),
    seeds=15,
    seeds_note="accuracy points of a Sec. V ablation: DIA's 15-seed protocol",
    metric="test top-1 (%), mean +- std over the seeds",
    plots="top-1 against k (blocks with a SAM per stage), SE alone vs SE shared by DIA",
    decisions=("k in {0, 3, 6, 9, 12, 15, 18} (the figure's exact grid is not printed); the first k blocks of each "
               "stage carry the SAM (models' attn_blocks, pick 'first'); k=0 is the plain ResNet164 and k=18 the "
               "full SE / DIA-SE runs of DIA Tables III/IV (shared)",),
)
