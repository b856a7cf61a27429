"""The reproduction report: every claim of the three papers, the evidence so far, a verdict.

    ./reproduce.sh report                              # runs/ -> results/report.md, results/tables/, results/figures/
    ./reproduce.sh report --runs /data/runs --html     # also results/report.html
    python -m analysis.report --runs runs --out /tmp/report.md --tables-dir /tmp/tables

What it contains: the claims (``analysis.claims``) with a verdict each (supported / not
supported / not yet run) and the comparisons behind it (the paper's numbers, ours, Welch
p-values Holm-corrected per claim, seeds needed); beside it, a verdict from the paper's own
numbers, which needs no runs (``analysis.paper_evidence``: significant / not significant /
cannot be tested, with Welch and Student p from the printed mean, std and n, Holm within the
claim, n's source, seeds per arm to see each published gain), a summary of it per paper and
the models two or more papers print, with the differences beyond the printed spread flagged;
the rebuilt tables
(``analysis.tables``, written next to the report); the papers' printed significance
marks recomputed from their mean, std and n (``analysis.stats.recompute_marks``) with
agree / disagree; the runs that match no paper row. Smoke runs never count for a
verdict; the report says so when they are all there is.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import html as _html
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .claims import CLAIMS, VERDICTS, evaluate_claims
from .compare import compare, runs_for
from .paper_evidence import PAPER_VERDICTS, cross_paper, n_sources, verdict_counts
from .records import ROOT, load_paper, load_records
from .stats import recompute_marks
from .tables import DATASET_NAMES, SMOKE_BANNER, fmt_p, md_table, table_id, table_title, write_tables

__all__ = ["build_report", "marks_report", "paper_evidence_section", "main", "MARK_TABLES", "ASSUMED_N_TABLES"]

PAPER_NAMES = {"ela": "ELA — Efficient Layer Attention (pruning redundant retrievals)",
               "dla": "DLA — Dynamic Layer Attention", "dia": "DIA — Dense-and-Implicit Attention (DIANet)"}
#: DIA tables whose '*' marks can be recomputed from the printed mean, std and n
MARK_TABLES = ("table3",)
#: DIA tables that print marks, mean and std but no n: recomputed with n assumed (as Table III's 15)
ASSUMED_N_TABLES = ("table4", "table6", "table7", "table8")
ASSUMED_N = 15


def _num(x: Any, digits: int = 2, signed: bool = False) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return ">1e8" if v == float("inf") else "—"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def marks_report(paper: pd.DataFrame, alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(printed-n tables, assumed-n tables): ``recompute_marks`` on the DIA tables that
    print significance marks."""
    dia = paper[paper["paper"] == "dia"]
    printed = recompute_marks(dia[dia["table"].isin(MARK_TABLES)], alpha=alpha)
    assumed = recompute_marks(dia[dia["table"].isin(ASSUMED_N_TABLES)], alpha=alpha, assume_n=ASSUMED_N)
    return printed, assumed


def _marks_section(marks: pd.DataFrame, title: str, intro: str) -> list[str]:
    out = [f"### {title}", "", intro, ""]
    tested = marks[marks["status"].isin(["agree", "disagree"])]
    counts = marks["status"].value_counts().to_dict()
    out += ["Status counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".", ""]
    rows = []
    for r in tested.to_dict("records"):
        rows.append([r["table"], r["dataset"], r["row"], r["ref_row"], f"{r['mean']} ± {r['std']} (n={r['n']})",
                     r["printed"] or "—", r["recomputed"] or "—", fmt_p(r["p"]),
                     f"{fmt_p(r['p_low'])}–{fmt_p(r['p_high'])}", fmt_p(r["p_holm"]), r["status"],
                     "yes" if r["robust"] else "no"])
    if rows:
        out.append(md_table(["table", "dataset", "row", "tested against", "paper", "printed *", "recomputed *",
                             "p (Student)", "p over rounding", "p Holm", "status", "robust"], rows))
    else:
        out.append("No row of these tables can be tested.")
    cannot = marks[marks["status"] == "cannot"]
    if len(cannot):
        reasons = cannot.groupby("reason").size().to_dict()
        out += ["", "Not testable: " + "; ".join(f"{n} rows: {k}" for k, n in reasons.items()) + "."]
    return out + [""]


def _evidence_table(ev: pd.DataFrame, kind: str) -> str:
    rows = []
    for r in ev.to_dict("records"):
        paper_delta = r["paper_delta"]
        if kind == "faster":
            pd_s = "—" if not math.isfinite(paper_delta) else f"{100 * paper_delta:.1f}% less"
            d_s = "—" if not math.isfinite(r["delta"]) else f"{100 * r['delta']:.1f}% less"
        else:
            pd_s = _num(paper_delta, signed=True) + (f" (p {fmt_p(r['paper_p'])})" if math.isfinite(r["paper_p"]) else "")
            d_s = _num(r["delta"], signed=True)
        seeds = r["seeds_needed"]
        seeds_s = "—" if not (isinstance(seeds, float) and (math.isfinite(seeds) or seeds == float("inf"))) else (
            ">1e8" if seeds == float("inf") else str(int(seeds)))
        rows.append([r["context"], f"{r['subject']} vs {r['other']}", f"{r['paper_subject']} / {r['paper_other']}",
                     pd_s, r["ours_subject"], r["ours_other"], d_s, fmt_p(r["p"]), fmt_p(r["p_holm"]), seeds_s,
                     f"**{r['result']}**" + (f": {r['detail']}" if r["detail"] else "")])
    head = ["context", "comparison", "paper (subject / other)", "paper Δ", "ours: subject", "ours: other", "Δ",
            "p", "p Holm", "seeds/arm", "result"]
    return md_table(head, rows)


def _seeds_cell(seeds: Any) -> str:
    if not isinstance(seeds, (float, int)) or not (math.isfinite(seeds) or seeds == float("inf")):
        return "—"
    return ">1e8" if seeds == float("inf") else str(int(seeds))


def _paper_evidence_table(ev: pd.DataFrame) -> str:
    """The comparisons of one claim tested on the paper's own numbers (the testable ones)."""
    rows = []
    for r in ev.to_dict("records"):
        rows.append([r["context"], f"{r['subject']} vs {r['other']}", f"{r['paper_subject']} / {r['paper_other']}",
                     r["paper_n_source"], _num(r["paper_delta"], signed=True), fmt_p(r["paper_p_welch"]),
                     fmt_p(r["paper_p_student"]), f"{fmt_p(r['paper_p_holm'])} / {fmt_p(r['paper_p_holm_student'])}",
                     _seeds_cell(r["paper_seeds_needed"]),
                     f"**{r['paper_result']}**" + (f": {r['paper_detail']}" if r["paper_detail"] else "")])
    return md_table(["context", "comparison", "paper (subject / other)", "n (source)", "paper Δ", "p Welch",
                     "p Student", "p Holm (Welch / Student)", "seeds/arm at the paper's spread",
                     "the paper's own evidence"], rows)


def _paper_verdict_cell(r: Mapping[str, Any]) -> str:
    """The claims table's 'the paper's own evidence' cell: verdict and how much of it was testable."""
    cell = f"**{r['paper_verdict']}**"
    if r["paper_tested"]:
        cell += f" ({r['paper_significant']} of {r['paper_tested']} testable significant"
        if r["paper_tested"] < r["paper_comparisons"]:
            cell += f"; {r['paper_comparisons'] - r['paper_tested']} not testable"
        cell += ")"
    return cell


def _claim_line(r: Mapping[str, Any]) -> str:
    if r["paper_verdict"] == "cannot be tested":
        return f"- `{r['claim']}`: {r['paper_reason']}"
    out = f"- `{r['claim']}`: {r['paper_significant']}/{r['paper_tested']} testable comparisons significant"
    if r["paper_opposite"]:
        out += f" ({r['paper_opposite']} significantly the other way)"
    if r["paper_tested"] < r["paper_comparisons"]:
        out += f"; {r['paper_comparisons'] - r['paper_tested']} more not testable"
    seeds = r["paper_seeds_max"]
    if isinstance(seeds, float) and (math.isfinite(seeds) or seeds == float("inf")):
        out += f"; seeds per arm to see every published gain: {_seeds_cell(seeds)}"
    return out


def paper_evidence_section(summary: pd.DataFrame, paper: pd.DataFrame, alpha: float = 0.05,
                           consistency: pd.DataFrame | None = None) -> list[str]:
    """The report's section on what the papers' own numbers support (``summary``: the claims frame
    of ``evaluate_claims``, with its ``paper_*`` columns): counts per paper, the claims by verdict,
    where each table's n comes from, and the cross-paper consistency of the models they share."""
    counts = verdict_counts(summary)
    out = ["## What the papers' own numbers support", "",
           "Before any run: each claim's comparisons tested on the paper's own printed mean ± std and n "
           "(two-sided Welch and Student t-tests from summary statistics, Welch p Holm-corrected within the claim, "
           f"alpha = {alpha}; 'comparable' claims by two one-sided Welch tests). A claim is *significant* when every "
           "testable comparison shows the subject ahead beyond the paper's own run-to-run spread (DIA Table III's "
           "'most SAMs': more than half), *not significant* when one does not, *cannot be tested* when the paper "
           "prints no std (or no numbers) for any of them. 'Seeds per arm': runs per arm a Welch test needs to "
           "detect the published gain with the paper's spread at power 0.8.", "",
           md_table(["paper", "claims", *PAPER_VERDICTS],
                    [[k.upper(), int(r["claims"]), *[int(r[v]) for v in PAPER_VERDICTS]]
                     for k, r in counts.iterrows()]), ""]
    for paper_key in counts.index:
        part = summary[summary["paper"] == paper_key]
        out += [f"### {paper_key.upper()} claims in its own numbers", ""]
        for verdict, title in (("significant", "Supported by the paper's own numbers"),
                               ("not significant", "Not supported by the paper's own numbers"),
                               ("cannot be tested", "Not testable from the paper")):
            sel = part[part["paper_verdict"] == verdict]
            out += [f"{title} ({len(sel)}):", ""] + ([_claim_line(r) for r in sel.to_dict("records")] or ["- none"])
            out += [""]
    ns = n_sources(paper)
    out += ["### Where each table's n comes from", "",
            "n of each arm: the results.csv n column where filled (its note quotes the paper's run-count "
            "statement), else the paper's documented run count for the table (`experiments/tables/*.py`, "
            "`seeds_note`); tables without a printed std cannot be tested.", "",
            md_table(["table", "rows", "rows with std", "n", "source"],
                     [[table_id(r["paper"], r["table"]), r["rows"], r["rows_with_std"], r["n"], r["source"]]
                      for r in ns.to_dict("records")]), ""]
    cons = cross_paper(paper, alpha) if consistency is None else consistency
    judged, unjudged = cons[cons["judged"]], cons[~cons["judged"]]
    flagged = cons[cons["flagged"]]
    out += ["### Cross-paper consistency", "",
            f"Models that two or more papers print at the same depth and dataset: {len(cons)}; "
            f"with a printed spread to judge them by: {len(judged)}; differing beyond it: {len(flagged)}. "
            "Flagged: Welch p < alpha where both papers print std and n; otherwise the gap, less the rounding of "
            "the printed means, exceeds twice the printed run-to-run std (outside the ~95% range of a single run "
            "of the paper that prints the std). A flagged model says the papers' setups differ by more than seed "
            "noise, so a gain measured against another paper's baseline is suspect.", ""]
    if len(judged):
        rows = [[DATASET_NAMES.get(r["dataset"], r["dataset"]), f"{r['backbone']}-{r['depth']}", r["model"]
                 + (f" [{r['variant']}]" if r["variant"] else ""), r["metric"], r["numbers"],
                 _num(r["max_abs_delta"]), _num(r["spread"]), "**yes**" if r["flagged"] else "no", r["detail"]]
                for r in judged.to_dict("records")]
        out += [md_table(["dataset", "backbone", "model", "metric", "each paper's number", "largest |Δ|",
                          "largest printed std", "beyond the spread", "pairs"], rows), ""]
    if len(unjudged):
        same = unjudged[unjudged["identical"]]
        diff = unjudged[~unjudged["identical"]]
        if len(same):
            out += [f"Printed identically with no std ({len(same)}; "
                    f"{', '.join(sorted(set(p.upper() for p in same['papers'])))}: baselines copied from one "
                    "source, not independent measurements): "
                    + ", ".join(f"{r['model']}-{r['depth']} {DATASET_NAMES.get(r['dataset'], r['dataset'])} "
                                f"{r['metric']}" for r in same.to_dict("records")) + ".", ""]
        if len(diff):
            out += ["Printed differently with no std to judge by: "
                    + "; ".join(f"{r['model']}-{r['depth']} {r['dataset']} {r['metric']}: {r['numbers']}"
                                for r in diff.to_dict("records")) + ".", ""]
    return out


def _unmatched(runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    if not len(runs):
        return runs
    hit = pd.Series(False, index=runs.index)
    for row in paper.to_dict("records"):
        m = runs_for(row, runs)
        hit[m.index] = True
    return runs[~hit]


def _md_to_html(md: str, title: str) -> str:
    """The report as one HTML page (Python-Markdown with its tables extension)."""
    import markdown

    body = markdown.markdown(md, extensions=["tables"], output_format="html")
    style = ("body{font-family:sans-serif;max-width:1400px;margin:auto}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}blockquote{color:#b00;font-weight:bold}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}\n</body></html>\n")


def _header_lines(runs_dir, runs: pd.DataFrame) -> list[str]:
    """Title, where the records came from, how many, and the smoke / no-records banner."""
    from experiments.records import git_commit

    n_runs = len(runs)
    smoke = runs["smoke"].astype(bool) if n_runs else pd.Series(dtype=bool)
    status = runs["status"].value_counts().to_dict() if n_runs else {}
    git = git_commit()
    lines = [
        "# Reproduction report: ELA, DLA and DIA", "",
        f"Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC from `{runs_dir}` "
        f"(checkout {str(git.get('commit') or 'unknown')[:12]}{', modified' if git.get('dirty') else ''}). "
        f"Runs found: {n_runs} ({int((~smoke).sum()) if n_runs else 0} full-scale, {int(smoke.sum()) if n_runs else 0} "
        f"smoke); status: " + (", ".join(f"{k} {v}" for k, v in sorted(status.items())) or "none") + ".",
        "",
    ]
    if n_runs and smoke.all():
        lines += [f"> **{SMOKE_BANNER}.** Only smoke-scale runs exist: the tables show them (marked †), "
                  "but no verdict counts them.", ""]
    elif not n_runs:
        lines += ["> No run records yet: the tables show the papers' numbers and 'not yet run'.", ""]
    return lines


def _claims_lines(summary: pd.DataFrame, which: str, alpha: float) -> list[str]:
    """The verdict counts and the one table of every claim."""
    counts = summary["verdict"].value_counts().to_dict()
    pcounts = summary["paper_verdict"].value_counts().to_dict()
    per_paper = verdict_counts(summary)
    return [
        f"Our accuracies: the {which} test accuracy over epochs of each run (the released code reports the best).",
        "Verdicts: " + ", ".join(f"{k}: {counts.get(k, 0)}" for k in VERDICTS)
        + f" (of {len(summary)} claims).",
        "The papers' own numbers (no runs needed): " + ", ".join(f"{k}: {pcounts.get(k, 0)}" for k in PAPER_VERDICTS)
        + " (" + "; ".join(f"{k.upper()} " + " / ".join(str(int(r[v])) for v in PAPER_VERDICTS)
                           for k, r in per_paper.iterrows()) + ").", "",
        "## Claims and verdicts", "",
        md_table(["claim", "paper", "what the paper claims", "where", "verdict", "evidence",
                  "the paper's own evidence"],
                 [[r["claim"], r["paper"].upper(), r["text"], r["source"], f"**{r['verdict']}**", r["coverage"],
                   _paper_verdict_cell(r)]
                  for r in summary.to_dict("records")]),
        "",
        "A comparison is tested when both arms have 2 or more finished full-scale runs; one with a single run in "
        "an arm gets 'n=1: direction agrees / disagrees' (no test, never 'supported'), and a claim with only "
        "such comparisons 'n=1: direction only'; each claim's evidence names the contexts tested, n=1 and not "
        "yet run. Parameter claims are computed from the model zoo. A claim is supported when "
        "every tested comparison supports it (DIA Table III's 'most SAMs': more than half), with Welch p-values "
        f"Holm-corrected within the claim at alpha = {alpha}. 'seeds/arm': runs per arm a Welch test needs to "
        "detect the paper's difference with our spread (power 0.8). 'The paper's own evidence': the same "
        "comparisons tested on the paper's printed mean, std and n (next section).", "",
    ]


def _claim_section(claim, summary: pd.DataFrame, evidence: pd.DataFrame) -> list[str]:
    """One claim: its verdict, evidence table and the paper's own numbers."""
    s = summary[summary["claim"] == claim.id].iloc[0]
    ev = evidence[evidence["claim"] == claim.id]
    lines = [f"### {claim.id}: {s['verdict']}", "", f"{claim.text} ({claim.source}.)", "",
             f"Evidence: {s['coverage']}." + (f" {claim.note}." if claim.note else ""), "",
             f"The paper's own evidence: **{s['paper_verdict']}** ({s['paper_coverage']})."
             + (f" Not testable: {s['paper_reason']}." if s["paper_reason"] else ""), ""]
    run_ev = ev[ev["result"] != "not yet run"]
    shown = run_ev if len(run_ev) else ev
    if len(run_ev) < len(ev) and len(run_ev):
        lines += [f"({len(ev) - len(run_ev)} comparisons not yet run are not listed.)", ""]
    lines += [_evidence_table(shown, claim.kind), ""]
    tested = ev[ev["paper_result"] != "cannot be tested"]
    if len(tested):
        lines += ["In the paper's own numbers:", "", _paper_evidence_table(tested), ""]
    return lines


def _tables_lines(cmp: pd.DataFrame, tables_dir: Path, out: Path, alpha: float) -> list[str]:
    """Links to the rebuilt tables, one line each, and the rows where we differ from the paper."""
    lines = ["## Rebuilt tables", "",
             f"Each paper table with our numbers beside the published ones, in `{tables_dir}` "
             "(Markdown and LaTeX).", ""]
    trows = []
    rel = os.path.relpath(tables_dir, out.parent)
    for (p, t), part in cmp.groupby(["paper", "table"], sort=False):
        tid = table_id(p, t)
        trows.append([f"[{tid}]({rel}/{tid}.md)", table_title(tid), len(part), int((part["ours_n"] > 0).sum()),
                      int((part["status"] == "compared").sum()), int((part["status"] == "not yet run").sum()),
                      int(((part["p_holm"] < alpha) & ~part["smoke"]).sum()), "yes" if part["smoke"].any() else ""])
    lines += [md_table(["table", "title", "rows", "with our runs", "tested vs paper", "not yet run",
                        "ours differs from paper (Holm p < α)", "smoke cells"], trows), ""]
    differ = cmp[(cmp["p_holm"] < alpha) & ~cmp["smoke"]]
    if len(differ):
        lines += ["Rows where our mean differs significantly from the paper's (Welch, Holm within the table):", ""]
        lines += [md_table(["table", "row", "dataset", "paper", "ours", "Δ", "p Holm"],
                           [[table_id(r["paper"], r["table"]), r["row"], r["dataset"], r["paper_mean_str"],
                             _num(r["ours_mean"]), _num(r["delta"], signed=True), fmt_p(r["p_holm"])]
                            for r in differ.to_dict("records")]), ""]
    return lines


def _marks_lines(paper: pd.DataFrame, alpha: float) -> list[str]:
    """DIA's significance marks recomputed from its printed numbers."""
    marks_printed, marks_assumed = marks_report(paper, alpha)
    lines = ["## The papers' significance marks, recomputed", "",
             "DIA prints '*' where a two-sample Student's t-test against DIA-LSTM (Table III: against the same "
             "SAM without DIA) gives p < 0.05. Recomputed from the printed mean, std and n "
             "(`analysis.stats.recompute_marks`); 'p over rounding' is the range of p over the rounding of the "
             "printed numbers, 'robust' whether that range stays on one side of 0.05. ELA (Tables 4, 6, 7) and "
             "DLA (Tables 1, 4, 5, 6) print mean, std and n but no marks: the tests their claims rest on are in "
             "the claims above (paper Δ with its Student p).", ""]
    lines += _marks_section(marks_printed, "Tables that print n (DIA Table III, n = 15)",
                            "The paper's own marks against its own numbers.")
    lines += _marks_section(marks_assumed, f"Tables without n (DIA Tables IV, VI, VII, VIII): n assumed {ASSUMED_N}",
                            f"Sensitivity only: these tables print no n; {ASSUMED_N} is Table III's.")
    return lines


def _runs_lines(runs: pd.DataFrame, paper: pd.DataFrame) -> list[str]:
    """Unfinished runs and runs that count for no paper row."""
    lines = ["## Runs", ""]
    if not len(runs):
        return lines + ["No runs yet. `./reproduce.sh <table> --profile smoke` or `python -m experiments.smoke_runs DIR` "
                        "make some.", ""]
    unmatched = _unmatched(runs, paper)
    unfinished = runs[~runs["status"].isin(["done", "diverged"])]
    if len(unfinished):
        lines += [f"Unfinished runs ({len(unfinished)}): "
                  + ", ".join(f"`{r}` ({s})" for r, s in zip(unfinished["run_name"], unfinished["status"])), ""]
    if len(unmatched):
        lines += [f"Runs that match no paper row ({len(unmatched)}; e.g. figure-only settings such as "
                  "no skip connections, or datasets the papers do not use):", ""]
        lines += [md_table(["run", "model", "dataset", "variant", "status", "smoke"],
                           [[r["run_name"], r["model"], r["dataset"], r["variant"] or "—", r["status"],
                             "yes" if r["smoke"] else ""] for r in unmatched.to_dict("records")]), ""]
    return lines


METHODS_LINES = [
    "## Methods", "",
    "- Our numbers: mean ± sample std (ddof = 1) over seeds; n = finished runs; diverged runs counted "
    "separately (the papers print 'nan').",
    "- Ours against the paper (tables): two-sided two-sample t-tests from summary statistics "
    "(scipy `ttest_ind_from_stats`), Welch's and Student's; Holm within each table.",
    "- Claims: Welch's test on per-seed values of our two arms; training-time claims on per-run mean "
    "epoch times on the same hardware; 'comparable' claims by two one-sided tests (TOST); Holm within "
    "each claim.",
    "- The paper's own evidence (`analysis.paper_evidence`): the claim's comparisons from the paper's "
    "printed mean, std and n (n printed, or the paper's documented run count: see 'Where each table's n "
    "comes from'), Welch's and Student's t-tests from summary statistics, Welch p Holm-corrected within "
    "the claim (Student's shown beside); 'comparable' claims by TOST; the papers do not say whether '±' "
    "is ddof 0 or 1 (sample std assumed).",
    "- Seeds needed: smallest n per arm whose two-sided Welch test at alpha 0.05 has power 0.8 "
    "(noncentral t), `analysis.stats.seeds_needed`.", "",
]


def build_report(runs_dir: str | Path = "runs", *, out: str | Path = ROOT / "results" / "report.md",
                 tables_dir: str | Path | None = None, figures_dir: str | Path | None = None, html: bool = False,
                 which: str = "best", alpha: float = 0.05, paper: pd.DataFrame | None = None,
                 runs: pd.DataFrame | None = None, extra: Mapping[str, Any] | None = None,
                 data_root: str | None = "data") -> dict[str, Any]:
    """Write the report (and the rebuilt tables, by default next to it in ``tables/``).

    ``figures_dir``: also draw the figures there, PNG and PDF: those from the records and those
    from trained checkpoints (``analysis.figures.model_figures``: the registered picture figures of
    ``analysis.visual`` and DIA Figs. 2, 13; images from ``data_root``).

    Returns ``{'report': path, 'html': path or None, 'tables': [paths], 'figures': [paths],
    'summary': claims summary frame, 'evidence': comparisons frame, 'comparison': per-row
    frame, 'marks': (printed-n, assumed-n) frames}``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tables_dir = Path(tables_dir) if tables_dir is not None else out.parent / "tables"
    paper = load_paper() if paper is None else paper
    runs = load_records(runs_dir) if runs is None else runs
    cmp = compare(paper, runs, which=which, alpha=alpha)
    table_paths = write_tables(cmp, tables_dir, which=which)
    figure_paths: list[Path] = []
    if figures_dir is not None:
        from .figures import model_figures, record_figures
        from .records import load_curves, load_ela_decisions

        figure_paths = record_figures(runs, load_curves(runs_dir), load_ela_decisions(runs_dir), paper, figures_dir,
                                      which=which)
        figure_paths += model_figures(runs, figures_dir, data_root=data_root)
        # the claims read from the same checkpoints (DIA Figs. 11, 13); results passed in win
        from .figures import figure_claim_evidence

        extra = {**figure_claim_evidence(runs, data_root=data_root, runs_dir=runs_dir), **(extra or {})}
        from .diffusion_figures import draw_fig8, load_diffusion_records

        diffusion = load_diffusion_records(runs_dir)
        if diffusion:  # DIA Fig. 8, from the diffusion runs' records
            try:
                figure_paths += draw_fig8(diffusion, figures_dir)[0]
            except ValueError as exc:  # several seeds of one curve: the figure draws one run each
                warnings.warn(f"DIA Fig. 8 not drawn: {exc}", stacklevel=2)
    summary, evidence = evaluate_claims(runs, paper, which=which, alpha=alpha, extra=extra)
    consistency = cross_paper(paper, alpha)
    lines = _header_lines(runs_dir, runs) + _claims_lines(summary, which, alpha)
    lines += paper_evidence_section(summary, paper, alpha, consistency)
    for paper_key in ("ela", "dla", "dia"):
        lines += [f"## {PAPER_NAMES[paper_key]}", ""]
        for claim in [c for c in CLAIMS if c.paper == paper_key]:
            lines += _claim_section(claim, summary, evidence)
    lines += _tables_lines(cmp, tables_dir, out, alpha) + _marks_lines(paper, alpha)
    lines += _runs_lines(runs, paper) + METHODS_LINES
    text = "\n".join(lines)
    out.write_text(text)
    html_path = None
    if html:
        html_path = out.with_suffix(".html")
        html_path.write_text(_md_to_html(text, "Reproduction report"))
    return {"report": out, "html": html_path, "tables": table_paths, "figures": figure_paths, "summary": summary,
            "evidence": evidence, "comparison": cmp, "marks": marks_report(paper, alpha),
            "paper_counts": verdict_counts(summary), "cross_paper": consistency}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./reproduce.sh report",
                                description="Write the reproduction report (claims, verdicts, rebuilt tables).")
    p.add_argument("--runs", default=os.environ.get("REPRO_RUNS", "runs"),
                   help="folder of run records (default: $REPRO_RUNS or runs/)")
    p.add_argument("--out", default=str(ROOT / "results" / "report.md"), help="report file (Markdown)")
    p.add_argument("--tables-dir", help="where the rebuilt tables go (default: tables/ next to the report)")
    p.add_argument("--figures-dir", help="where the figures go, PNG and PDF (default: figures/ next to the report)")
    p.add_argument("--no-figures", action="store_true", help="write the report and tables only")
    p.add_argument("--data-root", default=os.environ.get("REPRO_DATA_ROOT", "data"),
                   help="datasets, for the figures that feed images to a trained model (default: $REPRO_DATA_ROOT "
                        "or data/)")
    p.add_argument("--html", action="store_true", help="also write the report as HTML")
    p.add_argument("--which", choices=["best", "final"], default="best",
                   help="our accuracy per run: best over epochs (as the papers) or final epoch")
    p.add_argument("--alpha", type=float, default=0.05)
    args = p.parse_args(argv)
    figures_dir = None if args.no_figures else (args.figures_dir or Path(args.out).parent / "figures")
    res = build_report(args.runs, out=args.out, tables_dir=args.tables_dir, figures_dir=figures_dir,
                       html=args.html, which=args.which, alpha=args.alpha, data_root=args.data_root)
    counts = res["summary"]["verdict"].value_counts().to_dict()
    print(f"report: {res['report']}" + (f" and {res['html']}" if res["html"] else ""))
    print(f"tables: {len(res['tables']) // 2} tables in {Path(res['tables'][0]).parent if res['tables'] else '-'}")
    if res["figures"]:
        print(f"figures: {len(res['figures']) // 2} figures in {Path(res['figures'][0]).parent}")
    print("verdicts: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("supported", "not supported", "not yet run")))
    print("the papers' own numbers (" + " / ".join(PAPER_VERDICTS) + "): "
          + "; ".join(f"{k} " + " / ".join(str(int(r[v])) for v in PAPER_VERDICTS)
                      for k, r in res["paper_counts"].iterrows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
