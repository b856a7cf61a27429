"""The registry of paper tables and figures: one module per table (``ela_table1.py`` ...).

    from experiments.tables import get_table, TABLE_IDS
    table = get_table("ela.table1")
    runs = table.runs("smoke")          # list[RunConfig]; "full" = the paper's recipe and seeds

Identifiers are ``<paper>.<table|fig>``. A bare name (``table1``) means the lead paper's
(ELA) table when ELA has one, else the one paper that has it; ``resolve`` says which.
See ``base.py`` for what a table is and what the profiles do.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import json
from typing import Any

from models import ConfigError

from ..config import RunConfig
from .base import PROFILES, Planned, Row, Table

__all__ = ["TABLE_IDS", "get_table", "resolve", "all_tables", "Table", "Row", "Planned", "PROFILES", "LEAD_PAPER",
           "planned_rows", "SCALE_FIELDS"]

LEAD_PAPER = "ela"

TABLE_IDS: tuple[str, ...] = (
    "ela.table1", "ela.table2", "ela.table3", "ela.table4", "ela.table5", "ela.table6", "ela.table7", "ela.fig2b",
    "ela.fig4", "ela.fig2a", "ela.fig3", "ela.fig5",
    "dla.table1", "dla.table2", "dla.table3", "dla.table4", "dla.table5", "dla.table6", "dla.fig4", "dla.fig2",
    "dia.table3", "dia.table4", "dia.table6", "dia.table7", "dia.table8", "dia.table9", "dia.table10", "dia.table11", "dia.table12",
    "dia.table13", "dia.table14", "dia.table15", "dia.table16", "dia.table17",
    "dia.fig2", "dia.fig10", "dia.fig13", "dia.fig14", "dia.fig15",
    "dia.fig9", "dia.fig11", "dia.fig8",
)


def resolve(name: str) -> tuple[str, str | None]:
    """``(table id, note)``: the note (None for a full id) says what a bare name was taken to mean.

    Case and separators are ignored (``ELA.Table1``, ``ela-table1``, ``dia.fig_10``).
    """
    key = str(name).strip().lower().replace("_", "").replace(" ", "").replace("-", ".").replace("figure", "fig")
    if key in TABLE_IDS:
        return key, None
    if "." not in key:
        owners = [t for t in TABLE_IDS if t.split(".")[1] == key]
        if owners:
            lead = f"{LEAD_PAPER}.{key}"
            chosen = lead if lead in owners else owners[0] if len(owners) == 1 else None
            if chosen is not None:
                others = [o for o in owners if o != chosen]
                why = "the lead paper's" if chosen == lead else f"the only paper with a {key}"
                note = f"'{name}' means {chosen} ({why})" + (f"; also: {', '.join(others)}" if others else "")
                return chosen, note
    bare = key.split(".")[-1]
    close = difflib.get_close_matches(key, TABLE_IDS, n=4, cutoff=0.6)
    names = difflib.get_close_matches(bare, sorted({t.split(".")[1] for t in TABLE_IDS}), n=2, cutoff=0.6)
    close += [t for n in names for t in TABLE_IDS if t.endswith("." + n) and t not in close]
    hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
    raise ConfigError(f"unknown table {name!r}{hint} (`./reproduce.sh list` shows all {len(TABLE_IDS)})")


def get_table(name: str) -> Table:
    table_id, _ = resolve(name)
    module = importlib.import_module(f"{__name__}.{table_id.replace('.', '_')}")
    table = module.TABLE
    assert table.id == table_id, f"{module.__name__} defines {table.id}"
    return table


def all_tables() -> list[Table]:
    return [get_table(t) for t in TABLE_IDS]


#: Identity fields a launch may override for every run of a table alike (``--seeds``,
#: ``--epochs``, ``--train-subset``, ``--test-subset``, ``--drop-path``, ``--amp``): they
#: change a run's hash, never which printed rows it stands for.
SCALE_FIELDS = ("seed", "epochs", "train_subset", "test_subset", "drop_path", "amp")


def _row_key(cfg: RunConfig) -> str:
    ident = {k: v for k, v in cfg.identity().items() if k not in SCALE_FIELDS}
    return json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)


@functools.lru_cache(maxsize=1)
def _row_index() -> dict[str, tuple[dict[str, Any], ...]]:
    index: dict[str, dict[tuple, dict[str, Any]]] = {}
    for table in all_tables():
        for profile in PROFILES:
            for row in table.rows:
                entry = {"table": table.id, "row": row.label, "key": list(row.key)}
                index.setdefault(_row_key(row.config(profile, 0)), {})[(table.id, row.label, row.key)] = entry
    return {k: tuple(v.values()) for k, v in index.items()}


def planned_rows(cfg: RunConfig) -> list[dict[str, Any]]:
    """Every printed row of every table that plans ``cfg``: ``{"table", "row", "key"}`` with
    ``key`` = (dataset, backbone, depth, model, variant) as in results/paper/results.csv
    (``Row.key``). One run can stand for several rows: rows shared between tables (ELA
    Table 4's EBQM row is ELA Table 1's ELA/CIFAR-100 row) and, at the smoke scale, rows that
    differ only in the dataset. Seeds and the scale overrides (``SCALE_FIELDS``) are ignored;
    every other identity field must equal the row's. Empty for a run no table plans (made by
    hand with ``./reproduce.sh run``). Written into each run's record (``planned``), outside
    the hash; the analysis joins records to the papers' numbers on it.
    """
    return [dict(e, key=list(e["key"])) for e in _row_index().get(_row_key(cfg), ())]
