"""Regression tests for the broken promises of SECURITY.md found by review, one per finding
(the number in each test's name): personal data in free text, links and charts; crafted links
that crashed a page; a file name's markdown in a button; the cost of bogus link aliases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.core import export, privacy
from engine.core.errors import WorkbenchError
from engine.load.pipeline import load_files
from engine.semantic.request import parse_period
from engine.store.workspace import Workspace
from tests.test_app_helpers import app, problems
from views import links

EMAIL = "alice.smith@corp.com"
OTHER = "bob.jones@corp.com"


def _deals() -> list[tuple[str, bytes]]:
    rows = ["Opportunity ID,Opportunity Name,Owner,Stage,Amount,Created Date,Close Date"]
    stages = ["Closed Won", "Closed Lost", "Prospecting", "Closed Won"]
    for i in range(40):
        owner = EMAIL if i % 2 else OTHER
        stage = stages[i % 4]
        rows.append(f"o{i},Deal {i},{owner},{stage},{1000 + i},2026-01-{1 + i % 28:02d},2026-04-15")
    acts = ["Activity ID,Owner,Type,Date,Opportunity ID"]
    for i in range(40):
        acts.append(f"a{i},{EMAIL if i % 2 else OTHER},Call,2026-02-{1 + i % 28:02d},o{i}")
    return [
        ("opportunities.csv", "\n".join(rows).encode()),
        ("activities.csv", "\n".join(acts).encode()),
    ]


def _open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, **params: str) -> AppTest:
    """``page`` opened from a link made for it, carrying ``params``."""
    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, _deals(), name="emails", as_of=dt.date(2026, 6, 1))
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params.update({"dataset": info.token, "page": page, **params})
    at.switch_page(f"views/{page}.py").run()
    assert problems(at) == []
    return at


def _coaching_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rep: str) -> AppTest:
    """The coaching page opened from a link naming ``rep`` (as a raw value: older links)."""
    return _open(tmp_path, monkeypatch, "coaching", rep=rep)


def test_2_an_email_inside_free_text_of_a_quarantined_row_is_masked() -> None:
    original = json.dumps({"Notes": "mail kim@corp.io now", "Amount": "x"})
    masked = json.loads(privacy.mask_json_text(original))
    assert masked == {"Notes": "mail k***@corp.io now", "Amount": "x"}


def test_3_a_rep_in_a_link_travels_as_an_alias_and_comes_back() -> None:
    state = links.ViewState(dataset="d" * 32, page="coaching", extras={"rep": EMAIL})
    params = state.params()
    assert EMAIL not in json.dumps(params)
    assert str(params["rep"]).startswith(privacy.ALIAS_PREFIX)
    back, warnings = links.parse_params(params)
    assert warnings == []
    assert links.person(back, "rep", [OTHER, EMAIL]) == EMAIL
    assert links.person(back, "rep", [OTHER]) is None  # not a rep of this dataset


def test_3_the_coaching_page_never_shows_or_links_a_raw_rep_email(tmp_path, monkeypatch):
    at = _coaching_for(tmp_path, monkeypatch, EMAIL)
    picked = [s for s in at.selectbox if s.label == "Rep"]
    assert picked and picked[0].value == EMAIL  # the link's rep is chosen...
    assert EMAIL not in [picked[0].format_func(o) for o in picked[0].options]  # ...shown masked
    texts = (
        [m.value for m in at.markdown] + [c.value for c in at.code] + [c.value for c in at.caption]
    )
    assert not [t for t in texts if EMAIL in t or OTHER in t]


def test_4_charts_carry_no_raw_email_in_data_labels_or_tooltips(tmp_path, monkeypatch):
    at = _coaching_for(tmp_path, monkeypatch, EMAIL)
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert specs, "the coaching page draws charts"
    datasets = [bytes(d.data.data) for c in at.get("vega_lite_chart") for d in c.proto.datasets]
    for blob in [s.encode() for s in specs] + datasets:
        assert EMAIL.encode() not in blob and OTHER.encode() not in blob
    assert any(b"a***@corp.com" in blob for blob in [s.encode() for s in specs] + datasets)


def test_4_the_chart_spec_masker_covers_data_and_text() -> None:
    spec = {
        "title": f"{EMAIL} against peers",
        "datasets": {"d1": [{"owner": EMAIL, "phone": "+1 (555) 123-4567", "n": 3}]},
        "encoding": {"tooltip": [{"field": "owner"}]},
    }
    got = privacy.mask_structure(spec)
    assert got["title"] == "a***@corp.com against peers"
    assert got["datasets"]["d1"] == [{"owner": "a***@corp.com", "phone": "***-***-4567", "n": 3}]
    assert got["encoding"] == spec["encoding"]


@pytest.mark.parametrize("label", ["9998", "0001-01-01..9999-12-31", "1899-Q4", "last-99999-days"])
def test_6_a_period_outside_the_supported_years_is_refused(label: str) -> None:
    with pytest.raises(WorkbenchError, match="Period"):
        parse_period(label, dt.date(2026, 12, 6))


@pytest.mark.parametrize(
    "page,params",
    [
        ("coverage", {"period": "9998"}),
        ("coaching", {"period": "0001-01-01..9999-12-31"}),
        ("coaching", {"w_discovery": "²"}),
        ("velocity", {"days": "²"}),
    ],
)
def test_6_a_crafted_link_does_not_crash_the_page(tmp_path, monkeypatch, page, params):
    _open(tmp_path, monkeypatch, page, **params)  # asserts no exception or error


def test_6_whole_numbers_from_links_are_ascii_digits_within_bounds() -> None:
    assert links.whole_number("35", 100) == 35
    assert links.whole_number("²", 100) is None
    assert links.whole_number("101", 100) is None
    assert links.whole_number("9" * 400, 100) is None


def test_8_a_file_name_is_never_markdown_in_a_label_or_a_path() -> None:
    from views.common import escape

    name = "[click](http://evil.example) ![x](http://evil.example/i.png)"
    assert "](" not in escape(name).replace("\\]\\(", "")
    assert export.safe_file_name(name) == "click_http_evil.example_x_http_evil.example_i.png"
    assert export.safe_file_name("../../etc/passwd") == "etc_passwd"
    assert export.safe_file_name("***") == "download"


def test_bogus_link_aliases_are_resolved_in_one_pass(monkeypatch) -> None:
    calls = []
    real = privacy.link_alias

    def counted(value: str, key: str) -> str:
        calls.append(value)
        return real(value, key)

    monkeypatch.setattr(privacy, "link_alias", counted)
    known = [f"rep{i}@corp.com" for i in range(1000)]
    bogus = [f"~{i:020x}" for i in range(1000)]
    out = privacy.resolve_aliases(bogus, "k", known)
    assert out == bogus  # unknown aliases stay as they are (and the caller drops them)
    assert len(calls) == len(known)  # each known value digested once, not once per alias


def test_a_link_names_at_most_a_hundred_values_per_filter() -> None:
    state, warnings = links.parse_params({"owner": [f"~{i:020x}" for i in range(1000)]})
    assert len(state.filters["owner"]) == links.MAX_FILTER_VALUES
    assert warnings and "first 100 kept" in warnings[0]


def _one_file() -> list[tuple[str, bytes]]:
    return [_deals()[0]]


def test_7_a_workspace_folder_deleted_while_running_is_made_again(tmp_path: Path) -> None:
    import shutil

    ws = Workspace(tmp_path / "ws")
    shutil.rmtree(tmp_path / "ws")
    info, _ = load_files(ws, _one_file(), name="again", as_of=dt.date(2026, 6, 1))
    assert [i.token for i in ws.list()] == [info.token]
    ws.close()


def test_7_an_unwritable_workspace_gives_a_clear_error_and_keeps_nothing_half(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.dir.rmdir()
    ws.dir.write_text("not a folder")  # what a read-only or broken mount looks like here
    with pytest.raises(WorkbenchError, match="cannot be written") as err:
        load_files(ws, _one_file(), name="nowhere", as_of=dt.date(2026, 6, 1))
    assert err.value.title == "Load failed"
    ws.close()


def test_read_connections_have_a_memory_limit(tmp_path: Path) -> None:
    from engine.store.workspace import READ_MEMORY_LIMIT

    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, _one_file(), name="limits", as_of=dt.date(2026, 6, 1))
    with ws.cursor(info.token) as cur:
        (limit,) = cur.execute("SELECT current_setting('memory_limit')").fetchone()
    ws.close()
    # DuckDB reports the limit in its own units (512MB -> 488.2 MiB)
    assert READ_MEMORY_LIMIT == "512MB" and limit.startswith("488")


def test_one_upload_reads_at_most_twenty_files(tmp_path: Path, monkeypatch) -> None:
    from engine.load.ingest import Limits

    MAX_FILES = Limits().max_files  # noqa: N806

    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    deals = _one_file()[0][1]
    files = [(f"deals{i}.csv", deals, "text/csv") for i in range(MAX_FILES + 5)]
    at.file_uploader[0].set_value(files).run()
    assert any("25 files were dropped" in e.value for e in at.error)
    assert len([t for t in at.toggle if t.label == "Include this file in the dataset"]) == MAX_FILES


def test_the_command_line_masks_every_email_it_prints_unless_asked(tmp_path: Path) -> None:
    import io

    from engine.cli.commands import main

    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, _deals(), name="emails", as_of=dt.date(2026, 6, 1))
    ws.close()
    base = ["--workspace", str(tmp_path / "ws")]
    for extra in ([], ["--json"]):
        out = io.StringIO()
        assert main([*base, "report", info.token, "--by", "owner", *extra], out=out) == 0
        assert EMAIL not in out.getvalue() and "a***@corp.com" in out.getvalue()
    out = io.StringIO()
    assert main([*base, "--reveal-personal", "report", info.token, "--by", "owner"], out=out) == 0
    assert EMAIL in out.getvalue()
