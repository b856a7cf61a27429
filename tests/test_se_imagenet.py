"""ImageNet SE: the released MRLA/DLA code's bias-free SE for ELA/DLA Table 2, the SENet
paper's SE with biases (the zoo's ImageNet default) for DIA's ImageNet tables.

The released MRLA and DLA repositories' ImageNet SE-ResNet has no biases in its two SE
Linear layers: SE-ResNet-50 = 28,071,976 and SE-ResNet-101 = 49,292,328 parameters at
1000 classes (/work/shared/notes/official-code.md). With biases: 28,088,024 / 49,326,872.
Both round to the printed 28.1 / 49.3M, so only the exact counts tell the forms apart.
"""
import json

import pytest
import torch

from experiments.params import load_paper_params, params_report
from experiments.tables import get_table
from models import count_parameters, create_model

RELEASED = {50: 28_071_976, 101: 49_292_328}  # MRLA/DLA released ImageNet code, no SE biases
SENET = {50: 28_088_024, 101: 49_326_872}     # SENet paper's SE (biases): zoo default, DIA's rows


def _count(model: str, kwargs: dict, num_classes: int = 1000) -> int:
    with torch.device("meta"):
        return count_parameters(create_model(model, num_classes=num_classes, **kwargs))


def _se_rows(table_id: str):
    return [r for r in get_table(table_id).rows if r.family == "se"]


@pytest.mark.parametrize("table_id", ["ela.table2", "dla.table2"])
def test_ela_dla_table2_se_rows_build_the_released_bias_free_se(table_id):
    rows = _se_rows(table_id)
    assert sorted(r.depth for r in rows) == [50, 101]
    for r in rows:
        assert r.model == f"se_resnet{r.depth}_imagenet"
        assert dict(r.model_kwargs) == {"attn_kwargs": {"bias": False}}, r.label
        assert _count(r.model, dict(r.model_kwargs)) == RELEASED[r.depth], r.label
        with torch.device("meta"):
            net = create_model(r.model, num_classes=1000, **r.model_kwargs)
        fcs = [m for m in net.modules() if isinstance(m, torch.nn.Linear) and m.out_features != 1000]
        assert fcs and all(m.bias is None for m in fcs)


def test_ela_and_dla_table2_share_their_se_runs_but_not_dia_table8s():
    def hashes(table_id, depth):
        return {p.cfg.run_hash() for p in get_table(table_id).plan("full")
                if any(r.family == "se" and r.depth == depth for r in p.rows)}

    for d in (50, 101):
        assert hashes("ela.table2", d) == hashes("dla.table2", d)
    assert hashes("ela.table2", 50).isdisjoint(hashes("dia.table8", 50))


def test_zoo_imagenet_default_and_dia_imagenet_rows_keep_the_senet_biases():
    for d, n in SENET.items():
        assert _count(f"se_resnet{d}_imagenet", {}) == n
    # DIA Tables VIII (ImageNet) and XI (chest X-rays), Figure 2: no kwargs, the default form
    for table_id in ("dia.table8", "dia.table11", "dia.fig2"):
        rows = [r for r in _se_rows(table_id) if r.backbone.endswith("_imagenet")]
        assert rows, table_id
        for r in rows:
            assert dict(r.model_kwargs) == {}, (table_id, r.label)
    (r50,) = [r for r in _se_rows("dia.table8") if r.depth == 50]
    assert _count(r50.model, dict(r50.model_kwargs)) == SENET[50]


def test_params_csv_maps_ela_dla_table2_se_to_the_released_form():
    df = load_paper_params()
    se = df[(df.dataset == "imagenet") & df.model.str.startswith("se_")]
    assert sorted(zip(se.paper, se.table, se.row)) == sorted(
        (p, "table2", f"ResNet-{d} / SE") for p in ("ela", "dla") for d in (50, 101))
    for _, r in se.iterrows():
        d = 50 if "resnet50" in r.model else 101
        assert _count(r.model, json.loads(r.kwargs)) == RELEASED[d], (r.paper, r.row)
        assert "released MRLA/DLA ImageNet code" in r.note


@pytest.mark.parametrize("paper", ["ela", "dla"])
def test_params_report_prints_the_released_counts_and_says_so(paper):
    rep = params_report(paper, "table2", flops=False)
    se = rep[rep.row.str.endswith("/ SE")].set_index("row")
    assert se.loc["ResNet-50 / SE", "ours_params_m"] == "28.0720"
    assert se.loc["ResNet-101 / SE", "ours_params_m"] == "49.2923"
    assert (se.status == "ok").all()
    assert se.reason.str.contains("without biases as the released MRLA/DLA ImageNet code").all()
