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
import importlib

from models import ConfigError

from .base import PROFILES, Planned, Row, Table

__all__ = ["TABLE_IDS", "get_table", "resolve", "all_tables", "Table", "Row", "Planned", "PROFILES", "LEAD_PAPER"]

LEAD_PAPER = "ela"

TABLE_IDS: tuple[str, ...] = (
    "ela.table1", "ela.table2", "ela.table3", "ela.table4", "ela.table6", "ela.table7", "ela.fig2b", "ela.fig4",
    "dla.table1", "dla.table2", "dla.table4", "dla.table5", "dla.table6", "dla.fig4",
    "dia.table3", "dia.table4", "dia.table6", "dia.table7", "dia.table8", "dia.table11", "dia.table12",
    "dia.table13", "dia.table14", "dia.table15", "dia.table16", "dia.table17",
    "dia.fig2", "dia.fig10", "dia.fig13", "dia.fig14", "dia.fig15",
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
