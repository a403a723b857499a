"""Helpers every page shares: the workspace, safe tables and downloads, errors, links, charts.

User data never goes through markdown unescaped: tables go to ``st.dataframe`` (masked for
personal data by default), free text to ``st.text``/``st.code`` or through :func:`escape`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import altair as alt
import pandas as pd
import polars as pl
import streamlit as st
import vl_convert as vlc

from engine.analyses import changes, indicators
from engine.analyses.backtest import Backtest
from engine.analyses.backtest import backtest as run_backtest
from engine.core import export, memo, privacy
from engine.core.errors import DatasetNotFound, WorkbenchError
from engine.load import samples
from engine.semantic import facts
from engine.semantic.profile import Profile, dataset_profile
from engine.semantic.request import Request
from engine.store.workspace import DatasetInfo, Snapshot, Workspace, default_root
from views import auth, links, pages, state

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape(text: object) -> str:
    """Text safe to put inside st.markdown/st.error: markdown and HTML characters escaped, and
    (unless this session revealed personal data) every email in it masked."""
    text = str(text)
    if not state.reveal_personal():
        text = privacy.mask_emails_in_text(text)
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def shown(value: Any) -> Any:
    """A single value as this session may see it (for labels and pick lists): an email or a
    phone number masked unless revealed."""
    return value if state.reveal_personal() else privacy.mask_if_personal(value)


@st.cache_resource(show_spinner=False, on_release=Workspace.close)
def _workspace(root: str) -> Workspace:
    ws = Workspace(root, finish=facts.store)  # each written dataset keeps its facts
    samples.apply_retention(ws)  # $WORKBENCH_RETENTION_DAYS; off when unset
    return ws


def workspace() -> Workspace:
    """The process-wide workspace ($WORKBENCH_WORKSPACE, default ./workspace)."""
    return _workspace(str(default_root().resolve()))


def owner_key() -> str:
    """The key this session's datasets are stored and listed under (``views.auth``)."""
    return workspace().owner_key(auth.identity())


def profile(token: str) -> Profile:
    """Filter values and period labels of a dataset or snapshot key (read once per version of
    its file: a token's file is replaced when a newer snapshot is added)."""
    return _remember((token,), ("profile",), lambda: _on(token, dataset_profile))


def snapshots(token: str | None = None) -> list[Snapshot]:
    """The snapshots of a dataset (the current one by default), oldest first."""
    token = token if token is not None else state.current().dataset
    return workspace().snapshots(token) if token else []


def snapshot_key(view: links.ViewState | None = None) -> str:
    """What the pages open: the view's dataset at the snapshot its link names, else at its
    latest (docs/metrics.md, Pipeline changes). The app has checked the date against the
    dataset's list; an unknown one raises DatasetNotFound here too."""
    view = view or state.current()
    if not view.dataset:
        raise DatasetNotFound("No dataset is open.")
    return workspace().snapshot(view.dataset, view.snapshot).key


def backtest(request: Request) -> Backtest:
    """The forecast backtest of the analysed snapshot for ``request`` (cached: on a large
    dataset it takes seconds)."""
    return computed(run_backtest, request, spinner="Backtesting the forecast methods...")


def _indicator_request(view: links.ViewState, as_of: Any) -> Request:
    from engine.semantic import make_request

    filters = {k: list(v) for k, v in sorted(view.filters.items()) if v}
    return make_request("won_revenue", period=view.period, filters=filters, as_of=as_of)


def indicator_test(view: links.ViewState, as_of: Any, grain: str) -> indicators.IndicatorTest:
    """The leading-indicator test of the analysed snapshot, period and filters (cached: the
    Leading indicators and Coaching pages share one run, so they agree)."""
    return computed(
        indicators.test_indicators,
        _indicator_request(view, as_of),
        grain=grain,
        spinner="Testing the leading indicators...",
    )


def segment_test(
    view: links.ViewState, as_of: Any, grain: str, outcome: str, lag: int
) -> pd.DataFrame:
    """The leading-indicator test within each segment, for one outcome and lag (cached with
    the test it splits, so a rerun does not bootstrap again)."""
    test = indicator_test(view, as_of, grain)
    what = ("segments", memo.request_key(_indicator_request(view, as_of), grain, outcome, lag))
    return _remember(
        (snapshot_key(),),
        what,
        lambda: indicators.by_segment(test.panel, outcome, lag),
        spinner="Testing each segment...",
    )


def dataset_info() -> DatasetInfo | None:
    """The current dataset's info (of the snapshot analysed), or None when the view has no
    (existing) dataset."""
    token = state.current().dataset
    if token is None or not workspace().exists(token):
        return None
    try:
        return workspace().info(snapshot_key())
    except DatasetNotFound:
        return None


T = TypeVar("T")
# What the pages computed, per (dataset file, request): a rerun that changed nothing reads the
# result back instead of scanning the tables again ($WORKBENCH_CACHE_MB bounds it).
RESULTS = memo.ResultCache(memo.budget_from_env())


def file_version(key: str) -> tuple[str, int, int, int]:
    """What identifies a dataset file's content: its path, inode, size and change time (the
    change time moves on every write, settings included, and cannot be set back)."""
    path = workspace().path(key)
    stat = path.stat()
    return str(path), stat.st_ino, stat.st_size, stat.st_ctime_ns


def _remember(
    keys: tuple[str, ...], what: tuple[Any, ...], run: Callable[[], T], spinner: str | None = None
) -> T:
    """``run()`` cached in :data:`RESULTS` by the versions of the files ``keys`` name and
    ``what`` was asked of them; ``spinner`` is shown while a missing result is computed."""
    try:
        version: tuple[Any, ...] = tuple(file_version(k) for k in keys)
    except (OSError, WorkbenchError):
        version = keys
    cache_key = (version, *what)
    if spinner is not None and cache_key not in RESULTS:
        with st.spinner(spinner):
            return RESULTS.get(cache_key, run)
    return RESULTS.get(cache_key, run)


def _on(key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with workspace().cursor(key) as cur:
        return fn(cur, *args, **kwargs)


def _asked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str, str]:
    """What a call asks, for a cache key: the function and a digest of its arguments."""
    digest = memo.request_key(len(args), *args, *sorted(kwargs.items()))
    return fn.__module__, fn.__qualname__, digest


def computed(fn: Callable[..., T], *args: Any, spinner: str | None = None, **kwargs: Any) -> T:
    """``fn(cursor, *args, **kwargs)`` on the analysed snapshot, cached in :data:`RESULTS` by
    the file's version, ``fn`` and the arguments. Every page's engine call goes through here,
    so a rerun costs what reading the result back costs, whatever the dataset's size."""
    key = snapshot_key()
    run = lambda: _on(key, fn, *args, **kwargs)  # noqa: E731
    return _remember((key,), _asked(fn, *args, **kwargs), run, spinner)


def compared(fn: Callable[..., T], old_key: str, new_key: str, *args: Any) -> T:
    """``fn(con, *args)`` on two snapshots attached side by side (the Changes page), cached in
    :data:`RESULTS` like :func:`computed`, by both files' versions."""
    ws = workspace()

    def run() -> T:
        with changes.attach_pair(ws.path(old_key), ws.path(new_key)) as con:
            return fn(con, *args)

    return _remember((old_key, new_key), _asked(fn, *args), run)


def show_error(exc: WorkbenchError) -> None:
    st.error(f"**{escape(exc.title)}**: {escape(exc.message)}")


@contextmanager
def error_boundary() -> Iterator[None]:
    """Show a WorkbenchError as a message instead of a traceback; other errors propagate."""
    try:
        yield
    except WorkbenchError as exc:
        show_error(exc)


def require_dataset() -> DatasetInfo | None:
    """The current dataset, or a message with a way to load one (the page then stops)."""
    info = dataset_info()
    if info is None:
        st.info("No dataset is open. Load files on the Upload page or try the sample data.")
        page_link("upload", "Go to Upload", icon=":material/upload:")
    return info


def analysis_context() -> tuple[DatasetInfo, links.ViewState, Profile]:
    """What every analysis page starts from: the open dataset, the view in the URL and the
    dataset's profile. Without a dataset the page says how to load one and stops."""
    info = require_dataset()
    if info is None:
        st.stop()
    assert info is not None  # st.stop() does not return
    return info, state.current(), profile(info.token)


def page_link(
    page: str,
    label: str | None = None,
    icon: str | None = None,
    view: links.ViewState | None = None,
) -> None:
    """A link to another page that carries the shared query parameters along."""
    view = view or state.current()
    st.page_link(
        f"views/{page}.py",
        label=label or pages.PAGES[page],
        icon=icon,
        query_params=view.shared_params(page),
    )


def share_url(view: links.ViewState) -> str:
    """The absolute link that reopens this view (on the view's page, not necessarily the one
    showing the link: the Upload page links to the analysis)."""
    base = page_url(st.context.url or "", view.page)
    query = urllib.parse.urlencode(view.params(), doseq=True)
    return f"{base}?{query}" if base else f"?{query}"


def page_url(url: str, page: str) -> str:
    """``url`` (the app's URL as the browser sent it) with its page path swapped for ``page``."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    path = f"{head}/{page}" if last in pages.PAGES else parts.path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def copy_link(view: links.ViewState) -> None:
    """The link to this view in a code box (its copy button puts it on the clipboard)."""
    st.caption("Copy link to this view")
    st.code(share_url(view), language=None, wrap_lines=True)


SHOWN_ROWS = 2_000  # a longer table shows its first rows; its download has every row


def table(
    frame: pd.DataFrame | pl.DataFrame,
    name: str,
    key: str,
    json_columns: tuple[str, ...] = (),
    **kwargs: Any,
) -> None:
    """A table with personal data masked (unless revealed) and a formula-safe CSV download.

    A table longer than :data:`SHOWN_ROWS` shows its first rows and says so, and its CSV is
    masked and written only when the button is clicked, so a rerun never formats every row
    of a large dataset's lists."""
    df = export.to_pandas(frame)
    reveal = state.reveal_personal()
    total = len(df)
    head = df.head(SHOWN_ROWS) if total > SHOWN_ROWS else df
    shown_df = head
    if not reveal:
        shown_df, masked = _masked(head, json_columns)
        if masked:
            st.caption("Masked personal data: " + ", ".join(escape(c) for c in sorted(masked)))
    if total > SHOWN_ROWS:
        st.caption(
            f"Showing the first {SHOWN_ROWS:,} of {total:,} rows; the download has all of them."
        )
    st.dataframe(shown_df, hide_index=True, **kwargs)
    if total > SHOWN_ROWS:
        data: bytes | Callable[[], bytes] = lambda: _csv(df, reveal, json_columns)  # noqa: E731
    else:
        data = export.to_csv_bytes(shown_df)
    st.download_button(
        f"Download {escape(name)} (CSV)",  # a file name is text, never markdown
        data=data,
        file_name=export.safe_file_name(name) + ".csv",
        mime="text/csv",
        key=f"dl_{key}",
        icon=":material/download:",
        on_click="ignore",
    )


def _masked(frame: pd.DataFrame, json_columns: tuple[str, ...]) -> tuple[pd.DataFrame, Any]:
    """``privacy.mask_frame`` of the rows a table shows, cached by their content (masking
    free text row by row is what a rerun would otherwise spend its time on)."""
    try:
        rows = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    except TypeError:  # a cell pandas cannot hash (a list): masked every time
        return privacy.mask_frame(frame, json_columns)
    content = hashlib.sha256(rows + repr((list(frame.columns), list(frame.dtypes))).encode())
    key = ("masked", json_columns, content.hexdigest())
    return RESULTS.get(key, lambda: privacy.mask_frame(frame, json_columns))


def _csv(df: pd.DataFrame, reveal: bool, json_columns: tuple[str, ...]) -> bytes:
    """Every row of a table as its download: masked unless revealed, formula-safe."""
    return export.to_csv_bytes(df if reveal else privacy.mask_frame(df, json_columns)[0])


def how_computed(sql: str, params: Any = None, what: str | None = None) -> None:
    """The 'how was this computed?' expander: the SQL and its bound parameters; ``what`` names
    the number when a tab has more than one expander."""
    with st.expander(f"How was this computed? ({what})" if what else "How was this computed?"):
        st.code(sql, language="sql")
        if params:
            st.code(json.dumps(params, default=str, indent=1), language="json")


def chart(chart: alt.TopLevelMixin, name: str, key: str) -> None:
    """An Altair chart with PNG and SVG downloads, rendered only when clicked. What is drawn
    and downloaded is the masked spec (personal values in data, tooltips and labels)."""
    masked = chart.to_dict()
    if not state.reveal_personal():
        masked = privacy.mask_structure(masked)
    st.vega_lite_chart(None, masked, width="stretch", key=f"chart_{key}")
    spec = json.dumps(masked)
    left, right = st.columns(2)
    left.download_button(
        f"Save {escape(name)} as PNG",
        lambda: vlc.vegalite_to_png(spec, scale=2),
        export.safe_file_name(name) + ".png",
        "image/png",
        key=f"png_{key}",
        icon=":material/image:",
        on_click="ignore",
    )
    right.download_button(
        f"Save {escape(name)} as SVG",
        lambda: vlc.vegalite_to_svg(spec),
        export.safe_file_name(name) + ".svg",
        "image/svg+xml",
        key=f"svg_{key}",
        icon=":material/image:",
        on_click="ignore",
    )


def notices() -> None:
    """The link warnings of this run, as one visible notice."""
    for note in state.notices():
        st.warning(escape(note), icon=":material/link_off:")
