"""Funnel page: conversion per transition against the section 7 band of the chosen segment,
time in stage against its band, where deals leak, the same by segment / lead source / owner,
and the conversion trend by created-period cohort."""

from __future__ import annotations

import streamlit as st

from engine.metrics import funnel, get_metric, make_request
from engine.metrics.benchmarks import LABEL
from engine.quality import format_value
from views import charts, common, state

BREAKDOWNS = {"segment": "Segment", "lead_source": "Lead source", "owner": "Owner"}


def definition(metric_id: str) -> None:
    with st.popover("Definition", icon=":material/info:"):
        st.markdown(common.escape(get_metric(metric_id).definition))


st.header("Funnel benchmarks")
info = common.require_dataset()
if info is None:
    st.stop()
view = state.current()
prof = common.profile(info.token)
segments = [s for s in prof.options.get("segment", []) if s in ("SMB", "Mid-Market", "Enterprise")]
seg = view.extras.get("seg", "All segments")
state.bind_widget("w_seg", seg if seg in segments else "All segments")
choice = st.segmented_control(
    "Benchmark segment",
    ["All segments", *segments],
    key="w_seg",
    on_change=state.on_change_param("seg", "w_seg"),
)
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
    cols = st.columns(4)
    for col, (stage, label) in zip(
        cols,
        [
            ("sal", "Lead → SAL"),
            ("opportunity", "SQL → opportunity"),
            ("proposal", "Opportunity → proposal"),
            ("closed_won", "Proposal → won"),
        ],
        strict=True,
    ):
        col.metric(
            label,
            format_value(rates.loc[stage, "rate"], "ratio") if stage in rates.index else "n/a",
            f"n={int(rates.loc[stage, 'reached_from']):,} deals" if stage in rates.index else None,
            delta_color="off",
        )
    tabs = st.tabs(["Conversion vs band", "Time in stage", "Leakage", "Breakdown", "Trend"])
    with tabs[0]:
        common.chart(
            charts.conversion_vs_band(conv.frame, "segment" if per_segment else None),
            "conversion",
            "conv",
        )
        definition("stage_conversion")
        common.table(conv.frame, "stage conversion", "conv")
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
            common.chart(charts.time_in_stage_vs_band(tis.frame), "time in stage", "tis")
            definition("time_in_stage_days")
            common.table(tis.frame, "time in stage", "tis")
            common.how_computed(tis.sql, tis.params)
    with tabs[2]:
        leak = funnel.leakage(con, req)
        st.caption(
            f"Lost: the deal's furthest stage before it was lost. Stalled: open and over {req.stale_days} days in stage."
        )
        common.chart(charts.leakage_bars(leak.frame), "leakage", "leak")
        common.table(leak.frame, "leakage", "leak")
        common.how_computed(leak.sql, leak.params)
    with tabs[3]:
        dim = view.extras.get("by", "segment")
        state.bind_widget("w_by", dim if dim in BREAKDOWNS else "segment")
        dim = (
            st.segmented_control(
                "Break down by",
                list(BREAKDOWNS),
                format_func=BREAKDOWNS.get,
                key="w_by",
                on_change=state.on_change_param("by", "w_by"),
            )
            or "segment"
        )
        by = funnel.conversion(con, req.with_(by=(dim,)))
        common.chart(charts.conversion_heatmap(by.frame, dim), f"conversion by {dim}", "by")
        common.table(by.frame, f"conversion by {dim}", "by")
        common.how_computed(by.sql, by.params)
    with tabs[4]:
        trend = funnel.conversion_trend(con, req)
        fields = {
            "opportunity_to_proposal": "Opportunity → proposal",
            "proposal_to_closed_won": "Proposal → won",
            "value": "Opportunity → won",
        }
        common.chart(
            charts.trend_lines(trend.frame, fields, f"Conversion by created-{req.grain} cohort"),
            "conversion trend",
            "trend",
        )
        st.caption("Recent cohorts are still open, so their rates are still rising.")
        common.table(trend.frame, "conversion trend", "trend")
        common.how_computed(trend.sql, trend.params)
