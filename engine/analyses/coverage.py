"""The pipeline view: coverage against quota (current and next period, per team and rep),
open and weighted pipeline by close month and stage, the 90-day weighted forecast, aging, and
the deal lists behind the alerts (stale deals, slipped deals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pandas as pd

from engine.semantic.compute import Result, compute, run_built
from engine.semantic.request import Period, Request, parse_period
from engine.semantic.sql import Sql, qi

# The forecast looks this many days ahead of the as-of date.
FORECAST_DAYS = 90


def current_period(request: Request) -> Period:
    """The request's period when bounded, else the calendar quarter holding the as-of date."""
    if request.period.bounded:
        return request.period
    q = (request.as_of.month - 1) // 3 + 1
    return parse_period(f"{request.as_of.year}-Q{q}", request.as_of)


def coming_period(request: Request) -> Period:
    """The period after :func:`current_period`: "the coming period" of the coverage alert,
    relative to the dataset's as-of date (``request.as_of``), never to today."""
    return current_period(request).shifted(1)


def not_ended(period: Period, as_of: dt.date) -> bool:
    """True when ``period`` [start, end) has not ended as of ``as_of``: only then can low
    coverage for it still be acted on (an alarm for a period long past is noise)."""
    return period.end is not None and period.end > as_of


def coverage(con: duckdb.DuckDBPyConnection, request: Request, level: str = "team") -> Result:
    """pipeline_coverage for the current and the next period, per ``level`` (team or owner),
    with a ``period`` column ('current' / 'next') and the period bounds."""
    cur = current_period(request)
    frames, sqls, params, notes = [], [], [], []
    for name, per in (("current", cur), ("next", coming_period(request))):
        r = compute(
            con, request.with_(metrics=("pipeline_coverage",), period=per, by=(level,), grain=None)
        )
        frames.append(r.frame.assign(period=name, period_start=per.start, period_end=per.end))
        sqls.append(r.sql)
        params.append(r.params)
        notes += r.notes
    return Result(pd.concat(frames, ignore_index=True), "\n".join(sqls), params, notes=notes)


def pipeline_by_close_month(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Open and weighted pipeline of open deals per expected close month and CRM stage."""
    q = Sql(request.with_(grain="month"))
    src = q.opp()
    select = f"""SELECT {q.bucket("close_date")} AS close_month, stage, stage_canonical,
       count(*) AS deals, sum(amount) AS open_pipeline,
       sum(amount * coalesce(probability, stage_probability) / 100.0) AS weighted_pipeline
FROM {src}
WHERE NOT is_closed AND {q.period("close_date")}
GROUP BY ALL
ORDER BY close_month NULLS LAST, min(stage_order), stage"""
    return run_built(con, q, select)


def forecast_next_days(
    con: duckdb.DuckDBPyConnection, request: Request, days: int = FORECAST_DAYS
) -> Result:
    """Probability-weighted pipeline closing in [as_of, as_of + days), plus open pipeline."""
    start = request.as_of
    per = Period(f"next-{days}-days", start, start + dt.timedelta(days=days))
    return compute(
        con, request.with_(metrics=("weighted_pipeline", "open_pipeline"), period=per, grain=None)
    )


def aging(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """pipeline_aging per CRM stage (and the request's group-by)."""
    by = tuple(request.by) + (("stage",) if "stage" not in request.by else ())
    return compute(con, request.with_(metrics=("pipeline_aging",), by=by, grain=None))


def _deal_list(
    con: duckdb.DuckDBPyConnection, request: Request, where: Callable[[Sql], str], order: str
) -> Result:
    q = Sql(request.with_(grain=None))
    src = q.open_age()
    select = f"""SELECT opportunity_id, opportunity_name, owner, {qi("segment")}, stage, days_in_stage,
       amount, created_date, close_date
FROM {src}
WHERE {where(q)}
ORDER BY {order}"""
    return run_built(con, q, select)


def stale_deals(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Open deals more than ``stale_days`` in their current stage (snapshot as of as_of)."""
    return _deal_list(
        con,
        request,
        lambda q: f"days_in_stage > {q.p(request.stale_days)}",
        "days_in_stage DESC, opportunity_id",
    )


def slipped_deals(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Open deals whose expected close_date is already before the as-of date."""
    return _deal_list(
        con, request, lambda q: f"close_date < {q.p(request.as_of)}", "close_date, opportunity_id"
    )
