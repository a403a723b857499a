"""Where a deal's dimensions come from, and the segment thresholds a dataset keeps.

The attribution itself is SQL (``engine.semantic.sql.Sql.opp_all``, rules in docs/data.md):
segment from the deal, else its account, else derived from the account's employees, else its
rep; industry from the account; team from the rep; region from the deal, else the rep, else
the account. This module counts, per dimension, how many deals took it from each source
(:func:`dimension_sources`, :func:`source_notes`), and reads and writes the employee
thresholds of the derived segment, stored in the dataset's ``_meta``
(:func:`segment_thresholds`, :func:`save_segment_thresholds`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from engine.core.canonical import DEFAULT_SEGMENT_THRESHOLDS, SEGMENT_THRESHOLDS_KEY
from engine.core.errors import WorkbenchError
from engine.core.layout import read_fact
from engine.semantic.request import make_request
from engine.semantic.sql import Sql
from engine.store.workspace import Workspace

# Dimension -> (source, how a sentence names it), in precedence order (docs/data.md).
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "segment": (
        ("deal", "from the deal"),
        ("account", "from the account"),
        ("account_employees", "from the account's employees"),
        ("rep", "from the rep"),
    ),
    "industry": (("account", "from the account"),),
    "team": (("rep", "from the rep"),),
    "region": (
        ("deal", "from the deal"),
        ("rep", "from the rep (sales territory)"),
        ("account", "from the account"),
    ),
}


@dataclass(frozen=True)
class Thresholds:
    """Employees where Mid-Market and Enterprise start: SMB < mid_market_min <= Mid-Market <
    enterprise_min <= Enterprise."""

    mid_market_min: float = DEFAULT_SEGMENT_THRESHOLDS["mid_market_min"]
    enterprise_min: float = DEFAULT_SEGMENT_THRESHOLDS["enterprise_min"]

    def __post_init__(self) -> None:
        mid, ent = float(self.mid_market_min), float(self.enterprise_min)
        if not (0 < mid < ent < float("inf")):
            raise WorkbenchError(
                "Segment thresholds must satisfy 0 < Mid-Market start < Enterprise start "
                f"(got {mid:g} and {ent:g} employees).",
                "Bad segment thresholds",
            )

    def to_json(self) -> str:
        return json.dumps(
            {
                "mid_market_min": float(self.mid_market_min),
                "enterprise_min": float(self.enterprise_min),
            },
            sort_keys=True,
        )

    def describe(self) -> str:
        mid, ent = self.mid_market_min, self.enterprise_min
        return (
            f"SMB under {mid:,.0f} employees, Mid-Market {mid:,.0f} to {ent - 1:,.0f}, "
            f"Enterprise {ent:,.0f} and over"
        )

    def segment(self, employees: float | None) -> str | None:
        """The segment of an account with this many employees (None: unknown)."""
        if employees is None or employees != employees:
            return None
        if employees >= self.enterprise_min:
            return "Enterprise"
        return "Mid-Market" if employees >= self.mid_market_min else "SMB"


def segment_thresholds(con: duckdb.DuckDBPyConnection) -> Thresholds:
    """The dataset's stored thresholds (the defaults when it has none or they are unreadable)."""
    row = con.execute("SELECT value FROM _meta WHERE key = ?", [SEGMENT_THRESHOLDS_KEY]).fetchone()
    if not row or row[0] is None:
        return Thresholds()
    try:
        data = json.loads(str(row[0]))
        return Thresholds(float(data["mid_market_min"]), float(data["enterprise_min"]))
    except (ValueError, KeyError, TypeError, WorkbenchError):
        return Thresholds()


def save_segment_thresholds(workspace: Workspace, token: str, thresholds: Thresholds) -> None:
    """Store new thresholds with a published dataset; every metric reads them from then on."""
    workspace.set_meta(token, SEGMENT_THRESHOLDS_KEY, thresholds.to_json())


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Values a segment or industry filter can take: as deals carry them after attribution
    (so a segment derived from accounts is offered), plus the reps' and leads' own segments."""
    q = Sql(make_request(["won_deals"]))
    q.opp_all()
    out = {}
    for dim, extra in (
        ("segment", "UNION SELECT segment FROM reps UNION SELECT segment FROM leads"),
        ("industry", ""),
    ):
        sql = q.render(
            f"SELECT DISTINCT v FROM (SELECT {dim} FROM opp_all {extra}) AS x(v) "
            "WHERE v IS NOT NULL AND trim(v) <> '' ORDER BY v"
        )
        out[dim] = [str(r[0]) for r in con.execute(sql, q.params).fetchall()]
    return out


SOURCES_FACT = "dimension_sources"


def dimension_sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """:func:`live_dimension_sources` as stored when the file was written
    (``engine/semantic/facts.py``), else computed now."""
    stored = read_fact(con, SOURCES_FACT)
    if stored is None:
        return live_dimension_sources(con)
    return sources_frame(json.loads(stored))


def sources_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=["dimension", "source", "deals", "share"])
    return frame.astype({"deals": "int64", "share": "float64"})


def live_dimension_sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per dimension and source: the deals that took the dimension from it.

    Columns ``dimension``, ``source`` (``deal``, ``account``, ``account_employees``, ``rep``,
    or ``none`` for deals without a value), ``deals``, ``share`` (of all deals). Every deal
    is counted once per dimension, so each dimension's deals sum to the deals loaded."""
    q = Sql(make_request(["won_deals"]))
    q.opp_all()
    team_source = "CASE WHEN team IS NOT NULL THEN 'rep' END"
    parts = [
        f"SELECT '{dim}' AS dimension, coalesce({col}, 'none') AS source, count(*) AS deals "
        "FROM opp_all GROUP BY ALL"
        for dim, col in (
            ("segment", "segment_source"),
            ("industry", "industry_source"),
            ("team", team_source),
            ("region", "region_source"),
        )
    ]
    frame = con.execute(q.render("\nUNION ALL\n".join(parts)), q.params).df()
    total = con.execute("SELECT count(*) FROM opportunities").fetchone()
    n = int(total[0]) if total else 0
    frame["deals"] = frame["deals"].astype("int64")
    frame["share"] = frame["deals"] / n if n else float("nan")
    order = {d: i for i, d in enumerate(SOURCES)}
    rank = {(d, s): i for d, srcs in SOURCES.items() for i, (s, _) in enumerate(srcs)}
    frame["_o"] = [
        (order[d], rank.get((d, s), 99))
        for d, s in zip(frame["dimension"], frame["source"], strict=True)
    ]
    frame = frame.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    return frame[["dimension", "source", "deals", "share"]]


def source_notes(frame: pd.DataFrame) -> list[str]:
    """One sentence per dimension: ``segment: 412 deals from the account's employees, 30 from
    the rep; 8 have none``. A dimension no deal has says so."""
    out = []
    for dim, sources in SOURCES.items():
        rows = frame[frame["dimension"] == dim]
        counts = dict(zip(rows["source"], rows["deals"], strict=True))
        parts = [f"{int(counts[s]):,} deals {label}" for s, label in sources if counts.get(s)]
        none = int(counts.get("none", 0))
        if not parts:
            out.append(f"{dim}: no deal has one (n/a)" if none else f"{dim}: no deals loaded")
            continue
        text = f"{dim}: " + ", ".join(parts)
        if none:
            text += f"; {none:,} have none"
        out.append(text)
    return out
