"""Velocity analysis: the won-deal cycle distribution as bins (never one row per deal), with
its mean and median (outliers optionally excluded), and which lever moved velocity most."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd

from engine.metrics.compute import Result, clean, run_built
from engine.metrics.request import Request
from engine.metrics.sql import HAS_CYCLE, Sql

_WON = f"is_won AND {HAS_CYCLE}"  # docs/metrics.md: cycle rule
LEVER_NAMES = {
    "opportunities_created": "Opportunities",
    "win_rate": "Win rate",
    "avg_deal_size": "Average deal size",
    "sales_cycle_days": "Cycle length",
}


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
       cycle_days < p25 - 1.5 * (p75 - p25) OR cycle_days > p75 + 1.5 * (p75 - p25) AS outlier
FROM (
    SELECT date_diff('day', created_date, close_date) AS cycle_days,
           quantile_cont(date_diff('day', created_date, close_date), 0.25) OVER () AS p25,
           quantile_cont(date_diff('day', created_date, close_date), 0.75) OVER () AS p75
    FROM {src}
    WHERE {_WON} AND {q.period("close_date")}
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
           avg(cycle_days) OVER () AS mean, median(cycle_days) OVER () AS median,
           quantile_cont(cycle_days, 0.25) OVER () AS p25,
           quantile_cont(cycle_days, 0.75) OVER () AS p75, count(*) OVER () AS n
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
