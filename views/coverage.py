"""Pipeline coverage page: coverage for the current and next periods against quota per team
and rep (3x / 4x reference lines, 2.5x alert), open and weighted pipeline by close month and
stage, the 90-day weighted forecast, pipeline aging, and the stale and slipped deal lists."""

from __future__ import annotations

import streamlit as st

from engine.metrics import compute, coverage, get_metric, make_request
from engine.metrics.alerts import AGING_MAX, COVERAGE_MIN
from engine.quality import format_value
from views import charts, common, state

LEVELS = {"team": "Team", "owner": "Rep"}

st.header("Pipeline coverage")
info = common.require_dataset()
if info is None:
    st.stop()
view = state.current()
prof = common.profile(info.token)
req = make_request("pipeline_coverage", period=view.period, filters=view.filters, as_of=prof.as_of)
cur = coverage.current_period(req)
nxt = cur.shifted(1)
has_quotas = bool(info.row_counts.get("quotas"))

with common.error_boundary(), common.cursor() as con:
    fc = coverage.forecast_next_days(con, req).parts
    aging = compute(con, req.with_(metrics=("pipeline_aging",)))
    cols = [*st.columns(3), *st.columns(3)]
    if has_quotas:
        now = compute(con, req.with_(period=cur))
        ahead = compute(con, req.with_(period=nxt))
        cols[0].metric(
            f"Coverage {cur.label}",
            format_value(now.value, "multiple"),
            help=get_metric("pipeline_coverage").definition,
        )
        cols[1].metric(
            "Coverage next period",
            format_value(ahead.value, "multiple"),
            "below 2.5x" if (ahead.value or 0) < COVERAGE_MIN else "at or above 2.5x",
            delta_color="inverse" if (ahead.value or 0) < COVERAGE_MIN else "normal",
        )
    cols[2].metric(
        "Forecast, next 90 days",
        format_value(fc["weighted_pipeline"].value, "currency"),
        help=get_metric("weighted_pipeline").definition,
    )
    cols[3].metric("Open, next 90 days", format_value(fc["open_pipeline"].value, "currency"))
    cols[4].metric(
        "Pipeline aging",
        format_value(aging.value, "ratio"),
        f"healthy below {AGING_MAX:.0%}",
        delta_color="off",
        help=get_metric("pipeline_aging").definition,
    )
    if has_quotas and ahead.value is not None and ahead.value < COVERAGE_MIN:
        st.warning(
            f"Coverage for the coming period ({nxt.label}) is {ahead.value:.2f}x, below 2.5x.",
            icon=":material/warning:",
        )
    if aging.value is not None and aging.value > AGING_MAX:
        st.warning(
            f"Pipeline aging is {aging.value:.0%}: above the healthy 20%.",
            icon=":material/hourglass:",
        )
    stale = coverage.stale_deals(con, req)
    if len(stale.frame):
        st.warning(
            f"{len(stale.frame)} open deals have been over {req.stale_days} days in their stage.",
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
            lvl = view.extras.get("level", "team")
            state.bind_widget("w_level", lvl if lvl in LEVELS else "team")
            lvl = (
                st.segmented_control(
                    "Per",
                    list(LEVELS),
                    format_func=LEVELS.get,
                    key="w_level",
                    on_change=state.on_change_param("level", "w_level"),
                )
                or "team"
            )
            cov = coverage.coverage(con, req, level=lvl)
            for which in ("current", "next"):
                chart = charts.coverage_bars(cov.frame, lvl, which)
                common.chart(chart, f"coverage {which}", f"cov{which}")
            st.caption(
                f"Current period {cur.label}, next {nxt.label}. Healthy: 3x (early) to 4x (mature)."
            )
            common.table(cov.frame, f"coverage per {lvl}", "cov")
            common.how_computed(cov.sql, cov.params)
    with tabs[1]:
        month = coverage.pipeline_by_close_month(con, req)
        common.chart(charts.pipeline_by_month(month.frame), "pipeline by month", "month")
        st.caption(get_metric("weighted_pipeline").definition)
        common.table(month.frame, "pipeline by close month", "month")
        common.how_computed(month.sql, month.params)
        common.how_computed(fc["weighted_pipeline"].sql, fc["weighted_pipeline"].params)
    with tabs[2]:
        by_stage = coverage.aging(con, req)
        common.chart(
            charts.share_bars(
                by_stage.frame,
                "stage",
                AGING_MAX,
                "Share of open deals past 1.5x their stage median",
            ),
            "aging",
            "aging",
        )
        st.caption(get_metric("pipeline_aging").definition)
        common.table(by_stage.frame, "aging by stage", "aging")
        common.how_computed(aging.sql, aging.params)
    with tabs[3]:
        st.caption("Open deals over 60 days in their current stage; sort by any column.")
        common.table(stale.frame, "stale deals", "stale")
        common.how_computed(stale.sql, stale.params)
    with tabs[4]:
        slipped = coverage.slipped_deals(con, req)
        st.caption(
            f"{len(slipped.frame)} open deals with an expected close date before {req.as_of}."
        )
        common.table(slipped.frame, "slipped deals", "slipped")
        common.how_computed(slipped.sql, slipped.params)
