"""Coaching page: the two-tier scorecard (team tier grades the system, rep tier grades
people), the section 8 weighted scorecard with weights carried in the link, activity against
conversion per rep, and a rep drill-down against the median of same-segment, same-ramp peers."""

from __future__ import annotations

import streamlit as st

from engine.analysis.coaching import rep_against_peers
from engine.metrics import coaching, coverage, get_metric, make_request
from engine.metrics.alerts import busy_not_converting
from engine.metrics.benchmarks import DEFAULT_BENCHMARKS
from views import charts, common, state
from views import format as fmt

ATT_KINDS = dict.fromkeys(("median", "p25", "p75"), "percent") | {
    "value": "percent:Attainment",
    "numerator": "dollar:Won revenue",
    "denominator": "dollar:Quota",
    "n": "count:Reps",
}
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
info, view, prof = common.analysis_context()
req = make_request("quota_attainment", period=view.period, filters=view.filters, as_of=prof.as_of)
missing = [f"{t}.csv" for t in ("quotas", "activities", "reps") if not info.row_counts.get(t)]
if missing:
    st.info(
        f"Upload {', '.join(missing)} to see every part of this page.", icon=":material/upload:"
    )

with common.error_boundary(), common.cursor() as con:
    team = coaching.team_tier(con, req)
    summ = team.attainment_summary
    graded = fmt.period_text(team.notes[0].removeprefix("Graded period: "))
    no_quota = f"n/a: no quota covers the graded period ({graded})."
    share, median = summ.get("share_at_or_above_100"), summ.get("median")
    cols = st.columns(3)
    fmt.metric(cols[0], "Reps at or above quota", share, "ratio", "benchmark 57%", why_na=no_quota)
    about = get_metric("quota_attainment").definition
    fmt.metric(cols[1], "Median attainment", median, "ratio", about=about, why_na=no_quota)
    about = get_metric("forecast_accuracy").definition
    accuracy = team.forecast_accuracy.value
    fmt.metric(
        cols[2],
        "Forecast accuracy",
        accuracy,
        "ratio",
        "benchmark 75-85%",
        about=about,
        why_na=about,
    )
    st.caption(f"Graded period: {graded}.")
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
            empty = f"Upload quotas.csv to see attainment ({graded})."
            build = charts.attainment_distribution
            fmt.chart_or_empty(team.attainment.frame, "value", build, "attainment", "att", empty)
        with right:
            wr = DEFAULT_BENCHMARKS.reference["win_rate"]
            build = lambda f: charts.value_vs_reference(  # noqa: E731
                f,
                "segment",
                wr.low,
                wr.high,
                "Win rate by segment (grey: 22-35% reference)",
                parts=("Won deals", "Closed deals"),
            )
            empty = f"No closed deals in the graded period ({graded})."
            fmt.chart_or_empty(
                team.win_rate_by_segment.frame, "value", build, "win rate", "wr", empty
            )
        nxt = team.coverage.frame[team.coverage.frame["period"] == "next"]
        ended = not coverage.not_ended(coverage.coming_period(req), req.as_of)
        build = lambda f: charts.coverage_bars(f, "team", "next", ended)  # noqa: E731
        empty = "Upload quotas.csv to see coverage per team."
        fmt.chart_or_empty(nxt, "value", build, "team coverage", "tcov", empty)
        fmt.table(team.attainment.frame, "attainment per rep", "att", **ATT_KINDS)
        common.how_computed(team.attainment.sql, team.attainment.params)
    with tabs[1]:
        reps = coaching.rep_tier(con, req)
        st.caption("Ramp-adjusted attainment divides by quota × 0.7 in a rep's first 12 months.")
        fmt.table(reps.frame, "rep tier", "reps", activities_per_opportunity="decimal")
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
        build = lambda f: charts.score_grid(f, list(CATEGORIES))  # noqa: E731
        fmt.chart_or_empty(card.frame, "total", build, "scorecard", "card")
        st.caption(
            "Each category 1-5; a missing category is shown as missing and the others are re-weighted."
        )
        fmt.table(
            card.frame, "scorecard", "card", **dict.fromkeys(card.frame.columns[1:10], "decimal")
        )
    with tabs[3]:
        avc = coaching.activity_vs_conversion(con, req)
        empty = "Upload activities.csv to see activity against conversion per rep."
        build = charts.activity_quadrants
        fmt.chart_or_empty(
            avc.frame, "activities_per_opportunity", build, "activity vs conversion", "avc", empty
        )
        st.caption(get_metric("activities_per_opportunity").definition)
        fmt.table(avc.frame, "activity vs conversion", "avc", activities_per_opportunity="decimal")
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
            fmt.table(
                mine.frame,
                "rep vs peers",
                "peers",
                rep="decimal",
                peer_median="decimal",
                index="percent",
            )
            common.how_computed(mine.sql, mine.params)
