"""The Pipeline changes page through AppTest (docs/metrics.md, Pipeline changes): on the sample's
two snapshots its numbers equal the engine's, the identity is written out and balances, the
drill-down, stage moves and the split per team are there, and a link reopens the comparison;
``snapshot=`` picks the export every page analyses and a bad one is refused with a notice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.analyses import changes
from engine.load.pipeline import load_files
from engine.semantic.request import parse_period
from engine.store.workspace import Workspace
from tests.test_app_helpers import app, chart_frames, problems

OLD, NEW = "2026-11-06", "2026-11-20"  # the sample's two exports (sample_data/snapshots/)


def _engine(root: Path, token: str, by: str | None = None) -> changes.Changes:
    ws = Workspace(root)
    try:
        period = parse_period("2026-Q4", dt.date(2026, 11, 20))
        with changes.attach_pair(ws.path(f"{token}@{OLD}"), ws.path(token)) as con:
            return changes.compare(con, period, by)
    finally:
        ws.close()


def test_changes_page_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/changes.py").run()
    assert problems(at) == []
    token = at.query_params["dataset"]
    want = _engine(tmp_path / "ws", token)
    cards = {m.label: m.value for m in at.metric}
    # Start and End of Q4 2026 (the quarter of the newer export), short currency.
    assert cards[f"Start ({OLD})"] == f"${want.total.start.amount / 1e6:.1f}M"
    assert cards[f"End ({NEW})"] == f"${want.total.end.amount / 1e6:.1f}M".replace(".0M", "M")
    assert cards["Identity"] == "balances"
    identity = at.success[0].value.replace("\\", "")
    # Sample (regenerated with the planted indicator structure): 9,584,000 + 194,200 + 265,000
    # + 50,100 + 31,200 + 22,000 - 512,700 - 259,600 - 48,700 - 677,400 - 253,000 - 50,100
    # = 8,345,000; deals 234 + 10 + 6 + 4 + 2 - 14 - 10 - 3 - 8 - 1 = 220
    assert identity.startswith("Start $9.6M + new $194.2K + pulled in $265K")
    assert identity.endswith("- amount decreased $50.1K = End $8.3M: balances")
    assert (want.total.start.amount, want.total.end.amount) == (9_584_000.0, 8_345_000.0)
    assert (want.total.start.deals, want.total.end.deals) == (234, 220)
    # Every bucket of the engine is in the bucket table, zeros included.
    table = next(d.value for d in at.dataframe if "bucket" in d.value.columns)
    assert table.set_index("bucket")["amount"].to_dict() == pytest.approx(
        {b: p.amount for b, p in want.total.buckets.items()}
    )
    assert table.set_index("bucket")["deals"].to_dict() == {
        b: p.deals for b, p in want.total.buckets.items()
    }
    # The waterfall plots Start, the non-empty buckets and End, with tooltips.
    spec, frames = chart_frames(at)["From Start to End"]
    steps = frames[0]["step"].tolist()
    assert steps[0] == "Start" and steps[-1] == "End"
    assert len(steps) == 2 + sum(1 for p in want.total.buckets.values() if p.deals)
    assert "tooltip" in str(spec)
    # Drill-down: the first non-empty bucket is "new", 10 deals, downloadable.
    drill = next(d.value for d in at.dataframe if "old_stage" in d.value.columns)
    assert len(drill) == want.total.buckets["new"].deals == 10
    assert set(drill["bucket"]) == {"new"}
    assert "Download deals new (CSV)" in [b.label for b in at.download_button]
    at.selectbox(key="w_bucket").set_value("won").run()
    assert at.query_params["bucket"] == "won"
    drill = next(d.value for d in at.dataframe if "old_stage" in d.value.columns)
    assert len(drill) == 14 and set(drill["new_stage"]) == {"Closed Won"}
    # Stage moves in words and as a table.
    assert any("deals advanced" in m.value for m in at.markdown)
    # The link that reopens this comparison names both snapshots and the period.
    link = next(c.value for c in at.code if "old=" in c.value)
    assert f"old={OLD}" in link and f"new={NEW}" in link and "p=2026-Q4" in link


def test_changes_per_team_shows_transfers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch).run()
    at.query_params["page"] = "changes"
    at.query_params["split"] = "team"
    at.switch_page("views/changes.py").run()
    assert problems(at) == []
    want = _engine(tmp_path / "ws", at.query_params["dataset"], "team")
    groups = next(d.value for d in at.dataframe if "transferred_in" in d.value.columns)
    assert groups["team"].tolist() == [g.by["team"] for g in want.groups]
    assert groups["transferred_in"].sum() == pytest.approx(
        sum(g.buckets["transferred_in"].amount for g in want.groups)
    )
    assert groups["transferred_in"].sum() > 0  # four deals changed team in the sample
    assert groups["balances"].all()


def test_snapshot_in_the_link_picks_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch).run()
    token = at.query_params["dataset"]
    at.query_params["snapshot"] = OLD
    at.switch_page("views/quality.py").run()
    assert problems(at) == []
    lines = [t.value for t in at.text]
    # The earlier export: 4,000 - 10 new since + 3 removed since = 3,993 deals.
    assert any(line.startswith("opportunities.csv (opportunities): 3,993 in") for line in lines)
    assert at.query_params["snapshot"] == OLD
    # A date that is not one of the dataset's snapshots is dropped with a notice.
    at.query_params["snapshot"] = "2026-01-01"
    at.switch_page("views/funnel.py").run()
    assert any("no snapshot as of 2026-01-01" in w.value.replace("\\", "") for w in at.warning)
    assert "snapshot" not in at.query_params and at.query_params["dataset"] == token


def test_one_snapshot_says_how_to_add_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path / "ws")
    deals = b"Deal ID,Owner,Stage,Amount,Create Date,Close Date\nD1,Ann,Qualified,10,2026-01-05,2026-05-10\n"
    info, _ = load_files(ws, [("deals.csv", deals)])
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params["dataset"] = info.token
    at.query_params["page"] = "changes"
    at.run().switch_page("views/changes.py").run()
    assert problems(at) == []
    assert any("nothing to compare yet" in i.value for i in at.info)
