"""Coverage page (placeholder: the analysis view is built separately); header and shared filters."""

from __future__ import annotations

import streamlit as st

from views import common, state

st.header("Coverage")
info = common.require_dataset()
if info is not None:
    view = state.current()
    filters = "; ".join(f"{k}: {', '.join(v)}" for k, v in view.filters.items()) or "none"
    st.text(
        f"Dataset: {info.name}\nPeriod: {view.period} · grain: {view.grain}\nFilters: {filters}"
    )
