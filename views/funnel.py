"""Funnel page: conversion per transition against the section 7 band of the chosen segment,
time in stage against its band, where deals leak, the same by segment / lead source / owner,
and the conversion trend by created-period cohort."""

from __future__ import annotations

import streamlit as st

from engine.metrics import funnel, get_metric, make_request
from engine.metrics.benchmarks import LABEL
from views import charts, common, state
from views import format as fmt

BREAKDOWNS = {"segment": "Segment", "lead_source": "Lead source", "owner": "Owner"}
HEADLINE = {
    "sal": ("Lead → SAL", "leads"),
    "opportunity": ("SQL → opportunity", "SQLs"),
    "proposal": ("Opportunity → proposal", "deals"),
    "closed_won": ("Proposal → won", "deals"),
}
NO_RATE = "n/a: no {} reached the earlier stage in this period and filter."


def definition(metric_id: str) -> None:
    with st.popover("Definition", icon=":material/info:"):
        st.markdown(common.escape(get_metric(metric_id).definition))


st.header("Funnel benchmarks")
info, view, prof = common.analysis_context()
segments = [s for s in prof.options.get("segment", []) if s in ("SMB", "Mid-Market", "Enterprise")]
choice = state.url_choice("Benchmark segment", "seg", ["All segments", *segments], "All segments")
filters = dict(view.filters) | ({"segment": [choice]} if choice in segments else {})
req = make_request(
    "stage_conversion", period=view.period, grain=view.grain, filters=filters, as_of=prof.as_of
)
per_segment = choice not in segments and len(filters.get("segment", [])) != 1
st.caption(f"Bands: {LABEL}. Deals created in period {view.period}.")
if not info.row_counts.get("leads"):
    st.info(
        "No leads table: upload leads.csv to see lead → SAL → SQL → opportunity.",
        icon=":material/upload:",
    )

with common.error_boundary(), common.cursor() as con:
    conv = funnel.conversion(con, req.with_(by=("segment",)) if per_segment else req)
    total = funnel.conversion(con, req)
    rates = total.frame.set_index("to_stage")
    for col, (stage, (label, unit)) in zip(st.columns(4), HEADLINE.items(), strict=True):
        rate = rates.loc[stage, "rate"] if stage in rates.index else None
        n = int(rates.loc[stage, "reached_from"]) if stage in rates.index else 0
        col.metric(
            label,
            fmt.value(rate, "ratio"),
            f"n={n:,} {unit}",
            delta_color="off",
            delta_arrow="off",
            help=NO_RATE.format(unit) if fmt.missing(rate) else f"Out of {n:,} {unit}.",
        )
    tabs = st.tabs(["Conversion vs band", "Time in stage", "Leakage", "Breakdown", "Trend"])
    with tabs[0]:
        row = "segment" if per_segment else None
        build = lambda f: charts.conversion_vs_band(f, row)  # noqa: E731
        fmt.chart_or_empty(conv.frame, "rate", build, "conversion", "conv")
        definition("stage_conversion")
        fmt.table(conv.frame, "stage conversion", "conv")
        common.how_computed(conv.sql, conv.params)
    with tabs[1]:
        if not info.row_counts.get("stage_history"):
            st.info(
                "Time in stage needs stage history: upload stage_history.csv (Salesforce "
                "Opportunity History, or HubSpot 'Date entered' columns).",
                icon=":material/upload:",
            )
        else:
            tis = funnel.time_in_stage(con, req)
            build = charts.time_in_stage_vs_band
            fmt.chart_or_empty(tis.frame, "median", build, "time in stage", "tis")
            definition("time_in_stage_days")
            fmt.table(
                tis.frame,
                "time in stage",
                "tis",
                mean="days",
                median="days",
                p25="days",
                p75="days",
                n="count",
            )
            common.how_computed(tis.sql, tis.params)
    with tabs[2]:
        leak = funnel.leakage(con, req)
        st.caption(
            f"Lost: the deal's furthest stage before it was lost. Stalled: open and over {req.stale_days} days in stage."
        )
        fmt.chart_or_empty(leak.frame, "stage", charts.leakage_bars, "leakage", "leak")
        fmt.table(leak.frame, "leakage", "leak")
        common.how_computed(leak.sql, leak.params)
    with tabs[3]:
        dim = state.url_choice("Break down by", "by", BREAKDOWNS, "segment")
        by = funnel.conversion(con, req.with_(by=(dim,)))
        build = lambda f: charts.conversion_heatmap(f, dim)  # noqa: E731
        fmt.chart_or_empty(by.frame, "rate", build, f"conversion by {dim}", "by")
        fmt.table(by.frame, f"conversion by {dim}", "by")
        common.how_computed(by.sql, by.params)
    with tabs[4]:
        trend = funnel.conversion_trend(con, req)
        fields = {
            "opportunity_to_proposal": "Opportunity → proposal",
            "proposal_to_closed_won": "Proposal → won",
            "value": "Opportunity → won",
        }
        title = f"Conversion by created-{req.grain} cohort"
        build = lambda f: charts.trend_lines(f, fields, title)  # noqa: E731
        fmt.chart_or_empty(trend.frame, "value", build, "conversion trend", "trend")
        st.caption("Recent cohorts are still open, so their rates are still rising.")
        fmt.table(trend.frame, "conversion trend", "trend", value="percent")
        common.how_computed(trend.sql, trend.params)
