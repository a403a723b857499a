"""Data quality page: rules that fired, quarantined and flagged rows, reconciliation, scores,
and what the flagged rows change in the headline metrics. Personal data is masked."""

from __future__ import annotations

import altair as alt
import streamlit as st

from engine.analyses import quality
from views import common, state
from views import dimensions as dimensions_view
from views import format as fmt

st.header("Data quality")
info = common.require_dataset()
if info is None:
    st.stop()
view = state.current()
st.toggle(
    "Reveal personal data (emails, phone numbers) in this session",
    key=state.REVEAL_KEY,
    disabled=not state.can_reveal(),
    help="Masked by default. Only the session that uploaded this dataset can reveal it; "
    "never part of a shared link.",
)

with common.error_boundary():
    st.subheader("Reconciliation", divider="gray")
    recon = common.computed(quality.reconciliation)
    for row in recon.to_dict("records"):
        (st.text if row["balanced"] else st.error)(quality.reconciliation_line(row))

    st.subheader("Quality score per table", divider="gray")
    st.caption(quality.SCORE_RULE)
    scores = common.computed(quality.quality_scores)
    common.table(
        scores,
        "quality scores",
        "scores",
        column_config={
            "score": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.1f")
        },
    )

    st.subheader("Rules that fired", divider="gray")
    fired = common.computed(quality.rules_fired)
    if fired.empty:
        st.success("No rule fired: every row loaded clean.")
    else:
        bars = (
            alt.Chart(fired)
            .mark_bar()
            .encode(
                x=alt.X("rows:Q", title="rows"),
                y=alt.Y("rule:N", sort="-x", title=None),
                color=alt.Color("severity:N", scale=alt.Scale(domain=["error", "warning"])),
                tooltip=["table", "rule", "severity", "rows", alt.Tooltip("share:Q", format=".1%")],
            )
            .properties(title="Rows per rule")
        )
        common.chart(bars, "rules fired", "rules")
        common.table(
            fired,
            "rules fired",
            "rules",
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )

    st.subheader("Quarantined rows", divider="gray")
    st.caption("Rows that did not load, with every reason; fix them in the source and reload.")
    common.table(
        common.computed(quality.quarantined_rows), "quarantined rows", "quar", ("original",)
    )

    st.subheader("Flagged rows", divider="gray")
    st.caption("Rows that loaded with a warning.")
    common.table(common.computed(quality.flagged_rows), "flagged rows", "flagged", ("values",))

    st.subheader("What the flagged rows change", divider="gray")
    st.caption(
        f"Headline metrics for period {view.period} with the current filters, computed on all "
        "loaded rows and again without the flagged ones."
    )
    as_of = common.profile(info.token).as_of
    impact = common.computed(quality.headline_impact, view.period, view.filters, as_of=as_of)
    records = impact.frame.to_dict("records")
    for start in range(0, len(records), 4):
        cards = st.columns(4)
        for card, row in zip(cards, records[start : start + 4], strict=False):
            without = fmt.value(row["without flagged rows"], row["unit"])
            card.metric(
                row["metric"],
                fmt.value(row["with flagged rows"], row["unit"]),
                f"without flagged: {without}",
                delta_color="off",
                delta_arrow="off",
                help=f"n/a: {row['why n/a']}." if row["why n/a"] else None,
            )
    for row in records:
        if row["why n/a"]:
            st.caption(f"{row['metric']}: n/a, {row['why n/a']}.")
    # each number in its metric's unit ($1,234 / 22.7% / 41.0 days), never a raw float
    shown = impact.frame.assign(
        **{
            col: [
                fmt.value(v, u)
                for v, u in zip(impact.frame[col], impact.frame["unit"], strict=True)
            ]
            for col in ("with flagged rows", "without flagged rows", "difference")
        }
    ).drop(columns=["unit"])
    common.table(
        shown,
        "flagged impact",
        "impact",
        column_config={"difference %": st.column_config.NumberColumn(format="percent")},
    )
    common.how_computed("\n\n".join(f"-- {k}\n{v}" for k, v in impact.sql.items()))

dimensions_view.render()  # where dimensions come from; segment thresholds
