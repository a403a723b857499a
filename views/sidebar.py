"""The shared sidebar: navigation that keeps the link state, the dataset and global filters.

Every widget here is seeded from the URL and writes its change back to the URL in a callback,
so the URL stays the one source of truth for what the view shows. The dataset, period, grain
and filters come right after the navigation and fit a 1440x900 screen without scrolling; the
dataset's details (fingerprint, rows per table, delete) sit in an expander below them.
"""

from __future__ import annotations

import streamlit as st

from engine.semantic.profile import Profile
from engine.semantic.request import GRAINS
from engine.store.workspace import DatasetInfo, Snapshot
from views import auth, common, links, manage, pages, state

W_DATASET = "w_dataset"
W_PERIOD = "w_period"
W_GRAIN = "w_grain"
W_SNAPSHOT = "w_snapshot"
LATEST = "latest"


def _label(info: DatasetInfo) -> str:
    when = info.created_at.replace("T", " ")[:16]
    return f"{info.name} ({when})"


def _choose_dataset(view: links.ViewState, datasets: list[DatasetInfo]) -> None:
    if not datasets:
        st.caption("No dataset yet. Load files on the Upload page.")
        return
    tokens = [d.token for d in datasets]
    labels = {d.token: _label(d) for d in datasets}
    state.bind_widget(W_DATASET, view.dataset if view.dataset in tokens else None)

    def changed() -> None:
        state.set_param("dataset", state.widget_value(W_DATASET))
        state.set_param("snapshot", None)
        for dim in links.FILTER_DIMS:
            state.set_param(dim, None)

    st.selectbox(
        "Dataset",
        tokens,
        format_func=lambda t: labels.get(t, t[:8]),
        key=W_DATASET,
        on_change=changed,
        placeholder="Choose a dataset",
    )


def _summary(info: DatasetInfo) -> str:
    """One line under the dataset box: its deals (else its biggest table) and load day."""
    deals = info.row_counts.get("opportunities", 0)
    if deals:
        main = f"{deals:,} {'deal' if deals == 1 else 'deals'}"
    else:
        counts = sorted(info.row_counts.items(), key=lambda kv: -kv[1])
        main = f"{counts[0][1]:,} rows of {counts[0][0]}" if counts and counts[0][1] else "no rows"
    return f"{main}, loaded {info.created_at[:10]}"


def _choose_snapshot(view: links.ViewState, snaps: list[Snapshot]) -> None:
    """Which snapshot the pages analyse (docs/metrics.md, Pipeline changes): the latest unless
    the link names another. Shown only when the dataset has more than one."""
    if len(snaps) < 2:
        return
    days = [s.as_of for s in snaps]
    latest = LATEST
    options = [latest, *reversed(days[:-1])]
    state.bind_widget(W_SNAPSHOT, view.snapshot if view.snapshot in days[:-1] else latest)

    def changed() -> None:
        value = state.widget_value(W_SNAPSHOT)
        state.set_param("snapshot", None if value == latest else value)

    st.selectbox(
        "Snapshot",
        options,
        format_func=lambda d: f"Latest, as of {days[-1]}" if d == latest else f"As of {d}",
        key=W_SNAPSHOT,
        on_change=changed,
        help=f"{len(snaps)} exports of this dataset; every page analyses the one chosen here.",
    )


def _dataset_card(info: DatasetInfo) -> None:
    with st.popover("Dataset details", icon=":material/info:", width="stretch"):
        when = info.created_at.replace("T", " ").removesuffix("+00:00")
        st.text(f"Loaded {when} UTC\nFingerprint {info.fingerprint}")
        width = max((len(t) for t in info.row_counts), default=0)
        st.text(
            "\n".join(f"{t:<{width}}  {n:>12,} rows" for t, n in sorted(info.row_counts.items()))
        )
    manage.delete_control(info)


def _filters(view: links.ViewState, prof: Profile) -> None:
    periods = list(prof.periods)
    if view.period not in periods:
        periods.insert(1, view.period)
    left, right = st.columns([3, 2], gap="small")
    state.bind_widget(W_PERIOD, view.period)
    left.selectbox(
        "Period", periods, key=W_PERIOD, on_change=state.on_change_param("period", W_PERIOD)
    )
    state.bind_widget(W_GRAIN, view.grain)
    right.selectbox(
        "Grain", list(GRAINS), key=W_GRAIN, on_change=state.on_change_param("grain", W_GRAIN)
    )
    for dim in links.FILTER_DIMS:
        key = f"w_{dim}"
        state.bind_widget(key, view.filters.get(dim, []))
        st.multiselect(
            dim.capitalize(),
            prof.options.get(dim, []),
            key=key,
            on_change=state.on_change_param(dim, key),
            format_func=common.shown,
            placeholder="All " + ("industries" if dim == "industry" else f"{dim}s"),
        )


def navigation(view: links.ViewState) -> None:
    """The pages by section, two or three to a row (keeps the controls below within one
    screen at 1440x900)."""
    for section, slugs in pages.SECTIONS.items():
        st.caption(section)
        per_row = 3 if len(slugs) > 4 else 2
        for i in range(0, len(slugs), per_row):
            cols = st.columns(per_row, gap="xxsmall" if per_row == 3 else "small")
            for col, page in zip(cols, slugs[i : i + per_row], strict=False):
                with col:
                    common.page_link(page)


def render(view: links.ViewState, datasets: list[DatasetInfo]) -> None:
    """Draw the sidebar for ``view``; ``datasets`` are those this session may pick from."""
    with st.sidebar:
        st.markdown("### RevOps Workbench")
        navigation(view)
        st.divider()
        _choose_dataset(view, datasets)
        info = next((d for d in datasets if d.token == view.dataset), None)
        if info is not None:
            snaps = common.snapshots(info.token)
            _choose_snapshot(view, snaps)
            st.caption(common.escape(_summary(info)))
            with common.error_boundary():
                _filters(view, common.profile(common.snapshot_key(view)))
            _dataset_card(info)
            manage.snapshot_controls(info, snaps)
        st.divider()
        common.copy_link(view)
        auth.account_controls()
        auth.keep_browser_id()
