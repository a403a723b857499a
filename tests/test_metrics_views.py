"""Funnel, pipeline, velocity and coaching functions, alerts and the report, on the tiny dataset
(period 2026-Q3, as-of 2026-09-20; see metrics_fixtures for the rows)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from engine.analyses import coaching, coverage, funnel, velocity
from engine.analyses.alerts import run_alerts
from engine.analyses.report import add_report_arguments, build_report, run_report
from engine.semantic import make_request
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS, Band
from tests.metrics_fixtures import TINY_AS_OF, tiny_con


@pytest.fixture(scope="module")
def con():
    return tiny_con()


@pytest.fixture
def req():
    return make_request(["win_rate"], period="2026-Q3", as_of=TINY_AS_OF)


def test_funnel_conversion(con, req):
    f = funnel.conversion(con, req).frame.set_index(["from_stage", "to_stage"])
    # leads created in Q3: L1 converted, L2 SQL, L3 disqualified -> lead 3, sal 2, sql 2, opp 1
    assert f.loc[("lead", "sal"), "rate"] == pytest.approx(2 / 3)
    assert f.loc[("sal", "sql"), "rate"] == pytest.approx(1.0)
    assert f.loc[("sql", "opportunity"), "rate"] == pytest.approx(1 / 2)
    # deals: see test_stage_conversion (5 -> 3 -> 1)
    assert f.loc[("opportunity", "proposal"), "rate"] == pytest.approx(3 / 5)
    assert f.loc[("proposal", "closed_won"), "reached_from"] == 3


def test_funnel_conversion_band_by_segment(con, req):
    f = funnel.conversion(con, req.with_(by=("segment",))).frame
    smb = f[(f["segment"] == "SMB") & (f["from_stage"] == "lead")].iloc[0]
    assert (smb["band_low"], smb["band_high"]) == (0.15, 0.25)


def test_time_in_stage_per_stage(con, req):
    f = funnel.time_in_stage(con, req).frame.set_index("stage")
    # opportunity visits 15 (o3) and 30 (o5): median 22.5; proposal 12 (o3)
    assert f.loc["opportunity", "median"] == 22.5
    assert f.loc["proposal", "n"] == 1


def test_time_in_stage_lead_stages(con, req):
    f = funnel.time_in_stage(con, req).frame.set_index("stage")
    # lead: L1 07-01 08:00 -> sal 07-02 = 16 h = 2/3 d; L2 07-02 09:00 -> 07-04 = 39 h = 1.625 d
    # (L4 was created in June: not in Q3)
    assert f.loc["lead", "n"] == 2
    assert f.loc["lead", "mean"] == pytest.approx((2 / 3 + 1.625) / 2)
    # sal: L1 07-02 -> 07-05 = 3 d, L2 07-04 -> 07-08 = 4 d
    assert f.loc["sal", "median"] == pytest.approx(3.5)
    # sql: L1 07-05 -> converted 07-10 = 5 d; L2 has no converted_date (still open)
    assert (f.loc["sql", "n"], f.loc["sql", "mean"]) == (1, pytest.approx(5.0))
    # the funnel order: lead stages first
    assert list(f.index) == ["lead", "sal", "sql", "opportunity", "proposal"]
    # no segment in the request: no band; by segment, SMB lead -> sal is 3-7 d (docs/benchmarks.md)
    assert f.loc["lead", "band_low"] is None
    seg = funnel.time_in_stage(con, req.with_(by=("segment",))).frame
    smb = seg[(seg["segment"] == "SMB") & (seg["stage"] == "lead")].iloc[0]
    assert (smb["band_low"], smb["band_high"]) == (3, 7)


def test_leakage(con, req):
    f = funnel.leakage(con, req).frame.set_index("stage")
    # lost in the Q3 cohort: o3 (reached proposal), o7 (opportunity)
    assert f.loc["proposal", "lost"] == 1 and f.loc["opportunity", "lost"] == 1


def test_stale_and_slipped_lists(con, req):
    stale = coverage.stale_deals(con, req).frame
    assert list(stale["opportunity_id"]) == ["o8"] and stale["days_in_stage"][0] == 231
    # open with close_date before 2026-09-20: o5 (09-15)
    assert list(coverage.slipped_deals(con, req).frame["opportunity_id"]) == ["o5"]


def test_coverage_current_and_next(con, req):
    f = coverage.coverage(con, req, level="owner").frame
    cur = f[f["period"] == "current"].set_index("owner")
    # A: open o6 200 / 100; B: o5 100 / 100
    assert cur.loc["A", "value"] == 2.0 and cur.loc["B", "value"] == 1.0
    # Q4 has no quota: null, not 0
    nxt = f[f["period"] == "next"]
    assert nxt["value"].isna().all()


def test_forecast_next_90_days(con, req):
    r = coverage.forecast_next_days(con, req, 90)
    # open closing 2026-09-20 .. 2026-12-19: o6 200*25% = 50 (o8 has no amount)
    assert r.parts["weighted_pipeline"].value == 50.0


def test_velocity_functions(con, req):
    h = velocity.cycle_histogram(con, req)
    # cycles 40, 50, 123: n 3, mean 213 / 3 = 71, median 50, p25 45, p75 86.5
    assert {k: h.extras[k] for k in ("n", "mean", "median", "p25", "p75")} == {
        "n": 3,
        "mean": 71.0,
        "median": 50.0,
        "p25": 45.0,
        "p75": 86.5,
    }
    # IQR 45..86.5: upper fence 86.5 + 1.5 * 41.5 = 148.75, no outlier (none left out either)
    assert h.extras["outliers"] == 0
    assert velocity.cycle_histogram(con, req, exclude_outliers=True).extras["n"] == 3
    # 30 bins over 40..123: width ceil(84 / 30) = 3; 40 -> 40, 50 -> 40 + 3 * 3 = 49,
    # 123 -> 40 + 27 * 3 = 121
    assert h.frame.to_dict("list") == {
        "bin_start": [40, 49, 121],
        "bin_end": [43, 52, 124],
        "deals": [1, 1, 1],
    }
    b = velocity.behind_cycle(con, req).frame
    # SMB median won cycle 45 (40, 50); o6 age 50 (+5), o8 age 231 (+186) -> only o8
    # Enterprise median 123; o5 age 72 -> not behind
    assert list(b["opportunity_id"]) == ["o8"]


def test_coaching_rep_tier_and_activity(con, req):
    f = coaching.rep_tier(con, req).frame.set_index("owner")
    assert f.loc["A", "quota_attainment"] == pytest.approx(0.8)
    assert bool(f.loc["B", "ramping"]) is True
    a = coaching.activity_vs_conversion(con, req).frame.set_index("owner")
    assert a.loc["A", "activities_per_opportunity"] == 1.0


def test_scorecard_reweights_missing(con, req):
    s = coaching.scorecard(con, req).frame.set_index("owner")
    # A: discovery 4 (a1 call), B: 2 (a4 call); both present -> discovery is scored
    assert s.loc["A", "discovery"] == 4.0 and s.loc["B", "discovery"] == 2.0
    assert s["total"].between(1, 5).all()


def test_peers(con, req):
    assert list(coaching.peers(con, req, "A").frame["owner"]) == ["A"]


def test_alerts_return_findings(con, req):
    rules = {f.rule for f in run_alerts(con, req)}
    assert {"stale_deal", "pipeline_aging", "behind_cycle"} <= rules


def test_benchmarks_are_editable_copies():
    b = DEFAULT_BENCHMARKS.copy()
    b.conversion[("lead", "sal")]["SMB"] = Band(0.3, 0.4, "ratio")
    assert DEFAULT_BENCHMARKS.conversion_band("lead", "sal", "SMB") == Band(0.15, 0.25, "ratio")


def test_report_json_shape(con):
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    args = p.parse_args(["--as-of", TINY_AS_OF, "--period", "2026-Q3", "--json", "--by", "owner"])
    out = io.StringIO()
    assert run_report(con, args, out) == 0
    rep = json.loads(out.getvalue())
    assert rep["as_of"] == TINY_AS_OF
    assert rep["period"] == {"label": "2026-Q3", "start": "2026-07-01", "end": "2026-10-01"}
    assert rep["metrics"]["win_rate"] == {
        "value": 0.6,
        "numerator": 3,
        "denominator": 5,
        "n": 5,
        "unit": "ratio",
    }
    assert rep["metrics"]["sales_cycle_days"]["median"] == 50.0
    assert [g["by"] for g in rep["groups"]] == [{"owner": "A"}, {"owner": "B"}]
    assert rep["groups"][1]["metrics"]["won_revenue"]["value"] == 60.0


def test_report_all_period_has_nulls_not_errors(con):
    rep = build_report(con, make_request([], as_of=TINY_AS_OF))
    assert rep["period"] == {"label": "all", "start": None, "end": None}
    assert rep["metrics"]["forecast_accuracy"]["value"] is None
    json.dumps(rep, allow_nan=False)
