"""Pipeline coverage page: coverage for the current and next periods against quota per team
and rep (3x / 4x reference lines, 2.5x alert), open and weighted pipeline by close month and
stage, the 90-day weighted forecast, pipeline aging, and the stale and slipped deal lists."""

from __future__ import annotations

import streamlit as st

from engine.analyses import backtest, coverage
from engine.analyses.alerts import AGING_MAX, COVERAGE_MIN
from engine.semantic import compute, get_metric, make_request
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS
from views import charts, common, state
from views import format as fmt

# The healthy coverage band (the 3x / 4x reference lines).
HEALTHY = DEFAULT_BENCHMARKS.reference["pipeline_coverage"]

LEVELS = {"team": "Team", "owner": "Rep"}
COV_KINDS = {
    "value": "ratio:Coverage",
    "numerator": "dollar:Open pipeline",
    "denominator": "dollar:Quota",
    "median": "ratio",
    "p25": "ratio",
    "p75": "ratio",
}

st.header("Pipeline coverage")
info, view, prof = common.analysis_context()
req = make_request("pipeline_coverage", period=view.period, filters=view.filters, as_of=prof.as_of)
cur = coverage.current_period(req)
nxt = coverage.coming_period(req)
# An alarm only for a period that has not ended as of the dataset's as-of date.
nxt_open = coverage.not_ended(nxt, req.as_of)
has_quotas = bool(info.row_counts.get("quotas"))

with common.error_boundary():
    # which weighting (learned stage rates or the CRM's probabilities) the engine chose
    weighting = backtest.choose_weighting(common.backtest(backtest.weighting_request(req)))
    fc = common.computed(coverage.forecast_next_days, req, w=weighting).parts
    aging = common.computed(compute, req.with_(metrics=("pipeline_aging",)))
    # Five cards in one row cut the longest value off below about 1,450 px: 3 + 2 rows.
    cols = iter([*st.columns(3), *st.columns(3)[:2]] if has_quotas else st.columns(3))
    if has_quotas:
        now = common.computed(compute, req.with_(period=cur))
        ahead = common.computed(compute, req.with_(period=nxt))
        next(cols).metric(
            f"Coverage {cur.label}",
            fmt.value(now.value, "multiple"),
            help=get_metric("pipeline_coverage").definition,
        )
        low = not fmt.missing(ahead.value) and ahead.value < COVERAGE_MIN
        if fmt.missing(ahead.value):
            tag = None
        elif not nxt_open:
            tag = f"ended by {req.as_of}"
        else:
            tag = f"below {COVERAGE_MIN:g}x" if low else f"at or above {COVERAGE_MIN:g}x"
        next(cols).metric(
            "Coverage next period",
            fmt.value(ahead.value, "multiple"),
            tag,
            delta_color=("red" if low else "green") if nxt_open else "off",
            delta_arrow="off",
            help=f"Next period: {fmt.period_text(nxt.label)}, after the period holding the data's as-of date "
            f"{req.as_of}. Alert below {COVERAGE_MIN:g}x while it has not ended; healthy "
            f"{HEALTHY.low:g}x to {HEALTHY.high:g}x.",
        )
    ahead_days = coverage.FORECAST_DAYS
    no_close = f"n/a: no open deal has an expected close date in the next {ahead_days} days."
    weighted, open_ = fc["weighted_pipeline"].value, fc["open_pipeline"].value
    # The reason for an n/a is written under the value, not only in the tooltip.
    next(cols).metric(
        f"Forecast, next {ahead_days} days",
        fmt.value(weighted, "currency"),
        f"no open deal due in the next {ahead_days} days" if fmt.missing(weighted) else None,
        help=no_close if fmt.missing(weighted) else weighting.text,
        delta_color="off",
        delta_arrow="off",
    )
    next(cols).metric(
        f"Open, next {ahead_days} days",
        fmt.value(open_, "currency"),
        f"no open deal due in the next {ahead_days} days" if fmt.missing(open_) else None,
        help=no_close if fmt.missing(open_) else None,
        delta_color="off",
        delta_arrow="off",
    )
    next(cols).metric(
        "Pipeline aging",
        fmt.value(aging.value, "ratio"),
        f"healthy below {AGING_MAX:.0%}",
        delta_color="off",
        delta_arrow="off",
        help=get_metric("pipeline_aging").definition,
    )
    st.caption(common.escape(f"Forecast, next {ahead_days} days: {weighting.text}"))
    if has_quotas and nxt_open and ahead.value is not None and ahead.value < COVERAGE_MIN:
        st.warning(
            f"Coverage for the coming period ({fmt.period_text(nxt.label)}) is "
            f"{ahead.value:.2f}x, below {COVERAGE_MIN:g}x.",
            icon=":material/warning:",
        )
    if aging.value is not None and aging.value > AGING_MAX:
        st.warning(
            f"Pipeline aging is {aging.value:.0%}: above the healthy {AGING_MAX:.0%}.",
            icon=":material/hourglass:",
        )
    stale = common.computed(coverage.stale_deals, req)
    if len(stale.frame):
        st.warning(
            f"{len(stale.frame):,} open deals have been over {req.stale_days} days in their stage.",
            icon=":material/schedule:",
        )
    tabs = st.tabs(["Coverage", "Pipeline by month", "Aging", "Stale deals", "Slipped deals"])
    with tabs[0]:
        if not has_quotas:
            st.info(
                "Coverage needs quotas: upload quotas.csv (owner, period, quota_amount).",
                icon=":material/upload:",
            )
        else:
            lvl = state.url_choice("Per", "level", LEVELS, "team")
            cov = common.computed(coverage.coverage, req, level=lvl)
            for which in ("current", "next"):
                part = cov.frame[cov.frame["period"] == which]
                ended = which == "next" and not nxt_open
                build = lambda f, w=which, e=ended: charts.coverage_bars(f, lvl, w, e)  # noqa: E731
                fmt.chart_or_empty(part, "value", build, f"coverage {which}", f"cov{which}")
            st.caption(
                f"Current period {fmt.period_text(cur.label)}, next {fmt.period_text(nxt.label)}"
                f". Healthy: {HEALTHY.low:g}x (early) to {HEALTHY.high:g}x (mature)."
            )
            fmt.table(cov.frame, f"coverage per {lvl}", "cov", **COV_KINDS)
            common.how_computed(cov.sql, cov.params)
    with tabs[1]:
        month = common.computed(coverage.pipeline_by_close_month, req, weighting)
        empty = "No open deal has an expected close date: nothing to place on the calendar."
        build = charts.pipeline_by_month
        fmt.chart_or_empty(month.frame, "open_pipeline", build, "pipeline by month", "month", empty)
        st.caption(common.escape(f"Weighted pipeline: {weighting.text}"))
        fmt.table(month.frame, "pipeline by close month", "month")
        common.how_computed(month.sql, month.params, "pipeline by month")
        common.how_computed(
            fc["weighted_pipeline"].sql,
            fc["weighted_pipeline"].params,
            f"forecast, next {coverage.FORECAST_DAYS} days",
        )
    with tabs[2]:
        by_stage = common.computed(coverage.aging, req)
        title = f"Share of open deals past {req.aging_multiple:g}x their stage median"
        build = lambda f: charts.share_bars(f, "stage", AGING_MAX, title)  # noqa: E731
        fmt.chart_or_empty(by_stage.frame, "value", build, "aging", "aging")
        st.caption(get_metric("pipeline_aging").definition)
        fmt.table(by_stage.frame, "aging by stage", "aging", value="percent", n="count")
        common.how_computed(aging.sql, aging.params)
    with tabs[3]:
        st.caption(
            f"Open deals over {req.stale_days} days in their current stage; sort by any column."
        )
        fmt.table(stale.frame, "stale deals", "stale")
        common.how_computed(stale.sql, stale.params)
    with tabs[4]:
        slipped = common.computed(coverage.slipped_deals, req)
        st.caption(
            f"{len(slipped.frame):,} open deals with an expected close date before {req.as_of}."
        )
        fmt.table(slipped.frame, "slipped deals", "slipped")
        common.how_computed(slipped.sql, slipped.params)
