"""Metric glossary: every catalog metric with its full definition, by tier and direction."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.semantic import CATALOG
from views import common, state

TIERS = {1: "Tier 1 · productivity", 2: "Tier 2 · lagging", 3: "Tier 3 · leading"}
FIELDS = ("formula", "numerator", "denominator", "sources", "cadence", "unit", "notes")

st.header("Metric glossary")
st.caption(
    "Each definition comes from the metric catalog (engine/semantic/catalog.toml). The rules "
    "several metrics share (periods, fiscal year, dimensions, outliers, empty values, the "
    "coaching scorecard, alerts) are in docs/metrics.md; the benchmark bands in "
    "docs/benchmarks.md; what an upload must hold in docs/data.md."
)
view = state.current()
state.bind_widget("w_q", view.extras.get("q", ""))
query = st.text_input(
    "Search metrics",
    key="w_q",
    on_change=state.on_change_param("q", "w_q"),
    placeholder="name, id, formula or source table",
)
needle = (query or "").strip().lower()
shown = [m for m in CATALOG.values() if not needle or needle in m.definition.lower()]
st.caption(f"{len(shown)} of {len(CATALOG)} metrics")

for tier, title in TIERS.items():
    in_tier = [m for m in shown if m.tier == tier]
    if not in_tier:
        continue
    st.subheader(title, divider="gray")
    for direction in ("lagging", "leading"):
        group = [m for m in in_tier if m.direction == direction]
        if not group:
            continue
        st.markdown(f"**{direction.capitalize()} indicators**")
        for m in group:
            better = "higher" if m.higher_is_better else "lower"
            with st.expander(f"{m.name} · {m.id}", expanded=bool(needle)):
                st.markdown(common.escape(m.purpose))
                for field in FIELDS:
                    value = m.as_dict()[field]
                    if isinstance(value, list):
                        value = ", ".join(value)
                    if value:
                        st.markdown(f"**{field.capitalize()}**: {common.escape(value)}")
                st.caption(f"Tier {m.tier}, {m.direction}; {better} is better.")
columns = list(next(iter(CATALOG.values())).as_dict())
frame = pd.DataFrame([m.as_dict() for m in shown], columns=columns)
common.table(frame, "metric glossary", "glossary")
