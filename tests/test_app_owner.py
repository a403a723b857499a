"""Finding one's datasets again: listed to whoever loaded them, in a new tab or the next day,
never to anybody else (SECURITY.md, docs/loading.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.workspace import Workspace
from tests.test_app_helpers import OIDC, app, problems
from views.auth import LIST_ENV

DEALS = b"""Deal ID,Sales Rep,Deal Stage,Amount,Created Date,Close Date
D1,Ann,Closed Won,1000,2026-01-05,2026-02-10
D2,Bob,Closed Lost,700,2026-01-09,2026-03-01
"""
# Browser ids as the cookie carries them (43 url-safe characters).
ANN_BROWSER, BOB_BROWSER = "A" * 43, "B" * 43


def _session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    browser: str | None = None,
    email: str | None = None,
) -> AppTest:
    """A new browser session (a new tab, or the next day) with a given browser cookie or
    signed-in account."""
    at = app(tmp_path, monkeypatch, sample=False)
    if browser is not None:
        at.session_state["_browser_id"] = browser  # what the cookie would have said
    if email is not None:
        at.secrets["auth"] = OIDC
        at.user = {"is_logged_in": True, "email": email}
    return at


def _load_deals(at: AppTest) -> str:
    at.run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", DEALS, "text/csv")]).run()
    next(b for b in at.button if b.label == "Load").click().run()
    assert problems(at) == []
    return at.query_params["dataset"]


def _dataset_labels(at: AppTest) -> list[str]:
    boxes = [s for s in at.sidebar.selectbox if s.label == "Dataset"]
    return list(boxes[0].options) if boxes else []


def test_the_same_browser_finds_its_dataset_in_a_new_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _load_deals(_session(tmp_path, monkeypatch, browser=ANN_BROWSER))
    again = _session(tmp_path, monkeypatch, browser=ANN_BROWSER).run()
    assert problems(again) == []
    assert [lbl.split(" (")[0] for lbl in _dataset_labels(again)] == ["deals.csv"]
    # With no link, the new tab opens the newest dataset of its owner.
    assert again.query_params["dataset"] == token
    assert again.sidebar.selectbox(key="w_dataset").value == token
    # ...and may delete it, as the tab that uploaded it could.
    assert any(e.label == "Delete this dataset" for e in again.sidebar.expander)


def test_another_browser_does_not_see_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _load_deals(_session(tmp_path, monkeypatch, browser=ANN_BROWSER))
    other = _session(tmp_path, monkeypatch, browser=BOB_BROWSER).run()
    assert problems(other) == []
    assert _dataset_labels(other) == []
    assert "dataset" not in other.query_params
    assert any("No dataset yet" in c.value for c in other.sidebar.caption)
    # A session without any cookie (a fresh browser) gets a new id: it sees nothing either.
    fresh = _session(tmp_path, monkeypatch).run()
    assert _dataset_labels(fresh) == []
    # The link still opens it for anybody who has it (that is how it is shared)...
    other.query_params = {"dataset": token}
    other.run()
    assert other.sidebar.selectbox(key="w_dataset").value == token
    # ...but opening a link does not make the dataset theirs to delete.
    assert not any(e.label == "Delete this dataset" for e in other.sidebar.expander)


def test_a_signed_in_account_finds_its_dataset_from_any_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _load_deals(
        _session(tmp_path, monkeypatch, browser=ANN_BROWSER, email="Ann@Example.com")
    )
    elsewhere = _session(tmp_path, monkeypatch, browser=BOB_BROWSER, email="ann@example.com")
    elsewhere.run()
    assert problems(elsewhere) == []
    assert elsewhere.sidebar.selectbox(key="w_dataset").value == token
    # Who is signed in, and the way out, at the foot of the sidebar.
    assert "ann@example.com" in [t.value for t in elsewhere.sidebar.text]
    assert [b.label for b in elsewhere.sidebar.button][-1] == "Log out"
    bob = _session(tmp_path, monkeypatch, browser=ANN_BROWSER, email="bob@example.com").run()
    assert _dataset_labels(bob) == []  # same browser, another account: not listed
    # The stored owner key is a keyed hash, not the email.
    ws = Workspace(tmp_path / "ws")
    owner = ws.info(token).owner
    assert owner == ws.owner_key("user:ann@example.com") and "ann" not in owner
    ws.close()


def test_list_everything_is_for_an_open_laptop_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_deals(_session(tmp_path, monkeypatch, browser=ANN_BROWSER))
    monkeypatch.setenv(LIST_ENV, "all")
    laptop = _session(tmp_path, monkeypatch, browser=BOB_BROWSER).run()
    assert [lbl.split(" (")[0] for lbl in _dataset_labels(laptop)] == ["deals.csv"]
    assert not any(e.label == "Delete this dataset" for e in laptop.sidebar.expander)
    # With sign-in configured the server is shared: the setting is ignored.
    server = _session(tmp_path, monkeypatch, browser=BOB_BROWSER, email="bob@example.com").run()
    assert _dataset_labels(server) == []
