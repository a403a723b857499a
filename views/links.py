"""The link codec: query parameters <-> :class:`ViewState`, with no Streamlit in it.

:func:`parse_params` reads and validates a link's parameters (bad values are dropped with a
warning the page shows); :meth:`ViewState.params` writes them back. A page keeps only the
parameters of its own that the page registry (:mod:`views.pages`) declares. The Streamlit glue
(reading and writing ``st.query_params``) is in :mod:`views.state`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.core import privacy
from engine.core.errors import WorkbenchError
from engine.semantic.request import GRAINS, parse_period
from engine.store.workspace import is_token
from views.pages import DEFAULT_PAGE, PAGES, own_params

FILTER_DIMS: tuple[str, ...] = ("segment", "team", "owner", "industry")
DEFAULT_PERIOD = "all"
DEFAULT_GRAIN = "month"
SHARED_KEYS: tuple[str, ...] = ("dataset", "snapshot", "page", "period", "grain", *FILTER_DIMS)
MAX_PARAM_CHARS = 200
# Values one filter of a link may name (a dataset's filter lists are picked by hand).
MAX_FILTER_VALUES = 100

Params = dict[str, str | list[str]]


@dataclass(frozen=True)
class ViewState:
    """Everything a link carries."""

    dataset: str | None = None
    # The as-of date (ISO) of the dataset's snapshot to analyse; None: its latest
    # (docs/metrics.md, Pipeline changes). Checked against the dataset's list by the app.
    snapshot: str | None = None
    page: str = DEFAULT_PAGE
    period: str = DEFAULT_PERIOD
    grain: str = DEFAULT_GRAIN
    filters: dict[str, list[str]] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)

    def shared_params(self, page: str | None = None) -> Params:
        """The query parameters every page keeps (for links to ``page``)."""
        out: Params = {}
        if self.dataset:
            out["dataset"] = self.dataset
            if self.snapshot:
                out["snapshot"] = self.snapshot
        out["page"] = page or self.page
        out["period"] = self.period
        out["grain"] = self.grain
        for dim in FILTER_DIMS:
            values = self.filters.get(dim)
            if values:
                out[dim] = [privacy.link_alias(v, self.dataset or "") for v in values]
        return out

    def params(self) -> Params:
        """Shared parameters plus this page's own choices; a personal value (an email or a
        phone number, such as the coaching page's rep) travels as its keyed alias, as the
        filters' values do (:func:`person`)."""
        out = self.shared_params()
        for key, value in sorted(self.extras.items()):
            out.setdefault(key, privacy.link_alias(value, self.dataset or ""))
        return out

    def with_(self, **changes: Any) -> ViewState:
        return replace(self, **changes)


def _values(raw: Mapping[str, str | list[str]], key: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def parse_params(raw: Mapping[str, str | list[str]]) -> tuple[ViewState, list[str]]:
    """Validate query parameters into a :class:`ViewState`; returns it and the warnings."""
    warnings: list[str] = []

    def last(key: str) -> str | None:
        values = _values(raw, key)
        return values[-1] if values else None

    dataset = last("dataset")
    if dataset is not None and not is_token(dataset):
        warnings.append("The link's dataset token is malformed, so it was ignored.")
        dataset = None
    snapshot = last("snapshot")
    if snapshot is not None and not _iso_date(snapshot):
        warnings.append(f"Snapshot {_short(snapshot)!r} in the link is not a date; ignored.")
        snapshot = None
    page = last("page")
    if page is not None and page not in PAGES:
        warnings.append(f"Unknown page {_short(page)!r} in the link was ignored.")
        page = None
    period = last("period")
    if period is not None:
        try:
            period = parse_period(period, dt.date.today()).label if period else DEFAULT_PERIOD
        except WorkbenchError:
            warnings.append(f"Period {_short(period)!r} in the link is not a period; ignored.")
            period = None
    grain = last("grain")
    if grain is not None and grain not in GRAINS:
        warnings.append(f"Grain {_short(grain)!r} in the link is not one of {', '.join(GRAINS)}.")
        grain = None
    filters: dict[str, list[str]] = {}
    for dim in FILTER_DIMS:
        values = [v for v in _values(raw, dim) if v]
        if any(len(v) > MAX_PARAM_CHARS for v in values):
            warnings.append(f"A {dim} value in the link is too long; ignored.")
            values = [v for v in values if len(v) <= MAX_PARAM_CHARS]
        values = list(dict.fromkeys(values))
        if len(values) > MAX_FILTER_VALUES:
            warnings.append(
                f"The link names {len(values)} {dim} values; the first {MAX_FILTER_VALUES} kept."
            )
            values = values[:MAX_FILTER_VALUES]
        if values:
            filters[dim] = values
    extras = {
        k: _values(raw, k)[-1]
        for k in raw
        if k not in SHARED_KEYS and _values(raw, k) and len(_values(raw, k)[-1]) <= MAX_PARAM_CHARS
    }
    state = ViewState(
        dataset=dataset,
        snapshot=snapshot if dataset else None,
        page=page or DEFAULT_PAGE,
        period=period or DEFAULT_PERIOD,
        grain=grain or DEFAULT_GRAIN,
        filters=filters,
        extras=extras,
    )
    return state, warnings


def check_filters(
    state: ViewState, options: Mapping[str, Iterable[str]]
) -> tuple[ViewState, list[str]]:
    """Drop filter values that are not in the dataset; returns the state and the warnings."""
    warnings: list[str] = []
    kept: dict[str, list[str]] = {}
    for dim, values in state.filters.items():
        known = set(options.get(dim, ()))
        values = privacy.resolve_aliases(values, state.dataset or "", known)
        good = [v for v in values if v in known]
        bad = [v for v in values if v not in known]
        if bad:
            shown = ", ".join(repr(_short(v)) for v in bad[:3])
            warnings.append(f"{dim.capitalize()} {shown} is not in this dataset; ignored.")
        if good:
            kept[dim] = good
    return state.with_(filters=kept), warnings


def person(state: ViewState, key: str, known: Iterable[str]) -> str | None:
    """A page parameter naming a person (a rep), resolved from its link alias against the
    dataset's ``known`` values; None when absent or not one of them."""
    raw = state.extras.get(key)
    if not raw:
        return None
    known = list(known)
    value = privacy.resolve_aliases([raw], state.dataset or "", known)[0]
    return value if value in known else None


def whole_number(raw: str, upper: int) -> int | None:
    """A link's whole number from 0 to ``upper`` (ASCII digits only: "²".isdigit() is true but
    int("²") fails), else None."""
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(upper)) and int(raw) <= upper:
        return int(raw)
    return None


def _iso_date(text: str) -> bool:
    if len(text) != 10:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def for_page(state: ViewState, page: str) -> ViewState:
    """The state as page ``page`` reads it: the shared parameters, and of the link's own
    parameters only those the page declares (a link made for another page keeps none)."""
    extras = state.extras if state.page == page else {}
    return state.with_(page=page, extras={k: v for k, v in extras.items() if k in own_params(page)})
