"""Snapshots of a dataset and the command line of pipeline changes, through the real loader on
tiny exports (docs/metrics.md, Pipeline changes; docs/metrics.md, History from snapshots)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from engine.analyses import changes
from engine.cli import commands as cli
from engine.core.errors import DatasetNotFound, InputError, WorkbenchError
from engine.load.pipeline import load_files
from engine.load.snapshots import DERIVED_FILE, load_snapshot
from engine.store.workspace import Workspace

HEAD = "Deal ID,Deal Owner,Deal Stage,Amount,Create Date,Close Date\n"
# Older export, as of 2026-04-01. Q2 = [2026-04-01, 2026-07-01).
OLD = HEAD + (
    "D1,Ann,Qualified,100,2026-01-05,2026-05-10\n"  # in Q2: Start
    "D2,Bob,Proposal,200,2026-01-06,2026-05-20\n"  # in Q2: Start
    "D3,Ann,Qualified,300,2026-01-07,2026-08-01\n"  # after Q2: not in Start
    "D5,Bob,Qualified,70,2026-02-01,2026-06-01\n"  # in Q2: Start
)
# Newer export, as of 2026-04-15.
NEW = HEAD + (
    "D1,Ann,Proposal,150,2026-01-05,2026-05-10\n"  # stays, 100 -> 150: increased 50
    "D2,Bob,Closed Won,200,2026-01-06,2026-04-10\n"  # won 200
    "D3,Ann,Qualified,300,2026-01-07,2026-06-01\n"  # pulled in 300
    "D4,Cid,Qualified,,2026-04-10,2026-06-01\n"  # new, no amount: 0, counted
)  # D5 missing: removed 70
# Start 100 + 200 + 70 = 370; End 150 + 300 + 0 = 450;
# 370 + new 0 + pulled_in 300 + increased 50 - won 200 - removed 70 = 450.


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "deals_old.csv", tmp_path / "deals_new.csv"
    old.write_text(OLD)
    new.write_text(NEW)
    return old, new


def _loaded(root: Path, files: tuple[Path, Path]) -> tuple[Workspace, str]:
    ws = Workspace(root)
    info, _ = load_files(ws, [(files[0].name, files[0])], as_of=dt.date(2026, 4, 1))
    load_snapshot(ws, info.token, [(files[1].name, files[1])], as_of=dt.date(2026, 4, 15))
    return ws, info.token


def test_snapshot_is_listed_latest_first_opened_and_deleted_alone(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    ws, token = _loaded(tmp_path / "ws", files)
    snaps = ws.snapshots(token)
    # The first load is as of its data's latest event (the latest created date, 2026-02-01: no
    # deal is closed in it) and is kept under that date; the token opens the latest.
    assert [(s.key, s.as_of, s.latest) for s in snaps] == [
        (f"{token}@2026-02-01", "2026-02-01", False),
        (token, "2026-04-15", True),
    ]
    with ws.cursor(token) as cur:  # the newer export: D1 D2 D3 D4
        assert cur.execute(
            "SELECT count(*) FROM opportunities WHERE opportunity_id = 'D4'"
        ).fetchone() == (1,)
    with ws.cursor(f"{token}@2026-02-01") as cur:  # the older one: D1 D2 D3 D5
        assert cur.execute(
            "SELECT count(*) FROM opportunities WHERE opportunity_id = 'D5'"
        ).fetchone() == (1,)
    with pytest.raises(DatasetNotFound, match="no snapshot as of"):
        ws.snapshot(token, "2026-04-14")
    with pytest.raises(DatasetNotFound):
        ws.snapshot(token, "../../etc/passwd")
    # Deleting the latest makes the one before it the latest again (under the token).
    ws.delete(f"{token}@2026-04-15")
    assert [(s.key, s.as_of) for s in ws.snapshots(token)] == [(token, "2026-02-01")]
    with ws.cursor(token) as cur:
        assert cur.execute(
            "SELECT count(*) FROM opportunities WHERE opportunity_id = 'D5'"
        ).fetchone() == (1,)
    with pytest.raises(WorkbenchError, match="only snapshot"):
        ws.delete(f"{token}@2026-02-01")
    assert ws.exists(token)


def test_deleting_an_earlier_snapshot_keeps_the_latest(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    ws, token = _loaded(tmp_path / "ws", files)
    ws.delete(f"{token}@2026-02-01")
    assert [(s.key, s.as_of) for s in ws.snapshots(token)] == [(token, "2026-04-15")]


def test_deleting_the_dataset_deletes_its_snapshots(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    ws, token = _loaded(tmp_path / "ws", files)
    ws.delete(token)
    assert list((tmp_path / "ws" / "datasets").glob(f"{token}*")) == []


def test_an_older_snapshot_is_refused_and_leaves_nothing(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    ws, token = _loaded(tmp_path / "ws", files)
    before = sorted(p.name for p in (tmp_path / "ws" / "datasets").iterdir())
    with pytest.raises(InputError, match="newer than the dataset's latest"):
        load_snapshot(ws, token, [(files[1].name, files[1])], as_of=dt.date(2026, 4, 10))
    with pytest.raises(Exception, match="newer than"):
        load_snapshot(ws, token, [(files[1].name, files[1])], as_of=dt.date(2026, 4, 15))
    assert sorted(p.name for p in (tmp_path / "ws" / "datasets").iterdir()) == before


def test_history_from_snapshots(tmp_path: Path, files: tuple[Path, Path]) -> None:
    ws, token = _loaded(tmp_path / "ws", files)
    with ws.cursor(token) as cur:
        rows = cur.execute(
            "SELECT opportunity_id, stage, CAST(entered_at AS DATE), _file FROM stage_history "
            "ORDER BY opportunity_id, entered_at"
        ).fetchall()
    # D1 Qualified -> Proposal, D2 Proposal -> Closed Won: the old stage at the older as-of
    # (2026-02-01), the new one at the newer (2026-04-15). D3 unchanged, D4 new, D5 gone: none.
    old_day, new_day = dt.date(2026, 2, 1), dt.date(2026, 4, 15)
    assert rows == [
        ("D1", "Qualified", old_day, DERIVED_FILE),
        ("D1", "Proposal", new_day, DERIVED_FILE),
        ("D2", "Proposal", old_day, DERIVED_FILE),
        ("D2", "Closed Won", new_day, DERIVED_FILE),
    ]


def test_history_is_not_derived_when_the_export_has_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    hist = "Opportunity ID,Stage,Entered At\nD1,Qualified,2026-01-05\n"
    (tmp_path / "h.csv").write_text(hist)
    (tmp_path / "o.csv").write_text(OLD)
    (tmp_path / "n.csv").write_text(NEW)
    info, _ = load_files(
        ws, [("o.csv", tmp_path / "o.csv"), ("stage_history.csv", tmp_path / "h.csv")]
    )
    load_snapshot(ws, info.token, [("n.csv", tmp_path / "n.csv")], as_of=dt.date(2026, 4, 15))
    with ws.cursor(info.token) as cur:
        assert cur.execute("SELECT count(*) FROM stage_history").fetchone() == (0,)


def test_cli_load_into_changes_and_report(tmp_path: Path, files: tuple[Path, Path]) -> None:
    ws_dir = str(tmp_path / "ws")
    code, out, _ = _run("--workspace", ws_dir, "load", str(files[0]), "--json")
    assert code == 0
    token = json.loads(out)["token"]
    code, out, err = _run(
        "--workspace", ws_dir, "load", str(files[1]), "--into", token, "--as-of", "2026-04-15"
    )
    assert code == 0, err
    assert "Added a snapshot as of 2026-04-15 to dataset" in out
    code, out, _ = _run("--workspace", ws_dir, "snapshots", token)
    assert out.split() == ["2026-02-01", f"{token}@2026-02-01", "2026-04-15", f"{token}@2026-04-15"]
    # Still loaded as the latest after the CLI's workspace closed: a new one opens the file.
    with Workspace(ws_dir).cursor(token) as cur:
        assert cur.execute("SELECT value FROM _meta WHERE key = 'data_as_of'").fetchone() == (
            "2026-04-15",
        )

    code, out, err = _run(
        "--workspace", ws_dir, "changes", f"{token}@2026-02-01", f"{token}@2026-04-15",
        "--period", "2026-Q2", "--json",
    )  # fmt: skip
    assert code == 0, err
    got = json.loads(out)
    assert got["period"] == "2026-Q2"
    assert got["start"] == {"amount": 370.0, "deals": 3}  # 100 + 200 + 70
    assert got["end"] == {"amount": 450.0, "deals": 3}  # 150 + 300 + 0 (D4 counted)
    nonzero = {b: v for b, v in got["buckets"].items() if v["deals"]}
    assert nonzero == {
        "new": {"amount": 0.0, "deals": 1},  # D4, empty amount
        "pulled_in": {"amount": 300.0, "deals": 1},  # D3
        "amount_increased": {"amount": 50.0, "deals": 1},  # D1 150 - 100
        "won": {"amount": 200.0, "deals": 1},  # D2
        "removed": {"amount": 70.0, "deals": 1},  # D5
    }
    assert list(got["buckets"]) == list(changes.BUCKETS)  # zeros included

    # The same from the two export files directly, split by owner.
    code, out, err = _run(
        "--workspace", ws_dir, "changes", str(files[0]), str(files[1]), "--period", "2026-Q2",
        "--by", "owner", "--json",
    )  # fmt: skip
    assert code == 0, err
    by = {g["by"]["owner"]: g for g in json.loads(out)["groups"]}
    assert set(by) == {"Ann", "Bob", "Cid"}
    # Ann: Start 100 (D1); End 150 + 300 = 450 = 100 + pulled_in 300 + increased 50.
    assert by["Ann"]["start"]["amount"] == 100.0 and by["Ann"]["end"]["amount"] == 450.0
    # Bob: Start 200 + 70 = 270; End 0 = 270 - won 200 - removed 70.
    assert by["Bob"]["start"] == {"amount": 270.0, "deals": 2}
    assert by["Bob"]["end"] == {"amount": 0.0, "deals": 0}

    # Text output writes the identity out.
    code, out, _ = _run(
        "--workspace", ws_dir, "changes", f"{token}@2026-02-01", f"{token}@2026-04-15"
    )
    assert "Start 370.00 + new 0.00 + pulled in 300.00" in out and "= End 450.00: balances" in out
    assert "1 deal entries without an amount count as 0" in out

    # report TOKEN reads the latest snapshot; TOKEN@DATE the one named.
    _, latest, _ = _run("--workspace", ws_dir, "report", token, "--json", "--metrics", "won_deals")
    _, first, _ = _run(
        "--workspace", ws_dir, "report", f"{token}@2026-02-01", "--json", "--metrics", "won_deals"
    )
    assert json.loads(latest)["metrics"]["won_deals"]["value"] == 1  # D2 won in the newer one
    assert json.loads(first)["metrics"]["won_deals"]["value"] == 0

    code, _, err = _run("--workspace", ws_dir, "changes", f"{token}@2026-03-01", token)
    assert code == 2 and "no snapshot as of '2026-03-01'" in err
    code, out, _ = _run("--workspace", ws_dir, "delete", f"{token}@2026-04-15")
    assert code == 0 and "Deleted the snapshot as of 2026-04-15" in out
    code, _, err = _run("--workspace", ws_dir, "delete", f"{token}@2026-02-01")
    assert code == 2 and "delete the dataset instead" in err
