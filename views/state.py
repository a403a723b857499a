"""The Streamlit glue of a view's state: the URL and the little the session keeps.

Shareable state (dataset, page, period, grain, filters and page-specific choices) lives in
the URL query parameters, so a pasted link reopens the same view; the pure codec that reads
and writes them is :mod:`views.links`. Transient UI state (datasets this browser session
opened, files being mapped, the last load report) lives in ``st.session_state``, reached only
through the typed accessors below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

from engine.core import privacy
from views.links import FILTER_DIMS, Params, ViewState


# --- the URL ------------------------------------------------------------------------------
def url_params() -> Params:
    """The current query parameters, repeated keys as lists."""
    qp = st.query_params
    out: Params = {}
    for key in qp:
        values = qp.get_all(key)
        out[key] = values if len(values) > 1 else (values[0] if values else "")
    return out


def write_url(state: ViewState) -> None:
    """Make the URL say exactly ``state`` (only when it differs, to avoid needless reruns)."""
    wanted = state.params()
    if _normal(url_params()) != _normal(wanted):
        st.query_params.from_dict(wanted)


def _normal(params: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in params.items()}


def set_param(key: str, value: str | list[str] | None) -> None:
    """Change one query parameter (a widget callback); None or empty removes it."""
    if value is None or value == [] or value == "":
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = value


# --- transient session state ---------------------------------------------------------------
_CURRENT = "_view_state"
_OPENED = "_opened_datasets"
_CREATED = "_created_datasets"
_OWNED = "_owned_datasets"
_PLANS = "_upload_plans"
_LOAD = "_last_load"
_REVEAL = "_reveal_personal"
_NOTICES = "_notices"
_STARTED = "_started"
_CARRIED = "_carried_notices"


def first_run() -> bool:
    """True once per browser session: a pasted link's ``page`` parameter applies only then."""
    if st.session_state.get(_STARTED):
        return False
    st.session_state[_STARTED] = True
    return True


def set_current(state: ViewState) -> None:
    st.session_state[_CURRENT] = state


def current() -> ViewState:
    """The validated view state of this run (set by the app before the page runs)."""
    value = st.session_state.get(_CURRENT)
    return value if isinstance(value, ViewState) else ViewState()


def opened_datasets() -> list[str]:
    """Tokens this browser session created or opened, most recent first."""
    value = st.session_state.get(_OPENED)
    return list(value) if isinstance(value, list) else []


def remember_dataset(token: str) -> None:
    tokens = [t for t in opened_datasets() if t != token]
    st.session_state[_OPENED] = [token, *tokens]


def forget_dataset(token: str) -> None:
    st.session_state[_OPENED] = [t for t in opened_datasets() if t != token]


def upload_plans() -> dict[str, Any]:
    """File id -> FilePlan of the files on the Upload page (edited mappings included)."""
    value = st.session_state.get(_PLANS)
    if not isinstance(value, dict):
        value = {}
        st.session_state[_PLANS] = value
    return value


def last_load() -> dict[str, Any] | None:
    value = st.session_state.get(_LOAD)
    return value if isinstance(value, dict) else None


def set_last_load(value: dict[str, Any] | None) -> None:
    st.session_state[_LOAD] = value


def created_datasets() -> list[str]:
    """Tokens of the datasets this browser session uploaded (not merely opened)."""
    value = st.session_state.get(_CREATED)
    return list(value) if isinstance(value, list) else []


def remember_created(token: str) -> None:
    st.session_state[_CREATED] = [token, *[t for t in created_datasets() if t != token]]


def owned_datasets() -> list[str]:
    """Tokens loaded under this session's owner key (in any earlier tab or session)."""
    value = st.session_state.get(_OWNED)
    return list(value) if isinstance(value, list) else []


def set_owned(tokens: list[str]) -> None:
    st.session_state[_OWNED] = list(tokens)


def can_reveal(token: str | None = None) -> bool:
    """Only whoever uploaded a dataset (this session, or the same owner key) may unmask its
    personal data or delete it."""
    token = token if token is not None else current().dataset
    return token is not None and (token in created_datasets() or token in owned_datasets())


def reveal_personal() -> bool:
    """True when this session switched unmasking on and uploaded the current dataset."""
    return bool(st.session_state.get(_REVEAL, False)) and can_reveal()


def notices() -> list[str]:
    """Warnings about the link, shown on the page of this run."""
    value = st.session_state.get(_NOTICES)
    return list(value) if isinstance(value, list) else []


def set_notices(values: list[str]) -> None:
    st.session_state[_NOTICES] = list(values)


def carry_notices(values: list[str]) -> None:
    """Keep link warnings across the page switch a pasted link's ``page`` causes."""
    st.session_state[_CARRIED] = list(values)


def carried_notices() -> list[str]:
    value = st.session_state.pop(_CARRIED, None)
    return list(value) if isinstance(value, list) else []


def widget_value(key: str) -> Any:
    return st.session_state.get(key)


def bind_widget(key: str, value: Any) -> None:
    """Seed a widget's value from the URL before the widget is drawn in this run."""
    st.session_state[key] = value


def url_choice(
    label: str, param: str, options: Iterable[str] | Mapping[str, str], default: str
) -> str:
    """A segmented control whose choice is the URL parameter ``param``: seeded from the link
    (a value that is not an option gives ``default``) and written back when it changes.
    ``options`` is a list of values, or a mapping of value -> label."""
    key = f"w_{param}"
    values = list(options)
    raw = current().extras.get(param, default)
    bind_widget(key, raw if raw in values else default)
    labels = options.get if isinstance(options, Mapping) else str
    choice = st.segmented_control(
        label, values, format_func=labels, key=key, on_change=on_change_param(param, key)
    )
    return choice or default


def on_change_param(param: str, widget_key: str) -> Callable[[], None]:
    """A callback writing a widget's new value into the URL."""

    def callback() -> None:
        value = st.session_state.get(widget_key)
        if param in FILTER_DIMS and isinstance(value, list):
            key = current().dataset or ""
            value = [privacy.link_alias(str(v), key) for v in value]
        set_param(param, value)

    return callback


REVEAL_KEY = _REVEAL
