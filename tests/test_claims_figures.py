"""analysis/claims.py: the three figure claims read from a trained network's attention,
ELA Fig. 2(a) (``ela.redundant_attention``), DLA Fig. 2 (``dla.dynamic_attention``) and DIA
Fig. 2 (``dia.correlated_attention_maps``), each on hand-made read-outs with the verdict worked
out by hand, and once on the probes of real (untrained) networks.
"""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from analysis.claims import (CLAIMS, N1_AGREES, N1_DISAGREES, N1_VERDICT, correlation_figure_result,
                             dynamic_attention_result, evaluate_claims, peak_weight, redundant_attention_result,
                             redundant_streak)
from models import create_model

BY_ID = {c.id: c for c in CLAIMS}
NAN = np.nan


def attention(rows):
    """A stage's layer-attention matrix from its attending rows (row b retrieves from b + 1 layers)."""
    n = len(rows)
    m = np.full((n, n), NAN)
    for b, w in enumerate(rows):
        m[b, :len(w)] = w
    return m


# rows 1-5: the 2nd-6th layers. Layers 3, 4, 5 (rows 2-4) put >= 0.5 on layer 1 (column 1).
FOCUSED = attention([[1.0], [0.4, 0.6], [0.1, 0.8, 0.1], [0.1, 0.7, 0.1, 0.1], [0.0, 0.9, 0.05, 0.0, 0.05],
                     [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]])
# the same layers spread out: no layer gives 0.5 to one layer after row 1
SPREAD = attention([[1.0], [0.4, 0.6], [0.3, 0.4, 0.3], [0.25, 0.25, 0.25, 0.25], [0.2, 0.2, 0.2, 0.2, 0.2],
                    [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]])


def test_redundant_streak_by_hand():
    # row 1 peaks on column 1 (0.6), rows 2-4 too: four consecutive layers on layer 1
    assert redundant_streak(FOCUSED) == 4
    assert redundant_streak(FOCUSED, peak=0.65) == 3  # row 1 (0.6) drops out: rows 2, 3, 4
    assert redundant_streak(SPREAD) == 1  # row 1 alone
    # row 0 retrieves from one layer only: never counted, whatever its weight
    assert redundant_streak(attention([[1.0], [0.2, 0.8], [0.2, 0.3, 0.5]])) == 1  # argmax 1, then 2
    # the same column but a weak row in between breaks the run
    gap = attention([[1.0], [0.1, 0.9], [0.1, 0.8, 0.1], [0.3, 0.4, 0.2, 0.1], [0.1, 0.7, 0.1, 0.1, 0.0]])
    assert redundant_streak(gap) == 2


def test_redundant_attention_result_single_and_several_checkpoints():
    got = redundant_attention_result({"mrla_b": [{0: SPREAD, 1: FOCUSED, 2: SPREAD}]}, stage=1)
    assert got["result"] == N1_AGREES and "stage 2: 4" in got["detail"] and "the paper's 3" in got["detail"]
    assert redundant_attention_result({"mrla_b": [{1: SPREAD}]}, stage=1)["result"] == N1_DISAGREES
    two = redundant_attention_result({"mrla_b": [{1: FOCUSED}, {1: SPREAD}]}, stage=1)
    assert two["result"] == "not supported" and two["detail"].startswith("1 of 2 checkpoints have 3 or more")
    assert redundant_attention_result({"mrla_b": [{1: FOCUSED}, {1: FOCUSED}]}, stage=1)["result"] == "supported"
    # a smoke stand-in without the figure's stage: its last stage, as the figure draws it
    assert "stage 1: 4" in redundant_attention_result({"mrla_b": [{0: FOCUSED}]}, stage=1)["detail"]
    assert redundant_attention_result({"dla_b": [{1: FOCUSED}]})["result"] == "not yet run"


def test_peak_weight_by_hand():
    # rows 1-5 of FOCUSED: 0.6, 0.8, 0.7, 0.9, 0.2 -> mean 0.64; SPREAD: 0.6, 0.4, 0.25, 0.2, 0.2 -> 0.33
    assert peak_weight(FOCUSED) == pytest.approx(0.64)
    assert peak_weight(SPREAD) == pytest.approx(0.33)
    assert math.isnan(peak_weight(attention([[1.0]])))


def test_dynamic_attention_result_direction_and_welch():
    got = dynamic_attention_result({"mrla_b": [{2: FOCUSED}], "dla_b": [{2: SPREAD}]}, stage=2)
    assert got["result"] == N1_AGREES
    assert got["detail"].endswith("stage 3: mrla_b 0.640 vs dla_b 0.330")
    assert dynamic_attention_result({"mrla_b": [{2: SPREAD}], "dla_b": [{2: FOCUSED}]})["result"] == N1_DISAGREES
    assert dynamic_attention_result({"mrla_b": [{2: FOCUSED}]})["result"] == "not yet run"
    # three checkpoints each: every weight of rows 1-5 shifted by e; mean peak 0.64 + e vs 0.33 + e
    def shifted(m, e):
        out = m.copy()
        out[1:] += e
        return {2: out}

    es = (0.0, 0.02, -0.02)
    mrla, dla = [shifted(FOCUSED, e) for e in es], [shifted(SPREAD, e) for e in es]
    got = dynamic_attention_result({"mrla_b": mrla, "dla_b": dla})
    t = 0.31 / math.sqrt(2 * 0.02 ** 2 / 3)  # equal variances: Welch's df = 4
    assert got["result"] == "supported" and f"p {2 * sps.t.sf(t, 4):.3g}" in got["detail"]
    assert dynamic_attention_result({"mrla_b": dla, "dla_b": mrla})["result"] == "not supported"


def corr_frame(means: dict[int, float], spread: float = 0.0) -> pd.DataFrame:
    """Per stage two block pairs x two images whose r average to ``means[stage]``."""
    rows = []
    for s, m in means.items():
        for i, j, d in ((0, 1, spread), (0, 2, -spread)):
            rows += [{"stage": s, "i": i, "j": j, "sample": k, "r": m + d} for k in range(2)]
    return pd.DataFrame(rows)


def test_correlation_figure_result_direction_and_t_test():
    se, eca = corr_frame({0: 0.9, 1: 0.88}, 0.05), corr_frame({0: 0.92, 1: 0.86})
    got = correlation_figure_result({"se": [se], "eca": [eca]})
    assert got["result"] == N1_AGREES
    assert "eca stage 1: 0.920; eca stage 2: 0.860; se stage 1: 0.900; se stage 2: 0.880" in got["detail"]
    low = correlation_figure_result({"se": [se], "eca": [corr_frame({0: 0.92, 1: 0.84})]})
    assert low["result"] == N1_DISAGREES  # one stage of one family at 0.84
    assert correlation_figure_result({"se": [se]}) == {"result": "not yet run",
                                                      "detail": "needs attention correlations of eca"}
    # three checkpoints per family: stage means 0.9 + (0, 0.01, -0.01): t = 0.05 / (0.01 / sqrt 3), df 2
    three = {f: [corr_frame({0: 0.9 + e, 1: 0.9 + e}) for e in (0.0, 0.01, -0.01)] for f in ("se", "eca")}
    got = correlation_figure_result(three)
    p = sps.t.sf(0.05 / (0.01 / math.sqrt(3)), 2)
    assert got["result"] == "supported" and f"max p {4 * p:.3g}" in got["detail"]  # Holm over 4 equal p
    near = {f: [corr_frame({0: 0.855 + e}) for e in (0.0, 0.01, -0.01)] for f in ("se", "eca")}
    assert correlation_figure_result(near)["result"] == "not supported"  # t = 0.87: not significant


def test_the_three_claims_take_their_results_and_the_evidence_names_them():
    from analysis.figures import figure_claim_evidence

    extra = {"ela.redundant_attention": redundant_attention_result({"mrla_b": [{1: FOCUSED}]}),
             "dla.dynamic_attention": dynamic_attention_result({"mrla_b": [{2: FOCUSED}], "dla_b": [{2: SPREAD}]}),
             "dia.correlated_attention_maps": correlation_figure_result({"se": [corr_frame({0: 0.9})],
                                                                         "eca": [corr_frame({0: 0.9})]})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary, _ = evaluate_claims(None, None, claims=[BY_ID[k] for k in extra], extra=extra)
    assert summary.set_index("claim").loc[list(extra), "verdict"].tolist() == [N1_VERDICT] * 3
    none = figure_claim_evidence(None)
    assert none["ela.redundant_attention"] == {"result": "not yet run",
                                               "detail": "needs layer-attention scores of mrla_b"}
    assert none["dla.dynamic_attention"]["result"] == none["dia.correlated_attention_maps"]["result"] == "not yet run"


def test_the_results_from_the_probes_of_real_networks():
    """The read-outs the report hands over, from untrained CIFAR networks: one result each, and
    the numbers in the detail are the read-out's own."""
    from analysis.probes import attention_correlations, layer_attention_scores

    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    scores = {}
    for family in ("mrla_b", "dla_b"):
        model = create_model(f"{family}_resnet20", num_classes=100).eval()
        scores[family] = [layer_attention_scores(model, x)]
    got = dynamic_attention_result(scores, stage=2)
    mrla, dla = (peak_weight(scores[f][0][2]) for f in ("mrla_b", "dla_b"))
    assert got["result"] == (N1_AGREES if mrla > dla else N1_DISAGREES)
    assert got["detail"].endswith(f"stage 3: mrla_b {mrla:.3f} vs dla_b {dla:.3f}")
    streak = redundant_streak(scores["mrla_b"][0][1])
    assert f"stage 2: {streak}" in redundant_attention_result(scores, stage=1)["detail"]
    corrs = {f: [attention_correlations(create_model(f"{f}_resnet20", num_classes=100).eval(), x)]
             for f in ("se", "eca")}
    got = correlation_figure_result(corrs)
    assert got["result"] in (N1_AGREES, N1_DISAGREES)
    assert f"se stage 1: {corrs['se'][0].query('stage == 0')['r'].mean():.3f}" in got["detail"]


def test_smoke_checkpoints_give_no_verdict_but_keep_their_numbers(monkeypatch):
    """The report's figure claims from smoke checkpoints: "not yet run" like the accuracy claims'
    smoke runs, the read-out's numbers kept in the detail; full-scale checkpoints give the result."""
    import analysis.figures as F

    made = {"layer_attention_scores": {"mrla_b": {1: FOCUSED, 2: FOCUSED}, "dla_b": {1: SPREAD, 2: SPREAD}},
            "attention_correlations": {"se": corr_frame({0: 0.9}), "eca": corr_frame({0: 0.9})}}

    def fake(smoke):
        def from_runs(runs, models, variant, depth, dataset, data_root, n, name, **kwargs):
            (m,) = models
            got = made.get(name, {}).get(m)
            return ({f"{m}-{depth}": got} if got is not None else {}), [], smoke
        return from_runs

    monkeypatch.setattr(F, "_from_runs", fake(True))
    smoke = F.figure_claim_evidence(None)
    monkeypatch.setattr(F, "_from_runs", fake(False))
    full = F.figure_claim_evidence(None)
    for claim in ("ela.redundant_attention", "dla.dynamic_attention", "dia.correlated_attention_maps"):
        assert full[claim]["result"] == N1_AGREES
        assert smoke[claim] == {"result": "not yet run",
                                "detail": f"smoke runs only (not comparable): {full[claim]['detail']}"}
    # no read-out at all: the reason is kept, not turned into a smoke note
    assert smoke["dia.gini_se_local_dia_spread"] == {"result": "not yet run",
                                                     "detail": "needs Gini matrices of dia and se"}
