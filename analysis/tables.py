"""The papers' tables rebuilt with our numbers, as Markdown and LaTeX.

    from analysis.tables import write_tables
    write_tables(compare(load_paper(), load_records("runs/")), "results/tables")
    # -> results/tables/ela.table1.md, ela.table1.tex, dla.table1.md, ...

Each table keeps the paper's rows in the paper's order, one block per dataset and metric
(the paper's column groups), with the columns

    row | paper (mean +- std, n) | ours (mean +- std, n) | delta | p (Welch / Student) | p Holm | seeds/arm

``ours`` says "not yet run" where no run exists. A cell computed from smoke-scale runs
carries the marker "†" (and the stand-in dataset it ran on), and the table opens with the
banner "SMOKE RUN — not comparable with the paper"; "‡" marks runs trained with another
recipe than the paper's. The per-seed values follow each table.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from experiments.data import DATASETS

__all__ = ["table_title", "SMOKE_BANNER", "DATASET_NAMES", "METRIC_NAMES", "table_markdown", "table_latex",
           "write_tables", "rebuild_table", "md_table", "fmt_p", "ours_cell", "paper_cell", "table_id"]

SMOKE_MARK, RECIPE_MARK = "†", "‡"
SMOKE_BANNER = "SMOKE RUN — not comparable with the paper"

#: How the tables and the report name each dataset: the dataset registry's ``table_name``.
DATASET_NAMES = {name: spec.table_name for name, spec in DATASETS.items()}
METRIC_NAMES = {"top1": "top-1 accuracy (%)", "top5": "top-5 accuracy (%)",
                "epoch_time_h": "training time per epoch (h)", "acc_pneumonia": "accuracy, pneumonia (%)",
                "acc_normal": "accuracy, normal (%)", "acc_all": "accuracy, all (%)",
                "box_ap": "box AP (%)", "box_ap50": "box AP50 (%)", "box_ap75": "box AP75 (%)",
                "box_aps": "box AP small (%)", "box_apm": "box AP medium (%)", "box_apl": "box AP large (%)",
                "mask_ap": "mask AP (%)", "mask_ap50": "mask AP50 (%)", "mask_ap75": "mask AP75 (%)",
                "mask_aps": "mask AP small (%)", "mask_apm": "mask AP medium (%)", "mask_apl": "mask AP large (%)"}
HEADERS = ["row", "paper (mean ± std, n)", "ours (mean ± std, n)", "Δ (ours − paper)", "p (Welch / Student)",
           "p Holm", "seeds/arm"]


def table_id(paper: str, table: str) -> str:
    return f"{paper}.{table}"


def table_title(tid: str) -> str:
    """The title of a paper table: the registry's (``experiments.tables``), else its id."""
    from experiments.tables import TABLE_IDS, get_table

    return get_table(tid).title if tid in TABLE_IDS else tid


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_p(p: Any) -> str:
    if not _finite(p):
        return "—"
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_num(x: float, metric: str) -> str:
    return f"{x:.3g}" if metric == "epoch_time_h" else f"{x:.2f}"


def paper_cell(r: dict) -> str:
    mean = str(r["paper_mean_str"]).strip()
    if mean.lower() == "nan":
        return "nan (diverged)"
    s = mean
    if str(r["paper_std_str"]).strip():
        s += f" ± {r['paper_std_str']}"
    if str(r["paper_n_str"]).strip():
        s += f" (n={r['paper_n_str']})"
    if str(r.get("pmark", "")).strip():
        s += f" {r['pmark']}"
    return s


def ours_cell(r: dict) -> str:
    status = r["status"]
    if status == "not implemented":
        return "not implemented here"
    if status == "not yet run":
        return "not yet run"
    if status == "running":
        s = f"running ({r['n_running']})"
    elif status == "diverged":
        s = f"diverged ({r['n_diverged']}/{r['n_diverged']})"
    else:
        n, metric = int(r["ours_n"]), r["metric"]
        s = _fmt_num(r["ours_mean"], metric)
        if n > 1 and _finite(r["ours_std"]):
            s += f" ± {_fmt_num(r['ours_std'], metric)}"
        s += f" (n={n})"
        extra = []
        if r["n_diverged"]:
            extra.append(f"{r['n_diverged']} diverged")
        if r["n_running"]:
            extra.append(f"{r['n_running']} running")
        if extra:
            s += " [" + ", ".join(extra) + "]"
    if r.get("recipe_note"):
        s += f" {RECIPE_MARK}"
    if r["smoke"]:
        s = f"{SMOKE_MARK} {s} [smoke{', ' + r['stand_in'] if r['stand_in'] else ''}]"
    return s


def _row_cells(r: dict) -> list[str]:
    seeds = r["seeds_needed"]
    seeds_s = "—" if not _finite(seeds) and seeds != float("inf") else (">1e8" if seeds == float("inf")
                                                                       else str(int(seeds)))
    p = "—" if not _finite(r["p_welch"]) else f"{fmt_p(r['p_welch'])} / {fmt_p(r['p_student'])}"
    delta = f"{r['delta']:+.2f}" if _finite(r["delta"]) and r["metric"] != "epoch_time_h" else "—"
    return [str(r["row"]), paper_cell(r), ours_cell(r), delta, p, fmt_p(r["p_holm"]), seeds_s]


def _blocks(cmp: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    order = list(dict.fromkeys(zip(cmp["dataset"], cmp["metric"])))
    out = []
    for dataset, metric in order:
        part = cmp[(cmp["dataset"] == dataset) & (cmp["metric"] == metric)]
        out.append((f"{DATASET_NAMES.get(dataset, dataset)} — {METRIC_NAMES.get(metric, metric)}", part))
    return out


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table ('|' in cells escaped)."""
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _legend(cmp: pd.DataFrame, which: str) -> list[str]:
    lines = [
        f"Ours: {which} test accuracy over epochs of each run, mean ± sample std (ddof = 1) over n runs (seeds). "
        "p: two-sided two-sample t-tests of our mean against the paper's from summary statistics "
        "(Welch / Student's, DIA's test), only where the paper prints std and n; "
        "p Holm: Welch p Holm-corrected over the tested rows of this table; "
        "seeds/arm: runs per arm a Welch test needs to detect the observed Δ (power 0.8, α 0.05). "
        "'*' after a paper cell: the paper's significance mark (p < 0.05 against its reference row).",
    ]
    if cmp["smoke"].any():
        lines.append(f"{SMOKE_MARK} smoke-scale run (few epochs on a subset, possibly a stand-in dataset): "
                     "not comparable with the paper.")
    if cmp["recipe_note"].astype(bool).any():
        lines.append(f"{RECIPE_MARK} trained with another recipe than the paper's: "
                     + "; ".join(sorted(set(cmp.loc[cmp['recipe_note'].astype(bool), 'recipe_note']))) + ".")
    if (cmp["metric"] == "epoch_time_h").any():
        lines.append("Training time: the paper's hardware is not stated; compare ratios between models "
                     "(reproduction report), not hours.")
    return lines


def _seed_lines(cmp: pd.DataFrame) -> list[str]:
    lines = []
    for r in cmp.to_dict("records"):
        if r["ours_n"]:
            vals = ", ".join(f"{v:.2f}" for v in r["ours_values"])
            seeds = ", ".join(str(s) for s in r["ours_seeds"])
            lines.append(f"- {r['row']} ({DATASET_NAMES.get(r['dataset'], r['dataset'])}, {r['metric']}): "
                         f"seeds {seeds} → {vals}{' (smoke)' if r['smoke'] else ''}")
    return lines


def _flops_block(cmp: pd.DataFrame) -> list[str]:
    """Where the paper prints FLOPs: the paper's beside ours from the records (forward
    multiply-accumulates per image, G, of the network as trained: after ELA's pruning)."""
    if "paper_gflops" not in cmp or not cmp["paper_gflops"].map(_finite).any():
        return []
    rows = []
    for r in cmp.drop_duplicates("row").to_dict("records"):
        if _finite(r["paper_gflops"]):
            ours = f"{r['ours_gmacs']:.2f}" if _finite(r["ours_gmacs"]) else ours_cell(r)
            if r["smoke"] and _finite(r["ours_gmacs"]):
                ours = f"{SMOKE_MARK} {ours} [smoke: another input size]"
            rows.append([r["row"], f"{r['paper_gflops']:g}", ours])
    return ["## FLOPs per image (G)", "", md_table(["row", "paper", "ours (after pruning)"], rows), ""]


def readings(tid: str) -> tuple[str, ...]:
    """How this repository reads the paper where the table's rows depend on it (the table
    module's ``decisions``; empty for an id without a module)."""
    from experiments.tables import TABLE_IDS, get_table

    return get_table(tid).readings() if tid in TABLE_IDS else ()


def table_markdown(cmp: pd.DataFrame, which: str = "best") -> str:
    """One paper table (the rows of ``compare`` for one paper and table) as Markdown."""
    paper, table = cmp["paper"].iloc[0], cmp["table"].iloc[0]
    tid = table_id(paper, table)
    out = [f"# {table_title(tid)}", ""]
    if cmp["smoke"].any():
        out += [f"> **{SMOKE_BANNER}.** Cells marked {SMOKE_MARK} come from smoke-scale runs.", ""]
    n_run = int((cmp["ours_n"] > 0).sum())
    out += [f"Rows with our runs: {n_run} of {len(cmp)}; not yet run: {int((cmp['status'] == 'not yet run').sum())}.",
            ""]
    for title, part in _blocks(cmp):
        out += [f"## {title}", "", md_table(HEADERS, [_row_cells(r) for r in part.to_dict("records")]), ""]
    out += _flops_block(cmp)
    out += [line for line in _legend(cmp, which)] + [""]
    notes = readings(tid)
    if notes:
        out += [f"Readings of the paper behind these rows (experiments/tables/{tid.replace('.', '_')}.py):", ""]
        out += [f"- {n}" for n in notes] + [""]
    seeds = _seed_lines(cmp)
    if seeds:
        out += ["Per-seed values:", ""] + seeds + [""]
    return "\n".join(out)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SYMBOLS = {"±": r"$\pm$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "—": "--", "Δ": r"$\Delta$",
                  "−": "-", "α": r"$\alpha$", "→": r"$\to$", "<": r"$<$", ">": r"$>$"}


def latex_escape(s: Any) -> str:
    out = []
    for ch in str(s):
        out.append(_LATEX_ESCAPES.get(ch) or _LATEX_SYMBOLS.get(ch) or ch)
    return "".join(out)


def table_latex(cmp: pd.DataFrame, which: str = "best") -> str:
    """One paper table as a LaTeX ``table`` (booktabs)."""
    paper, table = cmp["paper"].iloc[0], cmp["table"].iloc[0]
    tid = table_id(paper, table)
    ncol = len(HEADERS)
    lines = []
    if cmp["smoke"].any():
        lines.append(f"% {SMOKE_BANNER}")
    lines += [r"\begin{table}[t]", r"\centering", r"\small",
              rf"\caption{{{latex_escape(table_title(tid))}}}", rf"\label{{tab:repro-{paper}-{table}}}",
              r"\begin{tabular}{l" + "l" * (ncol - 1) + "}", r"\toprule"]
    if cmp["smoke"].any():
        lines.append(rf"\multicolumn{{{ncol}}}{{l}}{{\textbf{{{latex_escape(SMOKE_BANNER)}}}}} \\")
        lines.append(r"\midrule")
    lines.append(" & ".join(latex_escape(h) for h in HEADERS) + r" \\")
    for title, part in _blocks(cmp):
        lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{{ncol}}}{{l}}{{\textit{{{latex_escape(title)}}}}} \\")
        for r in part.to_dict("records"):
            lines.append(" & ".join(latex_escape(c) for c in _row_cells(r)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = " ".join(_legend(cmp, which))
    lines += [r"\par\smallskip\footnotesize " + latex_escape(notes), r"\end{table}", ""]
    return "\n".join(lines)


def write_tables(cmp: pd.DataFrame, out_dir: str | Path, which: str = "best",
                 tables: Iterable[str] | None = None) -> list[Path]:
    """Write ``<paper>.<table>.md`` and ``.tex`` for every paper table in ``cmp`` (or only
    the ids in ``tables``, e.g. ``['ela.table1']``); returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(tables) if tables is not None else None
    written = []
    for (paper, table), part in cmp.groupby(["paper", "table"], sort=False):
        tid = table_id(paper, table)
        if wanted is not None and tid not in wanted:
            continue
        md, tex = out_dir / f"{tid}.md", out_dir / f"{tid}.tex"
        md.write_text(table_markdown(part, which))
        tex.write_text(table_latex(part, which))
        written += [md, tex]
    return written


def rebuild_table(tid: str, records: Iterable[dict], out_dir: str | Path, which: str = "best") -> Path | None:
    """Rebuild one paper table (``'ela.table1'``) from the given run records (those of the
    table's own runs) into ``out_dir/<tid>.md`` and ``.tex``; returns the Markdown path, or
    None where the paper prints no numbers under that id (figures)."""
    from .compare import compare
    from .records import load_paper, load_records

    paper = load_paper()
    paper = paper[[table_id(p, t) == tid for p, t in zip(paper["paper"], paper["table"])]]
    if paper.empty:
        return None
    written = write_tables(compare(paper, load_records(list(records)), which=which), out_dir, which, tables=[tid])
    return written[0] if written else None
