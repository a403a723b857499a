"""The four analysis pages under AppTest: they render on the sample, show their charts, react
to filters and page choices (kept in the URL), show the engine's numbers, and name the file to
upload when an optional table is missing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.analyses import coaching, coverage, funnel, velocity
from engine.core.units import format_value
from engine.load.pipeline import load_files
from engine.load.samples import sample_files
from engine.semantic import compute, make_request
from engine.semantic.profile import dataset_profile
from engine.store.workspace import Workspace
from tests.test_app_helpers import app, chart_frames, encoded_fields, problems


def _open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, **params: str) -> AppTest:
    at = app(tmp_path, monkeypatch).run()
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page(f"views/{page}.py").run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _same(shown: pd.DataFrame, engine: pd.DataFrame, key: str | list[str], cols: list[str]) -> None:
    """The chart plots exactly the engine's rows for ``cols``, matched on ``key``."""
    a = shown.set_index(key)[cols].sort_index()
    b = engine.set_index(key)[cols].sort_index()
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False)


def _as_of(con) -> dt.date:  # type: ignore[no-untyped-def]
    """The day the pages analyse as of: the dataset's latest event (see engine.analyses.quality)."""
    return dt.date.fromisoformat(str(dataset_profile(con).as_of))


def _engine(tmp_path: Path, at: AppTest) -> tuple[Workspace, str]:
    return Workspace(tmp_path / "ws"), at.query_params["dataset"]


def test_funnel_numbers_equal_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(tmp_path, monkeypatch, "funnel", period="2026")
    assert problems(at) == []
    charts = chart_frames(at)
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("stage_conversion", period="2026", grain="month", as_of=_as_of(con))
        f = funnel.conversion(con, req).frame.set_index("to_stage")
        per_seg = funnel.conversion(con, req.with_(by=("segment",))).frame
        tis = funnel.time_in_stage(con, req).frame
    # "All segments": one row of bars per segment, each transition's rate against its band
    spec, (conv, *_) = charts["Stage conversion against the benchmark band (grey)"]
    assert {"segment", "rate", "band_low", "band_high"} <= encoded_fields(spec)
    _same(conv, per_seg, ["segment", "transition"], ["rate", "reached_from", "band_low"])
    spec, (days, *_) = charts["Median days in stage (line: 25th-75th percentile)"]
    assert {"median", "p25", "p75"} <= encoded_fields(spec)
    _same(days, tis, "stage", ["median", "p25", "p75", "n"])
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
    charts = chart_frames(at)
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("sales_velocity", period="2026", as_of=_as_of(con))
        hist = velocity.cycle_histogram(con, req)
        coh = velocity.cohorts(con, req, after_days=90).frame
    spec, (bins, *_) = charts["Won-deal cycle length"]
    assert {"bin_start", "bin_end", "deals"} <= encoded_fields(spec)
    _same(bins, hist.frame, "bin_start", ["bin_end", "deals"])
    assert bins["deals"].sum() == hist.extras["n"]  # every won deal of 2026 in one bin
    _, (cohorts, *_) = charts["Created-month cohorts after 90 days"]
    assert cohorts[["deals", "won", "lost", "open_after"]].to_dict("list") == coh[
        ["deals", "won", "lost", "open_after"]
    ].to_dict("list")
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
    charts = chart_frames(at)
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("pipeline_coverage", period="2026-Q4", as_of=_as_of(con))
        now = compute(con, req).value
        nxt = compute(con, req.with_(period=req.period.shifted(1))).value
        stale = len(coverage.stale_deals(con, req).frame)
        per_team = coverage.coverage(con, req, level="team").frame
        aging = coverage.aging(con, req).frame
    for which in ("current", "next"):
        spec, (bars, *_) = charts[f"Coverage, {which} period"]
        assert {"team", "value"} <= encoded_fields(spec)
        _same(bars, per_team[per_team["period"] == which], "team", ["value", "denominator"])
    spec, (aged, *_) = charts["Share of open deals past 1.5x their stage median"]
    assert {"stage", "value"} <= encoded_fields(spec)
    _same(aged, aging, "stage", ["value", "numerator", "denominator"])
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
    charts = chart_frames(at)
    ws, token = _engine(tmp_path, at)
    with ws.cursor(token) as con:
        req = make_request("quota_attainment", period="2026", as_of=_as_of(con))
        attainment = coaching.team_tier(con, req).attainment.frame
        busy = coaching.activity_vs_conversion(con, req).frame
    spec, (dots, *_) = charts["Attainment distribution (one dot per rep)"]
    assert "value" in encoded_fields(spec)
    _same(dots, attainment, "owner", ["value", "numerator", "denominator"])
    spec, (reps, *_) = charts["Activity against conversion per rep (dashed lines: medians)"]
    assert {"activities_per_opportunity", "conversion"} <= encoded_fields(spec)
    _same(reps, busy, "owner", ["activities_per_opportunity", "conversion", "busy_not_converting"])
    # the busy rep the warning names is the one the chart marks
    assert bool(reps.set_index("owner").loc["Derek Holloway", "busy_not_converting"])
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
    # the page still draws what the other tables allow, and every chart it draws plots rows
    charts = chart_frames(at)
    assert charts
    assert all(frames and any(len(f) for f in frames) for _, frames in charts.values())


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
