"""What the papers' own numbers support: a paper-internal significance verdict for every
claim, before anyone trains.

    from analysis.paper_evidence import paper_evidence, cross_paper, n_sources, verdict_counts
    summary, evidence = paper_evidence(load_paper())     # one row per claim / per comparison
    consistency = cross_paper(load_paper())              # models printed by two or more papers

Every claim (``analysis.claims.CLAIMS``) is tested on the same arms as our runs are: the
claim's ``pairs`` in each of its ``contexts``, on the claim's ``metric`` (top-1, top-5, or a
detection claim's box / mask AP), read from the claim's own ``tables`` of
``results/paper/results.csv`` (``analysis.claims.paper_value``). A comparison is testable
when the paper prints both arms' mean and std and n is known (where it is not, but the other
arm's row carries the paper's own significance mark, DIA Table X's '*', the detail quotes it):

* n from the results.csv ``n`` column where it is filled (its ``note`` says where the number
  comes from: printed, or the paper's run-count statement, e.g. DLA Sec. 4.1 "five runs");
* else the paper's documented run count for the table (``experiments.tables`` ``seeds`` and
  ``seeds_note``: DIA Tables IV, VI, VII and VIII print mean +- std and t-test marks but no n,
  DIA's protocol is 15 repeats, Sec. III-A). ``n_source`` says which.

For a testable comparison: the two-sided Welch and Student p-values from summary statistics
(``analysis.stats.from_stats``), the Welch p-values Holm-corrected within the claim (Student's
too, shown beside), the result (``significant``: the subject ahead with Holm p < alpha;
``not significant``; ``opposite``: significantly behind; for "comparable" claims, two
one-sided Welch tests with the claim's margin, ``tost_from_stats``) and the seeds per arm a
reproduction needs to detect the published difference at power 0.8 with the paper's spread
(``analysis.stats.seeds_needed``, Welch, exact noncentral t).

A claim is "significant" in the paper's own numbers when every testable comparison is (the
claim's ``aggregate='most'``: more than half), "not significant" when some testable one is
not, "cannot be tested" when none is (no std printed, a timing or figure claim).

``cross_paper`` lists every model two or more papers print at the same depth and dataset with
each paper's number, and flags differences larger than the printed spread: Welch p < alpha
where both print std and n; otherwise |difference| larger than ``k`` (2) times the largest
printed std even at the most favourable rounding of the printed numbers.

The report (``analysis.report``) shows all of it; ``verdict_counts`` gives the per-paper counts.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Mapping, Sequence

import pandas as pd
from scipy import stats as sps

from .claims import CLAIMS, paper_value, pseudo_row, holds
from .compare import number
from .stats import from_stats, holm, seeds_needed

__all__ = ["paper_evidence", "cross_paper", "n_sources", "verdict_counts", "tost_from_stats", "documented_n",
           "PAPER_VERDICTS", "EVIDENCE_COLUMNS", "SUMMARY_COLUMNS"]

#: claim-level verdicts in the papers' own numbers
PAPER_VERDICTS = ("significant", "not significant", "cannot be tested")
ACCURACY_METRICS = ("top1", "top5", "acc_all", "acc_normal", "acc_pneumonia")

EVIDENCE_COLUMNS = ["claim", "paper", "kind", "context", "subject", "other", "paper_subject", "paper_other",
                    "paper_n_source", "paper_delta", "paper_t_welch", "paper_df_welch", "paper_p_welch",
                    "paper_p_student", "paper_p_holm", "paper_p_holm_student", "paper_seeds_needed", "paper_result",
                    "paper_detail"]
SUMMARY_COLUMNS = ["claim", "paper", "kind", "paper_verdict", "paper_comparisons", "paper_tested",
                   "paper_significant", "paper_opposite", "paper_seeds_max", "paper_coverage", "paper_reason"]


def _half_unit(printed: Any) -> float:
    """Half a unit in the last printed decimal ("76.7" -> 0.05, "0.20" -> 0.005)."""
    s = str(printed).strip()
    decimals = len(s.split(".")[1]) if "." in s else 0
    return 0.5 * 10.0 ** (-decimals)


# --------------------------------------------------------------------------- n and its source
@functools.lru_cache(maxsize=None)
def documented_n(paper: str, table: str) -> tuple[int | None, str]:
    """(run count, where it comes from) for a paper table whose results.csv rows leave n blank:
    the table module's ``seeds`` and ``seeds_note`` (``experiments/tables/<paper>_<table>.py``)."""
    from experiments.tables import TABLE_IDS, get_table

    tid = f"{paper}.{table}"
    if tid not in TABLE_IDS:
        return None, f"no table module for {tid}"
    t = get_table(tid)
    return int(t.seeds), f"documented run count ({tid}: {t.seeds_note})"


def _clauses(note: str) -> list[str]:
    """A results.csv note split at the semicolons that are outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in str(note):
        depth += ch == "("
        depth -= ch == ")" and depth > 0
        if ch == ";" and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + [cur.strip()]


def _csv_n_note(note: str) -> str:
    """The clause of a results.csv note that says where n comes from ("n=5: 'five runs' (Sec. 4.1)")."""
    for part in _clauses(note):
        if part.lower().startswith("n="):
            return part
    return "n column of results.csv"


def _arm(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """An arm's printed mean, std, n and n's source, from ``claims.paper_value``'s answer."""
    out = {"ok": False, "mean": float("nan"), "std": float("nan"), "n": None, "n_source": "", "short": "",
           "problem": "", "mean_str": "", "std_str": ""}
    if not value:
        out["problem"] = "no row in the claim's tables"
        return out
    r = value["record"]
    out.update(mean=number(r["mean"]), std=number(r["std"]), mean_str=r["mean"], std_str=r["std"])
    where = f"{r['paper'].upper()} {r['table']}"
    if not math.isfinite(out["mean"]):
        out["problem"] = f"accuracy printed as '{r['mean']}' ({where})"
        return out
    if not (math.isfinite(out["std"]) and out["std"] > 0):
        out["problem"] = f"no std printed ({where})"
        return out
    n = number(r["n"])
    if math.isfinite(n) and n >= 2:
        out.update(n=int(n), n_source=f"results.csv ({where}): {_csv_n_note(r.get('note', ''))}",
                   short="csv")
    else:
        dn, why = documented_n(r["paper"], r["table"])
        if dn is None or dn < 2:
            out["problem"] = f"std printed but no n printed or documented ({where}; {why})"
            return out
        out.update(n=dn, n_source=f"not printed; {why}", short=f"documented ({r['paper']}.{r['table']})")
    out["ok"] = True
    return out


def n_sources(paper: pd.DataFrame) -> pd.DataFrame:
    """Per paper table (accuracy metrics): whether std is printed, the n used for the paper-internal
    tests and where it comes from."""
    acc = paper[paper["metric"].isin(ACCURACY_METRICS)]
    out = []
    for (p, t), part in acc.groupby(["paper", "table"], sort=False):
        with_std = part[part["std"].astype(str).str.strip() != ""]
        ns = sorted({x for x in with_std["n"].astype(str) if x.strip()})
        if not len(with_std):
            n, source = "—", "no std printed: not testable"
        elif ns and (with_std["n"].astype(str).str.strip() != "").all():
            n = "/".join(ns)
            notes = sorted({_csv_n_note(x) for x in with_std["note"]})
            source = "results.csv n column: " + " | ".join(notes)
        else:
            dn, why = documented_n(p, t)
            n = "—" if dn is None else str(dn)
            source = f"n not printed; {why}" if dn is not None else f"n not printed or documented ({why})"
            if ns:
                n = "/".join(ns) + f" where printed, else {n}"
        out.append({"paper": p, "table": t, "rows": len(part), "rows_with_std": len(with_std), "n": n,
                    "source": source})
    return pd.DataFrame(out, columns=["paper", "table", "rows", "rows_with_std", "n", "source"])


# --------------------------------------------------------------------------- tests
def tost_from_stats(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, margin: float,
                    equal_var: bool = False) -> float:
    """p-value of two one-sided tests for |m1 - m2| < margin (equivalence) from summary statistics:
    the larger of P(T > (d + margin)/se) and P(T < (d - margin)/se), d = m1 - m2. Welch's by default
    (se^2 = s1^2/n1 + s2^2/n2, Welch-Satterthwaite df), Student's with ``equal_var`` (pooled, n1 + n2 - 2)."""
    v1, v2 = s1**2 / n1, s2**2 / n2
    if equal_var:
        sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
        se, df = math.sqrt(sp2 * (1 / n1 + 1 / n2)), n1 + n2 - 2
    else:
        se = math.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) if se > 0 else 1.0
    d = m1 - m2
    if se == 0:
        return 0.0 if abs(d) < margin else 1.0
    return float(max(sps.t.sf((d + margin) / se, df), sps.t.cdf((d - margin) / se, df)))


def _printed_mark(other: Mapping[str, Any] | None) -> str:
    """What the paper's own significance mark on the other arm's row says, for a comparison the
    printed numbers cannot test (DIA Table X: AP without std, '*' = its Student t-test against
    DIA-LSTM at p < 0.05); "" where the row carries no mark."""
    r = other["record"] if other else {}
    mark = str(r.get("pmark", "")).strip()
    if not mark:
        return ""
    meaning = [c for c in _clauses(r.get("note", "")) if c.startswith(f"'{mark}'")]
    return f"; the paper marks the other arm {meaning[0] if meaning else repr(mark)} (its own test, not recomputed)"


_UNTESTABLE_KIND = {
    "figure": "a figure claim: the paper prints no numbers for it",
    "faster": "a timing claim: the paper prints training times without std or n",
    "stable": "a divergence claim: the paper prints 'nan' against an accuracy, no spread to test",
    "params": "a parameter-count claim: computed from the model zoo, nothing to test",
    "lower_std": "a spread claim: the paper prints each arm's std, no test of it",
    "grows": "a growth claim: a difference of differences, not tested on the printed numbers",
}


def _compare(claim, a, b, ctx, paper: pd.DataFrame) -> dict[str, Any]:

    nan = float("nan")
    rec: dict[str, Any] = {"claim": claim.id, "paper": claim.paper, "kind": claim.kind, "context": ctx.label(),
                           "subject": a.label(), "other": b.label(), "paper_subject": "—", "paper_other": "—",
                           "paper_n_source": "", "paper_delta": nan, "paper_t_welch": nan, "paper_df_welch": nan,
                           "paper_p_welch": nan, "paper_p_student": nan, "paper_p_holm": nan,
                           "paper_p_holm_student": nan, "paper_seeds_needed": nan, "paper_result": "cannot be tested",
                           "paper_detail": "", "_test_p": nan}
    if claim.kind in _UNTESTABLE_KIND:
        rec["paper_detail"] = _UNTESTABLE_KIND[claim.kind]
        return rec
    if not claim.tables:
        rec["paper_detail"] = "the paper prints no numbers for it (a figure only)"
        return rec
    va = paper_value(paper, claim, pseudo_row(claim, a, ctx), claim.metric)  # top1, top5, box_ap, mask_ap ...
    vb = paper_value(paper, claim, pseudo_row(claim, b, ctx), claim.metric)
    A, B = _arm(va), _arm(vb)
    for key, v, arm in (("paper_subject", va, A), ("paper_other", vb, B)):
        if v:
            rec[key] = v["text"] + (f" (n={arm['n']}, documented)" if arm["ok"] and arm["short"] != "csv" else "")
    if math.isfinite(A["mean"]) and math.isfinite(B["mean"]):
        rec["paper_delta"] = A["mean"] - B["mean"]
    if not (A["ok"] and B["ok"]):
        problems = [f"subject: {A['problem']}" if A["problem"] else "", f"other: {B['problem']}" if B["problem"] else ""]
        if A["problem"] and A["problem"] == B["problem"]:
            problems = [A["problem"]]
        rec["paper_detail"] = "; ".join(p for p in problems if p) + _printed_mark(vb)
        return rec
    shorts = sorted({A["short"], B["short"]})
    rec["paper_n_source"] = (f"n={A['n']}" if A["n"] == B["n"] else f"n={A['n']}/{B['n']}") + ": " + ", ".join(
        "results.csv" if s == "csv" else s for s in shorts)
    args = (A["mean"], A["std"], A["n"], B["mean"], B["std"], B["n"])
    w = from_stats(*args, equal_var=False)
    s = from_stats(*args, equal_var=True)
    rec.update(paper_t_welch=w.t, paper_df_welch=w.df, paper_p_welch=w.p, paper_p_student=s.p)
    if claim.kind == "equivalent":
        rec["_test_p"] = tost_from_stats(*args, claim.threshold)
        rec["_test_p_student"] = tost_from_stats(*args, claim.threshold, equal_var=True)
    else:
        rec["_test_p"], rec["_test_p_student"] = w.p, s.p
        d = rec["paper_delta"]
        if d != 0:
            try:
                rec["paper_seeds_needed"] = float(seeds_needed(abs(d), (A["std"], B["std"])))
            except ValueError:
                rec["paper_seeds_needed"] = float("inf")
    return rec


def _decide(claim, rec: dict[str, Any], alpha: float) -> None:
    q = rec["paper_p_holm"]
    sig = math.isfinite(q) and q < alpha
    if claim.kind == "equivalent":
        rec["paper_result"] = "significant" if sig else "not significant"
        rec["paper_detail"] = (f"two one-sided tests, margin ±{claim.threshold} (Holm p columns: TOST, "
                               f"Welch p {rec['_test_p']:.3g}): " + ("equivalent" if sig else "equivalence not shown"))
        return
    d = rec["paper_delta"]
    if sig and d > 0:
        rec["paper_result"], rec["paper_detail"] = "significant", "subject ahead beyond the paper's spread"
    elif sig:
        rec["paper_result"], rec["paper_detail"] = "opposite", "significantly behind: the paper's numbers contradict it"
    else:
        rec["paper_result"] = "not significant"
        rec["paper_detail"] = ("difference within the paper's spread" if d > 0
                               else "subject not ahead in the paper's own numbers")
    s_sig = math.isfinite(rec["paper_p_holm_student"]) and rec["paper_p_holm_student"] < alpha
    if s_sig != sig:
        rec["paper_detail"] += f" (Student's test, Holm: {'significant' if s_sig else 'not significant'})"


def paper_evidence(paper: pd.DataFrame, claims: Sequence | None = None, alpha: float = 0.05
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test every claim on the paper's own printed numbers. Returns (summary: one row per claim
    with ``paper_verdict``, evidence: one row per comparison), columns ``SUMMARY_COLUMNS`` /
    ``EVIDENCE_COLUMNS``."""
    claims = CLAIMS if claims is None else claims
    summary, evidence = [], []
    for claim in claims:
        recs = [_compare(claim, a, b, ctx, paper) for ctx in claim.contexts for a, b in claim.pairs]
        tested = [r for r in recs if math.isfinite(r["_test_p"])]
        if tested:
            adj_w = holm([r["_test_p"] for r in tested], alpha)[0]
            adj_s = holm([r["_test_p_student"] for r in tested], alpha)[0]
            for r, qw, qs in zip(tested, adj_w, adj_s):
                r["paper_p_holm"], r["paper_p_holm_student"] = float(qw), float(qs)
                _decide(claim, r, alpha)
        n_sig = sum(r["paper_result"] == "significant" for r in tested)
        n_opp = sum(r["paper_result"] == "opposite" for r in tested)
        if not tested:
            verdict = "cannot be tested"
        else:
            verdict = "significant" if holds(claim, n_sig, len(tested)) else "not significant"
        gains = [r["paper_seeds_needed"] for r in tested
                 if claim.kind == "better" and r["paper_delta"] > 0 and not math.isnan(r["paper_seeds_needed"])]
        reasons = sorted({r["paper_detail"] for r in recs if r["paper_result"] == "cannot be tested"})
        coverage = f"{len(tested)}/{len(recs)} comparisons testable in the paper's numbers"
        if tested:
            coverage += f", {n_sig} significant" + (f", {n_opp} significantly the other way" if n_opp else "")
        summary.append({"claim": claim.id, "paper": claim.paper, "kind": claim.kind, "paper_verdict": verdict,
                        "paper_comparisons": len(recs), "paper_tested": len(tested), "paper_significant": n_sig,
                        "paper_opposite": n_opp, "paper_seeds_max": max(gains) if gains else float("nan"),
                        "paper_coverage": coverage, "paper_reason": "; ".join(reasons)})
        evidence += recs
    return (pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
            pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS))


def verdict_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """Claims per paper by paper-internal verdict (columns ``PAPER_VERDICTS`` and ``claims``)."""
    t = pd.crosstab(summary["paper"], summary["paper_verdict"])
    for v in PAPER_VERDICTS:
        if v not in t:
            t[v] = 0
    t = t[list(PAPER_VERDICTS)]
    order = [p for p in ("ela", "dla", "dia") if p in t.index] + [p for p in t.index if p not in ("ela", "dla", "dia")]
    t = t.loc[order]
    t["claims"] = t.sum(axis=1)
    return t


# --------------------------------------------------------------------------- cross-paper consistency
_KEY = ["dataset", "backbone", "depth", "model", "variant", "metric"]


def cross_paper(paper: pd.DataFrame, alpha: float = 0.05, k: float = 2.0) -> pd.DataFrame:
    """Every model (dataset, backbone, depth, model, variant, metric) that two or more papers print,
    with each paper's number and whether the papers differ beyond the printed spread.

    Per pair of papers: both print std and n (or n is documented): Welch p from summary statistics,
    flagged when p < alpha. Only one prints a std s: flagged when |difference| minus the rounding of
    the two printed means exceeds ``k`` * s, i.e. the other paper's number lies outside the ~95% range
    of a single run of this one (were it a mean of 5 such runs, a gap of 2 s would have p ~ 0.01).
    Neither prints a std: not judged (``identical`` says whether the numbers are the same, as
    baselines copied from one source are).

    Returns one row per model: the key columns, ``papers``, ``numbers`` (each paper's, with its
    tables), ``max_abs_delta``, ``spread`` (largest printed std), ``min_p_welch``, ``identical``,
    ``judged``, ``flagged`` and ``detail`` (per pair of papers).
    """
    acc = paper[paper["metric"].isin(ACCURACY_METRICS)]
    acc = acc[acc["mean"].map(lambda s: math.isfinite(number(s)))]
    out = []
    for key, grp in acc.groupby(_KEY, sort=False):
        if grp["paper"].nunique() < 2:
            continue
        entries: list[dict[str, Any]] = []
        for r in grp.to_dict("records"):  # one entry per distinct number of each paper
            same = [e for e in entries if e["paper"] == r["paper"] and e["mean_str"] == r["mean"]
                    and e["std_str"] == r["std"]]
            if same:
                same[0]["tables"].append(r["table"])
                continue
            arm = _arm({"record": r})
            entries.append({"paper": r["paper"], "tables": [r["table"]], "mean_str": r["mean"], "std_str": r["std"],
                            "n_str": r["n"], "mean": arm["mean"], "std": arm["std"], "n": arm["n"], "ok": arm["ok"]})
        pairs, flagged, judged = [], False, False
        min_p = float("nan")
        for e1, e2 in itertools.combinations(entries, 2):
            if e1["paper"] == e2["paper"]:
                continue
            d = e1["mean"] - e2["mean"]
            label = f"{e1['paper'].upper()} vs {e2['paper'].upper()}: Δ {d:+.2f}"
            if e1["ok"] and e2["ok"]:
                p = from_stats(e1["mean"], e1["std"], e1["n"], e2["mean"], e2["std"], e2["n"], equal_var=False).p
                min_p = p if math.isnan(min_p) else min(min_p, p)
                judged = True
                hit = p < alpha
                label += f" (Welch p {p:.3g}{', beyond the spread' if hit else ''})"
            else:
                stds = [x["std"] for x in (e1, e2) if math.isfinite(x["std"]) and x["std"] > 0]
                if stds:
                    judged = True
                    s = max(stds)
                    slack = _half_unit(e1["mean_str"]) + _half_unit(e2["mean_str"])
                    hit = abs(d) - slack > k * s
                    label += f" ({'>' if hit else '≤'} {k:g} × {s:.2f}" + (" beyond rounding" if hit else "") + ")"
                else:
                    hit = False
                    label += " (no std printed)"
            flagged |= hit
            pairs.append(label)
        means = [e["mean"] for e in entries]
        stds = [e["std"] for e in entries if math.isfinite(e["std"]) and e["std"] > 0]
        numbers = "; ".join(
            f"{e['paper'].upper()} {', '.join(e['tables'])}: {e['mean_str']}"
            + (f" ± {e['std_str']}" if e["std_str"] else "")
            + (f" (n={e['n']}{'' if e['n_str'] else ' documented'})" if e["ok"] else "")
            for e in entries)
        out.append({**dict(zip(_KEY, key)), "papers": ", ".join(sorted({e["paper"] for e in entries})),
                    "numbers": numbers, "max_abs_delta": max(means) - min(means),
                    "spread": max(stds) if stds else float("nan"), "min_p_welch": min_p,
                    "identical": len({e["mean_str"] for e in entries}) == 1, "judged": judged, "flagged": flagged,
                    "detail": "; ".join(pairs)})
    cols = _KEY + ["papers", "numbers", "max_abs_delta", "spread", "min_p_welch", "identical", "judged", "flagged",
                   "detail"]
    return pd.DataFrame(out, columns=cols)
