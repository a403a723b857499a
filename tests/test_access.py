"""Links and access: sign-in, what a session may see and unmask, hostile links, retention.

AppTest runs the real app (``streamlit_app.py``) with a temporary workspace; secrets are set
on the AppTest object the way ``.streamlit/secrets.toml`` would set them.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from engine.cli import commands as cli
from engine.load.pipeline import load_files
from engine.load.samples import SAMPLE_NAME, ensure_sample_dataset, find_sample
from engine.store.workspace import RETENTION_ENV, Workspace, new_token
from tests.test_app_helpers import OIDC, app, problems
from views.auth import oidc_provider, password_matches, sign_in_mode

DEALS = (
    b"Deal ID,Owner,Stage,Amount,Created Date,Close Date,Contact Email,Phone\n"
    b"D1,Ann,Closed Won,1000,2026-01-05,2026-02-10,ann.buyer@acme.com,+1 415 555 0100\n"
    b"D2,Bob,Closed Lost,700,2026-01-09,2026-03-01,bob.buyer@acme.com,+1 415 555 0199\n"
    b"D3,Bob,Closed Won,-5,2026-01-09,2026-03-01,carl@acme.com,+1 415 555 0142\n"
)


def _page_text(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.text]
    parts += (
        [e.value for e in at.warning] + [e.value for e in at.error] + [e.value for e in at.info]
    )
    parts += [h.value for h in at.header]
    return "\n".join(str(p) for p in parts)


# --------------------------------------------------------------------------- sign-in


def test_sign_in_mode_from_secrets() -> None:
    assert sign_in_mode({}) == "open"
    assert sign_in_mode({"workbench": {"password": ""}}) == "open"
    assert sign_in_mode({"workbench": {"password": "s3cret"}}) == "password"
    oidc = {"auth": {"redirect_uri": "x", "cookie_secret": "y", "google": {"client_id": "z"}}}
    assert sign_in_mode({**oidc, "workbench": {"password": "s3cret"}}) == "oidc"
    assert oidc_provider(oidc["auth"]) == "google"
    assert oidc_provider({"redirect_uri": "x", "client_id": "a", "client_secret": "b"}) is None
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("s3cre", "s3cret")
    assert not password_matches("", "s3cret")


def test_open_app_needs_no_sign_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    assert problems(at) == []
    assert at.text_input.len == 0
    assert [h.value for h in at.header] == ["Funnel benchmarks"]


def test_shared_password_guards_every_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = new_token()
    at = app(tmp_path, monkeypatch, sample=False)
    at.secrets["workbench"] = {"password": "correct horse"}
    at.query_params = {"dataset": token, "page": "quality"}
    at.run()
    assert at.exception.len == 0
    assert [h.value for h in at.header] == ["RevOps Metrics Workbench"]
    assert at.sidebar.selectbox.len == 0  # no dataset list, no navigation before sign-in
    assert "Data quality" not in _page_text(at)

    at.text_input(key="sign_in_password").input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    assert [h.value for h in at.header] == ["RevOps Metrics Workbench"]

    at.text_input(key="sign_in_password").input("correct horse")
    at.button[0].click().run()
    assert at.exception.len == 0
    assert "RevOps Metrics Workbench" not in [h.value for h in at.header]
    assert any(b.label == "Sign out" for b in at.sidebar.button)
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert [h.value for h in at.header] == ["RevOps Metrics Workbench"]


def test_oidc_configured_shows_only_the_login_button(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch, sample=False)
    at.secrets["auth"] = OIDC
    at.run()
    assert at.exception.len == 0
    assert [b.label for b in at.button] == ["Log in with Google"]
    assert [h.value for h in at.header] == ["RevOps Metrics Workbench"]
    assert at.sidebar.selectbox.len == 0


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    ("params", "notice"),
    [
        ({"dataset": "../../etc/passwd"}, "token is malformed"),
        ({"dataset": "x" * 32 + "/../.."}, "token is malformed"),
        ({"dataset": "<script>alert(1)</script>"}, "token is malformed"),
        ({"page": "../../etc/passwd"}, "Unknown page"),
        ({"period": "'; DROP TABLE x; --"}, "is not a period"),
        ({"grain": "<b>day</b>"}, "is not one of"),
        ({"owner": "'; DROP TABLE opportunities; --"}, "is not in this dataset"),
        ({"segment": "x" * 500}, "too long"),
    ],
)
def test_hostile_link_values_are_ignored_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: dict, notice: str
) -> None:
    at = app(tmp_path, monkeypatch)
    at.query_params = dict(params)
    at.run()
    assert problems(at) == []
    assert any(notice in w.value for w in at.warning), [w.value for w in at.warning]
    for key, value in params.items():
        assert at.query_params.get(key) != value  # dropped from the URL


def test_a_pasted_token_opens_only_that_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    mine, _ = load_files(ws, [("deals.csv", DEALS)], name="mine")
    other, _ = load_files(ws, [("deals.csv", DEALS)], name="someone else's")
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params = {"dataset": mine.token, "page": "quality"}
    at.run()
    assert problems(at) == []
    options = at.sidebar.selectbox(key="w_dataset").options
    assert len(options) == 1 and "mine" in options[0]
    assert other.token not in str(at.query_params) + "".join(options)


def test_an_upload_named_like_the_sample_is_not_shown_to_everyone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    fake, _ = load_files(ws, [("deals.csv", DEALS)], name=SAMPLE_NAME)
    assert find_sample(ws) is None
    real = ensure_sample_dataset(ws)
    assert real != fake.token and find_sample(ws) == real
    ws.close()


# --------------------------------------------------------------------------- unmasking


def _upload_deals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", DEALS, "text/csv")]).run()
    next(b for b in at.button if b.label == "Load").click().run()
    assert problems(at) == []
    return at


def _quarantine_frame(at):
    return next(d.value for d in at.dataframe if "original" in d.value.columns)


def test_personal_data_is_masked_and_only_the_uploader_can_reveal_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload_deals(tmp_path, monkeypatch)
    token = at.query_params["dataset"]
    at.switch_page("views/quality.py").run()
    masked = _quarantine_frame(at).iloc[0]["original"]
    assert "c***@acme.com" in masked and "carl@acme.com" not in masked
    assert "***-***-0142" in masked and "555 0142" not in masked
    toggle = at.toggle(key="_reveal_personal")
    assert not toggle.disabled
    toggle.set_value(True).run()
    assert "carl@acme.com" in _quarantine_frame(at).iloc[0]["original"]
    assert "reveal" not in str(at.query_params).lower()
    assert set(at.query_params) <= {"dataset", "page", "period", "grain"}

    # The same link in another browser session: masked, and the switch cannot unmask.
    other = app(tmp_path, monkeypatch, sample=False)
    other.query_params = {"dataset": token, "page": "quality"}
    other.run()
    assert problems(other) == []
    assert other.toggle(key="_reveal_personal").disabled
    other.session_state["_reveal_personal"] = True  # even when forced on
    other.run()
    original = _quarantine_frame(other).iloc[0]["original"]
    assert "carl@acme.com" not in original and "c***@acme.com" in original


def test_downloads_are_masked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from views import common

    calls: list[bytes] = []
    real = common.st.download_button

    def spy(label, data=None, *args, **kwargs):
        if isinstance(data, bytes):
            calls.append(data)
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(common.st, "download_button", spy)
    at = _upload_deals(tmp_path, monkeypatch)
    at.switch_page("views/quality.py").run()
    exported = b"".join(calls).decode("utf-8-sig")
    assert "c***@acme.com" in exported
    assert "carl@acme.com" not in exported and "555 0142" not in exported


# --------------------------------------------------------------------------- retention


def _age(ws: Workspace, token: str, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(ws.path(token), (then, then))


def test_retention_applies_when_the_app_opens_its_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    old, _ = load_files(ws, [("deals.csv", DEALS)], name="old")
    new, _ = load_files(ws, [("deals.csv", DEALS)], name="new")
    _age(ws, old.token, 40)
    ws.close()
    monkeypatch.setenv(RETENTION_ENV, "30")
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params = {"dataset": old.token}
    at.run()
    assert any("Dataset not found" in e.value for e in at.error)
    assert not ws.path(old.token).exists()
    assert ws.path(new.token).exists()


def test_purge_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path)
    sample = ensure_sample_dataset(ws)
    old, _ = load_files(ws, [("deals.csv", DEALS)], name="old")
    new, _ = load_files(ws, [("deals.csv", DEALS)], name="new")
    for token in (sample, old.token):
        _age(ws, token, 40)
    ws.close()

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["--workspace", str(tmp_path), "purge", *args], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    monkeypatch.delenv(RETENTION_ENV, raising=False)
    code, out, _ = run()
    assert code == 0 and "nothing was deleted" in out
    assert sorted(Workspace(tmp_path).tokens()) == sorted([sample, old.token, new.token])

    monkeypatch.setenv(RETENTION_ENV, "not a number")
    code, _, err = run()
    assert code == cli.EXIT_UNUSABLE and "not a number of days" in err

    monkeypatch.setenv(RETENTION_ENV, "30")
    code, out, _ = run()
    assert code == 0 and f"Deleted dataset {old.token}." in out and "Purged 1" in out
    # The bundled sample is kept by the retention period; the data files of old are gone.
    assert sorted(Workspace(tmp_path).tokens()) == sorted([sample, new.token])
    assert not list((tmp_path / "datasets").glob(f"{old.token}*"))

    _age(Workspace(tmp_path), new.token, 1)
    code, out, _ = run("--days", "0.5")
    assert code == 0 and "Purged 2" in out  # an explicit --days purges everything that old
    assert Workspace(tmp_path).tokens() == []


def test_deleting_removes_the_data_from_disk_and_from_a_running_reader(tmp_path: Path) -> None:
    reader = Workspace(tmp_path)
    info, _ = load_files(reader, [("deals.csv", DEALS)], name="gone soon")
    with reader.cursor(info.token) as cur:
        assert cur.execute("SELECT count(*) FROM opportunities").fetchone() == (2,)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--workspace", str(tmp_path), "delete", info.token], out=out, err=err) == 0
    assert not list((tmp_path / "datasets").glob(f"{info.token}*"))
    # The server process still had the file open; it must not keep serving the rows.
    with pytest.raises(Exception, match="does not exist"):
        with reader.cursor(info.token) as cur:
            cur.execute("SELECT count(*) FROM opportunities").fetchone()
    for path in (tmp_path / "datasets").iterdir():
        assert b"ann.buyer@acme.com" not in path.read_bytes()


def test_the_uploader_can_delete_a_dataset_from_disk_and_nobody_else_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload_deals(tmp_path, monkeypatch)
    token = at.query_params["dataset"]
    ws = Workspace(tmp_path / "ws")
    assert ws.path(token).exists()

    other = app(tmp_path, monkeypatch, sample=False)
    other.query_params = {"dataset": token}
    other.run()
    assert not [b for b in other.sidebar.button if b.label == "Delete dataset"]

    delete = next(b for b in at.sidebar.button if b.label == "Delete dataset")
    assert delete.disabled  # needs the confirmation first
    at.sidebar.checkbox(key="w_confirm_delete").check().run()
    next(b for b in at.sidebar.button if b.label == "Delete dataset").click().run()
    assert problems(at) == []
    assert not list((tmp_path / "ws" / "datasets").glob(f"{token}*"))
    assert "dataset" not in at.query_params
    other.run()
    assert any("Dataset not found" in e.value for e in other.error)
    ws.close()


def test_an_email_owner_never_appears_in_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deals = (
        b"Deal ID,Owner,Stage,Amount,Created Date,Close Date\n"
        b"D1,ann@acme.com,Closed Won,1000,2026-01-05,2026-02-10\n"
        b"D2,bob@acme.com,Closed Lost,700,2026-01-09,2026-03-01\n"
    )
    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, [("deals.csv", deals)], name="emails")
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params = {"dataset": info.token, "page": "quality"}
    at.run()
    owner = at.sidebar.multiselect(key="w_owner")
    assert sorted(owner.options) == ["a***@acme.com", "b***@acme.com"]  # masked labels
    owner.set_value(["ann@acme.com"]).run()
    assert problems(at) == []
    link = str(at.query_params)
    assert "ann@acme.com" not in link and "acme" not in link
    alias = at.query_params["owner"]
    alias = alias[0] if isinstance(alias, list) else alias
    assert alias.startswith("~") and len(alias) == 21

    # The link reopens the same filter in another session, still without the address.
    other = app(tmp_path, monkeypatch, sample=False)
    other.query_params = {"dataset": info.token, "page": "quality", "owner": alias}
    other.run()
    assert problems(other) == [] and other.warning.len == 0
    assert other.sidebar.multiselect(key="w_owner").value == ["ann@acme.com"]
    assert "acme" not in str(other.query_params)
    # An alias made with another dataset's key does not resolve.
    from engine.core.privacy import link_alias

    forged = link_alias("ann@acme.com", new_token())
    other.query_params = {"dataset": info.token, "owner": forged}
    other.run()
    assert any("not in this dataset" in w.value for w in other.warning)
