"""analysis/paper_evidence.py: every claim tested on the papers' own printed mean, std and n.

Expected values are worked out here from the formulas (Welch: t = (m1 - m2) / sqrt(s1^2/n1 +
s2^2/n2) with Welch-Satterthwaite df; Student: pooled variance, df = n1 + n2 - 2; Holm:
p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))); only the t distribution's tail comes from scipy.
The numbers are those of results/paper/results.csv.
"""
import math

import pytest
from scipy import stats as sps

from analysis.claims import CLAIMS, evaluate_claims
from analysis.paper_evidence import (PAPER_VERDICTS, cross_paper, n_sources, paper_evidence, tost_from_stats,
                                     verdict_counts)
from analysis.records import load_paper
from analysis.report import build_report
from analysis.stats import achieved_power


@pytest.fixture(scope="module")
def paper():
    return load_paper()


@pytest.fixture(scope="module")
def evidence(paper):
    return paper_evidence(paper)


def welch_p(m1, s1, n1, m2, s2, n2):
    a, b = s1**2 / n1, s2**2 / n2
    t = (m1 - m2) / math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    return 2 * sps.t.sf(abs(t), df)


def student_p(m1, s1, n1, m2, s2, n2):
    sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
    t = (m1 - m2) / math.sqrt(sp2 * (1 / n1 + 1 / n2))
    return 2 * sps.t.sf(abs(t), n1 + n2 - 2)


def holm_by_hand(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def rows(ev, claim):
    return ev[ev["claim"] == claim]


def row(ev, claim, context, other):
    sel = ev[(ev["claim"] == claim) & (ev["context"] == context) & (ev["other"] == other)]
    assert len(sel) == 1, (claim, context, other)
    return sel.iloc[0]


def test_holm_by_hand_is_the_textbook_example():
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert holm_by_hand([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_ela_table4_ebqm_vs_fixed_and_holm_within_the_claim(evidence):
    """ELA Table 4 (n=5, Sec. 5.1): EBQM 74.31 +- 0.24 vs Fixed 73.79 +- 0.30 at ResNet-56: p ~ 0.017
    alone, but Holm over the claim's four comparisons lifts it to ~0.069: not significant."""
    summary, ev = evidence
    r = row(ev, "ela.ebqm_beats_alternatives", "CIFAR-100, ResNet-56", "ela [pruning=fixed]")
    pw, ps = welch_p(74.31, 0.24, 5, 73.79, 0.30, 5), student_p(74.31, 0.24, 5, 73.79, 0.30, 5)
    assert r["paper_p_welch"] == pytest.approx(pw, rel=1e-9) and r["paper_p_student"] == pytest.approx(ps, rel=1e-9)
    assert 0.017 < pw < 0.018 and 0.016 < ps < 0.017
    assert r["paper_delta"] == pytest.approx(0.52) and r["paper_n_source"] == "n=5: results.csv"
    # the Holm step over the claim's four comparisons (Table 4: threshold and fixed at 56 and 110)
    arms = {("CIFAR-100, ResNet-56", "ela [pruning=threshold]"): (74.31, 0.24, 73.89, 0.44),
            ("CIFAR-100, ResNet-56", "ela [pruning=fixed]"): (74.31, 0.24, 73.79, 0.30),
            ("CIFAR-100, ResNet-110", "ela [pruning=threshold]"): (75.35, 0.22, 74.83, 0.79),
            ("CIFAR-100, ResNet-110", "ela [pruning=fixed]"): (75.35, 0.22, 74.92, 0.41)}
    keys = list(arms)
    raw = [welch_p(m1, s1, 5, m2, s2, 5) for m1, s1, m2, s2 in arms.values()]
    raw_s = [student_p(m1, s1, 5, m2, s2, 5) for m1, s1, m2, s2 in arms.values()]
    for (ctx, other), q, qs in zip(keys, holm_by_hand(raw), holm_by_hand(raw_s)):
        got = row(ev, "ela.ebqm_beats_alternatives", ctx, other)
        assert got["paper_p_holm"] == pytest.approx(q, rel=1e-9)
        assert got["paper_p_holm_student"] == pytest.approx(qs, rel=1e-9)
        assert got["paper_result"] == "not significant"
    assert r["paper_p_holm"] == pytest.approx(4 * pw, rel=1e-9)  # the smallest p: times m = 4
    s = summary.set_index("claim").loc["ela.ebqm_beats_alternatives"]
    assert s["paper_verdict"] == "not significant" and (s["paper_tested"], s["paper_significant"]) == (4, 0)
    # seeds per arm to see the 0.52 gain with the paper's spread: the first n with power >= 0.8
    n = int(r["paper_seeds_needed"])
    assert achieved_power(n, 0.52, (0.24, 0.30)) >= 0.8 > achieved_power(n - 1, 0.52, (0.24, 0.30))


def test_dla_table1_dla_l_vs_mrla_l(evidence):
    """DLA Table 1 (n=5, Sec. 4.1), ResNet-20 CIFAR-100: DLA-L 72.26 +- 0.29 vs MRLA-L 71.46 +- 0.27."""
    summary, ev = evidence
    r = row(ev, "dla.l_beats_mrla_l", "CIFAR-100, ResNet-20", "mrla_l")
    pw, ps = welch_p(72.26, 0.29, 5, 71.46, 0.27, 5), student_p(72.26, 0.29, 5, 71.46, 0.27, 5)
    assert r["paper_p_welch"] == pytest.approx(pw, rel=1e-9) and r["paper_p_student"] == pytest.approx(ps, rel=1e-9)
    assert 0.001 < pw < 0.003
    # Holm over the six CIFAR comparisons; the four ImageNet ones print no std and are left out of m
    cifar = {"CIFAR-10, ResNet-20": (92.96, 0.18, 92.65, 0.08), "CIFAR-10, ResNet-56": (94.55, 0.13, 94.28, 0.26),
             "CIFAR-10, ResNet-110": (94.66, 0.23, 94.49, 0.31), "CIFAR-100, ResNet-20": (72.26, 0.29, 71.46, 0.27),
             "CIFAR-100, ResNet-56": (75.46, 0.26, 74.18, 0.17), "CIFAR-100, ResNet-110": (76.41, 0.36, 75.16, 0.24)}
    raw = [welch_p(m1, s1, 5, m2, s2, 5) for m1, s1, m2, s2 in cifar.values()]
    expected = dict(zip(cifar, holm_by_hand(raw)))
    for ctx, q in expected.items():
        got = row(ev, "dla.l_beats_mrla_l", ctx, "mrla_l")
        assert got["paper_p_holm"] == pytest.approx(q, rel=1e-9)
        assert got["paper_result"] == ("significant" if q < 0.05 else "not significant")
    assert [ctx for ctx, q in expected.items() if q >= 0.05] == ["CIFAR-10, ResNet-56", "CIFAR-10, ResNet-110"]
    imagenet = rows(ev, "dla.l_beats_mrla_l")
    imagenet = imagenet[imagenet["context"].str.startswith("ImageNet")]
    assert len(imagenet) == 2 and set(imagenet["paper_result"]) == {"cannot be tested"}
    assert set(imagenet["paper_detail"]) == {"no std printed (DLA table2)"}
    s = summary.set_index("claim").loc["dla.l_beats_mrla_l"]
    assert s["paper_verdict"] == "not significant" and (s["paper_tested"], s["paper_significant"]) == (6, 4)


def test_documented_n_for_dia_tables_without_n(evidence, paper):
    """DIA Table IV prints mean +- std and t-test marks but no n: the documented 15 runs are used and said."""
    _, ev = evidence
    r = row(ev, "dia.lstm_beats_sams", "CIFAR-100, ResNeXt-101 8x32d", "se")
    assert r["paper_n_source"] == "n=15: documented (dia.table4)"
    assert r["paper_p_welch"] == pytest.approx(welch_p(82.60, 0.19, 15, 82.46, 0.31, 15), rel=1e-9)
    assert r["paper_result"] == "not significant"
    ns = n_sources(paper).set_index(["paper", "table"])
    assert ns.loc[("dia", "table4"), "n"] == "15" and "documented run count" in ns.loc[("dia", "table4"), "source"]
    assert ns.loc[("dia", "table3"), "n"] == "15" and ns.loc[("dia", "table3"), "source"].startswith("results.csv")
    assert ns.loc[("ela", "table4"), "source"] == ("results.csv n column: n=5: 'Each experiment was repeated five "
                                                   "times' (Sec. 5.1)")
    assert ns.loc[("ela", "table7"), "source"].endswith("(appendix table; five-run statement is in Sec. 5.1)")
    assert ns.loc[("ela", "table1"), "source"] == "no std printed: not testable"


def test_equivalence_claim_by_tost(evidence):
    """DLA Table 6: LII (DSU) 75.14 +- 0.21 matches LII (DIA) 75.31 +- 0.16 within 0.5 points (n=5)."""
    _, ev = evidence
    r = row(ev, "dla.lii_dsu_matches_dia", "CIFAR-100, ResNet-110", "lii_dia")
    a, b = 0.21**2 / 5, 0.16**2 / 5
    se, df = math.sqrt(a + b), (a + b) ** 2 / (a**2 / 4 + b**2 / 4)
    d = 75.14 - 75.31
    p = max(sps.t.sf((d + 0.5) / se, df), sps.t.cdf((d - 0.5) / se, df))
    assert tost_from_stats(75.14, 0.21, 5, 75.31, 0.16, 5, 0.5) == pytest.approx(p, rel=1e-9)
    assert r["paper_p_holm"] == pytest.approx(p, rel=1e-9)  # one comparison: Holm changes nothing
    assert r["paper_result"] == "significant" and "equivalent" in r["paper_detail"]
    assert tost_from_stats(72.0, 0.3, 5, 73.0, 0.3, 5, 0.5) > 0.5  # a full point apart: not equivalent


def test_untestable_claims_and_counts_per_paper(evidence):
    summary, _ = evidence
    assert len(summary) == len(CLAIMS) and set(summary["paper_verdict"]) <= set(PAPER_VERDICTS)
    v = summary.set_index("claim")
    assert v.loc["ela.beats_mrla_l", "paper_verdict"] == "cannot be tested"          # ELA Tables 1, 2: no std
    assert v.loc["ela.faster_than_mrla_b", "paper_verdict"] == "cannot be tested"    # a timing claim
    assert v.loc["dia.stable_without_bn", "paper_verdict"] == "cannot be tested"     # nan vs accuracy
    assert v.loc["dla.l_beats_resnet", "paper_verdict"] == "significant"
    assert v.loc["dia.sharing_keeps_sams", "paper_verdict"] == "significant"         # 'most': 13 of 20
    assert (v.loc["dia.sharing_keeps_sams", "paper_tested"], v.loc["dia.sharing_keeps_sams", "paper_significant"]) \
        == (20, 13)
    counts = verdict_counts(summary)
    assert counts.loc["ela", list(PAPER_VERDICTS)].tolist() == [0, 3, 20]
    assert counts.loc["dla", list(PAPER_VERDICTS)].tolist() == [6, 5, 13]
    assert counts.loc["dia", list(PAPER_VERDICTS)].tolist() == [5, 3, 24]
    # parameter, spread and growth claims are not tested on the printed numbers
    assert v.loc["dia.sharing_saves_params_164", "paper_verdict"] == "cannot be tested"
    assert v.loc["ela.ebqm_lower_std", "paper_verdict"] == "cannot be tested"
    assert v.loc["dla.gain_grows_with_depth", "paper_verdict"] == "cannot be tested"


def test_cross_paper_consistency(paper):
    cons = cross_paper(paper)
    key = cons.set_index(["dataset", "depth", "model", "metric"])
    r20 = key.loc[("cifar10", "20", "resnet", "top1")]  # ELA 91.35 vs DLA 91.64 +- 0.18: 0.29 < 2 x 0.18
    assert r20["numbers"] == "ELA table1: 91.35; DLA table1: 91.64 ± 0.18 (n=5)"
    assert r20["max_abs_delta"] == pytest.approx(0.29) and r20["judged"] and not r20["flagged"]
    dia20 = key.loc[("cifar100", "20", "dia", "top1")]  # ELA 68.83 vs DLA 67.67 +- 0.22: 1.16 > 0.44
    assert dia20["flagged"]
    se50 = key.loc[("imagenet", "50", "se", "top1")]     # 76.7 vs 76.62 +- 0.02: within the rounding of 76.7
    assert se50["judged"] and not se50["flagged"] and "DIA table8: 76.62 ± 0.02 (n=15 documented)" in se50["numbers"]
    copied = key.loc[("imagenet", "101", "mrla_l", "top1")]  # ELA and DLA Table 2 print the same, no std
    assert copied["identical"] and not copied["judged"] and not copied["flagged"]
    resnet56 = key.loc[("cifar100", "56", "resnet", "top1")]  # DLA prints it in Tables 1 and 6: one entry
    assert "DLA table1, table6: 72.32 ± 0.36" in resnet56["numbers"]
    assert int(cons["flagged"].sum()) == 12


def test_evaluate_claims_and_report_show_the_paper_verdict_without_runs(tmp_path):
    summary, evidence = evaluate_claims(None, load_paper())
    zoo = summary["kind"] == "params"  # computed from the model zoo: a verdict without runs
    assert set(summary.loc[~zoo, "verdict"]) == {"not yet run"}
    assert set(summary.loc[zoo, "verdict"]) == {"supported", "not supported"}
    assert {"paper_verdict", "paper_coverage"} <= set(summary.columns)
    assert {"paper_p_welch", "paper_p_student", "paper_p_holm", "paper_seeds_needed", "paper_result",
            "paper_n_source"} <= set(evidence.columns)
    res = build_report(tmp_path / "no-runs", out=tmp_path / "r.md")
    text = res["report"].read_text()
    assert "## What the papers' own numbers support" in text
    assert "significant: 11, not significant: 11, cannot be tested: 57" in text
    assert "| ELA | 23 | 0 | 3 | 20 |" in text and "| DLA | 24 | 6 | 5 | 13 |" in text and "| DIA | 32 | 5 | 3 | 24 |" in text
    assert "The paper's own evidence: **not significant** (4/4 comparisons testable" in text
    assert "### Where each table's n comes from" in text and "### Cross-paper consistency" in text
    assert "| ela.ebqm_beats_alternatives | ELA |" in text
    assert text.index("## What the papers' own numbers support") < text.index("## ELA")
