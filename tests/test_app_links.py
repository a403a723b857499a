"""Query parameters carry the view: they round-trip, bad ones are dropped with a notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store.workspace import new_token
from tests.test_app_helpers import app, problems


def test_query_params_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = app(tmp_path, monkeypatch).run()
    token = first.query_params["dataset"]
    link = {
        "dataset": token,
        "page": "quality",
        "period": "2025-Q4",
        "grain": "quarter",
        "segment": ["SMB", "Enterprise"],
    }
    at = app(tmp_path, monkeypatch)
    at.query_params = dict(link)
    at.run()
    assert problems(at) == []
    assert at.warning.len == 0
    assert at.query_params == link
    assert [h.value for h in at.header] == ["Data quality"]
    assert at.sidebar.selectbox(key="w_period").value == "2025-Q4"
    assert at.sidebar.selectbox(key="w_grain").value == "quarter"
    assert at.sidebar.multiselect(key="w_segment").value == ["SMB", "Enterprise"]
    # A widget change goes back into the URL.
    at.sidebar.selectbox(key="w_grain").set_value("week").run()
    assert at.query_params["grain"] == "week"


def test_bad_params_are_ignored_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch)
    at.query_params = {
        "dataset": "not-a-token",
        "page": "nowhere",
        "period": "someday",
        "grain": "fortnight",
        "owner": "Nobody Atall",
    }
    at.run()
    assert problems(at) == []
    notes = " ".join(w.value for w in at.warning)
    for word in ("token is malformed", "nowhere", "someday", "fortnight", "Nobody Atall"):
        assert word in notes
    assert at.query_params["page"] == "funnel"
    assert at.query_params["grain"] == "month"
    assert at.query_params["period"] == "all"
    assert "owner" not in at.query_params


def test_unknown_dataset_shows_a_message_and_a_way_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch)
    at.query_params = {"dataset": new_token(), "page": "quality"}
    at.run()
    assert at.exception.len == 0
    assert any("Dataset not found" in e.value for e in at.error)
    assert any(b.label == "Open the sample data" for b in at.button)
    next(b for b in at.button if b.label == "Open the sample data").click().run()
    assert problems(at) == []
    assert [h.value for h in at.header] == ["Data quality"]


def test_sidebar_lists_only_this_sessions_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.load.pipeline import load_files
    from engine.store.workspace import Workspace

    other = app(tmp_path, monkeypatch).run()
    sample = other.query_params["dataset"]
    ws = Workspace(tmp_path / "ws")
    hidden, _ = load_files(
        ws,
        [
            (
                "deals.csv",
                b"Deal ID,Owner,Stage,Amount,Created Date,Close Date\nX,A,Closed Won,1,2026-01-01,2026-01-02\n",
            )
        ],
    )
    at = app(tmp_path, monkeypatch).run()
    options = at.sidebar.selectbox(key="w_dataset").options
    assert len(options) == 1 and hidden.token not in str(options)
    assert at.query_params["dataset"] == sample
