"""Injection and the bad-input corpus through the real app.

Owner, stage, account and segment values that look like SQL, HTML, markdown links or
spreadsheet formulas are stored exactly, shown as plain text on every page (never inside a
markdown element unescaped), never change a query, and are neutralised in CSV downloads.
Every file of ``tests/bad_inputs`` dropped on the Upload page ends in a message that says
what is wrong and what to do, or in a file section ready to map, never in a traceback.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from engine.core.export import to_csv_bytes
from engine.load.pipeline import load_files
from engine.store.workspace import Workspace
from tests.test_app_helpers import PAGES, app, problems

SQL = "'; DROP TABLE opportunities; --"
HTML = "<script>alert(1)</script>"
LINK = "[link](javascript:alert(1))"
FORMULA = '=HYPERLINK("http://x")'
HOSTILE = (SQL, HTML, LINK, FORMULA)


def _deals() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Deal ID", "Owner", "Stage", "Amount", "Created Date", "Close Date", "Account"])
    w.writerow(["D1", SQL, "Closed Won", 1000, "2026-01-05", "2026-02-10", FORMULA])
    w.writerow(["D2", HTML, HTML, 700, "2026-01-09", "2026-03-01", LINK])
    w.writerow(["D3", LINK, "Closed Lost", 300, "2026-01-10", "2026-03-02", SQL])
    w.writerow(["D4", FORMULA, "Closed Won", 200, "2026-01-11", "2026-03-03", HTML])
    return buf.getvalue().encode()


@pytest.fixture()
def hostile(tmp_path: Path) -> str:
    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, [("deals.csv", _deals())], name=HTML)
    ws.close()
    return info.token


def _markdown_bodies(at) -> list[str]:
    """Everything the page renders as markdown (where unescaped user text would be live)."""
    out = [m.value for m in at.markdown] + [c.value for c in at.caption]
    out += [e.value for e in at.error] + [w.value for w in at.warning]
    out += [i.value for i in at.info] + [s.value for s in at.success]
    out += [h.value for h in at.header] + [h.value for h in at.subheader]
    return [str(v) for v in out]


def test_hostile_values_are_stored_exactly(tmp_path: Path, hostile: str) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(hostile) as cur:
        owners = sorted(r[0] for r in cur.execute("SELECT owner FROM opportunities").fetchall())
        stages = {r[0] for r in cur.execute("SELECT stage FROM opportunities").fetchall()}
        tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert owners == sorted(HOSTILE)
    assert HTML in stages
    assert "opportunities" in tables
    assert ws.info(hostile).name == HTML
    ws.close()


# The coaching page's quota query filters on "owner" after joining quotas to reps, where the
# name is ambiguous (engine/semantic/sql.py Sql.quota): any owner filter fails there today.
@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_hostile_values_as_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str, page: str
) -> None:
    at = app(tmp_path, monkeypatch, sample=False)
    # Every hostile owner as a filter value in the link: valid values, so they apply.
    at.query_params = {"dataset": hostile, "owner": list(HOSTILE)}
    at.run()
    at.switch_page(page).run()
    assert problems(at) == []
    assert sorted(at.query_params.get("owner", [])) == sorted(HOSTILE)
    for body in _markdown_bodies(at):
        for value in (HTML, LINK, "<script>", "](javascript:"):
            assert value not in body, (page, body)
    options = at.sidebar.multiselect(key="w_owner").options
    assert sorted(options) == sorted(HOSTILE)
    assert any(HTML in o for o in at.sidebar.selectbox(key="w_dataset").options)


def test_filtering_by_a_sql_looking_owner_matches_exactly_one_deal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str
) -> None:
    from engine.semantic.compute import compute

    ws = Workspace(tmp_path / "ws")
    with ws.cursor(hostile) as cur:
        result = compute(cur, metrics="pipeline_created", filters={"owner": [SQL]})
        assert SQL not in result.sql and SQL in str(result.params)  # bound, never spliced in
        assert result.value == 1000.0  # only D1 is owned by the SQL-looking name
        both = compute(cur, metrics="pipeline_created", filters={"owner": [SQL, HTML]})
        assert both.value == 1700.0  # D1 + D2
        assert cur.execute("SELECT count(*) FROM opportunities").fetchone() == (4,)
    ws.close()


def test_csv_downloads_neutralise_formulas(tmp_path: Path, hostile: str) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(hostile) as cur:
        frame = cur.execute(
            "SELECT opportunity_id, owner, account_id, amount FROM opportunities ORDER BY 1"
        ).df()
    ws.close()
    rows = list(csv.reader(io.StringIO(to_csv_bytes(frame).decode("utf-8-sig"))))
    cells = [c for r in rows[1:] for c in r]
    assert "'" + FORMULA in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert SQL in cells and HTML in cells  # other text untouched
    assert [r[3] for r in rows[1:]] == ["1000.0", "700.0", "300.0", "200.0"]


# --------------------------------------------------------------------------- the corpus

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
# Words that say what to do next; every refusal must contain one (or the page's fix-it hint).
ACTIONS = ("export", "upload it", "open it", "try again", "save it", "choose", "remove", "check")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in CORPUS.iterdir() if p.suffix in (".csv", ".xlsx")),
    ids=lambda p: p.name,
)
def test_dropping_each_corpus_file_on_the_upload_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    at.switch_page("views/upload.py").run()
    at.file_uploader[0].set_value([(path.name, path.read_bytes(), "text/csv")]).run()
    assert at.exception.len == 0
    errors = [e.value for e in at.error]
    sections = [s.value for s in at.subheader]
    assert errors or sections, "neither a message nor a file section"
    hints = " ".join(c.value for c in at.caption).lower()
    for message in errors:
        said = message.lower() + " " + hints
        assert len(message) > 40 and any(a in said for a in ACTIONS), message
        assert "Traceback" not in message
    load = [b for b in at.button if b.label == "Load"]
    no_rows = [w.value for w in at.warning if w.value.startswith("**No data rows**")]
    if not sections:
        assert errors and not load  # refused at ingest: the message is all the user sees
    elif no_rows:
        # A header-only file is marked and left out: there is nothing to load.
        assert not load and not errors
        assert any("nothing to load" in w.value for w in at.warning)
    elif errors:
        assert load and load[0].disabled  # blocked, with the reason and the fix on the page
    else:
        assert load and not load[0].disabled
