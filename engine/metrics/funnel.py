"""The funnel view: conversion per transition (leads and deals), time in stage, leakage, and
conversion by created-period cohort. Every function is one statement; benchmark bands are
added beside the rates (section 7, by the row's segment when grouped by segment)."""

from __future__ import annotations

import duckdb
import pandas as pd

from engine.metrics.benchmarks import DEFAULT_BENCHMARKS, TRANSITIONS, Benchmarks
from engine.metrics.compile import reach_cte, visits_cte
from engine.metrics.compute import Result, compute, run_built
from engine.metrics.request import Request
from engine.metrics.sql import LEAD_DIMS, Sql, qi

_RANK = {"lead": 0, "sal": 1, "sql": 2, "opportunity": 3, "proposal": 4, "closed_won": 5}


def _segment_of(row: pd.Series, req: Request) -> str | None:
    if "segment" in row.index and isinstance(row["segment"], str):
        return row["segment"]
    seg = req.filter_map.get("segment")
    return seg[0] if seg and len(seg) == 1 else None


def _lead_reach(q: Sql) -> str:
    src = q.lead()
    dims = [qi(d) if d in LEAD_DIMS else f"CAST(NULL AS VARCHAR) AS {qi(d)}" for d in q.req.by]
    for d in q.req.by:
        if d not in LEAD_DIMS:
            q.note(f"Leads have no {d}: lead transitions are shown under an empty {d}.")
    cols = ", ".join(dims + ["created_date"])
    return q.cte(
        "lead_reach",
        f"""SELECT {cols}, CASE
         WHEN converted_date IS NOT NULL OR converted_opportunity_id IS NOT NULL
              OR status = 'Converted' THEN 3
         WHEN sql_date IS NOT NULL OR status = 'SQL' THEN 2
         WHEN sal_date IS NOT NULL OR status = 'SAL' THEN 1
         ELSE 0 END AS reached
FROM {src}""",
    )


def _lead_visits(q: Sql) -> str:
    """Completed lead-stage visits from the leads table: lead = created_date -> sal_date,
    sal = sal_date -> sql_date, sql = sql_date -> converted_date. A visit counts when both
    dates are present and the later is not before the earlier (a negative gap is a data error
    left out); a skipped stage has no visit."""
    src = q.lead()
    dims = [qi(d) if d in LEAD_DIMS else f"CAST(NULL AS VARCHAR) AS {qi(d)}" for d in q.req.by]
    for d in q.req.by:
        if d not in LEAD_DIMS:
            q.note(f"Leads have no {d}: lead stages are shown under an empty {d}.")
    cols = "".join(f"{c}, " for c in dims)
    steps = (
        ("lead", "created_date", "sal_date"),
        ("sal", "sal_date", "sql_date"),
        ("sql", "sql_date", "converted_date"),
    )
    parts = "\nUNION ALL\n".join(
        f"""SELECT {cols}'{stage}' AS stage_canonical, CAST({a} AS TIMESTAMP) AS entered_at,
       date_diff('second', CAST({a} AS TIMESTAMP), CAST({b} AS TIMESTAMP)) / 86400.0 AS days
FROM {src}
WHERE {a} IS NOT NULL AND {b} IS NOT NULL AND CAST({b} AS TIMESTAMP) >= CAST({a} AS TIMESTAMP)"""
        for stage, a, b in steps
    )
    return q.cte("lead_visits", parts)


def conversion(
    con: duckdb.DuckDBPyConnection, request: Request, benchmarks: Benchmarks = DEFAULT_BENCHMARKS
) -> Result:
    """Per transition: from, to, reached_from, reached_to, rate and the benchmark band.

    Cohorts: leads and opportunities created in the period, grouped by ``request.by``. A lead
    reached SAL/SQL/opportunity when it has that date, a later one, or the status (skipped
    stages count as passed); deals follow the section 5 rule (``stage_conversion``)."""
    q = Sql(request.with_(grain=None))
    reach_cte(q)
    _lead_reach(q)
    by = [qi(d) for d in request.by]
    keys = "".join(f"{k}, " for k in by)
    values = ", ".join(
        f"('{a}', '{b}', {_RANK[a]}, {_RANK[b]}, '{'lead' if _RANK[b] <= 3 else 'opp'}', {i})"
        for i, (a, b) in enumerate(TRANSITIONS)
    )
    select = f"""SELECT {keys}t.from_stage, t.to_stage,
       count(x.reached) FILTER (WHERE x.reached >= t.from_rank) AS reached_from,
       count(x.reached) FILTER (WHERE x.reached >= t.to_rank) AS reached_to,
       CAST(count(x.reached) FILTER (WHERE x.reached >= t.to_rank) AS DOUBLE)
         / nullif(count(x.reached) FILTER (WHERE x.reached >= t.from_rank), 0) AS rate
FROM (VALUES {values}) t(from_stage, to_stage, from_rank, to_rank, src, ord)
LEFT JOIN (
    SELECT {keys}'lead' AS src, reached FROM lead_reach WHERE {q.period("created_date")}
    UNION ALL
    SELECT {keys}'opp' AS src, reached FROM reach WHERE {q.period("created_date")}
) x ON x.src = t.src
GROUP BY ALL
ORDER BY {keys}min(t.ord)"""
    res = run_built(con, q, select)
    f = res.frame
    lows, highs = [], []
    for _, row in f.iterrows():
        band = benchmarks.conversion_band(
            row["from_stage"], row["to_stage"], _segment_of(row, request)
        )
        lows.append(band.low if band else None)
        highs.append(band.high if band else None)
    res.frame = f.assign(band_low=lows, band_high=highs)
    return res


def time_in_stage(
    con: duckdb.DuckDBPyConnection, request: Request, benchmarks: Benchmarks = DEFAULT_BENCHMARKS
) -> Result:
    """Per canonical stage: mean, median, p25, p75 and n days (completed visits entered in the
    period), with the section 7 band. Deal stages come from stage_history; the lead stages
    (lead, sal, sql) from the leads table's dates (see :func:`_lead_visits`)."""
    q = Sql(request.with_(grain=None))
    visits_cte(q)
    _lead_visits(q)
    keys = "".join(f"{qi(d)}, " for d in request.by)
    select = f"""SELECT {keys}stage_canonical AS stage, avg(days) AS mean, median(days) AS median,
       quantile_cont(days, 0.25) AS p25, quantile_cont(days, 0.75) AS p75, count(*) AS n
FROM (
    SELECT {keys}stage_canonical, entered_at, days FROM visits
    UNION ALL
    SELECT {keys}stage_canonical, entered_at, days FROM lead_visits
) v
WHERE {q.period("entered_at")}
GROUP BY ALL
ORDER BY {keys}min({_rank_sql("stage_canonical")})"""
    res = run_built(con, q, select)
    lows, highs = [], []
    for _, row in res.frame.iterrows():
        band = benchmarks.stage_band(row["stage"], _segment_of(row, request))
        lows.append(band.low if band else None)
        highs.append(band.high if band else None)
    res.frame = res.frame.assign(band_low=lows, band_high=highs)
    return res


def _rank_sql(col: str) -> str:
    from engine.metrics.sql import stage_rank

    return stage_rank(col)


def leakage(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Where deals created in the period leak: per canonical stage, deals lost after reaching it
    as their furthest stage, and open deals stalled in it (more than ``stale_days`` in stage)."""
    q = Sql(request.with_(grain=None))
    reach_cte(q)
    src = q.open_age()
    days = q.p(request.stale_days)
    select = f"""SELECT stage, sum(lost) AS lost, sum(stalled) AS stalled, sum(open) AS open
FROM (
    SELECT CASE reached WHEN 3 THEN 'opportunity' WHEN 4 THEN 'proposal' ELSE 'other' END AS stage,
           1 AS lost, 0 AS stalled, 0 AS open
    FROM reach
    WHERE stage_canonical = 'closed_lost' AND {q.period("created_date")}
    UNION ALL
    SELECT stage_canonical, 0, CASE WHEN days_in_stage > {days} THEN 1 ELSE 0 END, 1
    FROM {src}
    WHERE {q.period("created_date")}
) x
GROUP BY stage
ORDER BY {_rank_sql("stage")}"""
    return run_built(con, q, select)


def conversion_trend(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """stage_conversion per created-period cohort (the request's grain, monthly by default)."""
    return compute(
        con, request.with_(metrics=("stage_conversion",), grain=request.grain or "month")
    )
