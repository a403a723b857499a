"""Tiny hand-written datasets for the metric engine tests.

``tiny_con()`` builds the dataset every per-metric test reads; its rows are written out below
so each expected value can be checked by hand. Tests on the sample data use the
``sample_dataset`` / ``sample_con`` fixtures of ``conftest.py`` (the app's own loader).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from engine.core.layout import create_tables, table_columns
from tests.pandas_reference import SF_STAGES

ROOT = Path(__file__).resolve().parents[1]


def new_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_tables(con)
    con.executemany(
        "INSERT INTO stage_map VALUES (?, ?, ?, ?)",
        [[k, c, o, p] for k, (c, o, p) in SF_STAGES.items()],
    )
    return con


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (missing columns null); stage columns come from the Salesforce map."""
    if not rows:
        return
    cols = [c for c, _ in table_columns(table)]
    out = []
    for i, r in enumerate(rows):
        r = dict(r)
        if "stage" in r and table in ("opportunities", "stage_history"):
            canon, order, prob = SF_STAGES[r["stage"]]
            r.setdefault("stage_canonical", canon)
            r.setdefault("stage_order", order)
            r.setdefault("stage_probability", prob)
            if table == "opportunities":
                r.setdefault("is_closed", canon in ("closed_won", "closed_lost"))
                r.setdefault("is_won", canon == "closed_won")
        r.setdefault("_file", f"{table}.csv")
        r.setdefault("_line", i + 2)
        r.setdefault("_flagged", False)
        unknown = set(r) - set(cols)
        assert not unknown, unknown
        out.append([r.get(c) for c in cols])
    placeholders = ", ".join("?" for _ in cols)
    con.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', out)


D = dt.date
T = dt.datetime

# The tiny dataset. Period of most tests: 2026-Q3 = [2026-07-01, 2026-10-01); as-of 2026-09-20.
TINY_AS_OF = "2026-09-20"
# The as-of date the sample dataset is analysed at (conftest's sample fixtures, the cross-check).
SAMPLE_AS_OF = dt.date(2026, 11, 20)
TINY_REPS = [
    {
        "owner": "A",
        "team": "T1",
        "segment": "SMB",
        "role": "AE",
        "manager": "M",
        "hire_date": D(2020, 1, 1),
    },
    {
        "owner": "B",
        "team": "T1",
        "segment": "Enterprise",
        "role": "AE",
        "manager": "M",
        "hire_date": D(2026, 3, 1),
    },
]
TINY_QUOTAS = [
    {
        "owner": "A",
        "period_start": D(2026, 7, 1),
        "period_end": D(2026, 10, 1),
        "quota_amount": 100.0,
    },
    {
        "owner": "B",
        "period_start": D(2026, 7, 1),
        "period_end": D(2026, 10, 1),
        "quota_amount": 100.0,
    },
]
TINY_OPPS = [
    # o1: won in Q3, cycle 2026-06-01 -> 2026-07-11 = 40 days
    {
        "opportunity_id": "o1",
        "owner": "A",
        "stage": "Closed Won",
        "amount": 50.0,
        "created_date": D(2026, 6, 1),
        "close_date": D(2026, 7, 11),
        "segment": "SMB",
        "region": "EU",
    },
    # o2: won in Q3, cycle 2026-07-01 -> 2026-08-20 = 50 days
    {
        "opportunity_id": "o2",
        "owner": "A",
        "stage": "Closed Won",
        "amount": 30.0,
        "created_date": D(2026, 7, 1),
        "close_date": D(2026, 8, 20),
        "segment": "SMB",
        "region": "NA",
    },
    # o3: lost in Q3 (history: Prospecting -> Proposal/Price Quote -> Closed Lost)
    {
        "opportunity_id": "o3",
        "owner": "A",
        "stage": "Closed Lost",
        "amount": 20.0,
        "created_date": D(2026, 7, 5),
        "close_date": D(2026, 8, 1),
        "segment": "SMB",
        "region": "NA",
    },
    # o4: won in Q3, cycle 2026-05-01 -> 2026-09-01 = 123 days
    {
        "opportunity_id": "o4",
        "owner": "B",
        "stage": "Closed Won",
        "amount": 60.0,
        "created_date": D(2026, 5, 1),
        "close_date": D(2026, 9, 1),
        "segment": "Enterprise",
        "region": "EU",
    },
    # o5: open, proposal stage (row probability empty -> stage map 90)
    {
        "opportunity_id": "o5",
        "owner": "B",
        "stage": "Negotiation/Review",
        "amount": 100.0,
        "created_date": D(2026, 7, 10),
        "close_date": D(2026, 9, 15),
        "segment": "Enterprise",
        "region": "EU",
    },
    # o6: open, Prospecting with a row probability of 25, no history
    {
        "opportunity_id": "o6",
        "owner": "A",
        "stage": "Prospecting",
        "amount": 200.0,
        "probability": 25.0,
        "created_date": D(2026, 8, 1),
        "close_date": D(2026, 9, 30),
        "segment": "SMB",
        "region": "NA",
    },
    # o7: lost in Q3, no segment (the rep's: Enterprise), flagged by the loader
    {
        "opportunity_id": "o7",
        "owner": "B",
        "stage": "Closed Lost",
        "amount": 40.0,
        "created_date": D(2026, 8, 1),
        "close_date": D(2026, 9, 10),
        "region": "EU",
        "_flagged": True,
    },
    # o8: open, no amount, closes in Q4, no history
    {
        "opportunity_id": "o8",
        "owner": "A",
        "stage": "Qualification",
        "amount": None,
        "created_date": D(2026, 2, 1),
        "close_date": D(2026, 12, 15),
        "segment": "SMB",
        "region": "NA",
    },
]
TINY_HISTORY = [
    {
        "opportunity_id": "o1",
        "stage": "Negotiation/Review",
        "entered_at": T(2026, 6, 11),
        "amount": 40.0,
        "probability": 50.0,
    },
    {"opportunity_id": "o1", "stage": "Closed Won", "entered_at": T(2026, 7, 11), "amount": 50.0},
    {"opportunity_id": "o3", "stage": "Prospecting", "entered_at": T(2026, 7, 5)},
    {"opportunity_id": "o3", "stage": "Proposal/Price Quote", "entered_at": T(2026, 7, 20)},
    {"opportunity_id": "o3", "stage": "Closed Lost", "entered_at": T(2026, 8, 1)},
    {
        "opportunity_id": "o4",
        "stage": "Prospecting",
        "entered_at": T(2026, 5, 1),
        "amount": 60.0,
        "probability": 10.0,
    },
    {
        "opportunity_id": "o4",
        "stage": "Proposal/Price Quote",
        "entered_at": T(2026, 6, 10),
        "amount": 60.0,
    },
    {"opportunity_id": "o4", "stage": "Closed Won", "entered_at": T(2026, 9, 1), "amount": 60.0},
    {"opportunity_id": "o5", "stage": "Prospecting", "entered_at": T(2026, 7, 10)},
    {"opportunity_id": "o5", "stage": "Qualification", "entered_at": T(2026, 7, 15)},
    {"opportunity_id": "o5", "stage": "Negotiation/Review", "entered_at": T(2026, 8, 9)},
]
TINY_ACTIVITIES = [
    {
        "activity_id": "a1",
        "owner": "A",
        "activity_type": "call",
        "activity_date": D(2026, 7, 2),
        "opportunity_id": "o2",
        "discovery_score": 4.0,
    },
    {
        "activity_id": "a2",
        "owner": "A",
        "activity_type": "meeting",
        "activity_date": D(2026, 7, 3),
        "opportunity_id": "o3",
    },
    {
        "activity_id": "a3",
        "owner": "A",
        "activity_type": "email",
        "activity_date": D(2026, 8, 3),
        "opportunity_id": "o6",
    },
    {
        "activity_id": "a4",
        "owner": "B",
        "activity_type": "call",
        "activity_date": D(2026, 7, 12),
        "opportunity_id": "o5",
        "discovery_score": 2.0,
    },
    {"activity_id": "a5", "owner": "A", "activity_type": "call", "activity_date": D(2026, 6, 2)},
    {
        "activity_id": "a6",
        "owner": "B",
        "activity_type": "email",
        "activity_date": D(2026, 7, 3),
        "lead_id": "L2",
    },
]
TINY_LEADS = [
    # L1: responded after 2 hours
    {
        "lead_id": "L1",
        "created_date": T(2026, 7, 1, 8),
        "owner": "A",
        "segment": "SMB",
        "status": "Converted",
        "sal_date": D(2026, 7, 2),
        "sql_date": D(2026, 7, 5),
        "converted_date": D(2026, 7, 10),
        "converted_opportunity_id": "o5",
        "first_response_at": T(2026, 7, 1, 10),
    },
    # L2: no response time; first activity a6 on 2026-07-03 (midnight) -> 15 hours
    {
        "lead_id": "L2",
        "created_date": T(2026, 7, 2, 9),
        "owner": "B",
        "segment": "SMB",
        "status": "SQL",
        "sal_date": D(2026, 7, 4),
        "sql_date": D(2026, 7, 8),
    },
    # L3: no response at all
    {
        "lead_id": "L3",
        "created_date": T(2026, 7, 3, 12),
        "owner": "A",
        "segment": "SMB",
        "status": "Disqualified",
    },
    # L4: before the period, responded in 1 hour
    {
        "lead_id": "L4",
        "created_date": T(2026, 6, 1, 8),
        "owner": "A",
        "segment": "SMB",
        "status": "SAL",
        "sal_date": D(2026, 6, 3),
        "first_response_at": T(2026, 6, 1, 9),
    },
]


def tiny_con() -> duckdb.DuckDBPyConnection:
    con = new_con()
    insert(con, "reps", TINY_REPS)
    insert(con, "quotas", TINY_QUOTAS)
    insert(con, "opportunities", TINY_OPPS)
    insert(con, "stage_history", TINY_HISTORY)
    insert(con, "activities", TINY_ACTIVITIES)
    insert(con, "leads", TINY_LEADS)
    return con
