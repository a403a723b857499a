"""From bytes to a loaded dataset: accounting, presets, cross-file rules and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from engine.cli.commands import main
from engine.core.errors import MappingError
from engine.load import pipeline, typed
from engine.store.workspace import Workspace

AS_OF = dt.date(2026, 6, 1)

OPPS = b"""Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date,Region
O1,Ann,Closed Won,"$12,500.00",2026-01-05,2026-02-01,NA
O2,Ann,Closed Lost,(1200),2026-01-06,2026-02-02,EMEA
O3,,Prospecting,5000,2026-01-07,2026-07-01,NA
O1,Bob,Closed Won,100,2026-01-08,2026-02-03,NA
O4,Bob,Negotiation/Review,0,2026-01-09,2026-05-01,APAC
O5,Bob,Closed Won,300,2026-03-01,2026-02-01,NA
O6,Bob,Mystery Stage,10,not a date,2026-08-01,NA
"""

HISTORY = b"""OpportunityId,StageName,CreatedDate
O1,Prospecting,2026-01-05 09:00:00
O1,Closed Won,2026-02-01 10:00:00
O9,Prospecting,2026-01-05 09:00:00
"""


def _load(tmp_path: Path, files: list[tuple[str, bytes]]):
    ws = Workspace(tmp_path)
    plans = [pipeline.inspect_file(data, name) for name, data in files]
    prepared = pipeline.prepare(plans, as_of=AS_OF)
    info = pipeline.load(ws, prepared, "t")
    return ws, info, prepared


def test_every_row_is_accounted_for_with_its_reasons(tmp_path: Path) -> None:
    ws, info, prepared = _load(tmp_path, [("opps.csv", OPPS), ("OpportunityHistory.csv", HISTORY)])
    opp, hist = prepared.files
    assert opp.table == "opportunities" and hist.table == "stage_history"
    # 7 rows: O2 negative amount, second O1 duplicate, O6 unparseable created date
    # -> 3 quarantined; O5 closes before it was created: a warning, so it loads -> 4 loaded
    assert (opp.rows_in, opp.rows_loaded, opp.rows_quarantined) == (7, 4, 3)
    assert (hist.rows_in, hist.rows_loaded, hist.rows_quarantined) == (3, 3, 0)
    reasons = {r["line"]: r["reasons"] for r in opp.quarantine.iter_rows(named=True)}
    assert reasons[3] == ["amount -1200.0 is negative"]
    assert reasons[5] == ["duplicate id O1 (an earlier row with this id was loaded)"]
    assert 7 not in reasons
    assert reasons[8] == ["created_date: cannot read 'not a date' as a date"]
    # O3 has no owner (warning), O4 is a proposal with amount 0 and slipped (close 2026-05-01),
    # O5 closed 2026-02-01 before its created_date 2026-03-01
    assert opp.warning_counts() == {
        "close_before_created": 1,
        "missing_owner": 1,
        "slipped": 1,
        "zero_amount_proposal": 1,
    }
    # O9's history row points at no opportunity
    assert hist.warning_counts() == {"unknown_opportunity": 1}
    with ws.cursor(info.token) as cur:
        rows = cur.execute(
            "SELECT opportunity_id, owner, amount, region, stage_canonical, is_closed, is_won, "
            "_line, _flagged FROM opportunities ORDER BY opportunity_id"
        ).fetchall()
        assert rows == [
            ("O1", "Ann", 12500.0, "NA", "closed_won", True, True, 2, False),
            ("O3", "(unassigned)", 5000.0, "NA", "opportunity", False, False, 4, True),
            ("O4", "Bob", 0.0, "APAC", "proposal", False, False, 6, True),
            ("O5", "Bob", 300.0, "NA", "closed_won", True, True, 7, True),
        ]
        q = cur.execute("SELECT count(*), min(line) FROM _quarantine").fetchall()
        assert q == [(3, 3)]
        flagged = cur.execute("SELECT message FROM _warnings WHERE line = 7").fetchall()
        assert flagged == [
            (
                "close_date 2026-02-01 is before created_date 2026-03-01; left out of cycle "
                "and time-in-stage metrics",
            )
        ]
        original = cur.execute("SELECT original FROM _quarantine WHERE line = 3").fetchall()
        assert json.loads(original[0][0])["Amount"] == "(1200)"
        report = cur.execute(
            "SELECT file, rows_in, rows_loaded + rows_quarantined FROM _load_report ORDER BY file"
        ).fetchall()
        assert all(r[1] == r[2] for r in report)


def test_unknown_stage_loads_as_open_opportunity_with_a_warning(tmp_path: Path) -> None:
    data = b"id,owner,stage,amount,created,close_date\nX,Ann,Mystery,10,2026-01-01,2026-09-01\n"
    plan = pipeline.inspect_file(data, "deals.csv")
    sm = pipeline.default_stage_map([plan])
    # a keyword guess puts Mystery in the map; removing it makes the stage unknown
    prepared = pipeline.prepare([plan], stage_map=sm.without("Mystery"), as_of=AS_OF)
    f = prepared.files[0]
    assert f.rows_loaded == 1 and f.warning_counts() == {"unknown_stage": 1}
    assert f.loaded["stage_canonical"].to_list() == ["opportunity"]
    assert f.loaded["is_closed"].to_list() == [False]


def test_missing_required_column_blocks_the_file_with_closest_headers() -> None:
    data = b"Opportunity ID,Stage,Amount,Created Date,Close Date,Owners Name\nA,Won,1,2026-01-01,2026-01-02,x\n"
    plan = pipeline.inspect_file(data, "opps.csv")
    assert plan.table == "opportunities"
    problems = plan.blocking_problems()
    assert problems and "owner" in problems[0] and "Owners Name" in problems[0]
    with pytest.raises(MappingError, match="owner"):
        pipeline.prepare([plan], as_of=AS_OF)


def test_editing_the_mapping_changes_what_loads(tmp_path: Path) -> None:
    data = b"id,rep,backup_rep,stage,amount,created,close_date\nA,Ann,Zed,Closed Won,5,2026-01-01,2026-01-02\n"
    plan = pipeline.inspect_file(data, "deals.csv")
    assert plan.mapping.columns["owner"] == "rep"
    edited = plan.with_mapping(plan.mapping.with_column("owner", "backup_rep"))
    prepared = pipeline.prepare([edited], as_of=AS_OF)
    assert prepared.files[0].loaded["owner"].to_list() == ["Zed"]


def test_pipedrive_status_and_won_time(tmp_path: Path) -> None:
    data = (
        b"Deal - ID,Deal - Title,Deal - Value,Deal - Stage,Deal - Status,Deal - Owner,"
        b"Deal - Deal created,Deal - Expected close date,Deal - Won time,Deal - Lost time\n"
        b"1,A,100,Proposal Made,won,Ann,2026-01-01,,2026-02-01 10:00:00,\n"
        b"2,B,200,Qualified,lost,Ann,2026-01-01,,,2026-02-03 11:00:00\n"
        b"3,C,300,Demo Scheduled,open,Bob,2026-01-01,2026-09-01,,\n"
    )
    prepared = pipeline.prepare([pipeline.inspect_file(data, "deals.csv")], as_of=AS_OF)
    f = prepared.files[0]
    assert f.rows_loaded == 3
    assert f.loaded["is_won"].to_list() == [True, False, False]
    assert f.loaded["is_closed"].to_list() == [True, True, False]
    assert [str(d) for d in f.loaded["close_date"].to_list()] == [
        "2026-02-01",
        "2026-02-03",
        "2026-09-01",
    ]


def test_hubspot_wide_stage_dates_become_history(tmp_path: Path) -> None:
    data = (
        b"Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal owner,"
        b'"Date entered ""Appointment Scheduled (Sales Pipeline)""",'
        b'"Date entered ""Closed Won (Sales Pipeline)"""\n'
        b"11,A,closedwon,1000,2026-02-01,2026-01-01,Ann,2026-01-01 09:00,2026-02-01 09:00\n"
        b"12,B,appointmentscheduled,500,2026-09-01,2026-01-02,Ann,2026-01-02 09:00,\n"
    )
    ws, info, prepared = _load(tmp_path, [("hubspot-deals.csv", data)])
    sources = [(f.source_name, f.table, f.rows_loaded) for f in prepared.files]
    assert sources == [
        ("hubspot-deals.csv", "opportunities", 2),
        ("hubspot-deals.csv (stage dates)", "stage_history", 3),
    ]
    with ws.cursor(info.token) as cur:
        hist = cur.execute(
            "SELECT opportunity_id, stage_canonical, _line FROM stage_history ORDER BY 1, 2"
        ).fetchall()
    assert hist == [("11", "closed_won", 2), ("11", "opportunity", 2), ("12", "opportunity", 3)]


def test_embedded_newlines_keep_physical_line_numbers(tmp_path: Path) -> None:
    data = (
        b"id,owner,stage,amount,created,close_date,notes\n"
        b'A,Ann,Closed Won,5,2026-01-01,2026-01-02,"two\nlines"\n'
        b"B,Ann,Closed Won,-5,2026-01-01,2026-01-02,x\n"
    )
    prepared = pipeline.prepare([pipeline.inspect_file(data, "d.csv")], as_of=AS_OF)
    assert prepared.files[0].quarantine["line"].to_list() == [4]


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(
        b"id,owner,stage,amount,created,close_date\nA,Ann,Closed Won,5,2026-01-01,2026-01-02\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        b"id,owner,stage,amount,created,close_date\nA,Ann,Closed Won,-5,2026-01-01,2026-01-02\n"
    )
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    ws = str(tmp_path / "ws")

    out = io.StringIO()
    assert main(["--workspace", ws, "validate", str(good), "--json"], out=out) == 0
    payload = json.loads(out.getvalue())
    assert payload["reports"][0]["rows_in"] == 1 and payload["reports"][0]["rows_loaded"] == 1

    out = io.StringIO()
    assert main(["--workspace", ws, "load", str(bad), "--json"], out=out) == 1
    payload = json.loads(out.getvalue())
    f = payload["files"][0]
    assert (f["rows_in"], f["rows_loaded"], f["rows_quarantined"]) == (1, 0, 1)
    token = payload["token"]

    out = io.StringIO()
    assert main(["--workspace", ws, "datasets", "--json"], out=out) == 0
    assert [d["token"] for d in json.loads(out.getvalue())] == [token]

    err = io.StringIO()
    assert main(["--workspace", ws, "load", str(junk)], out=io.StringIO(), err=err) == 2
    assert "Traceback" not in err.getvalue() and err.getvalue().strip()

    out = io.StringIO()
    assert main(["--workspace", ws, "delete", token], out=out) == 0
    err = io.StringIO()
    assert main(["--workspace", ws, "delete", "../../etc/passwd"], err=err) == 2
    assert "malformed" in err.getvalue()


def test_dirty_sample_gives_exactly_the_documented_problems() -> None:
    """sample_data/dirty/PROBLEMS.md lists every injected problem; expected.json counts them."""
    root = Path(__file__).resolve().parent.parent / "sample_data" / "dirty"
    expected = json.loads((root / "expected.json").read_text())
    as_of = dt.date.fromisoformat(expected["as_of"])
    names = sorted(expected["files"])
    plans = [pipeline.inspect_file((root / n).read_bytes(), n) for n in names]
    prepared = pipeline.prepare(plans, as_of=as_of)
    for f in prepared.files:
        want = expected["files"][f.source_name]
        got = (f.rows_in, f.rows_loaded, f.rows_quarantined)
        assert got == (want["rows_in"], want["rows_loaded"], want["rows_quarantined"])
        assert f.warning_counts() == want["warnings"], f.source_name
        lines = {p["line"] for p in want["problems"] if p["severity"] == "error"}
        assert set(f.quarantine["line"].to_list()) == lines, f.source_name


def test_batches_give_the_same_outcome_as_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading in 3-row batches: duplicates across batches are caught, formats stay fixed,
    and the stored rows equal a single-batch load."""
    rows = [b"id,owner,stage,amount,created,close_date"]
    for i in range(10):
        # ids repeat across batches (row 7 repeats row 1); dates are day-first only from row 5
        rid = b"D1" if i == 7 else b"D%d" % i
        day = b"%02d" % (i + 1 if i < 5 else 20 + i)
        rows.append(rid + b",Ann,Closed Won,%d,%s/01/2026,%s/03/2026" % (i, day, day))
    data = b"\n".join(rows) + b"\n"

    def run(batch_rows: int) -> tuple[list[tuple], list[tuple], dict]:
        monkeypatch.setattr(typed, "VALIDATE_ROWS", batch_rows)
        ws = Workspace(tmp_path / f"b{batch_rows}")
        info, prepared = pipeline.load_plans(
            ws, [pipeline.inspect_file(data, "d.csv")], "t", as_of=AS_OF
        )
        with ws.cursor(info.token) as cur:
            loaded = cur.execute(
                "SELECT opportunity_id, created_date, close_date, _line FROM opportunities "
                "ORDER BY _line"
            ).fetchall()
            quarantined = cur.execute(
                "SELECT line, reasons, rules FROM _quarantine ORDER BY line"
            ).fetchall()
        return loaded, quarantined, prepared.reports()[0]

    one = run(1000)
    three = run(3)
    assert one == three
    loaded, quarantined, report = three
    # line 9 (the 8th row, id D1) repeats line 3's id; every date is read day-first
    assert quarantined == [
        (9, ["duplicate id D1 (an earlier row with this id was loaded)"], ["duplicate_id"])
    ]
    assert (report["rows_in"], report["rows_loaded"], report["rows_quarantined"]) == (10, 9, 1)
    assert report["errors"] == {"duplicate_id": 1}
    assert loaded[0][1:3] == (dt.date(2026, 1, 1), dt.date(2026, 3, 1))
    assert loaded[-1][1:3] == (dt.date(2026, 1, 29), dt.date(2026, 3, 29))
    assert any("day-first" in n for n in report["notes"])


def _dataset_rows(ws: Workspace, token: str) -> dict[str, list[tuple]]:
    with ws.cursor(token) as cur:
        names = [
            r[0]
            for r in cur.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY table_name"
            ).fetchall()
        ]
        out = {n: cur.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}
    out["_meta"] = [r for r in out.get("_meta", []) if r[0] != "created_at"]  # a timestamp
    return out


def _spy_streamed(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Record, per streamed file, whether it was read from disk inside DuckDB (False: it fell
    back to a whole read)."""
    seen: dict[str, bool] = {}
    real = typed.load_source

    def spy(con, source, *args, **kwargs):  # type: ignore[no-untyped-def]
        streamed = source.stream is not None
        out = real(con, source, *args, **kwargs)
        if streamed:
            seen[source.name] = out is not None
        return out

    monkeypatch.setattr(typed, "load_source", spy)
    return seen


def test_streamed_large_csvs_load_exactly_as_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large clean CSVs are streamed from disk in batches; every stored table (rows,
    quarantine, warnings, load report) equals the load of the same files read whole."""
    from engine.load import ingest

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    # blank lines (line numbers shift), CRLF, a BOM, duplicates across batches, bad values
    deals = [b"\xef\xbb\xbfOpportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date"]
    for i in range(40):
        rid = b"D3" if i in (17, 33) else b"D%d" % i
        amount = b"-5" if i == 21 else b'"1,%03d"' % i
        created = b"not a date" if i == 25 else b"%02d/02/2026" % (i % 28 + 1)
        deals.append(b"%s,Ann,Closed Won,%s,%s,2026-03-01" % (rid, amount, created))
        if i in (4, 30):
            deals.append(b"")
    files = {
        "deals.csv": b"\r\n".join(deals) + b"\r\n\r\n",
        "activities.csv": b"".join((sample / "activities.csv").open("rb").readlines()[:151]),
        "stage_history.csv": b"".join((sample / "stage_history.csv").open("rb").readlines()[:90]),
        # ragged: not eligible for streaming, read whole either way
        "reps.csv": (sample / "reps.csv").read_bytes() + b"Extra Rep,Team\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(typed, "VALIDATE_ROWS", 7)
    monkeypatch.setattr(typed, "PARK_ROWS", 3)  # findings beyond 3 wait on disk
    monkeypatch.setattr(ingest, "HEAD_ROWS", 50)
    monkeypatch.setattr(typed, "FORMAT_SAMPLE", 5)
    monkeypatch.setattr(ingest, "DICTIONARY_HEAD", 10)  # repeated values read as dictionaries
    in_duckdb = _spy_streamed(monkeypatch)
    encoded: list[set[int]] = []
    real_pick = ingest.repeating_columns
    monkeypatch.setattr(
        ingest, "repeating_columns", lambda h: encoded.append(real_pick(h)) or encoded[-1]
    )

    def run(label: str, stream: bool) -> tuple[dict[str, list[tuple]], list]:
        plans = []
        for name in files:
            plan = pipeline.inspect_file(tmp_path / name, name)
            assert (plan.raw.stream is not None) == (stream and name != "reps.csv"), name
            plans.append(plan)
        ws = Workspace(tmp_path / label)
        info, prepared = pipeline.load_plans(ws, plans, "t", as_of=AS_OF)
        assert sorted(p.name for p in ws.dir.iterdir()) == [f"{info.token}.duckdb"]
        return _dataset_rows(ws, info.token), prepared.reports()

    streamed = run("streamed", True)
    assert in_duckdb == {"deals.csv": True, "activities.csv": True, "stage_history.csv": True}
    # owners, stages and types repeat in deals and activities: read as dictionaries
    assert [bool(e) for e in encoded] == [True, True, False]
    # the same inspected files loaded again (as the app does when Load is clicked twice)
    plans = [pipeline.inspect_file(tmp_path / name, name) for name in files]
    first = pipeline.load_plans(Workspace(tmp_path / "again"), plans, "t", as_of=AS_OF)[1]
    again = pipeline.load_plans(Workspace(tmp_path / "again2"), plans, "t", as_of=AS_OF)[1]
    assert again.reports() == first.reports() == streamed[1]
    head = pipeline.inspect_file(tmp_path / "activities.csv", "activities.csv").raw
    assert head.table.num_rows == ingest.HEAD_ROWS and head.records == 150
    with monkeypatch.context() as m:
        m.setattr(ingest, "_open_stream", lambda *_a: None)
        whole = run("whole", False)
    assert streamed[1] == whole[1]
    assert streamed[0].keys() == whole[0].keys()
    for table, rows in whole[0].items():
        assert streamed[0][table] == rows, table
    report = {r["file"]: r for r in whole[1]}
    assert report["deals.csv"]["errors"] == {
        "duplicate_id": 2,
        "negative_amount": 1,
        "unparseable_value": 1,
    }
    assert "Skipped 3 blank line(s)." in report["deals.csv"]["notes"]


def test_close_before_created_loads_flagged_on_both_load_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large CSV validated in slices inside DuckDB keeps a close-before-created deal as the
    small-file path does: loaded, flagged, with the rule in _warnings (severity from RULES)."""
    from engine.load import ingest

    deals = [b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date"]
    for i in range(12):
        close = b"2026-01-15" if i in (3, 9) else b"2026-03-01"  # created 2026-02-..
        deals.append(b"D%d,Ann,Closed Won,1000,2026-02-%02d,%s" % (i, i + 1, close))
    (tmp_path / "deals.csv").write_bytes(b"\n".join(deals) + b"\n")
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 5)
    monkeypatch.setattr(typed, "VALIDATE_ROWS", 4)
    in_duckdb = _spy_streamed(monkeypatch)

    def run(label: str) -> tuple[list[tuple], list[tuple], dict]:
        plan = pipeline.inspect_file(tmp_path / "deals.csv", "deals.csv")
        ws = Workspace(tmp_path / label)
        info, prepared = pipeline.load_plans(ws, [plan], "t", as_of=AS_OF)
        with ws.cursor(info.token) as cur:
            flagged = cur.execute(
                "SELECT opportunity_id FROM opportunities WHERE _flagged ORDER BY _line"
            ).fetchall()
            warned = cur.execute("SELECT line, rule FROM _warnings ORDER BY line").fetchall()
        return flagged, warned, prepared.reports()[0]

    streamed = run("streamed")
    assert in_duckdb == {"deals.csv": True}
    with monkeypatch.context() as m:
        m.setattr(ingest, "_open_stream", lambda *_a: None)
        whole = run("whole")
    assert streamed == whole
    flagged, warned, report = whole
    # 12 rows in, all 12 load; D3 (line 5) and D9 (line 11) are flagged
    assert (report["rows_in"], report["rows_loaded"], report["rows_quarantined"]) == (12, 12, 0)
    assert flagged == [("D3",), ("D9",)]
    assert warned == [(5, "close_before_created"), (11, "close_before_created")]


def test_a_dataset_is_analysed_as_of_its_latest_event(tmp_path: Path) -> None:
    """An old export is read as of its own last event, capped at the day it was loaded."""
    old = b"id,owner,stage,amount,created,close_date\nA,Ann,Closed Won,5,2017-03-01,2017-06-30\nB,Ann,Prospecting,5,2017-05-02,2027-01-01\n"
    ws, info, _ = _load(tmp_path, [("old.csv", old)])
    with ws.cursor(info.token) as cur:
        meta = dict(cur.execute("SELECT key, value FROM _meta").fetchall())
    # the latest event is A's close on 2017-06-30; B's close date is only expected
    assert meta["data_as_of"] == "2017-06-30"
    assert meta["as_of"] == AS_OF.isoformat()
    fresh = b"id,owner,stage,amount,created,close_date\nA,Ann,Closed Won,5,2026-01-01,2026-09-30\n"
    ws, info, _ = _load(tmp_path / "2", [("new.csv", fresh)])
    with ws.cursor(info.token) as cur:
        meta = dict(cur.execute("SELECT key, value FROM _meta").fetchall())
    # a close after the load day (2026-06-01) does not move the date past it
    assert meta["data_as_of"] == AS_OF.isoformat()


def test_large_csvs_that_are_not_plain_records_load_as_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large CSV is only scanned when inspected; when DuckDB then finds a record that is
    not one plain line (ragged, or a quoted line break) the file is read whole instead, with
    the same outcome. An upload's bytes load through a scratch file that is removed."""
    from engine.load import ingest

    header = b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
    body = [b"D%d,Ann,Closed Won,%d,2026-02-01,2026-03-01\n" % (i, 100 + i) for i in range(30)]
    ragged = body.copy()
    ragged[20] = b"D20,Ann,Closed Won,120,2026-02-01,2026-03-01,surplus\n"
    quoted = body.copy()
    quoted[25] = b'D25,"Ann\nSmith",Closed Won,125,2026-02-01,2026-03-01\n'
    files = {
        "ragged.csv": header + b"".join(ragged),
        "quoted.csv": header + b"".join(quoted),
        "plain.csv": header + b"".join(body),
    }
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 5)
    in_duckdb = _spy_streamed(monkeypatch)
    for name, data in files.items():
        streamed_plan = pipeline.inspect_file(data, name)  # bytes, as the app uploads them
        assert streamed_plan.raw.stream is not None, name
        ws = Workspace(tmp_path / f"s-{name}")
        info, prepared = pipeline.load_plans(ws, [streamed_plan], "t", as_of=AS_OF)
        assert not list(ws.dir.glob("*.upload.csv"))
        with monkeypatch.context() as m:
            m.setattr(ingest, "_open_stream", lambda *_a: None)
            whole_ws = Workspace(tmp_path / f"w-{name}")
            whole_plan = pipeline.inspect_file(data, name)
            whole_info, whole = pipeline.load_plans(whole_ws, [whole_plan], "t", as_of=AS_OF)
        assert prepared.reports() == whole.reports(), name
        streamed_rows = _dataset_rows(ws, info.token)
        whole_rows = _dataset_rows(whole_ws, whole_info.token)
        for table, rows in whole_rows.items():
            assert streamed_rows[table] == rows, (name, table)
    assert in_duckdb == {"ragged.csv": False, "quoted.csv": False, "plain.csv": True}
    report = {r["file"]: r for r in prepared.reports()}
    assert report["plain.csv"]["rows_loaded"] == 30


def test_a_quoted_line_break_at_any_block_boundary_makes_a_large_csv_load_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader of large CSVs splits the file into blocks at line breaks without following
    quotes. Wherever a record with a quoted line break falls (inside a block or across a
    boundary), the file is read whole instead and loads exactly as it would have."""
    from engine.load import ingest

    header = b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
    body = [b"D%02d,Ann,Closed Won,%d,2026-02-01,2026-03-01\n" % (i, 100 + i) for i in range(24)]
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 2)
    monkeypatch.setattr(ingest, "BLOCK_BYTES", 160)  # about three records a block
    in_duckdb = _spy_streamed(monkeypatch)
    for at in range(2, 24):
        rows = body.copy()
        rows[at] = b'D%02d,"Ann\nSmith",Closed Won,1,2026-02-01,2026-03-01\n' % at
        data = header + b"".join(rows)
        ws = Workspace(tmp_path / f"s{at}")
        info, prepared = pipeline.load_plans(
            ws, [pipeline.inspect_file(data, "d.csv")], "t", as_of=AS_OF
        )
        assert in_duckdb == {"d.csv": False}, at
        with monkeypatch.context() as m:
            m.setattr(ingest, "_open_stream", lambda *_a: None)
            whole_ws = Workspace(tmp_path / f"w{at}")
            whole_info, whole = pipeline.load_plans(
                whole_ws, [pipeline.inspect_file(data, "d.csv")], "t", as_of=AS_OF
            )
        assert prepared.reports() == whole.reports(), at
        assert _dataset_rows(ws, info.token) == _dataset_rows(whole_ws, whole_info.token), at
        assert prepared.reports()[0]["rows_loaded"] == 24
    plain = header + b"".join(body)
    info, _ = pipeline.load_plans(
        Workspace(tmp_path / "plain"), [pipeline.inspect_file(plain, "d.csv")], "t", as_of=AS_OF
    )
    assert in_duckdb == {"d.csv": True}  # small blocks alone are no reason to read it whole


def test_a_large_csvs_stage_values_are_read_once_however_often_the_page_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload page proposes the stage map at every rerun; a large CSV's pass over its
    stage column runs once per column, and the stage map stays the same."""
    from engine.load import ingest

    header = b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
    stages = [b"Prospecting", b"Closed Won", b"Negotiation/Review"]
    rows = [b"D%03d,Ann,%s,%d,2026-02-01,2026-03-01\n" % (i, stages[i % 3], i) for i in range(60)]
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 2)
    plan = pipeline.inspect_file(header + b"".join(rows), "d.csv")
    assert plan.raw.stream is not None
    reads = []
    real = ingest.pacsv.read_csv
    monkeypatch.setattr(ingest.pacsv, "read_csv", lambda *a, **k: reads.append(1) or real(*a, **k))
    maps = [pipeline.default_stage_map([plan]).to_json() for _ in range(3)]
    assert len(reads) == 1 and maps[0] == maps[1] == maps[2]
    assert {e.stage for e in pipeline.default_stage_map([plan]).entries} == {
        s.decode() for s in stages
    }
    assert len(reads) == 1
    # a load proposing its own stage map reads the file once: the stage values come from
    # the records it reads anyway, and the map is the one proposed from a pass of its own
    fresh = pipeline.inspect_file(header + b"".join(rows), "d.csv")
    reads.clear()
    info, prepared = pipeline.load_plans(Workspace(tmp_path / "ws"), [fresh], "t", as_of=AS_OF)
    assert len(reads) == 1
    assert prepared.stage_map.to_json() == maps[0]


@pytest.mark.parametrize("column", ["Opportunity Owner", "Stage", "Amount"])
def test_a_field_over_the_limit_deep_in_a_large_csv_stops_the_load_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str
) -> None:
    """A cell over the per-field limit past the head (so inspection does not see it) stops the
    load of a large CSV with the limit's message, whether its column is read as text or
    dictionary-encoded (owner and stage repeat), and leaves nothing in the workspace."""
    from engine.core.errors import LimitExceeded
    from engine.load import ingest

    header = b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
    rows = [b"D%03d,Ann,Closed Won,%d,2026-02-01,2026-03-01\n" % (i, i) for i in range(300)]
    cells = rows[250].rstrip(b"\n").split(b",")
    cells[header.decode().split(",").index(column)] = b"9" * 20_000
    rows[250] = b",".join(cells) + b"\n"
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 200)
    monkeypatch.setenv("WORKBENCH_MAX_FIELD_MB", "0.01")
    plan = pipeline.inspect_file(header + b"".join(rows), "d.csv")
    assert plan.raw.stream is not None
    if column != "Amount":
        assert ingest.repeating_columns(plan.raw.table)  # owner and stage as dictionaries
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(LimitExceeded, match="limit per field"):
        pipeline.load_plans(ws, [plan], "t", as_of=AS_OF)
    assert list(ws.dir.iterdir()) == []


@pytest.mark.parametrize(
    ("ids", "lookups"),
    [
        # ids in order: no pass over the ids to look repeats up
        ([b"D%03d" % i for i in range(40)], [False]),
        ([b"D%03d" % (99 - i) for i in range(40)], [False]),
        # in order, with empty and Salesforce-empty ids, which are never repeats
        (
            [
                b"" if i % 9 == 4 else b"000000000000000AAA" if i == 7 else b"D%03d" % i
                for i in range(40)
            ],
            [False],
        ),
        # in order until a late slice repeats an early id: the stream starts again
        ([b"D005" if i == 33 else b"D%03d" % i for i in range(40)], [False, True]),
        # a repeat right after its first occurrence breaks the strict order too
        ([b"D%03d" % (i - (i == 12)) for i in range(40)], [False, True]),
        # out of order from the first slice
        ([b"D%03d" % ((i * 7) % 40) for i in range(40)], [False, True]),
    ],
)
def test_bulk_finds_repeated_ids_in_any_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: list[bytes], lookups: list[bool]
) -> None:
    """A streamed file looks repeated ids up only when the ids are not strictly in order, and
    quarantines exactly the repeats the whole-file load does, in either case."""
    from engine.load import ingest

    header = b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
    rows = [b"%s,Ann,Closed Won,%d,2026-02-01,2026-03-01\n" % (rid, i) for i, rid in enumerate(ids)]
    data = header + b"".join(rows)
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 5)
    monkeypatch.setattr(typed, "VALIDATE_ROWS", 6)
    monkeypatch.setattr(typed, "PARK_ROWS", 2)
    seen: list[bool] = []
    real_view = typed._Helpers.view

    def view(self, con, repeats):  # type: ignore[no-untyped-def]
        seen.append(repeats)
        return real_view(self, con, repeats)

    monkeypatch.setattr(typed._Helpers, "view", view)
    ws = Workspace(tmp_path / "s")
    info, prepared = pipeline.load_plans(
        ws, [pipeline.inspect_file(data, "d.csv")], "t", as_of=AS_OF
    )
    assert seen == lookups
    assert sorted(p.name for p in ws.dir.iterdir()) == [f"{info.token}.duckdb"]
    with monkeypatch.context() as m:
        m.setattr(ingest, "_open_stream", lambda *_a: None)
        whole_ws = Workspace(tmp_path / "w")
        whole_info, whole = pipeline.load_plans(
            whole_ws, [pipeline.inspect_file(data, "d.csv")], "t", as_of=AS_OF
        )
    assert prepared.reports() == whole.reports()
    assert _dataset_rows(ws, info.token) == _dataset_rows(whole_ws, whole_info.token)
    named = [i for i in ids if i and i != b"000000000000000AAA"]
    repeats = len(named) - len(set(named))
    assert prepared.reports()[0]["errors"].get("duplicate_id", 0) == repeats


def test_bulk_line_numbers_follow_the_file_when_duckdb_reads_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file large enough for DuckDB to read with several threads, every loaded row and
    every quarantined row keeps the line it was on (the row numbered k is on line k + 1),
    and a repeated id quarantines its later occurrence."""
    from engine.load import ingest

    n = 400_000
    bad = {1234: b"-5", 250_001: b"-7", n - 1: b"-9"}  # row index -> a negative amount
    rows = [
        b"D%07d,Ann, Closed Won ,%s,2026-02-01,2026-03-01\n" % (i, bad.get(i, b"%d" % i))
        for i in range(n)
    ]
    rows.append(b"D0000003,Ann,Closed Won,1,2026-02-01,2026-03-01\n")  # repeats line 5's id
    path = tmp_path / "deals.csv"
    path.write_bytes(
        b"Opportunity ID,Owner,Stage,Amount,Created Date,Close Date\n" + b"".join(rows)
    )
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    in_duckdb = _spy_streamed(monkeypatch)
    ws = Workspace(tmp_path / "ws")
    info, _ = pipeline.load_plans(ws, [pipeline.inspect_file(path, "deals.csv")], "t", as_of=AS_OF)
    assert in_duckdb == {"deals.csv": True}
    with ws.cursor(info.token) as cur:
        misplaced = cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE _line - 2 <> CAST(substr(opportunity_id, 2)"
            " AS INTEGER)), count(*) FILTER (WHERE stage <> 'Closed Won') FROM opportunities"
        ).fetchall()[0]
        quarantined = cur.execute("SELECT line, rules FROM _quarantine ORDER BY line").fetchall()
    assert misplaced == (n - len(bad), 0, 0)
    assert quarantined == [
        (1236, ["negative_amount"]),
        (250_003, ["negative_amount"]),
        (n + 1, ["negative_amount"]),
        (n + 2, ["duplicate_id"]),
    ]


def test_cleaning_trims_only_what_can_change_and_matches_arrows_trim() -> None:
    """The readers' cleaning (only values whose first or last byte may be whitespace go
    through the trim; empty values become null without a copy) equals Arrow's trim of
    Unicode whitespace with empty text null, value by value: in slices, in chunked columns
    and with every whitespace character at either end."""
    import random

    import pyarrow as pa

    from engine.load import ingest

    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\x1c", "\x1f", "\x85"]
    values = ["", "a", "a b", "  ", "\u0301x", "x\u0301", "é", "😀", "a\u200b", "\u200ba"]
    values += [f"{w}x" for w in spaces] + [f"x{w}" for w in spaces] + [f"{w}{w}" for w in spaces]
    values += [f"{w}é😀{w}" for w in spaces] + ["\x1c", "x\x1fy", "\x00", "a\x00", "\x7f"]
    column = pa.array(values, pa.string())
    assert ingest._clean_strings(column).to_pylist() == ingest._trim_exact(column).to_pylist()
    with_nulls = pa.array([None, " a", "", "b ", None, " "], pa.string())
    for piece in (with_nulls, with_nulls.dictionary_encode()):
        assert ingest._clean_strings(piece).to_pylist() == [None, "a", None, "b", None, None]
    rng = random.Random(7)
    alphabet = [*spaces, "a", "é", "😀", "\u0301", "", "xy"]
    for _ in range(500):
        part = pa.array(
            ["".join(rng.choices(alphabet, k=rng.randint(0, 3))) for _ in range(rng.randint(0, 9))],
            pa.string(),
        )
        start = rng.randint(0, len(part))
        encoded = part.dictionary_encode()  # how columns of repeated values are read
        for piece, plain in (
            (part, part),
            (part.slice(start, 4), part.slice(start, 4)),
            (
                pa.chunked_array([part, part.slice(start)]),
                pa.chunked_array([part, part.slice(start)]),
            ),
            (encoded, part),
            (encoded.slice(start, 4), part.slice(start, 4)),
            (
                pa.chunked_array([encoded, encoded.slice(start)]),
                pa.chunked_array([part, part.slice(start)]),
            ),
        ):
            cleaned = ingest._clean_strings(piece)
            assert cleaned.to_pylist() == ingest._trim_exact(plain).to_pylist()
            cleaned.validate(full=True)
