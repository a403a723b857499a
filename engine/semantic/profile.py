"""What a dataset holds, as the sidebar offers it: the values each shared filter can take, the
period labels the data covers and the day it is analysed as of.

Stored in the file when it is written (``engine/semantic/facts.py``) and read from there;
computed from the tables (:func:`live_profile`) for a file written without it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb

from engine.core.layout import read_fact
from engine.semantic import dimensions

PROFILE_FACT = "profile"


@dataclass(frozen=True)
class Profile:
    """Values the shared filters may take, and period labels that cover the data."""

    options: dict[str, list[str]]
    periods: list[str]
    # The day the pages analyse as of: the data's latest event, capped at the load date.
    as_of: str | None = None


def dataset_profile(con: duckdb.DuckDBPyConnection) -> Profile:
    """Filter values (segment, team, owner) present in the dataset and period labels: the
    ones stored when the file was written (``engine/semantic/facts.py``), else read live."""
    stored = read_fact(con, PROFILE_FACT)
    if stored is not None:
        data = json.loads(stored)
        return Profile(data["options"], data["periods"], data["as_of"])
    return live_profile(con)


def profile_json(profile: Profile) -> str:
    return json.dumps(
        {"options": profile.options, "periods": profile.periods, "as_of": profile.as_of}
    )


def live_profile(con: duckdb.DuckDBPyConnection) -> Profile:
    """:func:`dataset_profile` computed from the tables."""
    queries = {
        "segment": "SELECT segment FROM opportunities UNION SELECT segment FROM reps",
        "team": "SELECT team FROM reps",
        "owner": (
            "SELECT owner FROM opportunities UNION SELECT owner FROM reps "
            "UNION SELECT owner FROM activities UNION SELECT owner FROM quotas"
        ),
    }
    options = {}
    for dim, query in queries.items():
        rows = con.execute(
            f"SELECT DISTINCT v FROM ({query}) AS q(v) WHERE v IS NOT NULL AND trim(v) <> '' "
            "ORDER BY v"
        ).fetchall()
        options[dim] = [str(r[0]) for r in rows]
    options.update(dimensions.filter_options(con))  # segments derived from accounts, industry
    span = con.execute(
        "SELECT min(d), max(d) FROM (SELECT created_date AS d FROM opportunities "
        "UNION ALL SELECT close_date FROM opportunities)"
    ).fetchone()
    periods = ["all"]
    if span and span[0] is not None and span[1] is not None:
        periods += period_labels(span[0], span[1])
    meta = dict(con.execute("SELECT key, value FROM _meta").fetchall())
    return Profile(options, periods, meta.get("data_as_of") or meta.get("as_of"))


def period_labels(first: dt.date, last: dt.date) -> list[str]:
    """Years, then quarters, most recent first, covering ``first``..``last``."""
    years = list(range(last.year, first.year - 1, -1))
    quarters = [
        f"{y}-Q{q}"
        for y in years
        for q in range(4, 0, -1)
        if dt.date(y, 3 * (q - 1) + 1, 1) <= last and dt.date(y, 3 * q, 28) >= first
    ]
    return [str(y) for y in years] + quarters
