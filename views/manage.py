"""Deleting a dataset from the app: only whoever uploaded it (that session, or the same owner
in another tab or sign-in), with a confirmation.

Deleting removes the dataset's file from disk (``Workspace.delete``), so its rows are gone
for every link that named it, not only hidden in this browser.
"""

from __future__ import annotations

import streamlit as st

from engine.store.workspace import DatasetInfo, Snapshot
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


def _delete_snapshot(key: str) -> None:
    with common.error_boundary():
        common.workspace().delete(key)
        day = key.rpartition("@")[2]
        if state.current().snapshot == day:
            state.set_param("snapshot", None)
        st.toast(f"Snapshot as of {day} deleted from disk.", icon=":material/delete:")


def snapshot_controls(info: DatasetInfo, snaps: list[Snapshot]) -> None:
    """The dataset's snapshots, listed; each deletable by the uploader alone while the dataset
    has more than one (deleting the latest makes the one before it the latest)."""
    if len(snaps) < 2:
        return
    with st.popover(f"Snapshots ({len(snaps)})", icon=":material/history:", width="stretch"):
        for snap in reversed(snaps):
            left, right = st.columns([3, 2], vertical_alignment="center")
            left.text(f"as of {snap.as_of}" + (" (latest)" if snap.latest else ""))
            if state.can_reveal(info.token):
                right.button(
                    "Delete",
                    key=f"w_delete_snapshot_{snap.as_of}",
                    icon=":material/delete:",
                    on_click=_delete_snapshot,
                    args=(f"{info.token}@{snap.as_of}",),
                    help="Removes this export's rows from disk for everyone who has the link.",
                )
