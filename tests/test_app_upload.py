"""Uploads through st.file_uploader: files are recognised, mapped, editable and loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import Workspace
from tests.test_app_helpers import app, problems

# Two amount-like columns: "Amount" is recognised; the test then maps "Expected Revenue".
DEALS = b"""Deal ID,Sales Rep,Deal Stage,Amount,Expected Revenue,Created Date,Close Date
D1,Ann,Closed Won,1000,1500,2026-01-05,2026-02-10
D2,Bob,Closed Won,3000,3500,2026-01-07,2026-02-20
D3,Bob,Closed Lost,700,900,2026-01-09,2026-03-01
"""


def _upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    at = app(tmp_path, monkeypatch, sample=False).run()
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
    at = _upload(tmp_path, monkeypatch)
    at.selectbox(key="map::deals.csv::amount").set_value("Expected Revenue").run()
    assert problems(at) == []
    assert "Unmapped columns: Amount" in [t.value for t in at.text]
    token = _load(at)
    assert _amounts(tmp_path, token) == [1500.0, 3500.0, 900.0]
    # The confirmed mapping is remembered for the next upload with the same headers.
    again = app(tmp_path, monkeypatch, sample=False).run()
    again.switch_page("views/upload.py").run()
    again.file_uploader[0].set_value([("deals.csv", DEALS, "text/csv")]).run()
    assert again.selectbox(key="map::deals.csv::amount").value == "Expected Revenue"


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
