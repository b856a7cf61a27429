"""Analysis of the reproduction: our runs against the papers' published numbers.

    records.py    run records (runs/<run>/record.json) -> tidy tables; how a run maps to a paper row
    compare.py    ours vs the paper per row: mean +- std, n, Welch/Student p, Holm per table, seeds needed
    tables.py     the papers' tables rebuilt in Markdown and LaTeX (results/tables/)
    claims.py     every claim of the three papers and the verdict our runs give it
    report.py     the reproduction report (./reproduce.sh report -> results/report.md)
    figures.py    the papers' figures from records and trained checkpoints (results/figures/)
    probes.py     read-outs of a trained model: layer attention, correlations, gradients, Gini importance
    stats.py      t-tests, Holm, power and seeds needed, the papers' significance marks recomputed
    (experiments/smoke_runs.py makes tiny real runs for the tests and a demo)
    *.ipynb       one notebook per paper and an overview, rebuilt from results/ and a runs folder
"""
