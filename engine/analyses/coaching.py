"""The coaching view (docs/metrics.md, Coaching scorecard): team tier, rep tier, the weighted
scorecard, activity against conversion, and a rep's peers.

Scorecard scales (each category 1-5, higher is better; a category without data is missing and
the remaining weights are re-normalised, never scored 0):

- discovery quality: the mean discovery_score (0-5 rubric) of the rep's calls in the period,
  clipped to [1, 5].
- pipeline conversion: the rep's stage_conversion (opportunity -> closed_won) divided by the
  team's (every rep in the request); score = 1 + 2 * ratio clipped to [1, 5], so parity is 3,
  twice the team rate is 5 and zero is 1.
- activity adherence: activities logged / target (``activities_per_week`` * weeks in the
  period; 'all' uses the span of the activity data); score = 1 + 4 * min(ratio, 1).
- forecast accuracy: the rep's forecast_accuracy for the period; score = 1 + 4 * accuracy
  clipped to [0, 1]. Needs a bounded period and stage_history.

The weighted total needs at least :data:`MIN_SCORED` scored categories: one category alone is
that category, not a scorecard, so the total is then missing and ``why_no_total`` says why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from engine.analyses import indicators
from engine.analyses.coverage import coverage
from engine.semantic.catalog import get_metric
from engine.semantic.compute import Result, clean, compute, run_built
from engine.semantic.request import Period, Request
from engine.semantic.sql import Sql

# The forecast-accuracy category grades the CRM's own forecast at the period start (the
# backtest's crm_probability, docs/metrics.md "Forecast backtest"): the rep's probabilities
# are what is graded, so learned stage rates never replace them here.
FORECAST_METHOD = "crm_probability"
DEFAULT_WEIGHTS = {"discovery": 0.30, "conversion": 0.30, "activity": 0.20, "forecast": 0.20}
DEFAULT_TARGETS = {"activities_per_week": 40.0, "strong_total": 3.5}
MIN_SCORED = 2
# What each category needs, for the reason a category (and so the total) is missing.
CATEGORY_NEEDS = {
    "discovery": "calls with a discovery_score (activities.csv)",
    "conversion": "deals created in the period",
    "activity": "activities (activities.csv)",
    "forecast": "stage history and a won amount in the graded period",
}
# The leading-indicator metric behind each category (docs/metrics.md, Leading indicators);
# forecast accuracy is not an indicator of the test.
CATEGORY_INDICATOR = {
    "discovery": "discovery_score",
    "conversion": "stage_conversion",
    "activity": "activity_count",
}
REP_METRICS = (
    "pipeline_created",
    "win_rate",
    "stage_conversion",
    "quota_attainment",
    "ramp_adjusted_attainment",
    "activities_per_opportunity",
)


@dataclass
class TeamTier:
    coverage: Result
    win_rate_by_segment: Result
    attainment: Result
    attainment_summary: dict[str, float | None]
    forecast_accuracy: Result
    win_rate: Result | None = None
    notes: list[str] = field(default_factory=list)


def last_complete_quarter(as_of: dt.date) -> Period:
    q = (as_of.month - 1) // 3
    start = dt.date(as_of.year, 3 * q + 1, 1)
    prev = dt.date(start.year - 1, 10, 1) if q == 0 else dt.date(start.year, 3 * (q - 1) + 1, 1)
    return Period(f"{prev.isoformat()}..{start.isoformat()}", prev, start)


def _graded_request(request: Request) -> Request:
    """Lagging metrics need a decided period: 'all' becomes the last complete quarter."""
    if request.period.bounded:
        return request
    return request.with_(period=last_complete_quarter(request.as_of))


def team_tier(con: duckdb.DuckDBPyConnection, request: Request) -> TeamTier:
    """Coverage per team (current and next period), win rate by segment, the attainment
    distribution (per-rep values plus share at or above 100% and quartiles), forecast accuracy."""
    graded = _graded_request(request).with_(grain=None, by=())
    att = compute(con, graded.with_(metrics=("quota_attainment",), by=("owner",)))
    total = compute(con, graded.with_(metrics=("quota_attainment",)))
    summary = {"value": total.value} | {k: clean(v) for k, v in total.extras.items()}
    return TeamTier(
        coverage=coverage(con, request, level="team"),
        win_rate_by_segment=compute(con, graded.with_(metrics=("win_rate",), by=("segment",))),
        attainment=att,
        attainment_summary=summary,
        forecast_accuracy=compute(con, graded.with_(metrics=("forecast_accuracy",))),
        win_rate=compute(con, graded.with_(metrics=("win_rate",))),
        notes=[f"Graded period: {graded.period.label}"],
    )


def rep_tier(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """One row per rep: pipeline created, stage conversion (and per transition), attainment,
    ramp-adjusted attainment, activities per opportunity, and whether the rep is ramping."""
    req = request.with_(metrics=REP_METRICS, by=("owner",), grain=None)
    res = compute(con, req)
    f = res.frame
    wide = f.pivot_table(
        index="owner", columns="metric", values="value", aggfunc="first", dropna=False
    )
    wide = wide.reindex(columns=list(REP_METRICS))
    sc = f[f["metric"] == "stage_conversion"].set_index("owner")
    for col in ("opportunity_to_proposal", "proposal_to_closed_won"):
        if col in sc.columns:
            wide[col] = sc[col]
    reps = _reps(con, request)
    out = wide.reset_index().merge(reps[["owner", "segment", "ramping"]], on="owner", how="left")
    return Result(out, res.sql, res.params, notes=res.notes, parts=res.parts)


def _reps(con: duckdb.DuckDBPyConnection, request: Request) -> pd.DataFrame:
    q = Sql(request.with_(grain=None, by=(), filters=()))
    q.reps_d()
    as_of = q.p(request.as_of)
    months = q.p(request.ramp_months)
    select = f"""SELECT owner, team, segment, role, manager, hire_date,
       coalesce(hire_date > CAST({as_of} AS DATE) - to_months({months}), false) AS ramping
FROM reps_d ORDER BY owner"""
    return run_built(con, q, select).frame


def peers(con: duckdb.DuckDBPyConnection, request: Request, owner: str) -> Result:
    """Reps in the same segment and ramp stage as ``owner`` (ramping = hired within
    ``ramp_months`` of the as-of date), the rep included."""
    reps = _reps(con, request)
    me = reps[reps["owner"] == owner]
    if me.empty:
        return Result(reps.iloc[0:0], "", [], notes=[f"{owner!r} is not in the reps table."])
    seg, ramp = me.iloc[0]["segment"], bool(me.iloc[0]["ramping"])
    same = reps[(reps["segment"].fillna("") == (seg or "")) & (reps["ramping"] == ramp)]
    return Result(same.reset_index(drop=True), "", [])


def activity_vs_conversion(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Per rep: activities, opportunities created, activities per opportunity and stage
    conversion, with the team medians, and ``busy_not_converting`` (activities per opportunity
    in the top quartile while conversion is in the bottom quartile: docs/metrics.md, Alerts)."""
    req = request.with_(
        metrics=("activities_per_opportunity", "stage_conversion"), by=("owner",), grain=None
    )
    res = compute(con, req)
    apo = res.parts["activities_per_opportunity"].frame.set_index("owner")
    conv = res.parts["stage_conversion"].frame.set_index("owner")
    out = pd.DataFrame(
        {
            "activities": apo["numerator"],
            "opportunities_created": apo["denominator"],
            "activities_per_opportunity": apo["value"],
        }
    ).join(conv[["value"]].rename(columns={"value": "conversion"}), how="outer")
    a, c = out["activities_per_opportunity"].astype(float), out["conversion"].astype(float)
    out["activity_median"] = a.median()
    out["conversion_median"] = c.median()
    out["busy_not_converting"] = (a >= a.quantile(0.75)) & (c <= c.quantile(0.25))
    return Result(out.reset_index(), res.sql, res.params, notes=res.notes, parts=res.parts)


def _activity_weeks(con: duckdb.DuckDBPyConnection, request: Request) -> float | None:
    per = request.period
    if per.start is not None and per.end is not None:
        return (per.end - per.start).days / 7
    q = Sql(request)
    src = q.act()
    f = run_built(
        con,
        q,
        f"SELECT date_diff('day', min(activity_date), max(activity_date)) + 1 AS d FROM {src}",
    ).frame
    d = clean(f["d"].iloc[0])
    return d / 7 if d else None


def scorecard(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    weights: dict[str, float] | None = None,
    targets: dict[str, float] | None = None,
) -> Result:
    """The weighted scorecard (docs/metrics.md, Coaching scorecard): one row per rep with each
    category's raw value, its 1-5 score (NaN when missing), the weighted total over the present
    categories, and ``strong``."""
    w = DEFAULT_WEIGHTS | (weights or {})
    t = DEFAULT_TARGETS | (targets or {})
    q = Sql(request.with_(grain=None, by=("owner",)))
    src = q.act()
    disc = run_built(
        con,
        q,
        f"""SELECT owner, avg(discovery_score) AS discovery_raw, count(*) AS activities
FROM {src}
WHERE {q.period("activity_date")}
GROUP BY owner""",
    ).frame.set_index("owner")
    calls = Sql(request.with_(grain=None, by=("owner",)))
    src2 = calls.act()
    disc_calls = run_built(
        con,
        calls,
        f"""SELECT owner, avg(discovery_score) AS discovery_raw
FROM {src2}
WHERE activity_type = 'call' AND discovery_score IS NOT NULL AND {calls.period("activity_date")}
GROUP BY owner""",
    ).frame.set_index("owner")
    conv = compute(
        con, request.with_(metrics=("stage_conversion",), by=("owner",), grain=None)
    ).frame
    team_conv = compute(con, request.with_(metrics=("stage_conversion",), by=(), grain=None)).value
    fc_req = _graded_request(request).with_(
        metrics=("forecast_accuracy",), by=("owner",), grain=None
    )
    fc = compute(con, fc_req).frame
    out = pd.DataFrame(index=sorted(set(disc.index) | set(conv["owner"]) | set(fc["owner"])))
    out.index.name = "owner"
    out["discovery_raw"] = disc_calls["discovery_raw"]
    out["conversion_raw"] = conv.set_index("owner")["value"]
    weeks = _activity_weeks(con, request)
    target = t["activities_per_week"] * weeks if weeks else None
    out["activity_raw"] = disc["activities"] / target if target else np.nan
    out["forecast_raw"] = fc.set_index("owner")["value"] if len(fc) else np.nan
    out = out.astype(float)
    out["discovery"] = out["discovery_raw"].clip(1, 5)
    if team_conv:
        out["conversion"] = (1 + 2 * out["conversion_raw"] / team_conv).clip(1, 5)
    else:
        out["conversion"] = np.nan
    out["activity"] = 1 + 4 * out["activity_raw"].clip(0, 1)
    out["forecast"] = 1 + 4 * out["forecast_raw"].clip(0, 1)
    cats = list(DEFAULT_WEIGHTS)
    wv = pd.Series({c: float(w[c]) for c in cats})
    scores = out[cats]
    present = scores.notna()
    weight_sum = present.mul(wv, axis=1).sum(axis=1)
    total = scores.fillna(0).mul(wv, axis=1).sum(axis=1) / weight_sum.replace(0, np.nan)
    scored = present.mul(wv > 0, axis=1).sum(axis=1)
    out["total"] = total.where(scored >= MIN_SCORED)
    out["missing"] = present.apply(lambda r: ", ".join(c for c in cats if not r[c]), axis=1)
    out["why_no_total"] = [
        ""
        if n >= MIN_SCORED
        else f"only {int(n)} scored categor{'y' if n == 1 else 'ies'}; a weighted total needs "
        f"at least {MIN_SCORED}"
        for n in scored
    ]
    out["strong"] = out["total"] > t["strong_total"]
    return Result(out.reset_index(), "", [], notes=[f"weights: {w}", f"targets: {t}"])


def rep_against_peers(con: duckdb.DuckDBPyConnection, request: Request, owner: str) -> Result:
    """Per rep-tier metric: ``rep`` (the rep's value), ``unit``, ``peer_median`` (median over
    the other reps of the same segment and ramp stage), ``peers`` (how many) and ``index``
    (rep / median). The rep's own numbers are always there; without peers (or without a reps
    table) the peer columns are empty and ``notes`` says why."""
    tier = rep_tier(con, request)
    group = peers(con, request, owner).frame
    others = [o for o in group["owner"] if o != owner]
    table = tier.frame.set_index("owner").reindex(columns=list(REP_METRICS)).astype(float)
    mine = table.loc[owner] if owner in table.index else pd.Series(float("nan"), index=REP_METRICS)
    median = (
        table.reindex(others).median() if others else pd.Series(float("nan"), index=REP_METRICS)
    )
    frame = pd.DataFrame(
        {
            "metric": list(REP_METRICS),
            "label": [get_metric(m).name for m in REP_METRICS],
            "unit": [get_metric(m).unit for m in REP_METRICS],
            "rep": mine.to_numpy(),
            "peer_median": median.to_numpy(),
            "peers": len(others),
        }
    )
    frame["index"] = frame["rep"] / frame["peer_median"].where(frame["peer_median"] != 0)
    if not others:
        why = (
            "the rep has no row in the reps table (segment and ramp stage unknown)"
            if group.empty
            else "no other rep in the same segment and ramp stage"
        )
        note = f"No peers: {why}; the rep's own numbers are shown."
        return Result(frame, tier.sql, tier.params, notes=[note, *tier.notes])
    row = group[group["owner"] == owner].iloc[0]
    stage = "ramping" if bool(row["ramping"]) else "ramped"
    note = f"Peers: {len(others)} {stage} reps in segment {row['segment'] or '(none)'}."
    return Result(frame, tier.sql, tier.params, notes=[note, *tier.notes])


def predictive_categories(test: indicators.IndicatorTest) -> dict[str, str]:
    """Per scorecard category, what the leading-indicator test found on this dataset, in words:
    the outcomes its indicator predicts (rho and the period), or that it predicts none, or why
    it could not be tested (docs/metrics.md, Leading indicators)."""
    grain = test.panel.grain
    out: dict[str, str] = {}
    for cat, mid in CATEGORY_INDICATOR.items():
        r = test.results[test.results["indicator"] == mid]
        hits = r[r["verdict"] == indicators.PREDICTIVE]
        if len(hits):
            parts = [
                f"{'next' if h['lag'] else 'same'} {grain}'s "
                f"{get_metric(h['outcome']).name.lower()} (rho {h['rho']:.2f})"
                for h in hits.to_dict("records")
            ]
            out[cat] = "predictive: " + ", ".join(parts)
        elif len(r) and (r["verdict"] == indicators.NO_EVIDENCE).any():
            out[cat] = "no evidence that it predicts any outcome on this dataset"
        else:
            why = next((w for w in r["why"] if w), "") if len(r) else ""
            out[cat] = "not tested: " + (why or "not enough data")
    out["forecast"] = "not a leading indicator of the test"
    return out
