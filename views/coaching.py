"""Coaching page: the two-tier scorecard (team tier grades the system, rep tier grades
people), the weighted scorecard of docs/metrics.md with weights carried in the link,
activity against conversion per rep, and a rep drill-down against the median of same-segment,
same-ramp peers."""

from __future__ import annotations

import streamlit as st

from engine.analyses import coaching, coverage
from engine.analyses.alerts import busy_not_converting
from engine.analyses.backtest import METHOD_LABELS
from engine.semantic import get_metric, make_request
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS
from engine.semantic.compile import unmet_requirement
from views import charts, common, links, state
from views import format as fmt

ATT_KINDS = dict.fromkeys(("median", "p25", "p75"), "percent") | {
    "value": "percent:Attainment",
    "numerator": "dollar:Won revenue",
    "denominator": "dollar:Quota",
    "n": "count:Reps",
}
REP_COLUMN_NEEDS = {
    "quota_attainment": "quota attainment needs quotas.csv",
    "ramp_adjusted_attainment": "ramp-adjusted attainment needs quotas.csv",
    "activities_per_opportunity": "activities per opportunity needs activities.csv",
    "win_rate": "win rate needs deals closed in the period",
    "stage_conversion": "conversion needs deals created in the period",
    "pipeline_created": "pipeline created needs deals created in the period",
    "opportunity_to_proposal": "opportunity → proposal needs a stage that maps to proposal",
    "proposal_to_closed_won": "proposal → won needs a stage that maps to proposal",
    "segment": "segment needs a segment column, an accounts file or a reps file with segments",
}
CATEGORIES = {
    "discovery": "Discovery",
    "conversion": "Conversion",
    "activity": "Activity",
    "forecast": "Forecast",
}


def weight(cat: str) -> int:
    chosen = links.whole_number(view.extras.get(f"w_{cat}", ""), 100)
    return chosen if chosen is not None else round(coaching.DEFAULT_WEIGHTS[cat] * 100)


st.header("Coaching scorecards")
info, view, prof = common.analysis_context()
req = make_request("quota_attainment", period=view.period, filters=view.filters, as_of=prof.as_of)
missing = [f"{t}.csv" for t in ("quotas", "activities", "reps") if not info.row_counts.get(t)]
if missing:
    st.info(
        f"Upload {', '.join(missing)} to see every part of this page.", icon=":material/upload:"
    )

with common.error_boundary():
    team = common.computed(coaching.team_tier, req)
    summ = team.attainment_summary
    graded = fmt.period_text(team.notes[0].removeprefix("Graded period: "))
    no_quota = f"n/a: no quota covers the graded period ({graded})."
    share, median = summ.get("share_at_or_above_100"), summ.get("median")
    cols = st.columns(4)
    fmt.metric(cols[0], "Reps at or above quota", share, "ratio", "benchmark 57%", why_na=no_quota)
    about = get_metric("quota_attainment").definition
    fmt.metric(cols[1], "Median attainment", median, "ratio", about=about, why_na=no_quota)
    about = get_metric("forecast_accuracy").definition
    accuracy = team.forecast_accuracy.value
    fc = team.forecast_accuracy.extras
    forecast, actual = fc.get("forecast"), fc.get("actual")
    if not info.row_counts.get("stage_history"):
        fc_na = "n/a: forecast accuracy needs stage history (upload stage_history.csv)."
    elif fmt.missing(actual) or not actual:
        fc_na = f"n/a: nothing was won in the graded period ({graded}), so there is no actual."
    else:
        fc_na = (
            f"n/a: no stage-history row was entered before the graded period ({graded}) "
            f"began, so its opening pipeline cannot be rebuilt; actual won "
            f"{fmt.value(actual, 'currency')}."
        )
    fmt.metric(
        cols[2],
        "Forecast accuracy",
        accuracy,
        "ratio",
        None
        if fmt.missing(accuracy)
        else f"forecast {fmt.value(forecast, 'currency')} vs actual {fmt.value(actual, 'currency')}",
        about=f"Benchmark 75-85% (external reference). {about}",
        why_na=fc_na,
    )
    wr = team.win_rate
    no_win_rate = common.computed(unmet_requirement, get_metric("win_rate"))
    wr_n = int((wr.extras.get("denominator") or 0) if wr else 0)
    fmt.metric(
        cols[3],
        "Win rate",
        wr.value if wr else None,
        "ratio",
        None if wr is None or fmt.missing(wr.value) else f"n={wr_n:,} closed deals",
        about=get_metric("win_rate").definition,
        why_na=no_win_rate or f"n/a: no deal closed in the graded period ({graded}).",
    )
    st.caption(f"Graded period: {graded}.")
    if not fmt.missing(accuracy):
        st.caption(
            f"Forecast accuracy {fmt.value(accuracy, 'ratio')}: forecast (weighted pipeline due "
            f"in the period, as it stood at its start) {fmt.value(forecast, 'currency')} against "
            f"actual won revenue {fmt.value(actual, 'currency')}; benchmark 75-85%. Method: "
            f"{METHOD_LABELS[coaching.FORECAST_METHOD]} ({coaching.FORECAST_METHOD}); the "
            "Forecast page compares it with the other methods."
        )
    busy = common.computed(busy_not_converting, req)
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
            empty = (
                f"No win rate: {no_win_rate}."
                if no_win_rate
                else f"No closed deals in the graded period ({graded})."
            )
            # With no win rate at all, that is the word to say, before any word on segments.
            dim = None if no_win_rate else "segment"
            fmt.chart_or_empty(
                team.win_rate_by_segment.frame, "value", build, "win rate", "wr", empty, dim
            )
        nxt = team.coverage.frame[team.coverage.frame["period"] == "next"]
        ended = not coverage.not_ended(coverage.coming_period(req), req.as_of)
        build = lambda f: charts.coverage_bars(f, "team", "next", ended)  # noqa: E731
        empty = "Upload quotas.csv to see coverage per team."
        fmt.chart_or_empty(nxt, "value", build, "team coverage", "tcov", empty)
        if fmt.has_data(team.attainment.frame, "value"):
            fmt.table(team.attainment.frame, "attainment per rep", "att", **ATT_KINDS)
            common.how_computed(team.attainment.sql, team.attainment.params)
    with tabs[1]:
        reps = common.computed(coaching.rep_tier, req)
        shown, empty_cols = fmt.drop_empty(reps.frame, keep=("owner", "ramping"))
        if "ramp_adjusted_attainment" in shown.columns:
            st.caption(
                f"Ramp-adjusted attainment divides by quota × {req.ramp_factor:g} in a rep's "
                f"first {req.ramp_months} months."
            )
        if empty_cols:
            st.caption(
                "Not shown (no data): "
                + "; ".join(f"{REP_COLUMN_NEEDS.get(c, c)}" for c in empty_cols)
                + "."
            )
        fmt.table(shown, "rep tier", "reps", activities_per_opportunity="decimal")
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
        card = common.computed(coaching.scorecard, req, weights=weights)
        build = lambda f: charts.score_grid(f, list(CATEGORIES))  # noqa: E731
        scored = [c for c in CATEGORIES if fmt.has_data(card.frame, c)]
        unscored = [c for c in CATEGORIES if c not in scored]
        empty = (
            f"No weighted total: it needs at least {coaching.MIN_SCORED} scored categories, and "
            f"this data scores {', '.join(CATEGORIES[c] for c in scored) or 'none'}. Missing: "
            + "; ".join(f"{CATEGORIES[c]} needs {coaching.CATEGORY_NEEDS[c]}" for c in unscored)
            + "."
        )
        fmt.chart_or_empty(card.frame, "total", build, "scorecard", "card", empty)
        st.caption(
            "Each category 1-5; a missing category is shown as missing and the others are "
            f"re-weighted; the total needs at least {coaching.MIN_SCORED} scored categories."
        )
        found = coaching.predictive_categories(common.indicator_test(view, prof.as_of, "quarter"))
        st.markdown(
            "**What the leading-indicator test found on this dataset** (quarterly panel):\n"
            + "\n".join(f"- {CATEGORIES[c]}: {common.escape(found[c])}" for c in CATEGORIES)
        )
        common.page_link("indicators", "See the test", icon=":material/query_stats:")
        shown, _ = fmt.drop_empty(card.frame, keep=("owner", "total", "missing", "why_no_total"))
        fmt.table(shown, "scorecard", "card", **dict.fromkeys(shown.columns[1:10], "decimal"))
    with tabs[3]:
        avc = common.computed(coaching.activity_vs_conversion, req)
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
        state.bind_widget("w_rep", links.person(view, "rep", owners))
        rep = st.selectbox(
            "Rep",
            owners,
            format_func=common.shown,
            key="w_rep",
            on_change=state.on_change_param("rep", "w_rep"),
            placeholder="Choose a rep",
        )
        if rep:
            mine = common.computed(coaching.rep_against_peers, req, rep)
            st.caption(common.escape(" ".join(mine.notes[:1])))
            f = mine.frame
            own = [f"{r['label']} {fmt.value(r['rep'], r['unit'])}" for r in f.to_dict("records")]
            st.markdown(
                f"**{common.escape(common.shown(rep))}**: " + common.escape("; ".join(own) + ".")
            )
            if fmt.has_data(f, "index"):
                common.chart(charts.rep_vs_peers(f), "rep vs peers", "peers")
            shown = f.assign(
                rep=[fmt.value(v, u) for v, u in zip(f["rep"], f["unit"], strict=True)],
                peer_median=[
                    fmt.value(v, u) for v, u in zip(f["peer_median"], f["unit"], strict=True)
                ],
            ).drop(columns=["metric", "unit"])
            fmt.table(shown, "rep vs peers", "peers", index="percent", peers="count")
            common.how_computed(mine.sql, mine.params)
