"""Deleting a dataset from the app: only whoever uploaded it (that session, or the same owner
in another tab or sign-in), with a confirmation.

Deleting removes the dataset's file from disk (``Workspace.delete``), so its rows are gone
for every link that named it, not only hidden in this browser.
"""

from __future__ import annotations

import streamlit as st

from engine.store.workspace import DatasetInfo
from views import common, links, state

CONFIRM_KEY = "w_confirm_delete"


def _delete(token: str) -> None:
    with common.error_boundary():
        common.workspace().delete(token)
        state.forget_dataset(token)
        state.set_param("dataset", None)
        for dim in links.FILTER_DIMS:
            state.set_param(dim, None)
        st.session_state[CONFIRM_KEY] = False
        st.toast("Dataset deleted from disk.", icon=":material/delete:")


def delete_control(info: DatasetInfo) -> None:
    """A 'Delete this dataset' button for the uploader only (nobody else sees it)."""
    if not state.can_reveal(info.token):
        return
    with st.expander("Delete this dataset"):
        st.caption("Removes its rows from disk for everyone who has the link. Cannot be undone.")
        sure = st.checkbox("Yes, delete it", key=CONFIRM_KEY)
        st.button(
            "Delete dataset",
            icon=":material/delete:",
            disabled=not sure,
            on_click=_delete,
            args=(info.token,),
            key="w_delete_dataset",
        )
