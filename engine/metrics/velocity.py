"""The velocity view: sales_velocity and its levers per period, the cycle-length distribution
(with an IQR outlier flag per deal), cycle by segment and deal-size band, created-month
cohorts, and open deals running behind their segment's median cycle."""

from __future__ import annotations

import duckdb

from engine.metrics.compute import Result, compute, run_built
from engine.metrics.request import Request
from engine.metrics.sql import HAS_CYCLE, Sql

# Deal-size bands of the cycle reference points (docs/benchmarks.md, Other reference points).
SIZE_BAND_SQL = (
    "CASE WHEN amount IS NULL THEN NULL WHEN amount < 50000 THEN 'under 50K' "
    "WHEN amount <= 100000 THEN '50K-100K' ELSE 'over 100K' END"
)
_WON = f"is_won AND {HAS_CYCLE}"  # docs/metrics.md: cycle rule


def velocity_trend(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """sales_velocity with its four levers per period bucket (monthly unless a grain is set)."""
    return compute(con, request.with_(metrics=("sales_velocity",), grain=request.grain or "month"))


def cycle_distribution(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """One row per won deal closed in the period: cycle_days and ``outlier`` (outside
    [p25 - 1.5 IQR, p75 + 1.5 IQR] of the deals shown)."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    select = f"""SELECT opportunity_id, owner, segment, amount, cycle_days,
       cycle_days < p25 - 1.5 * (p75 - p25) OR cycle_days > p75 + 1.5 * (p75 - p25) AS outlier
FROM (
    SELECT opportunity_id, owner, segment, amount,
           date_diff('day', created_date, close_date) AS cycle_days,
           quantile_cont(date_diff('day', created_date, close_date), 0.25) OVER () AS p25,
           quantile_cont(date_diff('day', created_date, close_date), 0.75) OVER () AS p75
    FROM {src}
    WHERE {_WON} AND {q.period("close_date")}
) t
ORDER BY cycle_days, opportunity_id"""
    return run_built(con, q, select)


def cycle_by_segment_band(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Mean, median, quartiles and n of the won-deal cycle per segment and deal-size band."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    x = "date_diff('day', created_date, close_date)"
    select = f"""SELECT segment, {SIZE_BAND_SQL} AS size_band, avg({x}) AS mean, median({x}) AS median,
       quantile_cont({x}, 0.25) AS p25, quantile_cont({x}, 0.75) AS p75, count(*) AS n
FROM {src}
WHERE {_WON} AND {q.period("close_date")}
GROUP BY ALL
ORDER BY segment NULLS LAST, min(amount) NULLS LAST"""
    return run_built(con, q, select)


def cohorts(con: duckdb.DuckDBPyConnection, request: Request, after_days: int = 90) -> Result:
    """Per created-month cohort: deals, won / lost within ``after_days`` of creation, and still
    open after it (open now, or closed later than that)."""
    q = Sql(request.with_(grain=request.grain or "month"))
    src = q.opp()
    n = q.p(after_days)
    age = "date_diff('day', created_date, close_date)"
    select = f"""SELECT {q.bucket("created_date")} AS cohort, count(*) AS deals,
       count(*) FILTER (WHERE is_won AND {age} <= {n}) AS won,
       count(*) FILTER (WHERE is_closed AND NOT is_won AND {age} <= {n}) AS lost,
       count(*) FILTER (WHERE NOT is_closed OR {age} > {n} OR close_date IS NULL) AS open_after
FROM {src}
WHERE created_date IS NOT NULL AND {q.period("created_date")}
GROUP BY ALL
ORDER BY cohort"""
    return run_built(con, q, select)


def behind_cycle(con: duckdb.DuckDBPyConnection, request: Request, days: int = 15) -> Result:
    """Open deals whose age (as-of minus created_date) exceeds their segment's median won cycle
    by ``days`` or more. The median comes from every won deal of the segment (all periods)."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    as_of, d = q.p(request.as_of), q.p(days)
    q.cte(
        "seg_median",
        f"""SELECT segment, median(date_diff('day', created_date, close_date)) AS median_cycle
FROM {src} WHERE {_WON} GROUP BY segment""",
    )
    select = f"""SELECT o.opportunity_id, o.opportunity_name, o.owner, o.segment, o.stage, o.amount,
       date_diff('day', o.created_date, {as_of}) AS age_days, m.median_cycle,
       date_diff('day', o.created_date, {as_of}) - m.median_cycle AS days_behind
FROM {src} o
JOIN seg_median m ON m.segment IS NOT DISTINCT FROM o.segment
WHERE NOT o.is_closed AND o.created_date IS NOT NULL
  AND date_diff('day', o.created_date, {as_of}) - m.median_cycle >= {d}
ORDER BY days_behind DESC, o.opportunity_id"""
    return run_built(con, q, select)
