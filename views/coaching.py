"""Coaching page: the two-tier scorecard (team tier grades the system, rep tier grades
people), the section 8 weighted scorecard with weights carried in the link, activity against
conversion per rep, and a rep drill-down against the median of same-segment, same-ramp peers."""

from __future__ import annotations

import streamlit as st

from engine.analysis.coaching import rep_against_peers
from engine.metrics import coaching, get_metric, make_request
from engine.metrics.alerts import busy_not_converting
from engine.metrics.benchmarks import DEFAULT_BENCHMARKS
from engine.quality import format_value
from views import charts, common, state

CATEGORIES = {
    "discovery": "Discovery",
    "conversion": "Conversion",
    "activity": "Activity",
    "forecast": "Forecast",
}


def weight(cat: str) -> int:
    raw = view.extras.get(f"w_{cat}", "")
    return (
        int(raw)
        if raw.isdigit() and int(raw) <= 100
        else round(coaching.DEFAULT_WEIGHTS[cat] * 100)
    )


st.header("Coaching scorecards")
info = common.require_dataset()
if info is None:
    st.stop()
view = state.current()
prof = common.profile(info.token)
req = make_request("quota_attainment", period=view.period, filters=view.filters, as_of=prof.as_of)
missing = [f"{t}.csv" for t in ("quotas", "activities", "reps") if not info.row_counts.get(t)]
if missing:
    st.info(
        f"Upload {', '.join(missing)} to see every part of this page.", icon=":material/upload:"
    )

with common.error_boundary(), common.cursor() as con:
    team = coaching.team_tier(con, req)
    summ = team.attainment_summary
    cols = st.columns(4)
    cols[0].metric(
        "Reps at or above quota",
        format_value(summ.get("share_at_or_above_100"), "ratio"),
        "benchmark 57%",
        delta_color="off",
    )
    cols[1].metric(
        "Median attainment",
        format_value(summ.get("median"), "ratio"),
        help=get_metric("quota_attainment").definition,
    )
    cols[2].metric(
        "Forecast accuracy",
        format_value(team.forecast_accuracy.value, "ratio"),
        "benchmark 75-85%",
        delta_color="off",
        help=get_metric("forecast_accuracy").definition,
    )
    cols[3].metric("Graded period", team.notes[0].removeprefix("Graded period: "))
    busy = busy_not_converting(con, req)
    if busy:
        names = ", ".join(f.subject.removeprefix("owner: ") for f in busy)
        st.warning(
            common.escape(
                f"Busy but not converting (top-quartile activity, bottom-quartile conversion): {names}"
            ),
            icon=":material/directions_run:",
        )
    tabs = st.tabs(
        ["Team tier", "Rep tier", "Weighted scorecard", "Activity vs conversion", "Rep drill-down"]
    )
    with tabs[0]:
        left, right = st.columns(2)
        with left:
            common.chart(charts.attainment_distribution(team.attainment.frame), "attainment", "att")
        with right:
            wr = DEFAULT_BENCHMARKS.reference["win_rate"]
            common.chart(
                charts.value_vs_reference(
                    team.win_rate_by_segment.frame,
                    "segment",
                    wr.low,
                    wr.high,
                    "Win rate by segment (grey: 22-35% reference)",
                ),
                "win rate",
                "wr",
            )
        common.chart(
            charts.coverage_bars(team.coverage.frame, "team", "next"), "team coverage", "tcov"
        )
        common.table(team.attainment.frame, "attainment per rep", "att")
        common.how_computed(team.attainment.sql, team.attainment.params)
    with tabs[1]:
        reps = coaching.rep_tier(con, req)
        st.caption("Ramp-adjusted attainment divides by quota × 0.7 in a rep's first 12 months.")
        common.table(
            reps.frame,
            "rep tier",
            "reps",
            column_config={
                c: st.column_config.NumberColumn(format="percent")
                for c in (
                    "stage_conversion",
                    "quota_attainment",
                    "ramp_adjusted_attainment",
                    "opportunity_to_proposal",
                    "proposal_to_closed_won",
                )
            },
        )
        common.how_computed(reps.sql, reps.params)
    with tabs[2]:
        wcols = st.columns(4)
        for col, (cat, label) in zip(wcols, CATEGORIES.items(), strict=True):
            state.bind_widget(f"w_w_{cat}", weight(cat))
            col.number_input(
                f"{label} weight %",
                0,
                100,
                step=5,
                key=f"w_w_{cat}",
                on_change=lambda c=cat: state.set_param(
                    f"w_{c}", str(state.widget_value(f"w_w_{c}"))
                ),
            )
        weights = {c: weight(c) / 100 for c in CATEGORIES}
        card = coaching.scorecard(con, req, weights=weights)
        common.chart(charts.score_grid(card.frame, list(CATEGORIES)), "scorecard", "card")
        st.caption(
            "Each category 1-5; a missing category is shown as missing and the others are re-weighted."
        )
        common.table(card.frame, "scorecard", "card")
    with tabs[3]:
        avc = coaching.activity_vs_conversion(con, req)
        common.chart(charts.activity_quadrants(avc.frame), "activity vs conversion", "avc")
        st.caption(get_metric("activities_per_opportunity").definition)
        common.table(avc.frame, "activity vs conversion", "avc")
        common.how_computed(avc.sql, avc.params)
    with tabs[4]:
        owners = prof.options.get("owner", [])
        rep = view.extras.get("rep")
        state.bind_widget("w_rep", rep if rep in owners else None)
        rep = st.selectbox(
            "Rep",
            owners,
            key="w_rep",
            on_change=state.on_change_param("rep", "w_rep"),
            placeholder="Choose a rep",
        )
        if rep:
            mine = rep_against_peers(con, req, rep)
            st.caption(common.escape(" ".join(mine.notes[:1])))
            if len(mine.frame):
                common.chart(charts.rep_vs_peers(mine.frame), "rep vs peers", "peers")
            common.table(mine.frame, "rep vs peers", "peers")
            common.how_computed(mine.sql, mine.params)
