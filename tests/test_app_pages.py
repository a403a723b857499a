"""Every page renders without an exception, on the sample dataset and on an empty workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.semantic import CATALOG
from engine.store.workspace import Workspace
from tests.test_app_helpers import PAGES, app, problems


def test_every_page_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch).run()
    assert problems(at) == []
    assert at.query_params["page"] == "funnel"
    token = at.query_params["dataset"]
    for page in PAGES:
        at.switch_page(page).run()
        assert problems(at) == [], page
        assert at.query_params["dataset"] == token
        assert at.query_params["page"] == Path(page).stem
    names = [s.value for s in at.sidebar.selectbox if s.label == "Dataset"]
    assert names == [token]


def test_every_page_on_an_empty_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch, sample=False).run()
    assert problems(at) == []
    assert "dataset" not in at.query_params
    for page in PAGES:
        at.switch_page(page).run()
        assert problems(at) == [], page
    at.switch_page("views/quality.py").run()
    assert any("No dataset is open" in i.value for i in at.info)


def test_quality_page_numbers_on_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/quality.py").run()
    lines = [t.value for t in at.text]
    # flagged rows and warnings counted again from the stored warnings: one row per (row, rule)
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(at.query_params["dataset"]) as con:
        fired, rows = con.execute(
            "SELECT count(*), count(DISTINCT line) FROM _warnings WHERE file = 'opportunities.csv'"
        ).fetchone()
    ws.close()
    assert rows > 0 and fired >= rows
    assert (
        "opportunities.csv (opportunities): 4,000 in = 4,000 loaded + 0 quarantined; "
        f"{rows:,} rows flagged by {fired:,} warnings"
    ) in lines
    scores = next(d.value for d in at.dataframe if "score" in d.value.columns)
    assert scores.set_index("table").loc["opportunities", "rows_in"] == 4000
    impact = next(d.value for d in at.dataframe if "with flagged rows" in d.value.columns)
    assert set(impact["id"]) >= {"won_revenue", "win_rate"}
    labels = [b.label for b in at.download_button]
    assert "Download quarantined rows (CSV)" in labels
    assert "Download flagged rows (CSV)" in labels


def test_glossary_lists_and_searches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/glossary.py").run()
    assert len(at.expander) == len(CATALOG)
    assert [s.value for s in at.subheader][:3] == [
        "Tier 1 · productivity",
        "Tier 2 · lagging",
        "Tier 3 · leading",
    ]
    at.text_input(key="w_q").set_value("win rate").run()
    assert at.query_params["q"] == "win rate"
    titles = [e.label for e in at.expander]
    assert any("win_rate" in t for t in titles)
    assert len(titles) < len(CATALOG)
