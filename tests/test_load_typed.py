"""The one typing path (engine/load/typed.py): prepare() in memory and load_plans() into a
dataset give the same rows, and the quirks a file gets are those its preset declares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from engine.core.canonical import SALESFORCE_NULL_ID
from engine.core.layout import table_columns
from engine.load import crm, pipeline
from engine.store.workspace import Workspace

AS_OF = dt.date(2026, 6, 1)

# Salesforce report style (preset salesforce_report, null id declared).
SF_DEALS = b"""Opportunity ID,Opportunity Owner,Account ID,Stage,Amount,Created Date,Close Date
O1,Ann,000000000000000AAA,Closed Won,100,2026-01-05,2026-02-01
O2,,A7,Prospecting,200,2026-01-06,2026-07-01
"""
# Canonical names (the spreadsheet fallback: no null id of its own).
SHEET_DEALS = b"""opportunity_id,owner,account_id,stage,amount,created_date,close_date,status
S1,Ann,000000000000000AAA,Qualification,100,2026-01-05,2026-02-01,won
S2,Ann,A7,Qualification,200,2026-01-06,2026-02-01,Lost
S3,Ann,A8,Closed Won,300,2026-01-07,2026-02-01,open
S4,Ann,A9,Closed Won,400,2026-01-08,2026-02-01,
"""
# Pipedrive style: won / lost come from the status column, not the stage.
PD_DEALS = b"""Deal - ID,Deal - Title,Deal - Owner,Deal - Value,Deal - Stage,Deal - Status,Deal - Deal created,Deal - Expected close date
P1,a,Ann,100,Qualified,won,2026-01-05,2026-02-01
P2,b,Ann,200,Qualified,lost,2026-01-06,2026-02-01
P3,c,Ann,300,Negotiations Started, Open ,2026-01-07,2026-07-01
"""
ACTIVITIES = b"""activity_id,opportunity_id,activity_type,activity_date,owner
A1,O1,Call,2026-01-10,Ann
A2,O1,  EMAIL ,2026-01-11,Ann
A3,O9,Carrier pigeon,2026-01-12,
"""


def _plans(files: list[tuple[str, bytes]]) -> list[pipeline.FilePlan]:
    return [pipeline.inspect_file(data, name) for name, data in files]


def _stored(tmp_path: Path, files: list[tuple[str, bytes]]) -> dict[str, pl.DataFrame]:
    ws = Workspace(tmp_path / "ws")
    info, _ = pipeline.load_plans(ws, _plans(files), "t", as_of=AS_OF)
    out = {}
    with ws.cursor(info.token) as cur:
        for table in ("opportunities", "activities"):
            cols = ", ".join(f'"{c}"' for c, _ in table_columns(table))
            arrow = cur.sql(f'SELECT {cols} FROM "{table}" ORDER BY _file, _line').to_arrow_table()
            frame = pl.from_arrow(arrow)
            assert isinstance(frame, pl.DataFrame)
            out[table] = frame
    ws.close()
    return out


def _by_id(files: list[tuple[str, bytes]], table: str = "opportunities") -> dict[str, dict]:
    prepared = pipeline.prepare(_plans(files), as_of=AS_OF)
    (f,) = [f for f in prepared.files if f.table == table]
    key = "opportunity_id" if table == "opportunities" else "activity_id"
    return {r[key]: r for r in f.loaded.to_dicts()}


def test_prepare_in_memory_returns_the_rows_load_plans_stores(tmp_path: Path) -> None:
    files = [("deals.csv", SF_DEALS), ("activities.csv", ACTIVITIES)]
    prepared = pipeline.prepare(_plans(files), as_of=AS_OF)
    stored = _stored(tmp_path, files)
    for f in prepared.files:
        # same columns, same types (Date stays Date, stage_order Int32), same rows
        assert f.loaded.columns == [c for c, _ in table_columns(f.table)]
        assert f.loaded.schema == stored[f.table].schema, f.table
        assert f.loaded.rows() == stored[f.table].rows(), f.table
    acts = {r["activity_id"]: r for r in prepared.files[1].loaded.to_dicts()}
    # activity kind: "Call" -> call, "  EMAIL " -> email, anything else -> other
    assert [acts[a]["activity_type"] for a in ("A1", "A2", "A3")] == ["call", "email", "other"]
    assert acts["A3"]["owner"] == "(unassigned)"  # empty owner
    # A3 (one flagged row, three warnings): no owner, a type outside the list, and its deal
    # O9 is not in the deals file; it loads all the same
    assert prepared.files[1].warning_counts() == {
        "missing_owner": 1,
        "unknown_activity_type": 1,
        "unknown_opportunity": 1,
    }
    assert prepared.files[1].rows_loaded == 3


def test_a_preset_null_id_is_read_as_empty_only_in_its_style() -> None:
    assert crm.get("salesforce_report").null_id == SALESFORCE_NULL_ID  # type: ignore[union-attr]
    assert crm.get("spreadsheet").null_id is None  # type: ignore[union-attr]
    sf = _by_id([("deals.csv", SF_DEALS)])
    assert sf["O1"]["account_id"] is None  # Salesforce's "no record" id
    assert sf["O2"]["account_id"] == "A7"
    assert sf["O2"]["owner"] == "(unassigned)"
    sheet = _by_id([("deals.csv", SHEET_DEALS)])
    assert sheet["S1"]["account_id"] == SALESFORCE_NULL_ID  # not a Salesforce file


def test_status_decides_closed_and_won_where_the_preset_declares_it() -> None:
    assert dict(crm.get("pipedrive").status_outcomes) == {  # type: ignore[union-attr]
        "won": (True, True),
        "lost": (True, False),
        "open": (False, False),
    }
    assert not crm.get("salesforce_report").status_outcomes  # type: ignore[union-attr]
    pd = _by_id([("deals.csv", PD_DEALS)])
    # (is_closed, is_won): won -> (T, T); lost -> (T, F); " Open " (trimmed, any case) -> (F, F)
    got = {k: (v["is_closed"], v["is_won"]) for k, v in pd.items()}
    assert got == {"P1": (True, True), "P2": (True, False), "P3": (False, False)}
    sheet = _by_id([("deals.csv", SHEET_DEALS)])
    got = {k: (v["is_closed"], v["is_won"]) for k, v in sheet.items()}
    # S1 won although its stage is open; S3 open although its stage is Closed Won;
    # S4 has no status: from its stage, Closed Won -> (T, T)
    assert got == {
        "S1": (True, True),
        "S2": (True, False),
        "S3": (False, False),
        "S4": (True, True),
    }


def test_hubspot_stage_dates_sharing_a_line_are_kept_apart() -> None:
    """Unpivoted stage dates share their deal's line: a bad date quarantines that one row,
    not the deal's other stage rows (rows are keyed by position, not by line)."""
    deals = (
        b"Record ID,Deal Name,Deal owner,Deal Stage,Amount,Create Date,Close Date,"
        b'Date entered "Appointment Scheduled (Sales Pipeline)",'
        b'Date entered "Closed Won (Sales Pipeline)"\n'
        b"H1,a,Ann,Closed Won,100,2026-01-05,2026-02-01,2026-01-06,not a date\n"
        b"H2,b,Ann,Appointment Scheduled,100,2026-01-05,2026-07-01,2026-01-07,\n"
    )
    prepared = pipeline.prepare(_plans([("deals.csv", deals)]), as_of=AS_OF)
    (hist,) = [f for f in prepared.files if f.table == "stage_history"]
    # rows: H1 x 2 stages (line 2) + H2 x 1 stage (line 3; its empty date is no row)
    assert (hist.rows_in, hist.rows_loaded, hist.rows_quarantined) == (3, 2, 1)
    assert hist.quarantine["line"].to_list() == [2]
    assert sorted(hist.loaded["opportunity_id"].to_list()) == ["H1", "H2"]
