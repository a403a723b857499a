"""The Leading indicators page through AppTest: the sample's planted findings in words, the
link carrying the page's choices, and a dataset without activities saying what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_app_helpers import app, chart_frames, encoded_fields, problems
from tests.test_views_honest import MAVEN, open_page, shown


def test_the_sample_findings_on_first_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/indicators.py").run()
    assert problems(at) == []
    text = shown(at)
    joined = " ".join(text)
    # the plant of sample_data/generate.py (IndicatorPlant), found by the test
    assert "Discovery quality predicts the same quarter's win rate" in joined.replace("\\", "")
    reading = next(t for t in text if "no evidence either way" in t).replace("\\", "")
    assert "Activity count" in reading.split("show no evidence")[0]
    assert any("Correlation is not causation" in t for t in text)
    assert any("test again by" in t for t in text)
    assert "nan" not in joined and "None" not in joined
    labels = [b.label for b in at.download_button]
    assert any(label.startswith("Download leading indicators") for label in labels)
    charts = chart_frames(at)
    ci = next(k for k in charts if k.startswith("rho and its 95% interval"))
    scatter = next(k for k in charts if k.startswith("Each point a rep-period"))
    spec, frames = charts[ci]
    assert {"rho", "ci_low", "ci_high", "verdict"} <= encoded_fields(spec)
    plotted = next(f for f in frames if "rho" in f.columns)
    disc = plotted.set_index("indicator").loc["discovery_score"]
    assert disc["verdict"] == "predictive" and disc["ci_low"] > 0
    spec, frames = charts[scatter]
    assert {"owner", "period", "x", "y"} <= encoded_fields(spec)
    assert "tooltip" in json.dumps(spec)


def test_choices_travel_in_the_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/indicators.py").run()
    at.selectbox(key="w_outcome").set_value("won_revenue").run()
    at.segmented_control(key="w_lag").set_value("1").run()
    at.selectbox(key="w_ind").set_value("discovery_score").run()
    assert problems(at) == []
    params = {k: at.query_params[k] for k in ("outcome", "lag", "ind")}
    assert params == {"outcome": "won_revenue", "lag": "1", "ind": "discovery_score"}
    subheads = [s.value for s in at.subheader]
    assert "What predicts next quarter's won revenue" in subheads
    # the plant's lagged effect, read on this view
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "Pipeline created predicts next quarter's won revenue" in text


def test_without_activities_the_page_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Maven's shape (no activities file): 3 agents, deals engaged in 2016-Q4 and 2017-Q1, the
    # last closing 2017-06-20, so 2016-Q4, 2017-Q1 and 2017-Q2 are complete... up to the as-of
    # date, the latest event (2017-06-20): 2017-Q2 is still running, so 2 quarters x 3 agents
    lines = [MAVEN.splitlines()[0].decode()]
    for i in range(18):
        agent = ("Ann", "Bob", "Cid")[i % 3]
        engaged = f"2016-{10 + i % 3}-0{1 + i % 9}" if i < 9 else f"2017-0{1 + i % 3}-0{1 + i % 9}"
        stage, close = ("Won", "2017-03-20") if i % 2 else ("Lost", "2017-02-10")
        lines.append(f"D{i},{agent},GTX,Acme,{stage},{engaged},{close},{1000 + i}")
    lines.append("D99,Ann,GTX,Acme,Won,2017-04-01,2017-06-20,500")
    data = ("\n".join(lines) + "\n").encode()
    at = open_page(tmp_path, monkeypatch, [("sales_pipeline.csv", data)], "indicators")
    text = " ".join(shown(at)).replace("\\", "")
    assert "Missing for a full test" in text
    assert "3 reps (the test needs at least 8)" in text
    assert "6 rep-periods (the test needs at least 20)" in text
    assert "Activity count: no activities file is loaded" in text
    assert (
        "Discovery quality: no value on this dataset: needs activities with a discovery_score "
        "(activities.csv)"
    ) in text
    assert "nan" not in text
