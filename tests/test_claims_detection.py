"""analysis/claims.py: the object-detection claims (ELA Table 5, DLA Table 3, DIA Table X) on
hand-made COCO detection records.

The records are written as the detection engine writes them (``config.detector``, the row's planned
ImageNet run in ``config.pretrained``, COCO metrics under ``final``/``best`` as ``bbox``/``segm``).
Every expected number is worked out here: two arms of three seeds at mean + (0, 0.1, -0.1) have
variance 0.01 each, so Welch's t = d / sqrt(2 * 0.01 / 3) on 4 df; only the t tail comes from scipy.
"""
import json
import math
import warnings
from pathlib import Path

import pytest
from scipy import stats as sps

from analysis.claims import CLAIMS, N1_AGREES, N1_DISAGREES, N1_VERDICT, evaluate_claims
from analysis.compare import implemented
from analysis.records import DETECTION_METRICS, load_paper, load_records, parse_variant
from test_analysis import write_record

BY_ID = {c.id: c for c in CLAIMS}
DETECTION = [c for c in CLAIMS if c.contexts and c.contexts[0].dataset == "coco"]
SPREAD = (0.0, 0.1, -0.1)
RECIPE = {"ela.table5": "mmdet_1x", "dla.table3": "mmdet_1x_b8", "dia.table10": "mmdet_1x"}
R50, R101 = "COCO 2017, ResNet-50", "COCO 2017, ResNet-101"
COCO_OFFSETS = {"AP": 0.0, "AP50": 20.0, "AP75": 4.0, "APS": -16.0, "APM": 4.0, "APL": 12.0}


def detection_record(root: Path, table: str, model: str, detector: str, seed: int, box_ap: float,
                     mask_ap: float | None = None) -> Path:
    """One COCO record of ``table``'s row (model, detector): best AP = ``box_ap`` (AP75 = AP + 4),
    final 0.2 below; ``segm`` with ``mask_ap`` for Mask R-CNN."""
    from experiments.tables import get_table

    d = write_record(root / table / detector, model, "coco", seed, None, recipe=RECIPE[table])
    rec = json.loads((d / "record.json").read_text())
    (row,) = [r for r in get_table(table).rows if r.model == model and r.detector == detector]
    rec["config"]["detector"] = detector
    rec["config"]["pretrained"] = row.config("full", 0).pretrained
    rec["run_name"] += f"-{detector}"
    rec["run_hash"] += f"-{detector}"

    aps = {"bbox": box_ap, "segm": mask_ap}
    for which, drop in (("final", 0.2), ("best", 0.0)):  # COCOeval's keys, AP offset per key
        rec[which] = {task: {k: ap - drop + o for k, o in COCO_OFFSETS.items()}
                      for task, ap in aps.items() if ap is not None}
    rec["best"]["epoch"] = 11
    rec["status"] = "done"
    (d / "record.json").write_text(json.dumps(rec))
    return d


def seeds(root, table, model, detector, box, mask=None, spread=SPREAD):
    for s, dv in enumerate(spread):
        detection_record(root, table, model, detector, s, box + dv, None if mask is None else mask + dv)


def evaluate(root, *ids, paper=None, which="best"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load_records(root)
        summary, evidence = evaluate_claims(runs, paper, claims=[BY_ID[i] for i in ids], which=which)
    return summary.set_index("claim"), evidence


def one(evidence, claim, context, other):
    sel = evidence[(evidence["claim"] == claim) & (evidence["context"] == context)
                   & (evidence["other"].str.split(" ").str[0] == other)]
    assert len(sel) == 1, (claim, context, other, len(sel))
    return sel.iloc[0]


def welch_p(d, n=3, var=0.01):
    return 2 * sps.t.sf(abs(d) / math.sqrt(2 * var / n), 2 * (n - 1))


# --------------------------------------------------------------------------- the registry
def test_detection_claims_per_paper_and_what_they_rest_on():
    assert {p: sum(c.paper == p for c in DETECTION) for p in ("ela", "dla", "dia")} == {"ela": 5, "dla": 6, "dia": 3}
    assert all(c.id.split(".")[1].startswith("det_") for c in DETECTION)
    paper = load_paper()
    for c in DETECTION:
        assert c.kind == "better" and c.metric in DETECTION_METRICS and c.tables, c.id
        assert {x.backbone for x in c.contexts} == {"resnet_imagenet"}
        for a, b in c.pairs:  # one detector per claim, every arm a model this repository builds
            assert parse_variant(a.variant) == parse_variant(b.variant) and "detector" in parse_variant(a.variant)
            assert implemented(a.model) and implemented(b.model), (c.id, a, b)
    # every comparison names two printed cells of its table, and the paper's numbers point the claimed way
    _, ev = evaluate_claims(None, paper, claims=DETECTION)
    assert (ev["paper_subject"] != "—").all() and (ev["paper_other"] != "—").all()
    assert (ev["paper_delta"] > 0).all()
    assert len(ev) == 6 + 2 + 8 + 2 + 10 + 6 + 1 + 2 + 8 + 2 + 10 + 2 + 6 + 10


def test_the_texts_numbers_are_the_tables_differences():
    """ELA 4.2: +2.8 over SE, +2.5 over ECA (Faster R-50), +0.1 over MRLA-L (R-101), +0.2 (Mask R-50);
    DLA 4.2: +4.2 / +3.6 over ResNet, +2.9 and +3.3 AP75 over SE-50, +0.2 / +0.3 over MRLA-L;
    DIA IV-C: +2.6 / +2.7 over the backbone with Faster R-CNN."""
    _, ev = evaluate_claims(None, load_paper(), claims=DETECTION)
    d = lambda claim, ctx, other: one(ev, claim, ctx, other)["paper_delta"]  # noqa: E731
    assert d("ela.det_faster_beats_baselines", R50, "se") == pytest.approx(2.8)
    assert d("ela.det_faster_beats_baselines", R50, "eca") == pytest.approx(2.5)
    assert d("ela.det_faster_beats_mrla_l", R101, "mrla_l") == pytest.approx(0.1)
    assert d("ela.det_mask_beats_mrla_l", R50, "mrla_l") == pytest.approx(0.2)
    assert d("ela.det_mask_ap", R50, "mrla_l") == pytest.approx(37.3 - 37.1)   # mask AP, not box AP
    assert d("dla.det_faster_beats_baselines", R50, "resnet") == pytest.approx(4.2)
    assert d("dla.det_faster_beats_baselines", R101, "resnet") == pytest.approx(3.6)
    assert d("dla.det_faster_beats_baselines", R50, "se") == pytest.approx(2.9)
    assert d("dla.det_faster_ap75_over_se", R50, "se") == pytest.approx(3.3)       # 44.2 vs 40.9 (AP75)
    assert d("dla.det_faster_beats_mrla_l", R50, "mrla_l") == pytest.approx(0.2)
    assert d("dla.det_faster_beats_mrla_l", R101, "mrla_l") == pytest.approx(0.3)
    assert d("dla.det_mask_ap", R50, "gc") == pytest.approx(37.2 - 36.2)           # DLA's GC row, not ELA's
    assert d("dia.det_faster_beats_backbone", R50, "resnet") == pytest.approx(2.6)
    assert d("dia.det_faster_beats_backbone", R101, "resnet") == pytest.approx(2.7)
    assert d("dia.det_retinanet_beats_all", R101, "dia_light") == pytest.approx(0.4)


# --------------------------------------------------------------------------- verdicts on hand-made runs
def test_supported_with_three_seeds_per_arm(tmp_path):
    """DIA Table X, Faster R-CNN R-50: DIA-LSTM 39.1 vs ResNet 36.5, three seeds each: d = 2.6, Welch
    t = 2.6 / 0.0816 = 31.8 on 4 df; the R-101 comparison has no runs, so Holm's m is 1."""
    seeds(tmp_path, "dia.table10", "dia_resnet50_imagenet", "faster_rcnn", 39.1)
    seeds(tmp_path, "dia.table10", "resnet50_imagenet", "faster_rcnn", 36.5)
    summary, ev = evaluate(tmp_path, "dia.det_faster_beats_backbone")
    r = one(ev, "dia.det_faster_beats_backbone", R50, "resnet")
    assert (r["n_subject"], r["n_other"]) == (3, 3)
    assert r["delta"] == pytest.approx(2.6) and r["p"] == pytest.approx(welch_p(2.6), rel=1e-9)
    assert r["p_holm"] == pytest.approx(welch_p(2.6), rel=1e-9) and r["result"] == "supported"
    assert r["ours_subject"] == "39.10 ± 0.10 (n=3)"
    assert one(ev, "dia.det_faster_beats_backbone", R101, "resnet")["result"] == "not yet run"
    s = summary.loc["dia.det_faster_beats_backbone"]
    assert s["verdict"] == "supported" and (s["run"], s["supporting"]) == (1, 1)
    assert s["scope"] == f"Tested: {R50}. Not yet run: {R101}."
    # the final evaluation (0.2 below best in every run) gives the same difference
    _, fin = evaluate(tmp_path, "dia.det_faster_beats_backbone", which="final")
    assert one(fin, "dia.det_faster_beats_backbone", R50, "resnet")["ours_subject"] == "38.90 ± 0.10 (n=3)"
    # the RetinaNet claim does not count Faster R-CNN runs
    assert summary.shape[0] == 1
    s2, _ = evaluate(tmp_path, "dia.det_retinanet_beats_all")
    assert s2.loc["dia.det_retinanet_beats_all", "verdict"] == "not yet run"


def test_box_and_mask_ap_read_separately_and_not_supported(tmp_path):
    """ELA Table 5, Mask R-CNN R-50, three seeds each: ELA box 42.0 vs MRLA-L 41.2 (d = 0.8, supported) but
    mask 37.0 vs 37.4 (d = -0.4, t = -4.90 on 4 df, p ~ 0.008: significantly behind, not supported).
    Faster R-CNN R-50: ELA 40.5 vs MRLA-L 40.4 (d = 0.1, t = 1.22, p ~ 0.29: not significant)."""
    seeds(tmp_path, "ela.table5", "ela_resnet50_imagenet", "mask_rcnn", 42.0, 37.0)
    seeds(tmp_path, "ela.table5", "mrla_l_resnet50_imagenet", "mask_rcnn", 41.2, 37.4)
    seeds(tmp_path, "ela.table5", "ela_resnet50_imagenet", "faster_rcnn", 40.5)
    seeds(tmp_path, "ela.table5", "mrla_l_resnet50_imagenet", "faster_rcnn", 40.4)
    ids = ("ela.det_mask_beats_mrla_l", "ela.det_mask_ap", "ela.det_faster_beats_mrla_l")
    summary, ev = evaluate(tmp_path, *ids, paper=load_paper())
    box = one(ev, "ela.det_mask_beats_mrla_l", R50, "mrla_l")
    assert box["delta"] == pytest.approx(0.8) and box["p"] == pytest.approx(welch_p(0.8), rel=1e-9)
    assert box["result"] == "supported" and box["paper_subject"] == "41.4" and box["paper_other"] == "41.2"
    mask = one(ev, "ela.det_mask_ap", R50, "mrla_l")
    assert mask["delta"] == pytest.approx(-0.4) and mask["p"] == pytest.approx(welch_p(0.4), rel=1e-9)
    assert 0.007 < welch_p(0.4) < 0.009
    assert mask["result"] == "not supported" and mask["detail"] == "significant in the opposite direction"
    assert mask["paper_subject"] == "37.3" and mask["paper_other"] == "37.1"
    faster = one(ev, "ela.det_faster_beats_mrla_l", R50, "mrla_l")
    assert faster["p"] == pytest.approx(welch_p(0.1), rel=1e-9) and 0.28 < faster["p"] < 0.30
    assert faster["result"] == "not supported" and faster["detail"] == "difference not significant"
    v = summary["verdict"]
    assert (v["ela.det_mask_beats_mrla_l"], v["ela.det_mask_ap"], v["ela.det_faster_beats_mrla_l"]) == \
        ("supported", "not supported", "not supported")
    # mask AP: the four other arms have no runs: tested at R-50 only, the rest not yet run
    assert summary.loc["ela.det_mask_ap", "scope"] == f"Tested: {R50}. Not yet run: {R101}."
    assert summary.loc["ela.det_mask_ap", "paper_verdict"] == "cannot be tested"


def test_single_runs_give_the_direction_only(tmp_path):
    """DLA Table 3 plans one seed per row: DLA-L 40.6 vs MRLA-L 40.4 at R-50 (agrees), 42.0 vs 42.3 at R-101
    (disagrees): n=1, direction only, never supported. ELA's two MRLA-L runs (MMDetection's batch-16 1x,
    at 41.5) are not DLA's batch-8 recipe: the DLA claim takes the batch-8 run. AP75 (AP + 4): 44.6 vs 41.7."""
    detection_record(tmp_path, "dla.table3", "dla_l_resnet50_imagenet", "faster_rcnn", 0, 40.6)
    detection_record(tmp_path, "dla.table3", "mrla_l_resnet50_imagenet", "faster_rcnn", 0, 40.4)
    detection_record(tmp_path, "dla.table3", "dla_l_resnet101_imagenet", "faster_rcnn", 0, 42.0)
    detection_record(tmp_path, "dla.table3", "mrla_l_resnet101_imagenet", "faster_rcnn", 0, 42.3)
    detection_record(tmp_path, "dla.table3", "se_resnet50_imagenet", "faster_rcnn", 0, 37.7)
    seeds(tmp_path, "ela.table5", "mrla_l_resnet50_imagenet", "faster_rcnn", 41.5, spread=(0.0, 0.1))
    summary, ev = evaluate(tmp_path, "dla.det_faster_beats_mrla_l", "dla.det_faster_ap75_over_se")
    r50 = one(ev, "dla.det_faster_beats_mrla_l", R50, "mrla_l")
    assert (r50["n_subject"], r50["n_other"]) == (1, 1) and r50["delta"] == pytest.approx(0.2)
    assert r50["result"] == N1_AGREES and math.isnan(r50["p"])
    r101 = one(ev, "dla.det_faster_beats_mrla_l", R101, "mrla_l")
    assert r101["result"] == N1_DISAGREES and r101["delta"] == pytest.approx(-0.3)
    s = summary.loc["dla.det_faster_beats_mrla_l"]
    assert s["verdict"] == N1_VERDICT and (s["run"], s["single_run"]) == (0, 2)
    assert s["scope"] == f"n=1, direction only: {R50} (1 of 1 agree); {R101} (0 of 1 agree)."
    ap75 = one(ev, "dla.det_faster_ap75_over_se", R50, "se")
    assert ap75["ours_subject"] == "44.60 (n=1)" and ap75["delta"] == pytest.approx(2.9)
    assert ap75["result"] == N1_AGREES and summary.loc["dla.det_faster_ap75_over_se", "verdict"] == N1_VERDICT


# --------------------------------------------------------------------------- no runs; the papers' own numbers
def test_committed_records_leave_the_detection_claims_not_yet_run():
    root = Path(__file__).resolve().parents[1] / "runs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary, ev = evaluate_claims(load_records(root), load_paper(), claims=DETECTION)
    assert set(summary["verdict"]) == {"not yet run"} and set(ev["result"]) == {"not yet run"}
    # the papers print no std for any detection AP: the paper-internal verdict cannot be given
    assert set(summary["paper_verdict"]) == {"cannot be tested"}
    assert set(ev["paper_detail"]) == {
        "no std printed (ELA table5)", "no std printed (DLA table3)",
        "no std printed (DIA table10); the paper marks the other arm '*' = Student t-test of AP vs DIA-LSTM "
        "(box_ap row only) (its own test, not recomputed)"}
    dia = one(ev, "dia.det_retinanet_beats_all", R50, "dia_light")
    assert dia["paper_subject"] == "38.8 (n=15)" and dia["paper_other"] == "37.9 (n=15)"
