"""The physical layout of a dataset inside its DuckDB file.

Every dataset file holds every canonical table (empty when that table was not uploaded),
each with its canonical columns typed per ``canonical.DUCKDB_TYPES`` plus provenance columns,
and the bookkeeping tables below. The metric engine reads only this layout.

- ``opportunities``: canonical columns, plus ``stage_canonical`` (one of
  ``canonical.CANONICAL_STAGES``), ``stage_order`` (int, funnel order of the CRM stage) and
  ``stage_probability`` (the stage map's default, 0-100). ``owner`` is never null
  (``"(unassigned)"``); ``is_closed``/``is_won`` are never null (from the file, the status
  column or the stage map).
- ``stage_history``: canonical columns plus the same three stage columns.
- ``activities``, ``reps``, ``quotas``, ``leads``, ``accounts``, ``lead_outcomes``: canonical
  columns.
- every canonical table also has ``_file`` (source file name), ``_line`` (1-based line of the
  row in its file, header = line 1) and ``_flagged`` (true when a warning rule fired).
- ``stage_map``: stage, canonical, stage_order, probability.
- ``_meta``: key/value (name, created_at, fingerprint, tables loaded, ...).
- ``_load_report``: one row per file.
- ``_quarantine``: rejected rows with their original values, every reason and its rule id.
- ``_warnings``: one row per (row, rule) for rows that loaded with a warning.
- ``_facts``: name/value (JSON) of what the pages ask of every dataset (filter values, period
  labels, where dimensions come from), computed when the file is written
  (``engine/semantic/facts.py``); absent in files written without it, which are read live.
- ``_stage_visits``, ``_stage_medians``: per-stage tables derived from the stage history when
  the file is written (``engine/semantic/facts.py``), read by the metrics when present.
"""

from __future__ import annotations

import duckdb

from engine.core.canonical import (
    DUCKDB_TYPES,
    FLAGGED,
    SOURCE_FILE,
    SOURCE_LINE,
    STAGE_CANONICAL,
    STAGE_ORDER,
    STAGE_PROBABILITY,
    TABLES,
)

STAGED_TABLES = ("opportunities", "stage_history")

BOOKKEEPING_DDL = {
    "stage_map": "stage VARCHAR, canonical VARCHAR, stage_order INTEGER, probability DOUBLE",
    "_meta": "key VARCHAR PRIMARY KEY, value VARCHAR",
    "_load_report": (
        "file VARCHAR, table_name VARCHAR, rows_in BIGINT, rows_loaded BIGINT, "
        "rows_quarantined BIGINT, warnings JSON, mapping JSON, parse_notes JSON"
    ),
    "_quarantine": (
        "file VARCHAR, table_name VARCHAR, line BIGINT, original JSON, reasons VARCHAR[], "
        "rules VARCHAR[]"
    ),
    "_warnings": "file VARCHAR, table_name VARCHAR, line BIGINT, rule VARCHAR, message VARCHAR",
}


def table_columns(table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every stored column of a canonical table, in order."""
    cols = [(c.name, DUCKDB_TYPES[c.kind]) for c in TABLES[table].columns]
    if table in STAGED_TABLES:
        cols += [
            (STAGE_CANONICAL, "VARCHAR"),
            (STAGE_ORDER, "INTEGER"),
            (STAGE_PROBABILITY, "DOUBLE"),
        ]
    cols += [(SOURCE_FILE, "VARCHAR"), (SOURCE_LINE, "BIGINT"), (FLAGGED, "BOOLEAN")]
    return cols


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical and bookkeeping table (empty) on ``con``."""
    for table in TABLES:
        cols = ", ".join(f'"{n}" {t}' for n, t in table_columns(table))
        con.execute(f'CREATE TABLE "{table}" ({cols})')
    for name, ddl in BOOKKEEPING_DDL.items():
        con.execute(f'CREATE TABLE "{name}" ({ddl})')


def flagged_per_file(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Loaded rows that carry at least one warning (``_flagged``), per source file."""
    union = " UNION ALL ".join(
        f'SELECT "{SOURCE_FILE}" AS f FROM "{t}" WHERE "{FLAGGED}"' for t in TABLES
    )
    rows = con.execute(f"SELECT f, count(*) FROM ({union}) GROUP BY f").fetchall()
    return {str(f): int(n) for f, n in rows}


FACTS = "_facts"


def write_fact(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    """Store one fact (JSON text) in the dataset being written."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {FACTS} (name VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(f"INSERT OR REPLACE INTO {FACTS} VALUES (?, ?)", [name, value])


def read_fact(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """A stored fact, or None when the file has none (written without facts)."""
    try:
        row = con.execute(f"SELECT value FROM {FACTS} WHERE name = ?", [name]).fetchone()
    except duckdb.CatalogException:
        return None
    return str(row[0]) if row else None
