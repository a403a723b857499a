"""Leading indicators page: which behaviours predicted which results on this dataset
(docs/metrics.md, Leading indicators). The ranked indicators for the chosen outcome and lag
with verdicts and intervals, the rep-periods behind any row with its between/within split,
the reading in plain words, the caveats that apply, and when to test again. Period grain,
outcome, lag, segment and the indicator shown travel in the link."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.analyses import indicators as ind
from engine.semantic import get_metric
from views import charts, common, state
from views import format as fmt

GRAINS = {"quarter": "Quarter", "month": "Month"}
LAGS = {"0": "Same period", "1": "Next period"}
ALL = "all"
SHOW_FOUND = 6  # strongest findings listed at the top (by q); the rest are in the tables
BADGES = {
    ind.PREDICTIVE: ":green-badge[predictive]",
    ind.NO_EVIDENCE: ":gray-badge[no evidence]",
    ind.NOT_ENOUGH: ":orange-badge[not enough data]",
}


def name(mid: str) -> str:
    return get_metric(mid).name


def rho_text(v: object) -> str:
    return "n/a" if fmt.missing(v) else f"{float(v):.2f}"  # type: ignore[arg-type]


def q_text(v: object) -> str:
    if fmt.missing(v):
        return "n/a"
    return "< 0.001" if float(v) < 0.001 else f"{float(v):.3f}"  # type: ignore[arg-type]


st.header("Leading indicators")
st.caption(
    "Which behaviours predicted results on this dataset: each indicator against each outcome, "
    "rep by rep and period by period, with its uncertainty. Keep the ones that predict; test "
    "again every six months."
)
info, view, prof = common.analysis_context()
extras = view.extras

cols = st.columns([1, 2, 1.4, 1.4])
with cols[0]:
    grain = state.url_choice("Period grain", "pgrain", GRAINS, "quarter")
with cols[1]:
    outcome = extras.get("outcome", "win_rate")
    outcome = outcome if outcome in ind.OUTCOMES else "win_rate"
    state.bind_widget("w_outcome", outcome)
    outcome = st.selectbox(
        "Outcome",
        list(ind.OUTCOMES),
        format_func=name,
        key="w_outcome",
        on_change=state.on_change_param("outcome", "w_outcome"),
    )
with cols[2]:
    lag = int(state.url_choice("Outcome measured in", "lag", LAGS, "0"))

with common.error_boundary():
    result = common.indicator_test(view, prof.as_of, grain)
    panel = result.panel
    f = panel.frame
    segments = sorted(str(s) for s in f["segment"].dropna().unique())
    with cols[3]:
        seg = extras.get("seg", ALL)
        seg = seg if seg in segments else ALL
        state.bind_widget("w_seg", seg)
        seg = st.selectbox(
            "Reps",
            [ALL, *segments],
            format_func=lambda s: "All reps" if s == ALL else f"Segment {s}",
            key="w_seg",
            on_change=state.on_change_param("seg", "w_seg"),
        )
    n_reps, n_rows = int(f["owner"].nunique()), len(f)
    n_periods = int(f["period"].nunique())
    when = f"next {grain}'s" if lag else f"the same {grain}'s"
    target = f"{when} {name(outcome).lower()}"

    if seg == ALL:
        rows = result.results[
            (result.results["outcome"] == outcome) & (result.results["lag"] == lag)
        ].copy()
    else:
        rows = common.segment_test(view, prof.as_of, grain, outcome, lag)
        rows = rows[rows["segment"] == seg].copy()

    m = st.columns(4)
    fmt.metric(m[0], "Reps", n_reps, "count", about="Reps with at least one rep-period.")
    fmt.metric(m[1], "Rep-periods", n_rows, "count", f"{n_periods} {grain}s")
    md = ind.min_detectable(n_reps)
    m[2].metric(
        "Smallest detectable rho",
        rho_text(md),
        "needs at least 3 reps" if md is None else f"at {n_reps} reps",
        delta_color="off",
        delta_arrow="off",
        help="The smallest |rho| a test at 5% can tell apart from chance with this many reps: "
        "t_c / sqrt(n - 2 + t_c²), t_c the t distribution's 97.5% point at n - 2.",
    )
    found = int((rows["verdict"] == ind.PREDICTIVE).sum()) if len(rows) else 0
    fmt.metric(m[3], "Predictive indicators", found, "count", f"of {len(rows)} tested")

    thin = []
    if n_reps < ind.MIN_REPS:
        thin.append(f"{n_reps} reps (the test needs at least {ind.MIN_REPS})")
    if n_rows < ind.MIN_OBS:
        thin.append(f"{n_rows} rep-periods (the test needs at least {ind.MIN_OBS})")
    if lag and n_periods < 2:
        thin.append(f"{n_periods} complete {grain} (a next-period test needs two)")
    for mid in (*ind.INDICATORS, outcome):
        if mid in panel.missing:
            thin.append(f"{name(mid)}: {panel.missing[mid]}")
    if thin:
        st.warning(
            common.escape("Missing for a full test: " + "; ".join(thin) + "."),
            icon=":material/data_alert:",
        )

    everything = result.results
    hits = everything[everything["verdict"] == ind.PREDICTIVE]
    hits = hits[hits["indicator"] != "stage_conversion"] if len(hits) else hits
    if seg == ALL:
        st.subheader("What the test found on this dataset")
        if hits.empty:
            st.markdown(
                "No behaviour predicted any outcome beyond chance on this data (stage "
                "conversion, itself half an outcome, aside)."
            )
        else:
            lines = []
            top = hits.sort_values("q_value")
            for h in top.head(SHOW_FOUND).to_dict("records"):
                period = f"next {grain}'s" if h["lag"] else f"the same {grain}'s"
                lines.append(
                    "- "
                    + common.escape(
                        f"{name(h['indicator'])} predicts {period} "
                        f"{name(h['outcome']).lower()}: rho {rho_text(h['rho'])}, 95% "
                        f"{rho_text(h['ci_low'])} to {rho_text(h['ci_high'])}, {h['n_reps']} reps."
                    )
                )
            if len(top) > SHOW_FOUND:
                lines.append(
                    f"- and {len(top) - SHOW_FOUND} more: choose an outcome and a period below."
                )
            st.markdown("\n".join(lines))
            st.caption(
                "Every indicator against every outcome, same and next period; q corrected across "
                f"all {int(everything['q_value'].notna().sum())} tests. Stage conversion is left "
                "out of this list: it is part of the win it would predict."
            )

    st.subheader(f"What predicts {target}")
    if seg != ALL and rows.empty:
        st.info(
            common.escape(
                f"Segment {seg} has fewer than {ind.MIN_REPS} reps in the panel: too few to test "
                "on its own."
            ),
            icon=":material/info:",
        )
    else:
        sub = ind.IndicatorTest(
            rows.drop(columns=["segment"], errors="ignore").assign(outcome=outcome, lag=lag),
            panel,
            result.tested_on,
            result.retest_by,
        )
        for line in ind.reading(sub, [outcome], [lag]):
            st.markdown(common.escape(line))

    rank = {ind.PREDICTIVE: 0, ind.NO_EVIDENCE: 1, ind.NOT_ENOUGH: 2}
    rows["label"] = [name(i) for i in rows["indicator"]]
    rows["order"] = rows["verdict"].map(rank)
    rows["strength"] = -pd.to_numeric(rows["rho"], errors="coerce").abs()
    rows = rows.sort_values(["order", "strength", "label"]).reset_index(drop=True)
    if fmt.has_data(rows, "ci_low"):
        common.chart(charts.indicator_intervals(rows), "indicator intervals", "ind_ci")
    for r in rows.to_dict("records"):
        extra = (
            f"rho {rho_text(r['rho'])}, 95% {rho_text(r['ci_low'])} to {rho_text(r['ci_high'])}, "
            f"q {q_text(r['q_value'])}, {r['n_reps']} reps, {r['n_obs']} rep-periods"
            if r["verdict"] != ind.NOT_ENOUGH
            else common.escape(r["why"])
        )
        st.markdown(f"{BADGES[r['verdict']]} **{common.escape(r['label'])}**: {extra}")
    table = rows[
        [
            "label",
            "verdict",
            "rho",
            "ci_low",
            "ci_high",
            "q_value",
            "n_reps",
            "n_obs",
            "min_detectable",
            "between_rho",
            "within_rho",
            "why",
        ]
    ].rename(columns={"label": "indicator"})
    decimals = ("rho", "ci_low", "ci_high", "min_detectable", "between_rho", "within_rho")
    fmt.table(
        table.astype({c: float for c in (*decimals, "q_value")}),
        f"leading indicators {outcome} lag {lag}",
        "ind_table",
        q_value="decimal",
        **dict.fromkeys(decimals, "decimal"),
    )

    st.subheader("The rep-periods behind a row")
    testable = [i for i in rows["indicator"] if i not in panel.missing]
    if not testable:
        st.info("No indicator has values on this dataset.", icon=":material/info:")
    else:
        shown = extras.get("ind")
        shown = shown if shown in testable else testable[0]
        state.bind_widget("w_ind", shown)
        shown = st.selectbox(
            "Indicator",
            testable,
            format_func=name,
            key="w_ind",
            on_change=state.on_change_param("ind", "w_ind"),
        )
        frame = f if seg == ALL else f[f["segment"] == seg]
        pairs = ind.pairs(frame, shown, outcome, lag, grain)
        if pairs.empty:
            st.info(
                common.escape(
                    f"No rep-period has both {name(shown)} and {target}: nothing to plot."
                ),
                icon=":material/info:",
            )
        else:
            row = rows[rows["indicator"] == shown].iloc[0]
            means = (
                pairs.groupby("owner")
                .agg(x=("x", "mean"), y=("y", "mean"), periods=("x", "size"))
                .reset_index()
            )
            x_title = f"{name(shown)} ({grain} t)"
            y_title = f"{name(outcome)} ({grain} t+1)" if lag else f"{name(outcome)} ({grain} t)"
            common.chart(
                charts.indicator_scatter(pairs, means, x_title, y_title), "indicator scatter", "sc"
            )
            st.markdown(
                common.escape(
                    f"{name(shown)} against {target}: pooled rho {rho_text(row['rho'])} over "
                    f"{len(pairs)} rep-periods of {pairs['owner'].nunique()} reps. Between reps "
                    f"(do reps who do more of it do better?): rho {rho_text(row['between_rho'])}. "
                    f"Within reps (when a rep does more of it than usual, do they do better "
                    f"than usual?): rho {rho_text(row['within_rho'])}."
                )
            )
            fmt.table(
                pairs.rename(columns={"x": shown, "y": f"{outcome}_next" if lag else outcome}),
                f"rep-periods {shown} {outcome}",
                "ind_pairs",
            )

    if seg == ALL:
        st.subheader("By segment")
        segs = common.segment_test(view, prof.as_of, grain, outcome, lag)
        if segs.empty:
            st.info(
                f"No segment has {ind.MIN_REPS} or more reps in the panel (or the reps file has "
                "no segments), so there is no per-segment test.",
                icon=":material/info:",
            )
        else:
            segs = segs.assign(indicator=[name(i) for i in segs["indicator"]])
            seg_table = segs[
                ["segment", "indicator", "verdict", "rho", "ci_low", "ci_high", "q_value"]
                + ["n_reps", "n_obs"]
            ].astype({c: float for c in ("rho", "ci_low", "ci_high", "q_value")})
            fmt.table(
                seg_table,
                f"leading indicators by segment {outcome} lag {lag}",
                "ind_seg",
                **dict.fromkeys(("rho", "ci_low", "ci_high", "q_value"), "decimal"),
            )

    st.subheader("Read with care")
    for note in result.notes:
        st.markdown("- " + common.escape(note))
    st.info(
        f"Tested on {result.tested_on:%-d %b %Y} with data up to {fmt.period_text(str(prof.as_of))}. "
        f"Behaviours and markets change: test again by {result.retest_by:%-d %b %Y}.",
        icon=":material/event_repeat:",
    )
    with st.expander("The panel (one row per rep and period)"):
        fmt.table(panel.frame, "indicator panel", "ind_panel")
    common.how_computed(panel.sql, panel.params)
