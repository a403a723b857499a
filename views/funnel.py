"""Funnel page: conversion per transition against the band of the chosen segment
(docs/benchmarks.md),
time in stage against its band, where deals leak, the same by segment / lead source / owner,
and the conversion trend by created-period cohort."""

from __future__ import annotations

import streamlit as st

from engine.analyses import funnel
from engine.semantic import compute, get_metric, make_request
from engine.semantic.benchmarks import LABEL
from views import charts, common, state
from views import format as fmt

BREAKDOWNS = {"segment": "Segment", "lead_source": "Lead source", "owner": "Owner"}
STAGE_NAMES = {
    "lead": "lead",
    "sal": "SAL",
    "sql": "SQL",
    "opportunity": "opportunity",
    "proposal": "proposal",
    "closed_won": "won",
}
NO_RATE = "n/a: no {} reached the earlier stage in this period and filter."


def transition_label(frm: str, to: str) -> str:
    """ "Opportunity → won", "Lead → SAL": the words the cards and the trend use."""
    first = STAGE_NAMES[frm]
    return f"{first[0].upper()}{first[1:]} → {STAGE_NAMES[to]}"


def path_caption(path: funnel.FunnelPath) -> str:
    """Which stages the data reaches and why the others are skipped."""
    steps = [transition_label(t.frm, t.to) for t in path.transitions]
    reasons: dict[str, list[str]] = {}
    for stage, why in path.missing.items():
        name = "lead → opportunity" if stage == funnel.CONVERTED else STAGE_NAMES[stage]
        reasons.setdefault(why, []).append(name)
    skipped = "; ".join(f"{', '.join(names)} ({why})" for why, names in reasons.items())
    text = "This data's funnel: " + (", ".join(steps) if steps else "no transition") + "."
    return text + (f" Not reached: {skipped}." if skipped else "")


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

with common.error_boundary():
    path = common.computed(funnel.funnel_path)
    conv = common.computed(
        funnel.conversion, req.with_(by=("segment",)) if per_segment else req, path=path
    )
    total = common.computed(funnel.conversion, req, path=path)
    rates = total.frame.set_index("transition")
    lead_steps = [t for t in path.transitions if t.src == "lead"]
    deal_steps = [t for t in path.transitions if t.src == "opp"]
    # Without a lead -> SAL transition its card stays, saying why it has no rate.
    shown_cards: list[funnel.Transition | None] = [] if path.get("lead", "sal") else [None]
    shown_cards += lead_steps + deal_steps
    for col, step in zip(st.columns(len(shown_cards)), shown_cards, strict=True):
        if step is None:
            why = path.why_not("lead", "sal")
            col.metric(
                "Lead → SAL", "n/a", f"n/a, {why}", delta_color="off", delta_arrow="off",
                help=f"n/a: {why}.",
            )  # fmt: skip
            continue
        unit = "leads" if step.src == "lead" else "deals"
        rate = rates.loc[step.id, "rate"] if step.id in rates.index else None
        n = int(rates.loc[step.id, "reached_from"]) if step.id in rates.index else 0
        spans = f" Runs across {', '.join(step.skipped)}, which this data never reaches." * bool(
            step.skipped
        )
        col.metric(
            transition_label(step.frm, step.to),
            fmt.value(rate, "ratio"),
            f"n={n:,} {unit}",
            delta_color="off",
            delta_arrow="off",
            help=(NO_RATE.format(unit) if fmt.missing(rate) else f"Out of {n:,} {unit}.") + spans,
        )
    st.caption(path_caption(path))
    if info.row_counts.get("leads"):
        lr = common.computed(compute, req.with_(metrics=("lead_response_hours",), grain=None))
        x = lr.extras
        about = get_metric("lead_response_hours").definition
        c = st.columns(4)
        no_lr = "no lead created in this period has a first response or an activity"
        tag = f"n/a, {no_lr}" if fmt.missing(lr.value) else "target under 24 h"
        fmt.metric(
            c[0], "Lead response (median)", lr.value, "hours", tag, about=about,
            why_na=f"n/a: {no_lr}.",
        )  # fmt: skip
        if not fmt.missing(lr.value):
            st.caption(
                f"Lead response: median {fmt.value(lr.value, 'hours')} (the value); mean "
                f"{fmt.value(x.get('mean'), 'hours')}; quartiles "
                f"{fmt.value(x.get('p25'), 'hours')} to {fmt.value(x.get('p75'), 'hours')}; "
                f"n={int(x.get('n') or 0):,} leads with a response."
            )
    tabs = st.tabs(["Conversion vs band", "Time in stage", "Leakage", "Breakdown", "Trend"])
    with tabs[0]:
        row = "segment" if per_segment else None
        build = lambda f: charts.conversion_vs_band(f, row)  # noqa: E731
        fmt.chart_or_empty(conv.frame, "rate", build, "conversion", "conv")
        for step in path.transitions:
            if step.skipped:
                st.caption(
                    f"No benchmark band for {transition_label(step.frm, step.to)}: it spans "
                    f"{', '.join(step.skipped)}, and the published bands are per single stage."
                )
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
            tis = common.computed(funnel.time_in_stage, req)
            build = charts.time_in_stage_vs_band
            left_out, with_history = common.computed(funnel.history_left_out)
            empty = "No completed stage visit in this period (a visit ends at the next stage)."
            if left_out:
                empty += (
                    f" The history of {left_out:,} of {with_history:,} deals is left out: they "
                    "closed before they were created (close_before_created)."
                )
            fmt.chart_or_empty(tis.frame, "median", build, "time in stage", "tis", empty)
            definition("time_in_stage_days")
            if len(tis.frame):
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
        leak = common.computed(funnel.leakage, req)
        st.caption(
            f"Lost: the deal's furthest stage before it was lost. Stalled: open and over {req.stale_days} days in stage."
        )
        fmt.chart_or_empty(leak.frame, "stage", charts.leakage_bars, "leakage", "leak")
        fmt.table(leak.frame, "leakage", "leak")
        common.how_computed(leak.sql, leak.params)
    with tabs[3]:
        dim = state.url_choice("Break down by", "by", BREAKDOWNS, "segment")
        by = common.computed(funnel.conversion, req.with_(by=(dim,)), path=path)
        build = lambda f: charts.conversion_heatmap(f, dim)  # noqa: E731
        fmt.chart_or_empty(by.frame, "rate", build, f"conversion by {dim}", "by", dim=dim)
        fmt.table(by.frame, f"conversion by {dim}", "by")
        common.how_computed(by.sql, by.params)
    with tabs[4]:
        trend = common.computed(funnel.conversion_trend, req)
        fields = {t.id: transition_label(t.frm, t.to) for t in deal_steps}
        if len(deal_steps) > 1 and deal_steps[-1].to == "closed_won":
            fields["value"] = "Opportunity → won"
        title = f"Conversion by created-{req.grain} cohort"
        build = lambda f: charts.trend_lines(f, fields, title)  # noqa: E731
        if fields:
            fmt.chart_or_empty(trend.frame, next(iter(fields)), build, "conversion trend", "trend")
        else:
            st.info(f"No deal transition to follow: {path.why_not('opportunity', 'closed_won')}.")
        st.caption("Recent cohorts are still open, so their rates are still rising.")
        # transitions through a stage the data never reaches are empty: left out
        trend_shown, _ = fmt.drop_empty(trend.frame, keep=("period_start", "value"))
        fmt.table(trend_shown, "conversion trend", "trend", value="percent")
        common.how_computed(trend.sql, trend.params)
