"""Statistics for comparing runs with each other and with the papers' published numbers.

What the papers do: DIA (Sec. IV) compares every model with DIA-LSTM by a two-sample
Student's t-test at alpha = 0.05 and prints "*" for p < 0.05; DLA and ELA print mean +- std
over five runs and no test. This module re-does those tests from raw per-seed accuracies
(``student``, ``welch``) or from a table's mean, std and n (``from_stats``), corrects for the
many comparisons of one table (``holm``), checks the printed "*" marks (``recompute_marks``)
and plans how many seeds a comparison needs (``seeds_needed``).

Conventions: every test is two-sided; ``std`` is the sample standard deviation (ddof=1).
The papers do not say whether their "+-" is ddof=1 or ddof=0; at n = 15 the two differ by
3.5% (sqrt(15/14)), at n = 5 by 12%, which moves p only near the threshold.

    >>> from analysis.stats import welch, from_stats, holm, seeds_needed
    >>> welch([74.1, 74.5, 74.3], [75.0, 75.4, 74.8]).p < 0.05
    True
    >>> seeds_needed(0.3, 0.2)          # per arm, Welch, alpha 0.05, power 0.8
    9
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "TTest", "summarize", "student", "welch", "from_stats", "holm", "growth",
    "achieved_power", "seeds_needed", "recompute_marks",
]


class TTest(NamedTuple):
    """Result of a two-sample t-test: statistic (a minus b), two-sided p-value, degrees of freedom."""

    t: float
    p: float
    df: float


def summarize(df: pd.DataFrame, by: str | Sequence[str], value: str = "top1") -> pd.DataFrame:
    """Per-group mean, sample std (ddof=1), n and standard error of the mean (std / sqrt(n)).

    ``value`` is coerced to numbers (the papers' CSV keeps printed strings; its "nan" for a
    diverged run becomes NaN and is not counted in n). A group of one run has std NaN.
    """
    by = [by] if isinstance(by, str) else list(by)
    values = pd.to_numeric(df[value], errors="coerce")
    g = values.groupby([df[b] for b in by], sort=True)
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()})
    out["sem"] = out["std"] / np.sqrt(out["n"])
    return out.reset_index()


def _welch_df(v1: float, n1: float, v2: float, n2: float) -> float:
    """Welch-Satterthwaite degrees of freedom; v1, v2 are the squared standard errors s^2/n."""
    return (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))


def student(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Student's two-sample t-test (pooled variance, df = n_a + n_b - 2): the test DIA uses.

    t = (mean_a - mean_b) / sqrt(s_p^2 (1/n_a + 1/n_b)),
    s_p^2 = ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2). scipy.stats.ttest_ind(equal_var=True).
    """
    r = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=True)
    return TTest(float(r.statistic), float(r.pvalue), float(r.df))


def welch(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's two-sample t-test (no equal-variance assumption; Welch-Satterthwaite df).

    t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b). scipy.stats.ttest_ind(equal_var=False).
    The safer default when one arm (e.g. a diverging variant) is much noisier than the other.
    """
    r = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
    return TTest(float(r.statistic), float(r.pvalue), float(r.df))


def from_stats(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int,
               equal_var: bool = True) -> TTest:
    """The same t-test from summary statistics (mean, sample std, n of each arm), as a paper prints them.

    Student's test by default (``equal_var=True``, what DIA uses), Welch's with ``equal_var=False``.
    scipy.stats.ttest_ind_from_stats; it returns no df, so df is computed here.
    """
    r = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=equal_var)
    df = n1 + n2 - 2 if equal_var else _welch_df(s1**2 / n1, n1, s2**2 / n2, n2)
    return TTest(float(r.statistic), float(r.pvalue), float(df))


def growth(deep: tuple[Sequence[float], Sequence[float]], shallow: tuple[Sequence[float], Sequence[float]],
           log: bool = False) -> TTest:
    """Whether the difference between two arms grows from a shallow setting to a deep one (DLA
    Fig. 4: DLA-L's gain over ResNet grows with depth): g = (mean a_deep - mean b_deep) -
    (mean a_shallow - mean b_shallow) over four independent groups of runs, t = g / sqrt(sum of
    the four s^2/n), Welch-Satterthwaite df over the four squared standard errors, two-sided p.

    ``log``: the groups are times and the difference a saving 1 - a/b (ELA: the time saving
    grows with depth): the test runs on log values, sign turned so that a growing saving gives
    t > 0. Needs 2 or more values per group."""
    groups = [np.asarray(x, float) for x in (*deep, *shallow)]
    groups = [np.log(x) for x in groups] if log else groups
    g = (groups[0].mean() - groups[1].mean()) - (groups[2].mean() - groups[3].mean())
    g = -g if log else g
    v = [x.var(ddof=1) / len(x) for x in groups]
    se = math.sqrt(sum(v))
    if se == 0:
        return TTest(math.copysign(math.inf, g) if g else 0.0, 0.0 if g else 1.0, float("nan"))
    df = sum(v) ** 2 / sum(vi**2 / (len(x) - 1) for vi, x in zip(v, groups))
    t = g / se
    return TTest(float(t), float(2 * stats.t.sf(abs(t), df)), float(df))


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm-Bonferroni step-down adjustment (Holm 1979): controls the family-wise error rate.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted values are
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); hypothesis i is rejected iff p~_i <= alpha.
    Returns (adjusted p-values in the input order, reject flags). NaN entries (tests that
    could not be run) are left out of m and come back as NaN / False.

    scipy.stats.false_discovery_control is *not* this: it offers only Benjamini-Hochberg
    and Benjamini-Yekutieli, which control the false discovery rate, a weaker guarantee.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    if np.any((q < 0) | (q > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = q.size
    order = np.argsort(q, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * q[order])
    steps = np.empty(m)
    steps[order] = np.maximum.accumulate(scaled)
    adjusted[ok] = steps
    reject = np.zeros(p.shape, dtype=bool)
    reject[ok] = steps <= alpha
    return adjusted, reject


def _arm_sds(sd: float | tuple[float, float]) -> tuple[float, float]:
    sa, sb = (sd, sd) if np.isscalar(sd) else sd
    if sa <= 0 or sb <= 0:
        raise ValueError("standard deviations must be positive")
    return float(sa), float(sb)


def achieved_power(n: int, delta: float, sd: float | tuple[float, float], alpha: float = 0.05,
                   test: str = "welch") -> float:
    """Power of a two-sided two-sample t-test with n runs per arm to detect a true difference delta.

    Under the alternative, t follows a noncentral t distribution (scipy.stats.nct) with
    noncentrality delta / sqrt(sd_a^2/n + sd_b^2/n); power = P(T > t_c) + P(T < -t_c),
    t_c = t_{1-alpha/2, df}. df = 2n - 2 for Student; Welch-Satterthwaite for Welch (the
    same 2n - 2 when the arms' sds are equal, so both tests then need the same n).
    ``sd`` is one sd for both arms or a pair (sd_a, sd_b); with a pair the noncentral t is the
    usual approximation for Welch's statistic.
    """
    if test not in ("welch", "student"):
        raise ValueError("test must be 'welch' or 'student'")
    sa, sb = _arm_sds(sd)
    va, vb = sa**2 / n, sb**2 / n
    df = 2 * n - 2 if test == "student" else _welch_df(va, n, vb, n)
    ncp = abs(delta) / math.sqrt(va + vb)
    tc = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(tc, df, ncp) + stats.nct.cdf(-tc, df, ncp))


def seeds_needed(delta: float, sd: float | tuple[float, float], alpha: float = 0.05, power: float = 0.8,
                 test: str = "welch", approx: bool = False) -> int:
    """Smallest number of runs per arm whose two-sided t-test reaches ``power`` for a difference ``delta``.

    Exact: the smallest n >= 2 with ``achieved_power(n) >= power`` (noncentral t; found by
    doubling then bisection, power being increasing in n). ``approx=True`` gives the normal
    approximation n = ceil((z_{1-alpha/2} + z_power)^2 (sd_a^2 + sd_b^2) / delta^2), which is
    what the usual rules of thumb quote: it ignores the t distribution's heavier tails and is
    one or two runs short at these sizes (sd 0.2: delta 0.3 / 0.2 / 0.1 -> 7 / 16 / 63 approx,
    9 / 17 / 64 exact).
    """
    if delta == 0:
        raise ValueError("delta must be non-zero")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie in (0, 1)")
    sa, sb = _arm_sds(sd)
    if approx:
        z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
        return max(2, math.ceil(z**2 * (sa**2 + sb**2) / delta**2))
    lo, hi = 1, 2  # invariant: power(lo) < target (or lo == 1), power(hi) >= target once found
    while achieved_power(hi, delta, (sa, sb), alpha, test) < power:
        lo, hi = hi, hi * 2
        if hi > 10**8:
            raise ValueError("more than 1e8 runs per arm needed")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if achieved_power(mid, delta, (sa, sb), alpha, test) >= power:
            hi = mid
        else:
            lo = mid
    return hi


_GROUP = ["paper", "table", "dataset", "backbone", "depth", "metric"]


def _half_unit(printed: str) -> float:
    """Half a unit in the last printed decimal of a number string ("0.20" -> 0.005)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0 ** (-decimals)


def _number(s: str) -> float:
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")


def recompute_marks(paper_df: pd.DataFrame, reference: str = "dia", alpha: float = 0.05,
                    assume_n: int | None = None) -> pd.DataFrame:
    """Re-run a paper's significance tests from its printed mean, std and n, and check its "*" marks.

    ``paper_df``: rows of ``results/paper/results.csv`` (string columns) from tables that print
    marks (DIA Tables III, IV, VI, VII, VIII, XI). Rows are grouped by (paper, table, dataset,
    backbone, depth, metric). Each row is compared, by the two-sample Student's t-test that
    DIA uses (``from_stats``), with
      * the group's ``reference`` model (DIA-LSTM, printed "N/A") when the group has one;
      * otherwise, for a ``dia_<sam>`` row, the same SAM without DIA (DIA Table III, whose
        "*" tests "Acc. with DIA" against "Acc. w/o DIA").
    ``n`` is the row's printed n; where the paper does not print one, ``assume_n`` is used if
    given (``n_assumed`` is then True), else the row cannot be tested.

    Returns one row per input row with the comparison (ref_row, t, p, df), ``p_low``/``p_high``
    (the p-value range over the rounding of the printed means and stds: half a unit of their
    last decimal), ``p_holm`` (Holm-adjusted over the tested rows of the same paper table),
    ``printed`` / ``recomputed`` marks and ``status``:
      agree / disagree (recomputed p < alpha matches the printed "*" or not),
      cannot (``reason`` says why: std or n not printed, diverged run),
      reference (the row others are tested against), not_tested (nothing to compare with).
    ``robust`` is False where the rounding range of p straddles alpha.
    """
    df = paper_df.reset_index(drop=True).astype(str)
    out = [_mark_row(row, group, reference, alpha, assume_n)
           for _, group in df.groupby(_GROUP, sort=False) for _, row in group.iterrows()]
    result = pd.DataFrame(out)
    result["p_holm"] = np.nan
    for _, idx in result.groupby(["paper", "table"]).groups.items():
        tested = [i for i in idx if not math.isnan(result.at[i, "p"])]
        if tested:
            result.loc[tested, "p_holm"] = holm(result.loc[tested, "p"].to_numpy(), alpha)[0]
    return result


def _mark_reference(row: pd.Series, group: pd.DataFrame, reference: str) -> pd.Series | str:
    """The row ``row`` is tested against, or why there is none ('reference' / 'not_tested')."""
    models = group.model.tolist()
    if row.model == reference or ("dia_" + row.model) in models:
        return "reference"
    if models.count(reference) == 1:
        return group[group.model == reference].iloc[0]
    if row.model.startswith("dia_") and models.count(row.model[len("dia_"):]) == 1:
        return group[group.model == row.model[len("dia_"):]].iloc[0]
    return "not_tested"


def _mark_problem(row: pd.Series, ref: pd.Series, assume_n: int | None) -> tuple[str, str, str, bool]:
    """(why the pair cannot be tested or '', n of the row, n of the reference, n assumed)."""
    n1, n2 = row.n, ref.n
    if math.isnan(_number(row["mean"])) or math.isnan(_number(ref["mean"])):
        return "accuracy printed as nan (diverged run)", n1, n2, False
    if not row["std"] or not ref["std"]:
        return "std not printed", n1, n2, False
    if n1 and n2:
        return "", n1, n2, False
    if assume_n is None:
        return "n not printed for this table (pass assume_n to test anyway)", n1, n2, False
    return "", n1 or str(assume_n), n2 or str(assume_n), True


def _mark_row(row: pd.Series, group: pd.DataFrame, reference: str, alpha: float,
              assume_n: int | None) -> dict[str, Any]:
    """One row of ``recompute_marks``: the Student's test against its reference, the p range
    over the rounding of the printed numbers, and whether the printed mark agrees."""
    rec = {k: row[k] for k in _GROUP + ["model", "row", "mean", "std", "n"]}
    rec.update(ref_row="", ref_model="", t=np.nan, p=np.nan, df=np.nan, p_low=np.nan, p_high=np.nan,
               n_assumed=False, printed=row.pmark, recomputed="", status="", reason="", robust=np.nan)
    ref = _mark_reference(row, group, reference)
    if isinstance(ref, str):
        why = "the row the others are tested against" if ref == "reference" else "no reference row in its group"
        return {**rec, "status": ref, "reason": why}
    rec.update(ref_row=ref.row, ref_model=ref.model)
    problem, n1, n2, assumed = _mark_problem(row, ref, assume_n)
    if problem:
        return {**rec, "status": "cannot", "reason": problem}
    m1, m2 = _number(row["mean"]), _number(ref["mean"])
    s1, s2, n1, n2 = float(row["std"]), float(ref["std"]), int(n1), int(n2)
    res = from_stats(m1, s1, n1, m2, s2, n2, equal_var=True)
    hm = _half_unit(row["mean"]) + _half_unit(ref["mean"])
    h1, h2 = _half_unit(row["std"]), _half_unit(ref["std"])
    tiny = 1e-9
    p_low = from_stats(abs(m1 - m2) + hm, max(s1 - h1, tiny), n1, 0.0, max(s2 - h2, tiny), n2).p
    p_high = from_stats(max(abs(m1 - m2) - hm, 0.0), s1 + h1, n1, 0.0, s2 + h2, n2).p
    significant = res.p < alpha
    rec.update(t=res.t, p=res.p, df=res.df, p_low=p_low, p_high=p_high, n=str(n1), n_assumed=assumed,
               recomputed="*" if significant else "", robust=(p_low < alpha) == (p_high < alpha),
               status="agree" if significant == (row.pmark == "*") else "disagree")
    if assumed:
        rec["reason"] = f"n assumed = {assume_n}"
    return rec
