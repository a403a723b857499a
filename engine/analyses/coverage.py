"""The pipeline view: coverage against quota (current and next period, per team and rep),
open and weighted pipeline by close month and stage, the 90-day weighted forecast, aging, and
the deal lists behind the alerts (stale deals, slipped deals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pandas as pd

from engine.analyses.backtest import Weighting
from engine.semantic.compute import Result, clean, compute, run_built
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


def _weight(q: Sql, w: Weighting | None) -> tuple[str, str]:
    """The weight of an open deal (a fraction) and the join that supplies it: the learned rate
    of its CRM stage when ``w`` uses learned rates (a stage without one: the CRM's
    probability), else the deal's probability, else the stage default."""
    crm = "coalesce(probability, stage_probability) / 100.0"
    if w is None or w.method != "historical_rate" or not w.rates:
        return crm, ""
    stages = q.p(list(w.rates))
    rates = q.p([float(v) for v in w.rates.values()])
    q.cte(
        "stage_rate",
        f"""SELECT unnest(CAST({stages} AS VARCHAR[])) AS rate_stage,
       unnest(CAST({rates} AS DOUBLE[])) AS rate""",
    )
    return f"coalesce(sr.rate, {crm})", "\nLEFT JOIN stage_rate sr ON sr.rate_stage = o.stage"


def pipeline_by_close_month(
    con: duckdb.DuckDBPyConnection, request: Request, w: Weighting | None = None
) -> Result:
    """Open and weighted pipeline of open deals per expected close month and CRM stage
    (weighted as ``w`` says: learned stage rates or the CRM's probabilities)."""
    q = Sql(request.with_(grain="month"))
    src = q.opp()
    weight, join = _weight(q, w)
    select = f"""SELECT {q.bucket("close_date")} AS close_month, stage, stage_canonical,
       count(*) AS deals, sum(amount) AS open_pipeline,
       sum(amount * {weight}) AS weighted_pipeline
FROM {src} o{join}
WHERE NOT is_closed AND {q.period("close_date")}
GROUP BY ALL
ORDER BY close_month NULLS LAST, min(stage_order), stage"""
    return run_built(con, q, select)


def forecast_next_days(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    days: int = FORECAST_DAYS,
    w: Weighting | None = None,
) -> Result:
    """Weighted pipeline closing in [as_of, as_of + days), plus open pipeline. With learned
    stage rates (``w``), ``parts["weighted_pipeline"]`` is weighted by them instead of the
    CRM's probabilities (the catalog metric)."""
    start = request.as_of
    per = Period(f"next-{days}-days", start, start + dt.timedelta(days=days))
    req = request.with_(metrics=("weighted_pipeline", "open_pipeline"), period=per, grain=None)
    res = compute(con, req)
    if w is not None and w.method == "historical_rate" and w.rates:
        q = Sql(req)
        src = q.opp()
        weight, join = _weight(q, w)
        select = f"""SELECT CAST(sum(amount * {weight}) AS DOUBLE) AS value, count(amount) AS n
FROM {src} o{join}
WHERE NOT is_closed AND {q.period("close_date")}"""
        learned = run_built(con, q, select)
        learned.value = clean(learned.frame["value"].iloc[0])
        learned.metric = "weighted_pipeline"
        res.parts["weighted_pipeline"] = learned
    return res


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
