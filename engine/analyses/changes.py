"""Pipeline changes between two snapshots of a dataset (docs/metrics.md, Pipeline changes).

For a period P, the open pipeline due in P (open deals whose close_date is in P) moves from
Start (the older snapshot) to End (the newer one). Every deal that moved lands in exactly one
bucket of :data:`BUCKETS`, by the precedence of docs/metrics.md, so that

    End = Start + entering + increases - leaving - decreases

holds by construction; :meth:`Changes.balances` checks it. The two snapshot files are attached
read-only to one in-memory connection and every number comes from one SQL query (a full outer
join on opportunity_id); the period bounds are parameters, the grouping column comes from an
allow-list.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.core.errors import InputError
from engine.semantic.request import Period, parse_period

# Bucket ids (docs/metrics.md, Pipeline changes), in the order of the waterfall.
ENTERING: tuple[str, ...] = ("new", "pulled_in", "pushed_in", "reopened", "transferred_in")
LEAVING: tuple[str, ...] = ("won", "lost", "removed", "transferred_out", "pushed_out", "pulled_out")
INCREASE = "amount_increased"
DECREASE = "amount_decreased"
BUCKETS: tuple[str, ...] = (*ENTERING, INCREASE, *LEAVING, DECREASE)
# +1: the bucket adds to Start on the way to End; -1: it takes away.
SIGN: dict[str, int] = {b: 1 for b in (*ENTERING, INCREASE)} | {b: -1 for b in (*LEAVING, DECREASE)}
LABELS: dict[str, str] = {
    "new": "new",
    "pulled_in": "pulled in",
    "pushed_in": "pushed in (slipped)",
    "reopened": "reopened",
    "transferred_in": "transferred in",
    "amount_increased": "amount increased",
    "won": "won",
    "lost": "lost",
    "removed": "removed",
    "transferred_out": "transferred out",
    "pushed_out": "pushed out",
    "pulled_out": "pulled out",
    "amount_decreased": "amount decreased",
}
# The scopes a comparison may be split by (an allow-list: the value becomes SQL).
GROUPS: dict[str, str] = {
    "owner": "d.owner",
    "team": "coalesce(r.team, '(no team)')",
}
ALL = "(all)"
# Money compares to the cent: an amount read as 100.1 in one export and 100.10000001 in the
# next is no change.
TOLERANCE = 0.005


@contextmanager
def attach_pair(old: Path, new: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory connection with the snapshot files attached read-only as ``old`` and
    ``new``. The paths come from the workspace (validated keys), never from a user."""
    con = duckdb.connect()
    try:
        for alias, path in (("old", old), ("new", new)):
            text = str(path).replace("'", "''")
            con.execute(f"ATTACH '{text}' AS {alias} (READ_ONLY)")
        yield con
    finally:
        con.close()


def _side(schema: str, group: str | None) -> str:
    grp = GROUPS[group] if group else f"'{ALL}'"
    # The rep's team in that export, only when the split needs it.
    teams = (
        f"""
        LEFT JOIN (SELECT owner, any_value(team) AS team FROM {schema}.reps
                   WHERE team IS NOT NULL GROUP BY owner) r ON r.owner = d.owner"""
        if group == "team"
        else ""
    )
    return f"""
        SELECT d.opportunity_id AS id, d.opportunity_name AS name, d.owner, d.stage,
               d.stage_order, d.stage_canonical, d.amount, d.close_date, d.is_closed, d.is_won,
               {grp} AS grp
        FROM {schema}.opportunities d{teams}"""


def classified_sql(group: str | None) -> str:
    """One row per (deal, scope) that is in P's open pipeline at Start or at End, with its
    bucket (NULL: in both, unchanged). ``whole`` is true for the rows of the whole pipeline
    (``grp`` NULL); with ``group``, the rows per rep or team (``whole`` false) follow in the
    same query. Parameters: period start, period end (either NULL)."""
    if group is not None and group not in GROUPS:
        raise InputError(f"Cannot split changes by {group!r}: use one of {', '.join(GROUPS)}.")

    def in_p(side: str) -> str:
        return (
            f"({side}.id IS NOT NULL AND NOT {side}.is_closed AND {side}.close_date IS NOT NULL "
            f"AND (p.s IS NULL OR {side}.close_date >= p.s) "
            f"AND (p.e IS NULL OR {side}.close_date < p.e))"
        )

    scoped = (
        """UNION ALL
        SELECT *, false, o_grp, true, n_in AND n_grp IS NOT DISTINCT FROM o_grp
        FROM j WHERE o_in
        UNION ALL
        SELECT *, false, n_grp, false, true
        FROM j WHERE n_in AND NOT (o_in AND o_grp IS NOT DISTINCT FROM n_grp)"""
        if group
        else ""
    )
    return f"""
    WITH p AS (SELECT CAST(? AS DATE) AS s, CAST(? AS DATE) AS e),
    o AS ({_side("old", group)}),
    n AS ({_side("new", group)}),
    j AS MATERIALIZED (
        SELECT coalesce(o.id, n.id) AS opportunity_id, coalesce(n.name, o.name) AS name,
               o.id IS NOT NULL AS o_seen, n.id IS NOT NULL AS n_seen,
               {in_p("o")} AS o_in, {in_p("n")} AS n_in,
               o.grp AS o_grp, n.grp AS n_grp,
               o.owner AS old_owner, n.owner AS new_owner,
               o.stage AS old_stage, n.stage AS new_stage,
               o.stage_order AS old_order, n.stage_order AS new_order,
               n.stage_canonical AS new_canonical,
               o.close_date AS old_close, n.close_date AS new_close,
               o.amount AS old_amount, n.amount AS new_amount,
               coalesce(o.amount, 0) AS o_amt, coalesce(n.amount, 0) AS n_amt,
               coalesce(o.is_closed, false) AS o_closed,
               coalesce(n.is_closed, false) AS n_closed, coalesce(n.is_won, false) AS n_won,
               p.s AS ps, p.e AS pe
        FROM o FULL OUTER JOIN n ON o.id = n.id CROSS JOIN p
        WHERE {in_p("o")} OR {in_p("n")}
    ),
    c AS (
        SELECT *, true AS whole, CAST(NULL AS VARCHAR) AS grp, o_in AS at_start,
               n_in AS at_end
        FROM j
        {scoped}
    )
    SELECT *,
        CASE
          WHEN at_start AND at_end THEN CASE
              WHEN n_amt - o_amt > {TOLERANCE} THEN 'amount_increased'
              WHEN o_amt - n_amt > {TOLERANCE} THEN 'amount_decreased' END
          WHEN at_end THEN CASE
              WHEN NOT o_seen THEN 'new'
              WHEN o_closed THEN 'reopened'
              WHEN NOT whole AND o_grp IS DISTINCT FROM grp THEN 'transferred_in'
              WHEN ps IS NOT NULL AND old_close < ps THEN 'pushed_in'
              ELSE 'pulled_in' END
          ELSE CASE
              WHEN NOT n_seen THEN 'removed'
              WHEN n_closed AND n_won THEN 'won'
              WHEN n_closed THEN 'lost'
              WHEN NOT whole AND n_grp IS DISTINCT FROM grp THEN 'transferred_out'
              WHEN ps IS NOT NULL AND new_close < ps THEN 'pulled_out'
              ELSE 'pushed_out' END
        END AS bucket,
        CASE
          WHEN at_start AND at_end THEN n_amt - o_amt
          WHEN at_end THEN n_amt
          ELSE -o_amt
        END AS change
    FROM c"""


def summary_sql(group: str | None) -> str:
    """Start, End and every bucket per scope, in one pass over :func:`classified_sql`."""
    parts = [
        "sum(o_amt) FILTER (WHERE at_start) AS start_amount",
        "count(*) FILTER (WHERE at_start) AS start_deals",
        "count(*) FILTER (WHERE at_start AND old_amount IS NULL) AS start_no_amount",
        "sum(n_amt) FILTER (WHERE at_end) AS end_amount",
        "count(*) FILTER (WHERE at_end) AS end_deals",
        "count(*) FILTER (WHERE at_end AND new_amount IS NULL) AS end_no_amount",
    ]
    for b in BUCKETS:
        parts.append(f"sum(abs(change)) FILTER (WHERE bucket = '{b}') AS \"{b}_amount\"")
        parts.append(f"count(*) FILTER (WHERE bucket = '{b}') AS \"{b}_deals\"")
    cols = ",\n        ".join(parts)
    return (
        f"SELECT whole, grp,\n        {cols}\n    FROM ({classified_sql(group)}) x "
        "GROUP BY whole, grp ORDER BY whole DESC, grp"
    )


def moves_sql() -> str:
    """Stage moves of deals in P's open pipeline at Start or End (a second view, not a bucket):
    per (old stage, new stage), advanced or regressed, deals and amount (the new amount)."""
    return f"""
    SELECT old_stage, new_stage,
           CASE WHEN new_order > old_order THEN 'advanced' ELSE 'regressed' END AS direction,
           count(*) AS deals, sum(n_amt) AS amount,
           count(*) FILTER (WHERE new_amount IS NULL) AS no_amount
    FROM ({classified_sql(None)}) x
    WHERE whole AND o_seen AND n_seen AND old_stage IS DISTINCT FROM new_stage
    GROUP BY ALL ORDER BY direction, deals DESC, old_stage, new_stage"""


@dataclass
class Part:
    amount: float
    deals: int
    no_amount: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "deals": self.deals}


@dataclass
class Summary:
    """Start, End and the buckets of one scope (the whole pipeline, a rep or a team)."""

    by: dict[str, str]
    start: Part
    end: Part
    buckets: dict[str, Part]

    def balance(self) -> float:
        """End - (Start + entering + increases - leaving - decreases): 0 when it balances."""
        moved = sum(SIGN[b] * p.amount for b, p in self.buckets.items())
        return self.end.amount - (self.start.amount + moved)

    def balances(self) -> bool:
        scale = max(1.0, abs(self.start.amount), abs(self.end.amount))
        deals = self.start.deals + sum(
            SIGN[b] * p.deals for b, p in self.buckets.items() if b not in (INCREASE, DECREASE)
        )
        return abs(self.balance()) <= 1e-9 * scale and deals == self.end.deals

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": self.by} if self.by else {}
        out["start"] = self.start.to_dict()
        out["end"] = self.end.to_dict()
        out["buckets"] = {b: self.buckets[b].to_dict() for b in BUCKETS}
        return out


@dataclass
class Changes:
    period: Period
    total: Summary
    groups: list[Summary] = field(default_factory=list)
    group: str | None = None
    sql: str = ""
    params: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"period": self.period.label, **self.total.to_dict()}
        if self.group:
            out["groups"] = [g.to_dict() for g in self.groups]
        return out


def _num(value: object) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    return float(value)  # type: ignore[arg-type]


def _summary(row: dict[str, Any], by: dict[str, str]) -> Summary:
    return Summary(
        by,
        Part(_num(row["start_amount"]), int(row["start_deals"]), int(row["start_no_amount"])),
        Part(_num(row["end_amount"]), int(row["end_deals"]), int(row["end_no_amount"])),
        {b: Part(_num(row[f"{b}_amount"]), int(row[f"{b}_deals"])) for b in BUCKETS},
    )


def params_for(period: Period) -> list[Any]:
    return [period.start, period.end]


def compare(con: duckdb.DuckDBPyConnection, period: Period, group: str | None = None) -> Changes:
    """Start, End and buckets for ``period`` on a connection from :func:`attach_pair`, for the
    whole pipeline and, with ``group`` (owner or team), per scope (where transfers appear)."""
    params = params_for(period)
    sql = summary_sql(group)
    rows = con.execute(sql, params).fetch_df().to_dict("records")
    whole = [r for r in rows if r["whole"]]
    empty = {k: 0 for k in ("start_deals", "start_no_amount", "end_deals", "end_no_amount")}
    total = _summary(whole[0] if whole else empty | _zero_buckets(), {})
    out = Changes(period, total, sql=sql, params=params, group=group)
    if group is not None:
        out.groups = [_summary(r, {group: str(r["grp"])}) for r in rows if not r["whole"]]
    return out


def _zero_buckets() -> dict[str, Any]:
    out: dict[str, Any] = {"start_amount": 0.0, "end_amount": 0.0}
    for b in BUCKETS:
        out[f"{b}_amount"] = 0.0
        out[f"{b}_deals"] = 0
    return out


DEAL_COLUMNS = (
    "bucket",
    "opportunity_id",
    "name",
    "old_stage",
    "new_stage",
    "old_close",
    "new_close",
    "old_amount",
    "new_amount",
    "change",
    "old_owner",
    "new_owner",
)


def deals(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    bucket: str | None = None,
    group: str | None = None,
) -> pd.DataFrame:
    """The deals behind the buckets (one bucket, or all), with old and new stage, close date,
    amount and owner; ``change`` is what the deal adds to (or takes from) the way to End."""
    if bucket is not None and bucket not in BUCKETS:
        raise InputError(f"Unknown bucket {bucket!r}: use one of {', '.join(BUCKETS)}.")
    cols = ", ".join(DEAL_COLUMNS)
    grp = ", grp" if group else ""
    where = f"{'NOT' if group else ''} whole AND bucket IS NOT NULL"
    where += " AND bucket = ?" if bucket else ""
    order = " ".join(f"WHEN '{b}' THEN {i}" for i, b in enumerate(BUCKETS))
    sql = (
        f"SELECT {cols}{grp} FROM ({classified_sql(group)}) x WHERE {where} "
        f"ORDER BY CASE bucket {order} END, abs(change) DESC, opportunity_id"
    )
    return con.execute(sql, [*params_for(period), *([bucket] if bucket else [])]).fetch_df()


def stage_moves(con: duckdb.DuckDBPyConnection, period: Period) -> pd.DataFrame:
    return con.execute(moves_sql(), params_for(period)).fetch_df()


def default_period(as_of: dt.date) -> Period:
    """The calendar quarter holding the newer snapshot's as-of date."""
    return parse_period(f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}", as_of)


def identity_text(s: Summary, money: Any = None) -> str:
    """ "Start $1.2M + new $300K ... = End $1.4M: balances", every bucket written out."""
    fmt = money or (lambda v: f"{v:,.2f}")
    parts = [f"Start {fmt(s.start.amount)}"]
    for b in BUCKETS:
        sign = "+" if SIGN[b] > 0 else "-"
        parts.append(f"{sign} {LABELS[b]} {fmt(s.buckets[b].amount)}")
    verdict = "balances" if s.balances() else f"does not balance (off by {fmt(s.balance())})"
    return " ".join(parts) + f" = End {fmt(s.end.amount)}: {verdict}"


def waterfall_frame(s: Summary) -> pd.DataFrame:
    """The waterfall from Start to End: one bar per step with its low and high edge (a bucket
    floats from the running total), in :data:`BUCKETS` order; empty buckets are left out."""
    rows: list[dict[str, Any]] = []
    level = s.start.amount
    rows.append(_step("Start", "total", 0.0, level, s.start.amount, s.start.deals))
    for b in BUCKETS:
        part = s.buckets[b]
        if not part.deals:
            continue
        after = level + SIGN[b] * part.amount
        kind = "up" if SIGN[b] > 0 else "down"
        rows.append(
            _step(LABELS[b], kind, min(level, after), max(level, after), part.amount, part.deals)
        )
        level = after
    rows.append(_step("End", "total", 0.0, s.end.amount, s.end.amount, s.end.deals))
    frame = pd.DataFrame(rows)
    frame["order"] = range(len(frame))
    return frame


def _step(
    label: str, kind: str, low: float, high: float, amount: float, deals: int
) -> dict[str, Any]:
    return {"step": label, "kind": kind, "low": low, "high": high, "amount": amount, "deals": deals}


def buckets_frame(s: Summary) -> pd.DataFrame:
    """Every bucket with its direction, deals and amount (zeros included), for the table."""
    direction = {b: "entering" for b in ENTERING} | {b: "leaving" for b in LEAVING}
    direction |= {INCREASE: "staying", DECREASE: "staying"}
    return pd.DataFrame(
        [
            {
                "bucket": b,
                "label": LABELS[b],
                "direction": direction[b],
                "sign": "+" if SIGN[b] > 0 else "-",
                "deals": s.buckets[b].deals,
                "amount": s.buckets[b].amount,
            }
            for b in BUCKETS
        ]
    )


def groups_frame(result: Changes) -> pd.DataFrame:
    """One row per rep or team: Start, every bucket's amount, End and whether it balances."""
    rows = []
    for g in result.groups:
        row: dict[str, Any] = dict(g.by)
        row["start"] = g.start.amount
        row |= {b: g.buckets[b].amount for b in BUCKETS}
        row["end"] = g.end.amount
        row["balances"] = g.balances()
        rows.append(row)
    return pd.DataFrame(rows)
