"""Uploads through st.file_uploader: files are recognised, mapped, editable and loaded."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from engine.store.workspace import Workspace
from tests.test_app_helpers import app, problems

# Two amount-like columns: "Amount" is recognised; the test then maps "Expected Revenue".
DEALS = b"""Deal ID,Sales Rep,Deal Stage,Amount,Expected Revenue,Created Date,Close Date
D1,Ann,Closed Won,1000,1500,2026-01-05,2026-02-10
D2,Bob,Closed Won,3000,3500,2026-01-07,2026-02-20
D3,Bob,Closed Lost,700,900,2026-01-09,2026-03-01
"""


def _upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: str | None = None):
    at = app(tmp_path, monkeypatch, sample=False)
    if browser is not None:
        at.session_state["_browser_id"] = browser  # what the browser's cookie would say
    at.run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", DEALS, "text/csv")]).run()
    assert problems(at) == []
    return at


def _load(at) -> str:
    next(b for b in at.button if b.label == "Load").click().run()
    assert problems(at) == []
    return at.query_params["dataset"]


def _amounts(tmp_path: Path, token: str) -> list[float]:
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(token) as cur:
        rows = cur.execute("SELECT amount FROM opportunities ORDER BY opportunity_id").fetchall()
    ws.close()
    return [r[0] for r in rows]


def test_upload_maps_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _upload(tmp_path, monkeypatch)
    assert at.selectbox(key="table::deals.csv").value == "opportunities"
    assert at.selectbox(key="map::deals.csv::amount").value == "Amount"
    assert at.selectbox(key="map::deals.csv::owner").value == "Sales Rep"
    assert "Unmapped columns: Expected Revenue" in [t.value for t in at.text]
    assert any("Upload limit: 200 MB" in i.value for i in at.info)
    token = _load(at)
    assert _amounts(tmp_path, token) == [1000.0, 3000.0, 700.0]
    report = next(d.value for d in at.dataframe if "rows_loaded" in d.value.columns)
    row = report.iloc[0]
    assert (row["file"], row["rows_in"], row["rows_loaded"], row["rows_quarantined"]) == (
        "deals.csv",
        3,
        3,
        0,
    )
    assert [s.value for s in at.sidebar.selectbox if s.label == "Dataset"] == [token]


def test_editing_a_mapping_changes_what_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload(tmp_path, monkeypatch, browser="A" * 43)
    at.selectbox(key="map::deals.csv::amount").set_value("Expected Revenue").run()
    assert problems(at) == []
    assert "Unmapped columns: Amount" in [t.value for t in at.text]
    token = _load(at)
    assert _amounts(tmp_path, token) == [1500.0, 3500.0, 900.0]
    # The confirmed mapping is remembered for this person's next upload with the same
    # headers (a new session of the same browser)...
    again = _upload(tmp_path, monkeypatch, browser="A" * 43)
    assert again.selectbox(key="map::deals.csv::amount").value == "Expected Revenue"
    # ...and is not another person's default.
    other = _upload(tmp_path, monkeypatch, browser="B" * 43)
    assert other.selectbox(key="map::deals.csv::amount").value == "Amount"


def test_unmapping_a_required_column_blocks_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload(tmp_path, monkeypatch)
    at.selectbox(key="map::deals.csv::owner").set_value("(not mapped)").run()
    assert any("Required column 'owner' is not mapped" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Load").disabled


def test_sample_button_opens_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    next(b for b in at.button if b.label == "Try the sample data").click().run()
    assert problems(at) == []
    assert at.query_params["page"] == "funnel"
    assert Workspace(tmp_path / "ws").exists(at.query_params["dataset"])


# Accounts are a CRM table now (docs/data.md); a contact file still is not.
CONTACTS = b"""Id,AccountId,FirstName,LastName,Phone,Email
003A,001A,Rose,Gonzalez,(512) 757-6000,rose@edge.com
003B,001A,Sean,Forbes,(512) 757-9000,sean@edge.com
"""


def test_a_file_that_is_no_crm_table_starts_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping a whole export folder: the contact file is left out, the rest loads."""
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    files = [("deals.csv", DEALS, "text/csv"), ("Contact.csv", CONTACTS, "text/csv")]
    at.file_uploader[0].set_value(files).run()
    assert problems(at) == []
    assert at.toggle(key="include::deals.csv").value is True
    assert at.toggle(key="include::Contact.csv").value is False
    # captions are markdown, so the file name is escaped
    assert any(c.value.startswith("Left out: Contact") for c in at.caption)
    token = _load(at)
    assert _amounts(tmp_path, token) == [1000.0, 3000.0, 700.0]
    ws = Workspace(tmp_path / "ws")
    assert ws.info(token).files == ["deals.csv"]
    ws.close()
    # Turned back on, the unrecognised file blocks the load until it is mapped.
    at.toggle(key="include::Contact.csv").set_value(True).run()
    assert next(b for b in at.button if b.label == "Load").disabled


# ------------------------------------------------------------------ zero rows and the report

# Checked by hand (loaded today, long after these 2020 dates):
# D1 closed won, clean; D3 closed lost, clean.
# D2 open, no owner, no amount, closes 2020-02-20 (past): missing_owner + missing_amount +
#    slipped = 3 warnings on one row.
# D4 has a negative amount: quarantined.
# D5 open, closes 2020-02-01 (past): slipped = 1 warning.
# Rows in 5 = loaded 4 + quarantined 1; rows flagged 2 (D2, D5) by 3 + 1 = 4 warnings.
WARNED = b"""Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date
D1,Ann,Closed Won,1000,2020-01-05,2020-02-10
D2,,Prospecting,,2020-01-07,2020-02-20
D3,Bob,Closed Lost,700,2020-01-09,2020-03-01
D4,Bob,Closed Lost,-500,2020-01-12,2020-03-01
D5,Ann,Prospecting,300,2020-01-10,2020-02-01
"""
EVENTS = b"Id,WhoId,WhatId,Subject,ActivityDate,OwnerId\n"  # an export without rows


def _plain(markdown: str) -> str:
    """Markdown as read: the escapes that keep user text literal removed."""
    return html.unescape(markdown.replace("\\", ""))


def _markdown(at) -> list[str]:
    return [_plain(m.value) for m in at.markdown]


def _load_button(at):
    return next(b for b in at.button if b.label == "Load")


def test_a_header_only_file_is_marked_and_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    files = [("deals.csv", WARNED, "text/csv"), ("Event.csv", EVENTS, "text/csv")]
    at.file_uploader[0].set_value(files).run()
    assert at.exception.len == 0 and at.error.len == 0
    (warning,) = [w.value for w in at.warning if "No data rows" in w.value]
    assert "Event" in warning and "left out of the load" in warning
    assert any(_plain(c.value) == "Left out: Event.csv (no data rows)" for c in at.caption)
    assert at.toggle.len == 1  # only deals.csv can be switched on or off
    token = _load(at)
    ws = Workspace(tmp_path / "ws")
    assert ws.info(token).files == ["deals.csv"]
    ws.close()
    assert "- Event.csv: no data rows, left out" in _markdown(at)


def test_only_header_only_files_offer_no_load_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("Event.csv", EVENTS, "text/csv")]).run()
    assert at.exception.len == 0
    assert any("None of these files has data rows" in w.value for w in at.warning)
    assert [b for b in at.button if b.label == "Load"] == []
    assert list((tmp_path / "ws" / "datasets").glob("*")) == []


def test_the_load_report_is_stated_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch, sample=False)
    at.context = {"url": "http://localhost:8501/upload"}  # the browser is on the Upload page
    at.run().switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", WARNED, "text/csv")]).run()
    token = _load(at)
    (success,) = [_plain(s.value) for s in at.success]
    assert success == "Loaded dataset deals.csv: 1 file, 5 rows in = 4 loaded + 1 quarantined."
    assert (
        "- deals.csv -> opportunities: 5 rows in = 4 loaded + 1 quarantined  \n"
        "  2 rows flagged by 4 warnings (a row can break several rules)"
    ) in _markdown(at)
    report = next(d.value for d in at.dataframe if "rows_flagged" in d.value.columns)
    row = report.iloc[0]
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"]) == (5, 4, 1)
    assert (row["rows_flagged"], row["warnings_fired"]) == (2, 4)
    # Independent count: the loaded rows marked _flagged.
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(token) as cur:
        flagged = cur.execute("SELECT count(*) FROM opportunities WHERE _flagged").fetchone()
    ws.close()
    assert flagged == (2,)
    # The link that shares it, in a code box (copy button) with the dataset's token.
    assert any("To share this dataset, send this link" in m for m in _markdown(at))
    (link,) = [c.value for c in at.main.code if f"dataset={token}" in c.value]
    assert link.startswith(f"http://localhost:8501/funnel?dataset={token}&page=funnel")


def test_the_load_button_is_disabled_once_loaded_until_something_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload(tmp_path, monkeypatch)
    assert not _load_button(at).disabled
    first = _load(at)
    assert _load_button(at).disabled
    assert any("These files are loaded" in c.value for c in at.caption)
    at.run()  # a rerun alone changes nothing
    assert _load_button(at).disabled
    at.selectbox(key="map::deals.csv::amount").set_value("Expected Revenue").run()
    assert not _load_button(at).disabled
    assert _load(at) != first
    assert _load_button(at).disabled


def test_blank_cells_show_blank_in_the_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", WARNED, "text/csv")]).run()
    preview = next(d.value for d in at.dataframe if "Opportunity Owner" in d.value.columns)
    d2 = preview[preview["Opportunity ID"] == "D2"].iloc[0]
    assert d2["Opportunity Owner"] == "" and d2["Amount"] == ""
    assert "None" not in preview.astype(str).to_numpy().ravel().tolist()


GUESSED = b"""Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date
G1,Ann,Gamma,100,2020-01-05,2030-02-10
G2,Ann,Closed Won,200,2020-01-05,2020-02-10
"""


def _unknown_stage_rows(tmp_path: Path, token: str) -> int:
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(token) as cur:
        row = cur.execute("SELECT count(*) FROM _warnings WHERE rule = 'unknown_stage'").fetchone()
    ws.close()
    return int(row[0]) if row else -1


def test_guessed_stages_can_be_confirmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'Gamma' matches no stage word: a guess (opportunity) until confirmed. Unconfirmed,
    its deal loads flagged unknown_stage; confirmed, it loads as mapped."""
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("deals.csv", GUESSED, "text/csv")]).run()
    editor = at.data_editor[0].value
    assert editor.set_index("stage").loc["Gamma", "guessed"]
    assert any(m.startswith("**1 of 2 stages are guesses**") for m in _markdown(at))
    unconfirmed = _load(at)
    assert _unknown_stage_rows(tmp_path, unconfirmed) == 1  # G1
    next(b for b in at.button if b.label == "Confirm all guesses").click().run()
    assert at.exception.len == 0
    assert not at.data_editor[0].value["guessed"].any()
    assert any(c.value == "Every stage mapping is confirmed." for c in at.caption)
    assert not _load_button(at).disabled  # the stage map changed
    confirmed = _load(at)
    assert _unknown_stage_rows(tmp_path, confirmed) == 0


HUBSPOT = (
    b"Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal owner,"
    b'"Date entered ""Appointment Scheduled (Sales Pipeline)""",'
    b'"Date entered ""Closed Won (Sales Pipeline)"""\n'
    b"11,A,closedwon,1000,2026-02-01,2026-01-01,Ann,2026-01-01 09:00,2026-02-01 09:00\n"
    b"12,B,appointmentscheduled,500,2026-09-01,2026-01-02,Ann,2026-01-02 09:00,\n"
)


def test_a_hubspot_file_counts_as_one_file_with_two_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file; its deals (2 rows) and its stage-date columns (3 dates: deal 11 has two,
    deal 12 one) are reported apart: rows in 2 + 3 = 5."""
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([("hubspot-deals.csv", HUBSPOT, "text/csv")]).run()
    _load(at)
    (success,) = [_plain(s.value) for s in at.success]
    assert success.endswith(": 1 file, 5 rows in = 5 loaded + 0 quarantined.")
    lines = [m.split("  \n")[0] for m in _markdown(at) if m.startswith("- hubspot")]
    assert lines == [
        "- hubspot-deals.csv -> opportunities: 2 rows in = 2 loaded + 0 quarantined",
        "- hubspot-deals.csv (stage dates) -> stage_history: 3 rows in = 3 loaded + 0 quarantined",
    ]
