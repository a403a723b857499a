"""Pages stay fast whatever the dataset's size: results are cached per (dataset file, request)
within a byte budget, a rerun that changed nothing opens no cursor on the dataset, and a long
table shows its first rows while its download (written on click) has every row, masked."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.core import export, memo
from engine.store.workspace import Workspace
from tests.test_app_helpers import app, problems

# --------------------------------------------------------------------------- the cache


def test_a_hit_returns_a_fresh_copy_and_computes_once() -> None:
    cache = memo.ResultCache(max_bytes=1 << 20)
    calls: list[int] = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"a": [1, 2, 3]})

    first = cache.get("k", compute)
    first.loc[0, "a"] = 99  # the caller changes its copy...
    second = cache.get("k", compute)
    assert calls == [1]  # ...computed once
    assert second["a"].tolist() == [1, 2, 3]  # ...and the cached value is untouched
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_byte_budget_drops_the_least_recently_used() -> None:
    blob = b"x" * 1000
    size = len(pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL))  # 1000 + a few bytes
    cache = memo.ResultCache(max_bytes=2 * size + size // 2)  # room for two, not three
    for key in ("a", "b"):
        cache.get(key, lambda: blob)
    cache.get("a", lambda: b"never")  # a used last: b is now the oldest
    cache.get("c", lambda: blob)  # 3 x size > budget: b goes
    assert len(cache) == 2 and cache.size == 2 * size
    recomputed: list[str] = []
    cache.get("b", lambda: recomputed.append("b") or blob)
    cache.get("c", lambda: recomputed.append("c") or blob)
    assert recomputed == ["b"]  # b was dropped, c was kept


def test_results_larger_than_the_budget_or_unpicklable_are_returned_uncached() -> None:
    cache = memo.ResultCache(max_bytes=100)
    assert cache.get("big", lambda: b"y" * 1000) == b"y" * 1000
    fn = cache.get("fn", lambda: lambda: 1)  # a lambda does not pickle
    assert fn() == 1
    assert len(cache) == 0 and cache.size == 0


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memo.CACHE_MB_ENV, "3")
    assert memo.budget_from_env() == 3 * 1024 * 1024
    for bad in ("-1", "1e9", "²", ""):
        monkeypatch.setenv(memo.CACHE_MB_ENV, bad)
        assert memo.budget_from_env() == memo.DEFAULT_CACHE_MB * 1024 * 1024


def test_request_keys_differ_by_value_not_by_identity() -> None:
    assert memo.request_key(("2026-Q2", {"owner": ["Ann"]})) == memo.request_key(
        ("2026-Q2", {"owner": ["Ann"]})
    )
    assert memo.request_key(("2026-Q2", {"owner": ["Ann"]})) != memo.request_key(
        ("2026-Q2", {"owner": ["Bob"]})
    )


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize(
    "page", ["quality", "funnel", "velocity", "coverage", "coaching", "forecast", "changes"]
)
def test_a_rerun_that_changed_nothing_opens_no_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    from engine.analyses import changes

    opened: list[str] = []
    real = Workspace.cursor
    real_pair = changes.attach_pair

    def counting(self: Workspace, token: str) -> Any:
        opened.append(token)
        return real(self, token)

    def counting_pair(old: Path, new: Path) -> Any:
        opened.append(f"{old.name} + {new.name}")
        return real_pair(old, new)

    monkeypatch.setattr(Workspace, "cursor", counting)
    monkeypatch.setattr(changes, "attach_pair", counting_pair)
    at = app(tmp_path, monkeypatch).run()
    at.switch_page(f"views/{page}.py").run()
    assert problems(at) == []
    assert opened, "the first view reads the dataset"
    opened.clear()
    at.run()
    assert problems(at) == []
    assert opened == []


def test_a_settings_change_gives_the_file_a_new_version(tmp_path: Path) -> None:
    from views import common

    ws = Workspace(tmp_path / "ws")
    try:
        from engine.load.samples import ensure_sample_dataset

        token = ensure_sample_dataset(ws)
        assert token is not None
        path = ws.path(token)
        before = path.stat()
        ws.set_meta(token, "note", "x")
        after = path.stat()
        # the write keeps the file's modification time (retention age) but not its change time
        assert after.st_mtime_ns == before.st_mtime_ns
        assert after.st_ctime_ns != before.st_ctime_ns
    finally:
        ws.close()
    assert common.file_version.__doc__ and "change time" in common.file_version.__doc__


# --------------------------------------------------------------------------- long tables


def _long_table_script() -> None:
    import pandas as pd

    from views import common

    n = common.SHOWN_ROWS + 5
    frame = pd.DataFrame(
        {
            "line": range(n),
            "email": [f"user{i}@corp.io" for i in range(n)],
            "note": ["=HYPERLINK(1)"] * n,
        }
    )
    common.table(frame, "long list", "long")


def _downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """What each download button of the next AppTest run is given (bytes or a callable)."""
    from views import common

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "ws"))
    captured: list[Any] = []
    real = common.st.download_button

    def spy(label: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        captured.append(data)
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(common.st, "download_button", spy)
    return captured


def test_a_long_table_shows_its_first_rows_and_downloads_every_row_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from views import common

    captured = _downloads(monkeypatch, tmp_path)
    at = AppTest.from_function(_long_table_script).run()
    assert problems(at) == []
    shown = at.dataframe[0].value
    assert len(shown) == common.SHOWN_ROWS  # 2,000 of 2,005
    assert "user0@corp.io" not in shown["email"].tolist()
    captions = [c.value for c in at.caption]
    total = common.SHOWN_ROWS + 5
    assert f"Showing the first {common.SHOWN_ROWS:,} of {total:,} rows" in " ".join(captions)
    (data,) = captured
    assert callable(data)  # written only when clicked
    text = data().decode("utf-8-sig")
    rows = pd.read_csv(pd.io.common.StringIO(text), dtype=str)
    assert len(rows) == total  # every row, not only those shown
    assert not rows["email"].str.contains("user1@corp.io", regex=False).any()
    assert rows["email"].str.contains("***", regex=False).all()
    # formula-safe, as every export is
    assert rows["note"].iloc[0] == export.safe_cell("=HYPERLINK(1)")


def test_a_short_table_keeps_its_eager_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    captured = _downloads(monkeypatch, tmp_path)

    def script() -> None:
        import pandas as pd

        from views import common

        common.table(pd.DataFrame({"email": ["ann@corp.io"]}), "short", "short")

    at = AppTest.from_function(script).run()
    assert problems(at) == []
    (data,) = captured
    assert isinstance(data, bytes)
    assert b"ann@corp.io" not in data and b"***" in data
    assert not any("Showing the first" in c.value for c in at.caption)


def test_request_keys_do_not_depend_on_values_shared_between_parts() -> None:
    # The same object in two parts (a request and a result computed from it) and two equal
    # copies give one key: each part is pickled on its own.
    day = [2026, 6, 30]
    assert memo.request_key(day, {"as_of": day}) == memo.request_key(
        [2026, 6, 30], {"as_of": [2026, 6, 30]}
    )


def test_the_rows_a_table_shows_are_masked_once_per_content(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from engine.core import privacy
    from views import common

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "ws"))
    common.RESULTS.clear()
    masked: list[int] = []
    real = privacy.mask_frame

    def counting(frame: pd.DataFrame, json_columns: Any = ()) -> Any:
        masked.append(len(frame))
        return real(frame, json_columns)

    monkeypatch.setattr(privacy, "mask_frame", counting)
    at = AppTest.from_function(_long_table_script).run()
    at.run()  # a rerun: same rows shown, masked from the cache
    assert problems(at) == []
    assert masked == [common.SHOWN_ROWS]
    assert "user0@corp.io" not in at.dataframe[0].value["email"].tolist()


def test_an_earlier_snapshot_is_backtested_on_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The backtest and the indicator test run on the snapshot the link names, like every
    # other number of the page (they used to open the dataset's latest file).
    opened: list[str] = []
    real = Workspace.cursor

    def counting(self: Workspace, token: str) -> Any:
        opened.append(token)
        return real(self, token)

    at = app(tmp_path, monkeypatch).run()
    token = at.query_params["dataset"]
    monkeypatch.setattr(Workspace, "cursor", counting)
    for page in ("forecast", "indicators"):
        opened.clear()
        at.query_params["snapshot"] = "2026-11-06"
        at.switch_page(f"views/{page}.py").run()
        assert problems(at) == []
        assert opened and all(t == f"{token}@2026-11-06" for t in opened), opened
