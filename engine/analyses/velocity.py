"""The velocity view: sales_velocity and its levers per period and which lever moved it most,
the won-deal cycle distribution as bins (never one row per deal) with its mean and median
(outliers optionally excluded), cycle by segment and deal-size band, created-month cohorts,
and open deals running behind their segment's median cycle."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd

from engine.semantic.compute import Result, clean, compute, run_built
from engine.semantic.request import Request
from engine.semantic.sql import CYCLE_DAYS, WON_WITH_CYCLE, Sql, iqr_outlier, quartiles

# Deal-size bands of the cycle reference points (docs/benchmarks.md, Other reference points).
SIZE_BAND_SQL = (
    "CASE WHEN amount IS NULL THEN NULL WHEN amount < 50000 THEN 'under 50K' "
    "WHEN amount <= 100000 THEN '50K-100K' ELSE 'over 100K' END"
)
# Cohorts are graded this many days after creation unless the page chooses otherwise.
COHORT_AFTER_DAYS = 90
# An open deal is behind when its age exceeds its segment's median won cycle by this many days.
BEHIND_DAYS = 15
LEVER_NAMES = {
    "opportunities_created": "Opportunities",
    "win_rate": "Win rate",
    "avg_deal_size": "Average deal size",
    "sales_cycle_days": "Cycle length",
}


def velocity_trend(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """sales_velocity with its four levers per period bucket (monthly unless a grain is set)."""
    return compute(con, request.with_(metrics=("sales_velocity",), grain=request.grain or "month"))


def cycle_by_segment_band(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Mean, median, quartiles and n of the won-deal cycle per segment and deal-size band."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    x = CYCLE_DAYS
    select = f"""SELECT segment, {SIZE_BAND_SQL} AS size_band, avg({x}) AS mean,
       {", ".join(quartiles(x))}, count(*) AS n
FROM {src}
WHERE {WON_WITH_CYCLE} AND {q.period("close_date")}
GROUP BY ALL
ORDER BY segment NULLS LAST, min(amount) NULLS LAST"""
    return run_built(con, q, select)


def cohorts(
    con: duckdb.DuckDBPyConnection, request: Request, after_days: int = COHORT_AFTER_DAYS
) -> Result:
    """Per created-month cohort: deals, won / lost within ``after_days`` of creation, and still
    open after it (open now, or closed later than that)."""
    q = Sql(request.with_(grain=request.grain or "month"))
    src = q.opp()
    n = q.p(after_days)
    age = CYCLE_DAYS
    select = f"""SELECT {q.bucket("created_date")} AS cohort, count(*) AS deals,
       count(*) FILTER (WHERE is_won AND {age} <= {n}) AS won,
       count(*) FILTER (WHERE is_closed AND NOT is_won AND {age} <= {n}) AS lost,
       count(*) FILTER (WHERE NOT is_closed OR {age} > {n} OR close_date IS NULL) AS open_after
FROM {src}
WHERE created_date IS NOT NULL AND {q.period("created_date")}
GROUP BY ALL
ORDER BY cohort"""
    return run_built(con, q, select)


def behind_cycle(
    con: duckdb.DuckDBPyConnection, request: Request, days: int = BEHIND_DAYS
) -> Result:
    """Open deals whose age (as-of minus created_date) exceeds their segment's median won cycle
    by ``days`` or more. The median comes from every won deal of the segment (all periods)."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    as_of, d = q.p(request.as_of), q.p(days)
    q.cte(
        "seg_median",
        f"""SELECT segment, median({CYCLE_DAYS}) AS median_cycle
FROM {src} WHERE {WON_WITH_CYCLE} GROUP BY segment""",
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


def cycle_histogram(
    con: duckdb.DuckDBPyConnection, request: Request, exclude_outliers: bool = False, bins: int = 30
) -> Result:
    """Won deals closed in the period, binned by cycle days: ``bin_start``, ``bin_end``,
    ``deals``. ``extras`` holds mean, median, p25, p75, n and the outliers left out (outside
    [p25 - 1.5 IQR, p75 + 1.5 IQR]) when ``exclude_outliers``."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    keep = "NOT outlier" if exclude_outliers else "true"
    q.cte(
        "cycles",
        f"""SELECT cycle_days,
       {iqr_outlier("cycle_days", "p25", "p75")} AS outlier
FROM (
    SELECT {CYCLE_DAYS} AS cycle_days,
           {", ".join(quartiles(CYCLE_DAYS, over=" OVER ()")[1:])}
    FROM {src}
    WHERE {WON_WITH_CYCLE} AND {q.period("close_date")}
) t""",
    )
    q.cte(
        "kept",
        f"""SELECT cycle_days, max(cycle_days) OVER () AS hi, min(cycle_days) OVER () AS lo
FROM cycles WHERE {keep}""",
    )
    n_bins = q.p(int(bins))
    select = f"""SELECT bin_start, bin_start + width AS bin_end, count(*) AS deals,
       any_value(mean) AS mean, any_value(median) AS median, any_value(p25) AS p25,
       any_value(p75) AS p75, any_value(n) AS n,
       (SELECT count(*) FILTER (WHERE outlier) FROM cycles) AS outliers
FROM (
    SELECT greatest(1, ceil((hi - lo + 1) / {n_bins})) AS width,
           lo + floor((cycle_days - lo) / greatest(1, ceil((hi - lo + 1) / {n_bins})))
              * greatest(1, ceil((hi - lo + 1) / {n_bins})) AS bin_start,
           avg(cycle_days) OVER () AS mean, {", ".join(quartiles("cycle_days", over=" OVER ()"))},
           count(*) OVER () AS n
    FROM kept
) b
GROUP BY bin_start, width
ORDER BY bin_start"""
    res = run_built(con, q, select)
    f = res.frame
    stats = ("mean", "median", "p25", "p75", "n", "outliers")
    res.extras = {k: clean(f[k].iloc[0]) if len(f) else None for k in stats}
    if not len(f):
        res.extras["n"] = 0
    res.frame = f[["bin_start", "bin_end", "deals"]]
    res.value = res.extras["mean"]
    return res


_GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def complete_periods(trend: pd.DataFrame, as_of: dt.date, grain: str) -> pd.DataFrame:
    """Rows of a trend whose bucket ``[period_start, next start)`` ended by ``as_of``: the
    month still running is left out, so it is not read as a drop."""
    if trend.empty:
        return trend
    starts = pd.to_datetime(trend["period_start"])
    if grain in _GRAIN_MONTHS:
        ends = starts + pd.DateOffset(months=_GRAIN_MONTHS[grain])
    else:
        ends = starts + pd.Timedelta(days=7)
    return trend[(ends <= pd.Timestamp(as_of) + pd.Timedelta(days=1)).to_numpy()]


def lever_moves(trend: pd.DataFrame) -> pd.DataFrame:
    """Each lever's share of the change in velocity between the last two periods.

    velocity = opportunities * win_rate * deal_size / cycle, so the change in log velocity is
    the sum of the levers' log changes (cycle with a minus sign). One row per lever:
    ``lever``, ``previous``, ``current``, ``effect`` (log points of velocity; positive raised
    it), sorted by the size of the effect. Empty when fewer than two usable periods."""
    cols = ["lever", "name", "previous", "current", "effect"]
    rows = trend.dropna(subset=["value", *LEVER_NAMES]).tail(2)
    if len(rows) < 2:
        return pd.DataFrame(columns=cols)
    prev, cur = rows.iloc[0], rows.iloc[1]
    out = []
    for lever, name in LEVER_NAMES.items():
        a, b = float(prev[lever]), float(cur[lever])
        effect = math.log(b / a) if a > 0 and b > 0 else float("nan")
        out.append((lever, name, a, b, -effect if lever == "sales_cycle_days" else effect))
    frame = pd.DataFrame(out, columns=cols)
    return frame.reindex(frame["effect"].abs().sort_values(ascending=False).index).reset_index(
        drop=True
    )
