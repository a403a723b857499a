"""The four analysis pages under AppTest: they render on the sample, show their charts, react
to filters and page choices (kept in the URL), show the engine's numbers, and name the file to
upload when an optional table is missing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.metrics import compute, coverage, funnel, make_request
from engine.pipeline import load_files
from engine.quality import dataset_profile, format_value
from engine.samples import sample_files
from engine.store import Workspace
from tests.test_app_helpers import app, problems


def _open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, **params: str) -> AppTest:
    at = app(tmp_path, monkeypatch).run()
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page(f"views/{page}.py").run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def _as_of(con) -> dt.date:  # type: ignore[no-untyped-def]
    """The day the pages analyse as of: the dataset's latest event (see engine.quality)."""
    return dt.date.fromisoformat(str(dataset_profile(con).as_of))


def _engine(tmp_path: Path, at: AppTest) -> tuple[Workspace, str]:
    return Workspace(tmp_path / "ws"), at.query_params["dataset"]


def test_funnel_numbers_equal_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(tmp_path, monkeypatch, "funnel", period="2026")
    assert problems(at) == []
    assert _charts(at) >= 4
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("stage_conversion", period="2026", grain="month", as_of=_as_of(con))
        f = funnel.conversion(con, req).frame.set_index("to_stage")
    shown = _metrics(at)
    assert shown["Opportunity → proposal"] == format_value(f.loc["proposal", "rate"], "ratio")
    assert shown["Lead → SAL"] == format_value(f.loc["sal", "rate"], "ratio")
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Proposal → won"] == f"n={int(f.loc['closed_won', 'reached_from']):,} deals"


def test_funnel_segment_choice_goes_to_the_url_and_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(tmp_path, monkeypatch, "funnel")
    before = _metrics(at)["Opportunity → proposal"]
    at.button_group(key="w_seg").set_value("Enterprise").run()
    assert problems(at) == []
    assert at.query_params["seg"] == "Enterprise"
    after = _metrics(at)["Opportunity → proposal"]
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request(
            "stage_conversion", filters={"segment": ["Enterprise"]}, as_of=_as_of(con)
        )
        f = funnel.conversion(con, req).frame.set_index("to_stage")
    assert after == format_value(f.loc["proposal", "rate"], "ratio") != before
    assert f.loc["proposal", "band_low"] == 0.40


def test_velocity_reacts_to_the_segment_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(tmp_path, monkeypatch, "velocity", period="2026")
    assert problems(at) == []
    assert _charts(at) >= 4
    at.sidebar.multiselect(key="w_segment").set_value(["SMB"]).run()
    assert at.query_params["segment"] == "SMB"
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        r = compute(
            con,
            make_request(
                "sales_velocity", period="2026", filters={"segment": ["SMB"]}, as_of=_as_of(con)
            ),
        )
    shown = _metrics(at)
    assert shown["Sales velocity"] == format_value(r.value, "currency_per_day")
    assert shown["Win rate"] == format_value(r.extras["win_rate"], "ratio")
    at.toggle(key="w_outliers").set_value(True).run()
    assert at.query_params["outliers"] == "exclude"
    assert [m.delta for m in at.metric if m.label == "Outliers"] == ["left out"]


def test_coverage_numbers_equal_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(tmp_path, monkeypatch, "coverage", period="2026-Q4")
    assert problems(at) == []
    assert _charts(at) >= 4
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("pipeline_coverage", period="2026-Q4", as_of=_as_of(con))
        now = compute(con, req).value
        nxt = compute(con, req.with_(period=req.period.shifted(1))).value
        stale = len(coverage.stale_deals(con, req).frame)
    shown = _metrics(at)
    assert shown["Coverage 2026-Q4"] == format_value(now, "multiple")
    assert shown["Coverage next period"] == format_value(nxt, "multiple")
    assert any(f"{stale:,} open deals have been over 60 days" in w.value for w in at.warning)
    at.button_group(key="w_level").set_value("owner").run()
    assert at.query_params["level"] == "owner"
    assert problems(at) == []


def test_coaching_flags_the_busy_rep_and_keeps_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(tmp_path, monkeypatch, "coaching", period="2026")
    assert problems(at) == []
    assert _charts(at) >= 4
    assert any("Derek Holloway" in w.value for w in at.warning)
    at.number_input(key="w_w_discovery").set_value(50).run()
    assert at.query_params["w_discovery"] == "50"
    at.selectbox(key="w_rep").set_value("Priya Raman").run()
    assert at.query_params["rep"] == "Priya Raman"
    assert problems(at) == []
    assert any("Peers" in c.value for c in at.caption)


@pytest.mark.parametrize(
    ("missing", "page", "message"),
    [
        ("stage_history.csv", "funnel", "upload stage_history.csv"),
        ("leads.csv", "funnel", "upload leads.csv"),
        ("quotas.csv", "coverage", "upload quotas.csv"),
        ("activities.csv", "coaching", "activities.csv"),
    ],
)
def test_missing_table_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, page: str, message: str
) -> None:
    ws = Workspace(tmp_path / "ws")
    files = [(n, b) for n, b in sample_files() if n != missing]
    info, _ = load_files(ws, files, name="partial")
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params["dataset"] = info.token
    at.run().switch_page(f"views/{page}.py").run()
    assert problems(at) == []
    assert any(message.lower() in i.value.lower() for i in at.info)
    assert _charts(at) >= 1


def _without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, page: str) -> AppTest:
    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, [(n, b) for n, b in sample_files() if n != missing], name="partial")
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params["dataset"] = info.token
    return at.run().switch_page(f"views/{page}.py").run()


def _shown_text(at: AppTest) -> list[str]:
    return [m.value for m in at.metric] + [m.delta or "" for m in at.metric]


def test_funnel_without_leads_says_na_never_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _without(tmp_path, monkeypatch, "leads.csv", "funnel")
    assert problems(at) == []
    shown = _metrics(at)
    # The cards follow the funnel the data reaches: without leads there is no lead transition,
    # so one "Lead → SAL" card says why (it used to show four lead cards reading "n=0 leads").
    assert shown["Lead → SAL"] == "n/a" and "SQL → opportunity" not in shown
    assert not [t for t in _shown_text(at) if "nan" in t.lower() or "None" in t]
    cards = {m.label: m for m in at.metric}
    assert cards["Lead → SAL"].delta == "n/a, no leads table"
    assert cards["Lead → SAL"].help == "n/a: no leads table."
    # a sample size is a grey tag, not a trend arrow
    assert all(m.proto.direction == m.proto.MetricDirection.NONE for m in at.metric)
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("stage_conversion", as_of=_as_of(con))
        f = funnel.conversion(con, req).frame.set_index("to_stage")
    assert shown["Opportunity → proposal"] == format_value(f.loc["proposal", "rate"], "ratio")


def test_coaching_without_quotas_shows_the_upload_message_not_empty_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _without(tmp_path, monkeypatch, "quotas.csv", "coaching")
    assert problems(at) == []
    infos = [i.value for i in at.info]
    assert any(i.startswith("Upload quotas.csv to see attainment") for i in infos)
    assert "Upload quotas.csv to see coverage per team." in infos
    assert _metrics(at)["Median attainment"] == "n/a"
    assert not [t for t in _shown_text(at) if "nan" in t.lower()]
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert not any("Attainment distribution" in s or "Coverage, next" in s for s in specs)
    assert any("Win rate by segment" in s for s in specs)
    assert any(c.value.startswith("Graded period: 1 ") for c in at.caption)


def test_coverage_without_quotas_has_no_empty_card_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _without(tmp_path, monkeypatch, "quotas.csv", "coverage")
    assert problems(at) == []
    assert [m.label for m in at.metric] == [
        "Forecast, next 90 days",
        "Open, next 90 days",
        "Pipeline aging",
    ]
    assert [m.delta for m in at.metric] == ["", "", "healthy below 20%"]
