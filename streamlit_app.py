"""The RevOps Metrics Workbench app: navigation, the shared sidebar and the link state.

Each run reads the query parameters, validates them (bad values are dropped with a visible
notice), picks the dataset (from the link, else this session's last one, else the sample),
writes the normalised state back to the URL and runs the page. Pages read the state through
``views.state.current()``.
"""

from __future__ import annotations

import os

import streamlit as st

from engine.core.errors import WorkbenchError
from engine.load.samples import ensure_sample_dataset
from views import auth, common, links, sidebar, state
from views import pages as registry

st.set_page_config(
    page_title="RevOps Metrics Workbench", page_icon=":material/insights:", layout="wide"
)
auth.require_sign_in()


@st.cache_resource(show_spinner="Loading the sample dataset…")
def _sample_token(root: str) -> str | None:
    """Load the bundled sample once per workspace (off with WORKBENCH_SAMPLE=0)."""
    if os.environ.get("WORKBENCH_SAMPLE", "1") == "0":
        return None
    return ensure_sample_dataset(common.workspace())


def sample_token() -> str | None:
    ws = common.workspace()
    token = _sample_token(str(ws.root.resolve()))
    return token if token is not None and ws.exists(token) else None


nav: dict[str, list[st.Page]] = {}
for entry in registry.REGISTRY:
    nav.setdefault(entry.section, []).append(
        st.Page(entry.path, title=entry.title, icon=entry.icon, url_path=entry.slug)
    )
by_name = {p.url_path: p for group in nav.values() for p in group}
# The root URL is a hidden start page that forwards to the page the link names (or the
# default), so every page keeps its own path: /funnel works like /velocity.
start = st.Page(lambda: None, title="Start", url_path="start", default=True, visibility="hidden")
current = st.navigation({**nav, "": [start]}, position="hidden")

view, notes = links.parse_params(state.url_params())
first_run = state.first_run()
linked = first_run and "page" in state.url_params() and view.page in by_name
if current is start or (linked and view.page != current.url_path):
    target = view.page if view.page in by_name else registry.DEFAULT_PAGE
    state.carry_notices(notes)
    st.switch_page(by_name[target], query_params=view.with_(page=target).params())
page = current.url_path
notes = state.carried_notices() + notes
view = links.for_page(view, page)

ws = common.workspace()
try:
    sample = sample_token()
except WorkbenchError as exc:
    sample = None
    notes.append(f"The sample dataset could not be loaded: {exc.message}")
# The sidebar lists what this session opened, then what its owner loaded before (in another
# tab, another day), newest first, then the sample; never another owner's datasets.
owner = common.owner_key()
listed = ws.list(None if auth.lists_everything() else owner)
state.set_owned([i.token for i in listed if owner and i.owner == owner])
missing_dataset = False
if view.dataset is not None:
    if ws.exists(view.dataset):
        state.remember_dataset(view.dataset)
    else:
        missing_dataset = True
        view = view.with_(dataset=None, filters={})
elif state.opened_datasets() and ws.exists(state.opened_datasets()[0]):
    view = view.with_(dataset=state.opened_datasets()[0])
elif state.owned_datasets():
    view = view.with_(dataset=state.owned_datasets()[0])
elif sample is not None:
    view = view.with_(dataset=sample)

if view.dataset is not None and view.snapshot is not None:
    # Checked against the dataset's own list before it names any file.
    if view.snapshot not in [s.as_of for s in ws.snapshots(view.dataset)]:
        notes.append(f"This dataset has no snapshot as of {view.snapshot}; showing its latest.")
        view = view.with_(snapshot=None)
elif view.dataset is None:
    view = view.with_(snapshot=None)

if view.dataset is not None:
    try:
        key = common.snapshot_key(view)
        view, filter_notes = links.check_filters(view, common.profile(key).options)
        notes += filter_notes
    except WorkbenchError as exc:
        notes.append(exc.message)

tokens = [t for t in state.opened_datasets() if ws.exists(t)]
tokens += [i.token for i in listed if i.token not in tokens]
if sample is not None and sample not in tokens:
    tokens.append(sample)
if view.dataset is not None and view.dataset not in tokens:
    tokens.insert(0, view.dataset)
datasets = [ws.info(t) for t in tokens]

state.set_current(view)
state.set_notices(notes)
if not missing_dataset:
    state.write_url(view)
sidebar.render(view, datasets)

if missing_dataset:
    st.error(
        "**Dataset not found.** The link names a dataset that does not exist in this "
        "workspace: it may have been deleted, or the link is incomplete."
    )
    common.page_link("upload", "Load files on the Upload page", icon=":material/upload:")
    if sample is not None and st.button("Open the sample data", icon=":material/dataset:"):
        state.set_param("dataset", sample)
        st.rerun()
common.notices()
current.run()
