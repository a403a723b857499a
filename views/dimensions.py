"""The Dimensions section of the Data quality page: where each deal's segment, industry, team
and region come from, and the employee thresholds of the derived segment (docs/data.md).

Drawn outside the page's own cursor: saving thresholds rewrites the dataset's settings, which
closes the shared read-only connection of the dataset."""

from __future__ import annotations

import streamlit as st

from engine.core.errors import WorkbenchError
from engine.semantic import dimensions
from views import common, state

W_MID = "w_seg_mid"
W_ENT = "w_seg_ent"


def _save(token: str, mid: float, ent: float) -> bool:
    try:
        new = dimensions.Thresholds(mid, ent)
        dimensions.save_segment_thresholds(common.workspace(), token, new)
    except WorkbenchError as exc:
        common.show_error(exc)
        return False
    st.cache_data.clear()  # the filter values (segments present) may change
    common.RESULTS.clear()  # and every result that attributes deals to segments
    st.toast(f"Segment thresholds saved: {new.describe()}.", icon=":material/save:")
    return True


def render() -> None:
    """The section, for the current dataset (nothing when there is none)."""
    token = state.current().dataset
    if token is None or not common.workspace().exists(token):
        return
    st.subheader("Dimensions", divider="gray")
    st.caption(
        "A deal without a segment takes its account's, else one derived from the account's "
        "employees, else its rep's; industry comes from the account; team from the rep; "
        "region from the deal, else the rep (sales territory), else the account. Deals join "
        "accounts by account id, else by account name."
    )
    with common.error_boundary():
        sources = common.computed(dimensions.dimension_sources)
        thresholds = common.computed(dimensions.segment_thresholds)
        for line in dimensions.source_notes(sources):
            st.markdown("- " + common.escape(line))
        common.table(
            sources,
            "dimension sources",
            "dimsrc",
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
        st.markdown(common.escape(f"Segment from employees: {thresholds.describe()}."))
        if not state.can_reveal(token):
            st.caption(
                "Only whoever uploaded this dataset (the same browser or signed-in account) "
                "can change the thresholds."
            )
            return
        with st.form("segment_thresholds"):
            left, right = st.columns(2)
            mid = left.number_input(
                "Mid-Market from (employees)",
                min_value=1,
                value=int(thresholds.mid_market_min),
                step=1,
                key=W_MID,
            )
            ent = right.number_input(
                "Enterprise from (employees)",
                min_value=2,
                value=int(thresholds.enterprise_min),
                step=1,
                key=W_ENT,
            )
            st.caption("Stored with the dataset: every page and every link uses them.")
            if st.form_submit_button("Save thresholds") and _save(token, float(mid), float(ent)):
                st.rerun()
