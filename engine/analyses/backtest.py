"""Forecast methods, backtested (docs/metrics.md, "Forecast backtest").

For every past calendar quarter with four earlier quarters of history, the pipeline is rebuilt
as it stood at three checkpoints (the quarter's start, week 4 and week 8) from stage_history
with the as-of fragment that forecast_accuracy reads (:func:`engine.semantic.sql.state_as_of`),
and four methods forecast the quarter's won revenue:

- ``crm_probability``: won so far + sum(amount x probability / 100) of the open deals due;
- ``historical_rate``: won so far + sum(amount x r(stage)), r learned from the four previous
  quarters (of the deals open in the stage and due at a quarter's start, the share won within
  it; below :data:`MIN_RATE_DEALS` deals the stage default is used and flagged);
- ``historical_rate_plus_new``: historical_rate + the four previous quarters' mean won revenue
  from deals created inside the quarter they closed in;
- ``naive``: the previous quarter's won revenue.

Nothing dated on or after a checkpoint is read for its forecast: history rows entered before
it, and of the deals only those closed before it (won so far, the previous quarters' outcomes).
Which deals are due uses the deal's current close_date, as forecast_accuracy does (exports
carry no close-date history).

Two statements do the work whatever the number of quarters: the pipeline at every checkpoint,
aggregated per CRM stage, and the won revenue per quarter and checkpoint; the methods are
arithmetic on those small frames.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from engine.semantic.compute import run_sql
from engine.semantic.request import Period, Request
from engine.semantic.sql import Sql, state_as_of

METHODS = ("crm_probability", "historical_rate", "historical_rate_plus_new", "naive")
METHOD_LABELS = {
    "crm_probability": "CRM probabilities",
    "historical_rate": "Historical stage rates",
    "historical_rate_plus_new": "Historical rates + new business",
    "naive": "Last quarter's won revenue",
}
# Checkpoints: days after the quarter's start (week 4 and week 8 begin after 4 and 8 weeks).
CHECKPOINTS = {"start": 0, "week 4": 28, "week 8": 56}
HISTORY_QUARTERS = 4
MIN_RATE_DEALS = 5

_OPEN = "st NOT IN ('closed_won', 'closed_lost') AND NOT (is_closed AND close_date < checkpoint)"


def quarter_start(d: dt.date) -> dt.date:
    return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def add_quarters(d: dt.date, n: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + 3 * n
    return dt.date(m // 12, m % 12 + 1, 1)


def quarter_label(d: dt.date) -> str:
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def checkpoint_name(qs: dt.date, checkpoint: dt.date) -> str:
    days = (checkpoint - qs).days
    for name, offset in CHECKPOINTS.items():
        if offset == days:
            return name
    return f"as of {(checkpoint - dt.timedelta(days=1)).isoformat()}"


@dataclass
class Cell:
    """One quarter at one checkpoint: the forecasts of every method and what they rest on."""

    quarter: dt.date
    checkpoint: dt.date
    forecasts: dict[str, float | None]  # None: the method has nothing to learn from
    actual: float | None
    won_to_date: float
    new_business: float | None
    previous_won: float | None
    rates: pd.DataFrame  # per CRM stage: deals, won, learned, default, rate, fallback
    pipeline: pd.DataFrame  # per CRM stage: deals, amount, weighted (open deals due)
    training: list[dt.date]


@dataclass
class Backtest:
    as_of: dt.date
    results: pd.DataFrame
    summary: pd.DataFrame
    projection: pd.DataFrame
    best_method: str
    reason: str | None
    history_quarters: int
    current: Cell | None
    cells: dict[tuple[dt.date, dt.date], Cell] = field(default_factory=dict)
    sql: str = ""
    params: list[Any] = field(default_factory=list)
    rebuilt: int = 0  # checkpoints at which the pipeline was rebuilt


def _empty_results() -> pd.DataFrame:
    cols = ["period", "quarter_start", "checkpoint", "checkpoint_name", "method"]
    return pd.DataFrame(columns=cols + ["forecast", "actual", "accuracy", "error"])


def first_history(con: duckdb.DuckDBPyConnection, request: Request) -> dt.datetime | None:
    q = Sql(request)
    src = q.hist()
    row = run_sql(con, q.render(f"SELECT min(entered_at) AS first FROM {src}"), q.params)
    v = row["first"].iloc[0]
    return None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()


def _cps_cte(q: Sql, cps: list[tuple[dt.date, dt.date]]) -> str:
    starts = q.p([c[0] for c in cps])
    ends = q.p([add_quarters(c[0], 1) for c in cps])
    days = q.p([c[1] for c in cps])
    return q.cte(
        "cps",
        f"""SELECT unnest(CAST({starts} AS DATE[])) AS qs, unnest(CAST({ends} AS DATE[])) AS qe,
       unnest(CAST({days} AS DATE[])) AS checkpoint""",
    )


def _state_cte(q: Sql, cps: list[tuple[dt.date, dt.date]]) -> str:
    src = q.opp()
    q.hist()
    _cps_cte(q, cps)
    q.cte(
        "due_cp",
        f"""SELECT c.qs, c.checkpoint, o.opportunity_id, o.opportunity_name, o.owner, o.amount,
       o.is_won, o.is_closed, o.close_date
FROM {src} o
JOIN cps c ON o.close_date >= c.qs AND o.close_date < c.qe""",
    )
    return q.cte(
        "state_cp",
        state_as_of(
            "due_cp",
            "d.checkpoint",
            cols=(
                "d.qs",
                "d.checkpoint",
                "d.opportunity_id",
                "d.opportunity_name",
                "d.owner",
                "d.is_won",
                "d.is_closed",
                "d.close_date",
                "h.stage",
                "h.stage_order",
                "h.entered_at",
                "coalesce(h.amount, d.amount) AS amount_then",
                "coalesce(h.probability, h.stage_probability) AS probability_then",
                "h.stage_probability AS stage_default",
            ),
            per=("d.opportunity_id", "d.checkpoint"),
        ),
    )


def pipeline_states(
    con: duckdb.DuckDBPyConnection, request: Request, cps: list[tuple[dt.date, dt.date]]
) -> tuple[pd.DataFrame, str, list[Any]]:
    """The open pipeline due in each (quarter start, checkpoint) of ``cps``, per CRM stage."""
    q = Sql(request.with_(grain=None))
    state = _state_cte(q, cps)
    select = f"""SELECT qs, checkpoint, stage, min(stage_order) AS stage_order,
       CAST(any_value(stage_default) AS DOUBLE) AS stage_default, count(*) AS deals,
       count(*) FILTER (WHERE is_won) AS won, CAST(sum(amount_then) AS DOUBLE) AS amount,
       CAST(sum(weighted) AS DOUBLE) AS weighted
FROM {state}
WHERE {_OPEN}
GROUP BY qs, checkpoint, stage
ORDER BY qs, checkpoint, stage_order, stage"""
    sql = q.render(select)
    return run_sql(con, sql, q.params), sql, list(q.params)


def won_totals(
    con: duckdb.DuckDBPyConnection, request: Request, cps: list[tuple[dt.date, dt.date]]
) -> tuple[pd.DataFrame, str, list[Any]]:
    """Per (quarter start, checkpoint): the quarter's won revenue, the part from deals created
    in the quarter, and the part won before the checkpoint."""
    q = Sql(request.with_(grain=None))
    src = q.opp()
    cps_rel = _cps_cte(q, cps)
    select = f"""SELECT c.qs, c.checkpoint,
       CAST(coalesce(sum(o.amount) FILTER (WHERE o.is_won), 0) AS DOUBLE) AS won,
       CAST(coalesce(sum(o.amount) FILTER (WHERE o.is_won AND o.created_date >= c.qs
                                          AND o.created_date < c.qe), 0) AS DOUBLE) AS won_new,
       CAST(coalesce(sum(o.amount) FILTER (WHERE o.is_won AND o.close_date < c.checkpoint), 0)
            AS DOUBLE) AS won_to_date
FROM {cps_rel} c
LEFT JOIN {src} o ON o.close_date >= c.qs AND o.close_date < c.qe
GROUP BY c.qs, c.checkpoint
ORDER BY c.qs, c.checkpoint"""
    sql = q.render(select)
    return run_sql(con, sql, q.params), sql, list(q.params)


def cell_deals(
    con: duckdb.DuckDBPyConnection, request: Request, qs: dt.date, checkpoint: dt.date
) -> pd.DataFrame:
    """The open deals due in the quarter as they stood at ``checkpoint``: stage then, amount
    then, the probability then and its weighted amount ("See the math")."""
    q = Sql(request.with_(grain=None))
    state = _state_cte(q, [(qs, checkpoint)])
    select = f"""SELECT opportunity_id, opportunity_name, owner, stage, stage_order, entered_at,
       close_date, CAST(amount_then AS DOUBLE) AS amount, CAST(probability_then AS DOUBLE) AS probability,
       CAST(weighted AS DOUBLE) AS weighted
FROM {state}
WHERE {_OPEN}
ORDER BY stage_order, stage, opportunity_id"""
    return run_sql(con, q.render(select), q.params)


def learn_rates(states: pd.DataFrame, training: list[dt.date]) -> pd.DataFrame:
    """Per CRM stage, of the deals open in it and due at the start of each ``training`` quarter,
    the share won within that quarter (counts); below MIN_RATE_DEALS the stage default."""
    cols = ["stage", "stage_order", "deals", "won", "learned", "default", "rate", "fallback"]
    at_start = states[
        states["qs"].isin(training) & (states["qs"] == states["checkpoint"])
    ]  # each training quarter at its own start
    if at_start.empty:
        return pd.DataFrame(columns=cols)
    g = at_start.groupby("stage", sort=False).agg(
        stage_order=("stage_order", "min"),
        deals=("deals", "sum"),
        won=("won", "sum"),
        default=("stage_default", "first"),
    )
    g = g.reset_index()
    g["learned"] = g["won"] / g["deals"]
    g["default"] = g["default"] / 100.0
    g["fallback"] = g["deals"] < MIN_RATE_DEALS
    g["rate"] = g["learned"].where(~g["fallback"], g["default"])
    return g[cols].sort_values(["stage_order", "stage"]).reset_index(drop=True)


def _rate_for(rates: pd.DataFrame, pipeline: pd.DataFrame) -> pd.DataFrame:
    """The pipeline per stage with the rate applied (a stage never seen in training: its
    default, flagged)."""
    p = pipeline[["stage", "stage_order", "deals", "amount", "weighted", "stage_default"]].copy()
    m = p.merge(rates[["stage", "rate", "fallback"]], on="stage", how="left")
    unseen = m["rate"].isna()
    m.loc[unseen, "rate"] = m.loc[unseen, "stage_default"] / 100.0
    m["fallback"] = m["fallback"].astype("boolean").fillna(True).astype(bool)
    return m


def _num(v: Any) -> float:
    return 0.0 if v is None or pd.isna(v) else float(v)


def make_cell(
    qs: dt.date,
    checkpoint: dt.date,
    states: pd.DataFrame,
    totals: pd.DataFrame,
    earliest: dt.date,
    past: bool,
) -> Cell:
    """The four forecasts of one quarter at one checkpoint (training quarters: the up to four
    before ``qs`` whose start is on or after ``earliest``)."""
    training = [
        add_quarters(qs, -k)
        for k in range(1, HISTORY_QUARTERS + 1)
        if add_quarters(qs, -k) >= earliest
    ]
    rates = learn_rates(states, training)
    here = states[(states["qs"] == qs) & (states["checkpoint"] == checkpoint)]
    pipeline = _rate_for(rates, here)
    tot = totals.set_index(["qs", "checkpoint"])
    row = tot.loc[(qs, checkpoint)] if (qs, checkpoint) in tot.index else None
    won_to_date = _num(row["won_to_date"]) if row is not None else 0.0
    starts = totals[totals["qs"] == totals["checkpoint"]].set_index("qs")
    new_values = [_num(starts.loc[t, "won_new"]) for t in training if t in starts.index]
    new_business = sum(new_values) / len(new_values) if new_values else None
    prev = add_quarters(qs, -1)
    previous_won = _num(starts.loc[prev, "won"]) if prev in starts.index else None
    weighted = float(pipeline["weighted"].fillna(0).sum())
    by_rate = float((pipeline["amount"].fillna(0) * pipeline["rate"].fillna(0)).sum())
    learned = won_to_date + by_rate if training else None
    forecasts: dict[str, float | None] = {
        "crm_probability": won_to_date + weighted,
        "historical_rate": learned,
        "historical_rate_plus_new": (
            None if learned is None or new_business is None else learned + new_business
        ),
        "naive": previous_won,
    }
    actual = _num(row["won"]) if (row is not None and past) else None
    return Cell(
        qs,
        checkpoint,
        forecasts,
        actual,
        won_to_date,
        new_business,
        previous_won,
        rates,
        pipeline,
        training,
    )


def accuracy(forecast: float | None, actual: float | None) -> float | None:
    """1 - |F - A| / A; None when the forecast or actual is unknown or the actual is 0."""
    if forecast is None or actual is None or actual == 0:
        return None
    return 1.0 - abs(forecast - actual) / actual


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean accuracy, bias (mean signed error / actual) and MAPE, over the cells
    with a non-zero actual; ``n`` counts them."""
    rows: list[dict[str, Any]] = []
    for m in METHODS:
        r = results[(results["method"] == m) & results["accuracy"].notna()]
        if r.empty:
            rows.append({"method": m, "mean_accuracy": None, "bias": None, "mape": None, "n": 0})
            continue
        ratio = r["error"].astype(float) / r["actual"].astype(float)
        rows.append(
            {
                "method": m,
                "mean_accuracy": float(r["accuracy"].astype(float).mean()),
                "bias": float(ratio.mean()),
                "mape": float(ratio.abs().mean()),
                "n": len(r),
            }
        )
    return pd.DataFrame(rows)


def rank_methods(summary: pd.DataFrame) -> list[str]:
    """Methods by backtest mean accuracy, best first (no backtest: the catalog order)."""
    s = summary.dropna(subset=["mean_accuracy"]) if not summary.empty else summary
    if s.empty:
        return list(METHODS)
    ranked = list(s.sort_values("mean_accuracy", ascending=False, kind="stable")["method"])
    return ranked + [m for m in METHODS if m not in ranked]


def history_quarters_before(qs: dt.date, first: dt.datetime | None) -> int:
    """How many quarters before ``qs`` start after the first history row (at their start the
    pipeline can be rebuilt)."""
    if first is None:
        return 0
    earliest = add_quarters(quarter_start(first.date()), 1)
    n = 0
    while add_quarters(qs, -(n + 1)) >= earliest:
        n += 1
    return n


def backtest(con: duckdb.DuckDBPyConnection, request: Request) -> Backtest:
    """The backtest of every eligible past quarter (inside the request's period when bounded)
    and the projection of the quarter holding ``request.as_of``."""
    as_of = request.as_of
    current_qs = quarter_start(as_of)
    first = first_history(con, request)
    if first is None:
        return Backtest(
            as_of,
            _empty_results(),
            summarise(_empty_results()),
            pd.DataFrame(columns=["method", "label", "forecast", "rank"]),
            METHODS[0],
            "needs stage history (stage_history.csv, or Salesforce's OpportunityHistory); "
            "this dataset has no stage history",
            0,
            None,
        )
    earliest = add_quarters(quarter_start(first.date()), 1)
    quarters = []
    t = min(earliest, current_qs)
    while t <= current_qs:
        quarters.append(t)
        t = add_quarters(t, 1)
    past_end = as_of + dt.timedelta(days=1)
    per = request.period
    eligible = [
        qs
        for qs in quarters
        if add_quarters(qs, 1) <= past_end
        and history_quarters_before(qs, first) >= HISTORY_QUARTERS
        and (per.start is None or per.end is None or per.start <= qs < per.end)
    ]
    # every quarter's start (the rates learn from them), the later checkpoints of the quarters
    # backtested, and the day after the as-of date for the projection
    cps: list[tuple[dt.date, dt.date]] = [(qs, qs) for qs in quarters]
    for qs in eligible:
        cps += [(qs, qs + dt.timedelta(days=d)) for d in CHECKPOINTS.values() if d]
    cps.append((current_qs, past_end))
    cps = sorted(set(cps))
    states, sql1, p1 = pipeline_states(con, request, cps)
    # the won revenue of the quarter before the first rebuildable one too (naive needs no history)
    before = add_quarters(quarters[0], -1)
    totals, sql2, p2 = won_totals(con, request, [(before, before), *cps])
    for f in (states, totals):
        for c in ("qs", "checkpoint"):
            f[c] = pd.to_datetime(f[c]).dt.date
    rows = []
    cells: dict[tuple[dt.date, dt.date], Cell] = {}
    for qs in eligible:
        for offset in CHECKPOINTS.values():
            cp = qs + dt.timedelta(days=offset)
            cell = make_cell(qs, cp, states, totals, earliest, past=True)
            cells[(qs, cp)] = cell
            for m in METHODS:
                f = cell.forecasts[m]
                rows.append(
                    {
                        "period": quarter_label(qs),
                        "quarter_start": qs,
                        "checkpoint": cp,
                        "checkpoint_name": checkpoint_name(qs, cp),
                        "method": m,
                        "forecast": f,
                        "actual": cell.actual,
                        "accuracy": accuracy(f, cell.actual),
                        "error": None if cell.actual is None or f is None else f - cell.actual,
                    }
                )
    results = pd.DataFrame(rows) if rows else _empty_results()
    summary = summarise(results)
    ranked = rank_methods(summary)
    reason = None
    if not rows:
        last_past = add_quarters(current_qs, -1)
        target = last_past if per.start is None else quarter_start(per.start)
        have = history_quarters_before(target, first)
        reason = (
            f"needs {HISTORY_QUARTERS} quarters of history before {quarter_label(target)}; "
            f"this data has {have}"
        )
    current = make_cell(current_qs, past_end, states, totals, earliest, past=False)
    proj = pd.DataFrame(
        [
            {
                "method": m,
                "label": METHOD_LABELS[m],
                "forecast": current.forecasts[m],
                "rank": i + 1,
            }
            for i, m in enumerate(ranked)
        ]
    )
    return Backtest(
        as_of,
        results,
        summary,
        proj,
        ranked[0],
        reason,
        history_quarters_before(add_quarters(current_qs, -1), first),
        current,
        cells,
        sql1 + ";\n" + sql2,
        p1 + p2,
        len(cps),
    )


def cell_math(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    bt: Backtest,
    qs: dt.date,
    cp: dt.date,
    method: str,
) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """The deals behind one forecast: each open deal due at ``cp`` with its stage then, the
    rate applied and its contribution; and the terms added to their sum (won so far, new
    business, last quarter's won revenue) with the total, which equals the backtest's."""
    cell = bt.cells.get((qs, cp))
    if (
        cell is None
        and bt.current is not None
        and (qs, cp)
        == (
            bt.current.quarter,
            bt.current.checkpoint,
        )
    ):
        cell = bt.current
    if cell is None:
        raise KeyError((qs, cp))
    terms: dict[str, float | None] = {}
    if method == "naive":
        terms["last quarter's won revenue"] = cell.previous_won
        terms["forecast"] = cell.forecasts[method]
        return pd.DataFrame(), terms
    deals = cell_deals(con, request, qs, cp)
    if method == "crm_probability":
        deals["rate"] = deals["probability"] / 100.0
        deals["contribution"] = deals["weighted"]
    else:
        rates = cell.pipeline.set_index("stage")["rate"]
        deals["rate"] = deals["stage"].map(rates)
        deals["contribution"] = deals["amount"] * deals["rate"]
    terms["open deals"] = float(deals["contribution"].fillna(0).sum())
    terms["won so far"] = cell.won_to_date
    if method == "historical_rate_plus_new":
        terms["expected new business"] = cell.new_business
    terms["forecast"] = cell.forecasts[method]
    return deals.drop(columns=["weighted", "stage_order"]), terms


def as_json(bt: Backtest) -> dict[str, Any]:
    """The command line's object: results, summary, projection (plain JSON values)."""

    def val(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, dt.date):
            return v.isoformat()
        try:
            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
        return v.item() if hasattr(v, "item") else v

    results = [
        {
            k: val(r[k])
            for k in ("period", "checkpoint", "method", "forecast", "actual", "accuracy", "error")
        }
        for r in bt.results.to_dict("records")
    ]
    summary = [
        {k: val(r[k]) for k in ("method", "mean_accuracy", "bias", "mape", "n")}
        for r in bt.summary.to_dict("records")
    ]
    projection = []
    cur = bt.current
    for r in bt.projection.to_dict("records"):
        projection.append(
            {
                "method": r["method"],
                "rank": val(r["rank"]),
                "period": quarter_label(cur.quarter) if cur else None,
                "checkpoint": cur.checkpoint.isoformat() if cur else None,
                "forecast": val(r["forecast"]),
            }
        )
    out: dict[str, Any] = {
        "as_of": bt.as_of.isoformat(),
        "results": results,
        "summary": summary,
        "projection": projection,
        "best_method": bt.best_method,
        "reason": bt.reason,
    }
    if cur is not None:
        out["projection_terms"] = {
            "won_so_far": cur.won_to_date,
            "expected_new_business": cur.new_business,
            "last_quarter_won": cur.previous_won,
            "open_deals": int(cur.pipeline["deals"].sum()) if not cur.pipeline.empty else 0,
            "rates": [
                {
                    k: val(r[k])
                    for k in ("stage", "deals", "won", "learned", "default", "rate", "fallback")
                }
                for r in cur.rates.to_dict("records")
            ],
        }
    return out


@dataclass
class Weighting:
    """How the weighted pipeline is weighted: ``crm_probability`` (the deal's probability, else
    the stage default) or ``historical_rate`` (the stage rates learned for the current quarter)
    when those beat the CRM's probabilities in the backtest; ``text`` says which and why."""

    method: str
    rates: dict[str, float]
    text: str


def choose_weighting(bt: Backtest) -> Weighting:
    """Learned stage rates when their backtest mean accuracy beats the CRM's probabilities',
    else the CRM's probabilities (docs/metrics.md, "Forecast backtest")."""
    s = bt.summary.set_index("method")["mean_accuracy"]
    crm, hist = s.get("crm_probability"), s.get("historical_rate")
    cur = bt.current
    if crm is None or hist is None or pd.isna(crm) or pd.isna(hist) or cur is None:
        why = bt.reason or "no quarter could be backtested"
        return Weighting(
            "crm_probability",
            {},
            f"Weighted by the CRM's probabilities (learned stage rates not backtested: {why}).",
        )
    if hist > crm and not cur.rates.empty:
        rates = {
            str(k): float(v) for k, v in zip(cur.rates["stage"], cur.rates["rate"], strict=True)
        }
        train = ", ".join(quarter_label(t) for t in sorted(cur.training))
        return Weighting(
            "historical_rate",
            rates,
            f"Weighted by stage win rates learned from {train}: they beat the CRM's "
            f"probabilities in the backtest ({hist:.0%} against {crm:.0%} mean accuracy).",
        )
    return Weighting(
        "crm_probability",
        {},
        f"Weighted by the CRM's probabilities: they beat the learned stage rates in the "
        f"backtest ({crm:.0%} against {hist:.0%} mean accuracy).",
    )


def weighting_request(request: Request) -> Request:
    """The backtest request the weighting is chosen from: every quarter, the same filters."""
    return request.with_(metrics=("forecast_accuracy",), period=Period("all"), grain=None, by=())


def weighting(con: duckdb.DuckDBPyConnection, request: Request) -> Weighting:
    """:func:`choose_weighting` of the backtest over every quarter (the request's filters)."""
    return choose_weighting(backtest(con, weighting_request(request)))
