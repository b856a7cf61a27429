"""analysis/stats.py against numbers worked out by hand here (formulas written out, not scipy),
the power figures of /work/shared/notes/anchors.md, and real rows of DIA Tables III and IV."""
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from analysis.stats import (achieved_power, from_stats, holm, recompute_marks, seeds_needed, student,
                            summarize, welch)

CSV = Path(__file__).resolve().parents[1] / "results" / "paper" / "results.csv"


def t_two_sided_p(t, df, steps=4000):
    """Two-sided p-value of Student's t by hand: 1 - 2 * integral_0^|t| of the t density
    f(x) = Gamma((df+1)/2) / (sqrt(df pi) Gamma(df/2)) (1 + x^2/df)^(-(df+1)/2), Simpson's rule."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    f = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2)  # noqa: E731
    h = abs(t) / steps
    s = f(0) + f(abs(t)) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, steps))
    return 1 - 2 * s * h / 3


def mean_var(x):
    m = sum(x) / len(x)
    return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)


A = [74.1, 74.5, 74.3, 74.9, 74.2]
B = [75.0, 75.4, 74.8, 75.6]


def test_student_closed_form_df2():
    # a = [1, 3], b = [4, 6]: means 2 and 5, both variances 2, pooled 2,
    # t = (2 - 5) / sqrt(2 (1/2 + 1/2)) = -3/sqrt(2), df = 2. For df = 2 the t CDF is
    # 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - |t| / sqrt(2 + t^2) = 1 - sqrt(4.5/6.5) = 1 - 3/sqrt(13).
    r = student([1, 3], [4, 6])
    assert r.t == pytest.approx(-3 / math.sqrt(2), rel=1e-12)
    assert r.df == 2
    assert r.p == pytest.approx(1 - 3 / math.sqrt(13), rel=1e-12)
    assert t_two_sided_p(r.t, 2) == pytest.approx(1 - 3 / math.sqrt(13), abs=1e-9)  # the integrator


def test_student_by_hand():
    (ma, va), (mb, vb) = mean_var(A), mean_var(B)   # 74.4, 0.1 and 75.2, 0.1333...
    assert (ma, va) == pytest.approx((74.4, 0.1))
    assert (mb, vb) == pytest.approx((75.2, 0.4 / 3))
    na, nb = len(A), len(B)
    sp2 = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)       # (0.4 + 0.4) / 7
    t = (ma - mb) / math.sqrt(sp2 * (1 / na + 1 / nb))          # -0.8 / sqrt(0.8/7 * 0.45) = -3.5277
    r = student(A, B)
    assert r.t == pytest.approx(t, rel=1e-10) and r.t == pytest.approx(-3.5277, abs=1e-4)
    assert r.df == 7
    assert r.p == pytest.approx(t_two_sided_p(t, 7), abs=1e-8)
    assert 0.009 < r.p < 0.01


def test_welch_by_hand():
    (ma, va), (mb, vb) = mean_var(A), mean_var(B)
    qa, qb = va / len(A), vb / len(B)                            # squared standard errors
    t = (ma - mb) / math.sqrt(qa + qb)
    df = (qa + qb) ** 2 / (qa**2 / (len(A) - 1) + qb**2 / (len(B) - 1))   # Welch-Satterthwaite
    r = welch(A, B)
    assert r.t == pytest.approx(t, rel=1e-10)
    assert r.df == pytest.approx(df, rel=1e-10) and 6 < r.df < 7
    assert r.p == pytest.approx(t_two_sided_p(t, df), abs=1e-8)


@pytest.mark.parametrize("equal_var", [True, False])
def test_from_stats_equals_raw_sample_test(equal_var):
    raw = (student if equal_var else welch)(A, B)
    summary = from_stats(statistics.mean(A), statistics.stdev(A), len(A),
                         statistics.mean(B), statistics.stdev(B), len(B), equal_var=equal_var)
    assert summary.t == pytest.approx(raw.t, rel=1e-10)
    assert summary.p == pytest.approx(raw.p, rel=1e-8)
    assert summary.df == pytest.approx(raw.df, rel=1e-10)


def test_summarize_by_hand():
    df = pd.DataFrame({"model": ["a"] * 5 + ["b"] * 4, "top1": A + B})
    s = summarize(df, "model").set_index("model")
    assert s.loc["a", "mean"] == pytest.approx(74.4)
    assert s.loc["a", "std"] == pytest.approx(math.sqrt(0.1))           # ddof = 1
    assert s.loc["b", "n"] == 4
    assert s.loc["b", "sem"] == pytest.approx(math.sqrt(0.4 / 3) / 2)
    # printed strings and the "nan" of a diverged run: coerced, not counted
    t = pd.DataFrame({"model": ["x", "x", "x"], "mean": ["72.34", "nan", "73.00"]})
    s = summarize(t, ["model"], value="mean").iloc[0]
    assert (s["n"], s["mean"]) == (2, pytest.approx(72.67))


def test_holm_hand_worked_example():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> running max 0.06
    adjusted, reject = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert reject.tolist() == [True, False, False, True]
    # step-down stops at the first non-rejection: 0.005, 0.04, 0.06, 0.08, 0.3
    adjusted, reject = holm([0.001, 0.01, 0.02, 0.04, 0.3])
    np.testing.assert_allclose(adjusted, [0.005, 0.04, 0.06, 0.08, 0.3])
    assert reject.tolist() == [True, True, False, False, False]


def test_holm_clips_at_one_and_skips_nan():
    adjusted, reject = holm([0.6, np.nan, 0.5])
    np.testing.assert_allclose(adjusted[[0, 2]], [1.0, 1.0])
    assert np.isnan(adjusted[1]) and not reject.any()
    with pytest.raises(ValueError):
        holm([0.2, 1.5])


def test_scipy_false_discovery_control_is_not_holm():
    # Benjamini-Hochberg by hand: p_(i) m / i = 0.02, 0.02, 0.04, 0.04, running min from the top.
    p = [0.01, 0.04, 0.03, 0.005]
    bh = false_discovery_control(p, method="bh")
    np.testing.assert_allclose(bh, [0.02, 0.04, 0.04, 0.02])
    assert not np.allclose(bh, holm(p)[0])


# ---- power and seeds -------------------------------------------------------------------------

def test_seeds_needed_against_anchors():
    """anchors.md: sd 0.2, Welch, alpha 0.05, power 0.8 -> about 7 / 16 / 63 seeds per arm for a
    0.3 / 0.2 / 0.1 point difference. Those are the normal approximation; the exact noncentral-t
    answer is 9 / 17 / 64."""
    assert [seeds_needed(d, 0.2, approx=True) for d in (0.3, 0.2, 0.1)] == [7, 16, 63]
    exact = [seeds_needed(d, 0.2) for d in (0.3, 0.2, 0.1)]
    assert exact == [9, 17, 64]
    for d, n in zip((0.3, 0.2, 0.1), exact):
        assert achieved_power(n, d, 0.2) >= 0.8 > achieved_power(n - 1, d, 0.2)
        assert seeds_needed(d, 0.2, test="student") == n     # equal sds: same df 2n-2
    # the papers' 5 (DLA, ELA) and 15 (DIA) seeds, sd 0.2, detect 0.3 points with power
    assert achieved_power(5, 0.3, 0.2) == pytest.approx(0.55, abs=0.01)
    assert achieved_power(15, 0.3, 0.2) > 0.97


def test_power_by_hand_normal_limit():
    # for large n the t test's power tends to Phi(delta/se - z_{0.975}) (+ the negligible other tail)
    n, delta, sd = 2000, 0.02, 0.2
    se = sd * math.sqrt(2 / n)
    phi = 0.5 * (1 + math.erf((delta / se - 1.959963985) / math.sqrt(2)))
    assert achieved_power(n, delta, sd) == pytest.approx(phi, abs=2e-3)


def test_unequal_sds_need_more_seeds():
    assert seeds_needed(0.3, (0.2, 0.4)) > seeds_needed(0.3, 0.2)
    assert seeds_needed(0.3, (0.2, 0.4)) == seeds_needed(0.3, (0.4, 0.2))
    with pytest.raises(ValueError):
        seeds_needed(0.0, 0.2)


ratio = st.floats(min_value=0.3, max_value=3.0)
sd = st.floats(min_value=0.05, max_value=1.0)


@settings(max_examples=40, deadline=None)
@given(sd=sd, r1=ratio, r2=ratio)
def test_seeds_needed_monotone_in_delta(sd, r1, r2):
    small, large = sorted((r1 * sd, r2 * sd))
    assert seeds_needed(small, sd) >= seeds_needed(large, sd)


@settings(max_examples=40, deadline=None)
@given(delta=st.floats(min_value=0.1, max_value=1.0), s1=sd, s2=sd)
def test_seeds_needed_monotone_in_sd(delta, s1, s2):
    lo, hi = sorted((s1, s2))
    if delta / hi < 0.3:  # keep n small enough to be quick
        return
    assert seeds_needed(delta, lo) <= seeds_needed(delta, hi)


@settings(max_examples=30, deadline=None)
@given(p1=st.floats(min_value=0.5, max_value=0.95), p2=st.floats(min_value=0.5, max_value=0.95),
       a1=st.floats(min_value=0.01, max_value=0.1), a2=st.floats(min_value=0.01, max_value=0.1))
def test_seeds_needed_monotone_in_power_and_alpha(p1, p2, a1, a2):
    (plo, phi), (alo, ahi) = sorted((p1, p2)), sorted((a1, a2))
    assert seeds_needed(0.3, 0.2, power=plo) <= seeds_needed(0.3, 0.2, power=phi)
    assert seeds_needed(0.3, 0.2, alpha=ahi) <= seeds_needed(0.3, 0.2, alpha=alo)


# ---- the papers' marks -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def paper():
    return pd.read_csv(CSV, dtype=str, keep_default_na=False)


def dia_table(paper, tab):
    return paper[(paper.paper == "dia") & (paper.table == tab)]


def test_recompute_marks_two_real_table4_rows(paper):
    t4 = dia_table(paper, "table4")
    rows = t4[(t4.row.isin(["WRN52-4 / DIA-LSTM (Light)", "WRN52-4 / DIA-LSTM",
                            "ResNet164 / SE", "ResNet164 / DIA-LSTM"]))]
    # Table IV prints no n: nothing can be tested without an assumption.
    plain = recompute_marks(rows).set_index("row")
    assert plain.loc["WRN52-4 / DIA-LSTM (Light)", "status"] == "cannot"
    assert "n not printed" in plain.loc["ResNet164 / SE", "reason"]
    assert plain.loc["WRN52-4 / DIA-LSTM", "status"] == "reference"

    res = recompute_marks(rows, assume_n=15).set_index("row")
    # by hand, equal n = 15: t = (m1 - m2) / sqrt((s1^2 + s2^2) / 15), df = 28
    light = res.loc["WRN52-4 / DIA-LSTM (Light)"]
    t = (80.95 - 81.02) / math.sqrt((0.33**2 + 0.11**2) / 15)          # -0.78
    assert light.t == pytest.approx(t, rel=1e-9) and light.df == 28
    assert light.p == pytest.approx(t_two_sided_p(t, 28), abs=1e-8) and light.p > 0.4
    assert (light.printed, light.recomputed, light.status) == ("*", "", "disagree")
    assert light.ref_row == "WRN52-4 / DIA-LSTM" and bool(light.n_assumed)
    se = res.loc["ResNet164 / SE"]
    t = (75.23 - 77.09) / math.sqrt((0.18**2 + 0.26**2) / 15)          # -22.8
    assert se.t == pytest.approx(t, rel=1e-9)
    assert (se.printed, se.recomputed, se.status) == ("*", "*", "agree") and bool(se.robust)


def test_recompute_marks_table3_uses_printed_n_and_pairs(paper):
    res = recompute_marks(dia_table(paper, "table3"))
    tested = res[res.status.isin(["agree", "disagree"])]
    assert len(tested) == 20 and (tested.printed == "*").all() and not tested.n_assumed.any()
    assert (tested.ref_model == tested.model.str.removeprefix("dia_")).all()   # with vs w/o DIA
    assert res.status.value_counts().to_dict() == {"reference": 20, "agree": 18, "not_tested": 4, "disagree": 2}
    bad = set(res[res.status == "disagree"].set_index(["dataset", "row"]).index)
    assert bad == {("cifar100", "ResNet83 / SE / Acc. with DIA"), ("cifar100", "ResNet164 / SRM / Acc. with DIA")}
    # 74.69 +- 0.64 vs 74.95 +- 0.67, n = 15 each: t = -0.26 / sqrt((0.64^2 + 0.67^2) / 15)
    srm = res[(res.dataset == "cifar100") & (res.row == "ResNet164 / SRM / Acc. with DIA")].iloc[0]
    t = -0.26 / math.sqrt((0.64**2 + 0.67**2) / 15)
    assert srm.p == pytest.approx(t_two_sided_p(t, 28), abs=1e-6)
    # four agreeing marks sit so close to 0.05 that the printed rounding decides them
    assert (tested.robust == False).sum() == 4  # noqa: E712


def test_recompute_marks_cannot_without_std_or_with_nan(paper):
    res = recompute_marks(dia_table(paper, "table11"), assume_n=15)
    assert set(res.status) == {"cannot", "reference"}
    assert res[res.status == "cannot"].reason.str.contains("std not printed").all()
    res = recompute_marks(dia_table(paper, "table16"), assume_n=15)
    diverged = res[(res["mean"] == "nan") & (res.status != "reference")]
    assert len(diverged) == 8 and (diverged.status == "cannot").all()
    assert diverged.reason.str.contains("nan").all()
