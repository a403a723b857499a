"""Velocity page: sales velocity and its four levers per period with the lever that moved it
most, the won-deal cycle distribution (mean and median, outliers optionally left out), cycle
by segment and deal size, created-month cohorts, and open deals behind their segment's median."""

from __future__ import annotations

import streamlit as st

from engine.analyses import velocity
from engine.semantic import compute, get_metric, make_request
from engine.semantic.compile import unmet_requirement
from views import charts, common, links, state
from views import format as fmt

COHORT_DAYS = (30, 60, 90, 180)
WHY_NA = {
    "opportunities_created": "no opportunity was created in this period",
    "win_rate": "no deal closed in this period",
    "avg_deal_size": "no won deal in this period has an amount",
    "sales_cycle_days": "no won deal in this period has a created date on or before its close "
    "date (deals closed before they were created are left out of the cycle)",
}
UNITS = {
    "opportunities_created": "count",
    "win_rate": "ratio",
    "avg_deal_size": "currency",
    "sales_cycle_days": "days",
}

st.header("Sales velocity")
info, view, prof = common.analysis_context()
req = make_request(
    "sales_velocity", period=view.period, grain=view.grain, filters=view.filters, as_of=prof.as_of
)

with common.error_boundary():
    headline = common.computed(compute, req.with_(grain=None))
    trend = common.computed(velocity.velocity_trend, req)
    moves = velocity.lever_moves(
        velocity.complete_periods(trend.frame, req.as_of, req.grain or "month")
    )
    cols = [*st.columns(3), *st.columns(3)]
    why_na = dict(WHY_NA)
    no_win_rate = common.computed(unmet_requirement, get_metric("win_rate"))
    if no_win_rate:
        why_na["win_rate"] = no_win_rate
    why = {lever: why_na[lever] for lever in UNITS if fmt.missing(headline.extras.get(lever))}
    if headline.extras.get("opportunities_created") == 0:
        why["opportunities_created"] = WHY_NA["opportunities_created"]
    fmt.metric(
        cols[0],
        "Sales velocity",
        headline.value,
        "currency_per_day",
        about=get_metric("sales_velocity").definition,
        why_na="n/a: " + ("; ".join(why.values()) or "the mean cycle is 0 days") + ".",
    )
    for col, (lever, unit) in zip(cols[1:5], UNITS.items(), strict=True):
        name = (
            get_metric(lever).name if lever != "opportunities_created" else "Opportunities created"
        )
        fmt.metric(col, name, headline.extras.get(lever), unit, why_na=f"n/a: {why_na[lever]}.")
    if fmt.missing(headline.value) and why:
        st.caption("Sales velocity is n/a: " + "; ".join(why.values()) + ".")
    st.caption(
        f"Period {view.period}: (opportunities × win rate × average deal size) ÷ mean cycle days."
    )
    if len(moves):
        top = moves.iloc[0]
        grain = req.grain or "month"
        if fmt.missing(top["effect"]) or top["effect"] == 0:
            # equal values: no lever moved, so no arrow up or down
            st.info(
                f"No lever moved velocity between the last two complete {grain}s.",
                icon=":material/trending_flat:",
            )
        else:
            st.info(
                f"In the last complete {grain}, the lever that moved velocity most was "
                f"**{top['name']}** ({fmt.value(top['previous'], UNITS[top['lever']])} → "
                f"{fmt.value(top['current'], UNITS[top['lever']])}), "
                f"{'raising' if top['effect'] > 0 else 'lowering'} it.",
                icon=":material/trending_up:" if top["effect"] > 0 else ":material/trending_down:",
            )
    late = common.computed(velocity.behind_cycle, req)  # the Behind tab's deals
    if len(late.frame):
        st.warning(
            f"{len(late.frame):,} open deals are {velocity.BEHIND_DAYS}+ days behind their "
            "segment's median cycle "
            "(see the Behind tab).",
            icon=":material/schedule:",
        )
    tabs = st.tabs(
        ["Trend and levers", "Cycle distribution", "By segment and size", "Cohorts", "Behind"]
    )
    with tabs[0]:
        no_trend = f"Sales velocity is n/a: {'; '.join(why.values())}." if why else fmt.NOTHING
        fmt.chart_or_empty(
            trend.frame, "value", charts.velocity_levers, "velocity levers", "levers", no_trend
        )
        if len(moves):
            st.caption(
                "Lever effect: the change in log velocity each lever explains (cycle counts "
                "inversely)."
            )
            # each lever in its own unit (a deal size in dollars, a win rate in percent)
            units = moves["lever"].map(UNITS)
            shown_moves = moves.assign(
                previous=[fmt.value(v, u) for v, u in zip(moves["previous"], units, strict=True)],
                current=[fmt.value(v, u) for v, u in zip(moves["current"], units, strict=True)],
            )
            fmt.table(shown_moves, "lever moves", "moves", effect="decimal")
        fmt.table(trend.frame, "velocity trend", "trend", value="dollar", sales_cycle_days="days")
        common.how_computed(trend.sql, trend.params)
    with tabs[1]:
        state.bind_widget("w_outliers", view.extras.get("outliers") == "exclude")
        exclude = st.toggle(
            "Exclude outliers (outside 1.5 × IQR)",
            key="w_outliers",
            on_change=lambda: state.set_param(
                "outliers", "exclude" if state.widget_value("w_outliers") else None
            ),
        )
        hist = common.computed(velocity.cycle_histogram, req, exclude_outliers=exclude)
        c = st.columns(4)
        c[0].metric("Mean cycle", fmt.value(hist.extras["mean"], "days"))
        c[1].metric("Median cycle", fmt.value(hist.extras["median"], "days"))
        c[2].metric("Won deals", f"{hist.extras['n'] or 0:,}")
        c[3].metric(
            "Outliers",
            f"{hist.extras['outliers'] or 0:,}",
            "left out" if exclude else "included",
            delta_color="off",
            delta_arrow="off",
        )
        build = lambda f: charts.histogram(  # noqa: E731
            f, hist.extras["mean"], hist.extras["median"], "Won-deal cycle length"
        )
        empty = (
            "No won deal in this period and filter has a created date on or before its close "
            "date (deals closed before they were created are left out of the cycle)."
        )
        fmt.chart_or_empty(hist.frame, "deals", build, "cycle distribution", "hist", empty)
        st.caption(get_metric("sales_cycle_days").definition)
        common.how_computed(hist.sql, hist.params)
    with tabs[2]:
        seg = common.computed(velocity.cycle_by_segment_band, req)
        # without segments and with one size band the chart would be a single bar
        one_band = seg.frame["size_band"].nunique(dropna=False) <= 1
        dim = "segment" if one_band else None
        build = charts.cycle_by_group
        fmt.chart_or_empty(seg.frame, "median", build, "cycle by segment", "seg", dim=dim)
        st.caption(
            "Reference points: under 60 days for deals under $50K, under 120 days above $100K."
        )
        fmt.table(
            seg.frame,
            "cycle by segment and size",
            "seg",
            mean="days",
            median="days",
            p25="days",
            p75="days",
        )
        common.how_computed(seg.sql, seg.params)
    with tabs[3]:
        default = velocity.COHORT_AFTER_DAYS
        chosen = links.whole_number(view.extras.get("days", ""), max(COHORT_DAYS))
        state.bind_widget("w_days", chosen if chosen in COHORT_DAYS else default)
        days = (
            st.segmented_control(
                "Outcome after (days)",
                COHORT_DAYS,
                key="w_days",
                on_change=lambda: state.set_param(
                    "days", str(state.widget_value("w_days") or default)
                ),
            )
            or default
        )
        coh = common.computed(velocity.cohorts, req, after_days=days)
        build = lambda f: charts.cohort_heatmap(f, days)  # noqa: E731
        fmt.chart_or_empty(coh.frame, "deals", build, "cohorts", "coh")
        fmt.table(coh.frame, "cohorts", "coh")
        common.how_computed(coh.sql, coh.params)
    with tabs[4]:
        st.caption(
            "Open deals whose age exceeds their segment's median won cycle by "
            f"{velocity.BEHIND_DAYS} days or more."
        )
        fmt.table(late.frame, "deals behind cycle", "late")
        common.how_computed(late.sql, late.params)
