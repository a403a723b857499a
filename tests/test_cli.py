"""Command line: header-only files and the load report in words (docs/loading.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.cli import commands as cli
from engine.store.workspace import Workspace

BAD = Path(__file__).resolve().parent / "bad_inputs"

# Five deals, checked by hand (the load runs as of today, long after these 2020 dates):
# D1 closed won, clean.
# D2 open, no owner, no amount, closes 2020-02-20 (past): missing_owner + missing_amount +
#    slipped = 3 warnings on one row.
# D3 closed lost, clean.
# D4 has a negative amount: quarantined.
# D5 open, closes 2020-02-01 (past): slipped = 1 warning.
# Rows in 5 = loaded 4 (D1 D2 D3 D5) + quarantined 1 (D4); flagged rows 2 (D2, D5) carry
# 3 + 1 = 4 warnings.
DEALS = b"""Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date
D1,Ann,Closed Won,1000,2020-01-05,2020-02-10
D2,,Prospecting,,2020-01-07,2020-02-20
D3,Bob,Closed Lost,700,2020-01-09,2020-03-01
D4,Bob,Closed Lost,-500,2020-01-12,2020-03-01
D5,Ann,Prospecting,300,2020-01-10,2020-02-01
"""
# Salesforce's Event export of an org without events: a header, no rows.
EVENTS = b"Id,WhoId,WhatId,Subject,ActivityDate,OwnerId\n"


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _datasets(root: Path) -> list[Path]:
    return sorted((root / "datasets").glob("*")) if (root / "datasets").exists() else []


def test_load_of_a_header_only_file_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    code, out, err = _run("--workspace", str(ws), "load", str(BAD / "header_only.csv"))
    assert code == cli.EXIT_UNUSABLE
    assert err.startswith("No data rows: header_only.csv: only a header line")
    assert "no dataset was created" in err and "Traceback" not in err
    assert out == ""
    assert _datasets(ws) == []  # no dataset file, no partial file


def test_validate_of_only_header_only_files_exits_2(tmp_path: Path) -> None:
    events = tmp_path / "Event.csv"
    events.write_bytes(EVENTS)
    code, _, err = _run("validate", str(BAD / "header_only.csv"), str(events))
    assert code == cli.EXIT_UNUSABLE
    assert "header_only.csv, Event.csv: only a header line" in err


def test_a_header_only_file_beside_others_is_left_out_with_a_line(tmp_path: Path) -> None:
    deals, events = tmp_path / "deals.csv", tmp_path / "Event.csv"
    deals.write_bytes(DEALS)
    events.write_bytes(EVENTS)
    ws = tmp_path / "ws"
    code, out, _ = _run("--workspace", str(ws), "load", str(deals), str(events))
    assert code == cli.EXIT_QUARANTINED  # D4 is quarantined
    lines = out.splitlines()
    assert lines[0] == "Event.csv: no data rows, left out"
    assert lines[1] == "deals.csv -> opportunities: 5 rows in = 4 loaded + 1 quarantined"
    assert lines[2] == "    2 rows flagged by 4 warnings (a row can break several rules)"
    assert "    warning slipped: 2 rows" in lines
    assert "    warning missing_owner: 1 row" in lines
    token = lines[-1].rsplit(" ", 1)[-1]
    store = Workspace(ws)
    info = store.info(token)
    assert info.files == ["deals.csv"]  # the empty file is not part of the dataset
    assert info.name == "deals.csv"
    assert store.flagged_rows(token) == {"deals.csv": 2}
    store.close()


def test_load_json_reports_rows_flagged_and_warnings_fired(tmp_path: Path) -> None:
    deals, events = tmp_path / "deals.csv", tmp_path / "Event.csv"
    deals.write_bytes(DEALS)
    events.write_bytes(EVENTS)
    code, out, _ = _run(
        "--workspace", str(tmp_path / "ws"), "load", str(deals), str(events), "--json"
    )
    assert code == cli.EXIT_QUARANTINED
    payload = json.loads(out)
    assert payload["left_out"] == [{"file": "Event.csv", "reason": "no data rows"}]
    (f,) = payload["files"]
    assert (f["rows_in"], f["rows_loaded"], f["rows_quarantined"]) == (5, 4, 1)
    assert (f["rows_flagged"], f["warnings_fired"]) == (2, 4)
    # warnings_fired is the sum of rows per rule: slipped 2 + missing_owner 1 + missing_amount 1
    assert f["warnings_fired"] == sum(f["warnings"].values())


def test_validate_says_the_same_in_words(tmp_path: Path) -> None:
    deals, events = tmp_path / "deals.csv", tmp_path / "Event.csv"
    deals.write_bytes(DEALS)
    events.write_bytes(EVENTS)
    code, out, _ = _run("validate", str(deals), str(events))
    assert code == cli.EXIT_QUARANTINED
    assert out.startswith("Event.csv: no data rows, left out\n")
    assert "deals.csv -> opportunities: 5 rows in = 4 loaded + 1 quarantined\n" in out
    assert "2 rows flagged by 4 warnings" in out


def test_us_dates_are_described_in_words(tmp_path: Path) -> None:
    deals = tmp_path / "deals.csv"
    # 03/25/2020: a day above 12 in second place settles month/day/year.
    deals.write_bytes(
        b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
        b"D1,Ann,Closed Won,1000,03/25/2020,04/30/2020\n"
    )
    code, out, _ = _run("validate", str(deals))
    assert code == cli.EXIT_OK
    assert "created_date (Created Date): dates read as month/day/year" in out
    assert "%m" not in out


def test_a_load_of_no_file_at_all_creates_nothing(tmp_path: Path) -> None:
    # every file left out before the load (e.g. none is a CRM table): refused, nothing written
    import pytest

    from engine.core.errors import InputError
    from engine.load.pipeline import load_plans

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(InputError, match="no dataset was created"):
        load_plans(ws, [], "nothing")
    ws.close()
    assert _datasets(tmp_path / "ws") == []


def test_load_imports_only_what_it_uses(tmp_path: Path) -> None:
    """The command line's load path never imports the statistics (scipy, for the indicators),
    the chart stack or the app: a fresh process loads a file and lists what it imported."""
    import subprocess
    import sys

    deals = tmp_path / "deals.csv"
    deals.write_text(
        "Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
        "D1,Ann,Closed Won,100,2026-01-05,2026-02-01\n"
    )
    code = (
        "import sys\n"
        "from engine.cli.commands import main\n"
        f"rc = main(['--workspace', {str(tmp_path / 'ws')!r}, 'load', {str(deals)!r}])\n"
        "import json; print(rc, json.dumps(sorted(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    rc, _, listing = out.stdout.strip().splitlines()[-1].partition(" ")
    assert rc == "0"
    modules = json.loads(listing)
    for heavy in ("scipy", "altair", "vl_convert", "streamlit", "engine.analyses"):
        assert not [m for m in modules if m == heavy or m.startswith(heavy + ".")], heavy
    assert "duckdb" in modules and "engine.load.typed" in modules  # the listing is real


def test_analysis_commands_keep_their_options() -> None:
    """The options of report and indicators are there when the command is given (and in the
    full parser), after --workspace too."""
    assert cli._command_in(["--workspace", "report", "indicators", "T"]) == "indicators"
    assert cli._command_in(["report", "T", "--json"]) == "report"
    assert cli._command_in(["load", "f.csv"]) is None
    args = cli.build_parser("indicators").parse_args(["indicators", "T", "--grain", "month"])
    assert args.grain == "month"
    args = cli.build_parser().parse_args(["report", "T", "--json"])
    assert args.json is True
