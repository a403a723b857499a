"""The Forecast page through AppTest on the sample: projection, backtest, bias in words, "See
the math" from a link, and the stage rates; the numbers are the engine's (tests/test_backtest.py
checks those by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.analyses.backtest import backtest
from engine.semantic.request import make_request
from engine.store.workspace import Workspace
from tests.metrics_fixtures import SAMPLE_AS_OF
from tests.test_app_helpers import app, chart_frames, problems


def _engine(tmp_path: Path, token: str):
    ws = Workspace(tmp_path / "ws")
    try:
        with ws.cursor(token) as con:
            return backtest(con, make_request(["forecast_accuracy"], as_of=SAMPLE_AS_OF))
    finally:
        ws.close()


def test_forecast_page_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = app(tmp_path, monkeypatch).run()
    token = first.query_params["dataset"]
    at = app(tmp_path, monkeypatch)
    at.query_params = {
        "dataset": token,
        "page": "forecast",
        "quarter": "2026-Q2",
        "checkpoint": "week4",
        "method": "historical_rate",
    }
    at.run()
    assert problems(at) == []
    assert [h.value for h in at.header] == ["Forecast"]
    bt = _engine(tmp_path, token)
    # the projection: one card per method, best by backtest first
    labels = [m.label for m in at.metric]
    # on the sample (with its planted rep structure) the learned stage rates backtest best
    assert labels[0] == "Best: Historical stage rates"
    assert bt.best_method == "historical_rate"
    text = " ".join(m.value for m in at.markdown)
    # bias in words: the sample's CRM probabilities over-forecast (mean error / actual)
    crm_bias = bt.summary.set_index("method").loc["crm_probability", "bias"]
    assert crm_bias > 0.5
    assert f"CRM probabilities over-forecast by {crm_bias:.0%} on average" in text
    assert "that spread is the honest uncertainty" in text
    # See the math from the link: 2026-Q2 at week 4 with historical rates
    assert at.selectbox(key="w_quarter").value == "2026-Q2"
    assert at.selectbox(key="w_math_cp").value == "week4"
    assert at.selectbox(key="w_method").value == "historical_rate"
    cell = bt.results.set_index(["period", "checkpoint_name", "method"]).loc[
        ("2026-Q2", "week 4", "historical_rate")
    ]
    assert f"= **${cell['forecast']:,.0f}**" in text
    charts = chart_frames(at)
    assert {"Backtest accuracy", "Stage win rates learned against the stage map's defaults"} <= set(
        charts
    )
    assert any(k.startswith("Forecast at week 4") for k in charts)  # the link's checkpoint
    # a choice goes back into the link
    at.selectbox(key="w_method").set_value("crm_probability").run()
    assert at.query_params["method"] == "crm_probability"
    assert problems(at) == []


def test_forecast_page_says_how_much_history_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = app(tmp_path, monkeypatch).run()
    token = first.query_params["dataset"]
    at = app(tmp_path, monkeypatch)
    # the sample's history starts on 2024-11-20: of the quarters before 2025-Q3, only 2025-Q1
    # and 2025-Q2 start after it (their pipeline can be rebuilt) -> 2
    at.query_params = {"dataset": token, "page": "forecast", "period": "2025-Q3"}
    at.run()
    assert problems(at) == []
    infos = " ".join(i.value for i in at.info)
    assert "needs 4 quarters of history before 2025-Q3; this data has 2" in infos


def test_coverage_and_coaching_say_which_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch).run()
    bt = _engine(tmp_path, at.query_params["dataset"])
    s = bt.summary.set_index("method")["mean_accuracy"]
    # on the sample the learned stage rates beat the CRM's probabilities in the backtest
    assert s["historical_rate"] > s["crm_probability"]
    at.switch_page("views/coverage.py").run()
    assert problems(at) == []
    captions = [c.value for c in at.caption]
    learned = (
        "Weighted by stage win rates learned from 2025-Q4, 2026-Q1, 2026-Q2, 2026-Q3: they beat "
        f"the CRM's probabilities in the backtest ({s['historical_rate']:.0%} against "
        f"{s['crm_probability']:.0%} mean accuracy)."
    )
    assert f"Forecast, next 90 days: {learned}" in [c.replace("\\", "") for c in captions]
    at.switch_page("views/coaching.py").run()
    assert problems(at) == []
    text = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "Method: CRM probabilities (crm_probability)" in text


def test_forecast_page_without_stage_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_views_honest import MAVEN, assert_no_nan, open_page

    at = open_page(tmp_path, monkeypatch, [("sales_pipeline.csv", MAVEN)], "forecast")
    infos = " ".join(i.value for i in at.info)
    assert "Forecast n/a: needs stage history" in infos
    assert at.metric.len == 0  # no made-up projection
    assert_no_nan(at)
