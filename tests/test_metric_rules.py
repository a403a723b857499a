"""Metric rules on tiny hand-written datasets: a deal closed before it was created counts
everywhere except the cycle and time-in-stage metrics (docs/metrics.md).

Each expected number has its arithmetic beside it, and where it can be the same number is
computed again with pandas from the rows written here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engine.analyses.alerts import low_coverage
from engine.analyses.coaching import scorecard
from engine.analyses.coverage import coming_period, not_ended
from engine.analyses.report import build_report, format_table
from engine.analyses.velocity import behind_cycle, cycle_histogram
from engine.semantic import compute, get_metric, make_request
from engine.semantic.catalog import CatalogError, parse_metric
from engine.semantic.request import parse_period
from tests.metrics_fixtures import D, T, insert, new_con

AS_OF = "2026-09-20"

# Q3 2026 = [2026-07-01, 2026-10-01). m1 is a migrated deal: created on the import day
# 2026-09-01, closed won 2026-07-10 (close_before_created, flagged when it loaded).
OPPS = [
    dict(opportunity_id="w1", owner="A", stage="Closed Won", amount=100.0,
         created_date=D(2026, 6, 1), close_date=D(2026, 7, 1), segment="SMB"),  # cycle 30
    dict(opportunity_id="w2", owner="A", stage="Closed Won", amount=200.0,
         created_date=D(2026, 6, 1), close_date=D(2026, 7, 21), segment="SMB"),  # cycle 50
    dict(opportunity_id="m1", owner="B", stage="Closed Won", amount=1000.0,
         created_date=D(2026, 9, 1), close_date=D(2026, 7, 10), segment="SMB",
         _flagged=True),  # cycle -53: left out of cycle metrics
    dict(opportunity_id="l1", owner="B", stage="Closed Lost", amount=50.0,
         created_date=D(2026, 7, 1), close_date=D(2026, 8, 1), segment="SMB"),
    dict(opportunity_id="o1", owner="A", stage="Prospecting", amount=10.0,
         created_date=D(2026, 7, 1), close_date=D(2026, 12, 1), segment="SMB"),
]  # fmt: skip
HISTORY = [
    # w1: Prospecting 10 days, then Negotiation 20 days
    dict(opportunity_id="w1", stage="Prospecting", entered_at=T(2026, 7, 1)),
    dict(opportunity_id="w1", stage="Negotiation/Review", entered_at=T(2026, 7, 11)),
    dict(opportunity_id="w1", stage="Closed Won", entered_at=T(2026, 7, 31)),
    # m1: Prospecting 2 days (history of a migrated deal: left out of time in stage)
    dict(opportunity_id="m1", stage="Prospecting", entered_at=T(2026, 7, 2)),
    dict(opportunity_id="m1", stage="Negotiation/Review", entered_at=T(2026, 7, 4)),
    dict(opportunity_id="m1", stage="Closed Won", entered_at=T(2026, 7, 10)),
    # o1 (open) entered Prospecting 09-08: 12 days in stage as of 09-20
    dict(opportunity_id="o1", stage="Prospecting", entered_at=T(2026, 9, 8)),
]


@pytest.fixture(scope="module")
def con():
    c = new_con()
    insert(c, "opportunities", OPPS)
    insert(c, "stage_history", HISTORY)
    return c


def q3(con, metric, **kw):
    return compute(con, make_request([metric], period="2026-Q3", as_of=AS_OF, **kw))


def test_a_deal_closed_before_created_counts_in_revenue_win_rate_and_counts(con):
    # won in Q3: w1 100 + w2 200 + m1 1000 = 1300
    assert q3(con, "won_revenue").value == 1300.0
    # w1, w2, m1
    assert q3(con, "won_deals").value == 3.0
    # won 3 / closed 4 (w1, w2, m1, l1)
    assert q3(con, "win_rate").value == pytest.approx(0.75)
    # 1300 / 3
    assert q3(con, "avg_deal_size").value == pytest.approx(1300 / 3)


def test_it_is_left_out_of_the_sales_cycle(con):
    r = q3(con, "sales_cycle_days")
    # w1 30, w2 50 (m1's -53 is left out): mean 40, median 40, n 2
    assert r.value == 40.0
    assert (r.extras["median"], r.extras["n"]) == (40.0, 2)
    o = pd.DataFrame(OPPS)
    won = o[(o["stage"] == "Closed Won") & (o["close_date"] >= o["created_date"])]
    cyc = [(c - s).days for s, c in zip(won["created_date"], won["close_date"], strict=True)]
    assert r.value == sum(cyc) / len(cyc)


def test_velocity_uses_the_cycle_without_it_and_everything_else_with_it(con):
    r = q3(con, "sales_velocity")
    # created in Q3: l1, o1 (m1 was created 09-01, also in Q3) = 3; win rate 3/4;
    # avg deal 1300/3; mean cycle 40 -> 3 * 0.75 * 1300/3 / 40 = 24.375
    assert r.extras["opportunities_created"] == 3.0
    assert r.extras["sales_cycle_days"] == 40.0
    assert r.value == pytest.approx(3 * 0.75 * (1300 / 3) / 40)


def test_cycle_distribution_histogram_and_segment_median_leave_it_out(con):
    req = make_request(["sales_cycle_days"], period="2026-Q3", as_of=AS_OF)
    hist = cycle_histogram(con, req)
    # cycles 30 (w1) and 50 (w2), m1 left out; 30 bins over 30..50: width ceil(21 / 30) = 1
    assert hist.frame["bin_start"].tolist() == [30, 50]
    assert hist.frame["deals"].tolist() == [1, 1]
    # n 2, mean (30 + 50) / 2 = 40
    assert (hist.extras["n"], hist.extras["mean"]) == (2, 40.0)
    # SMB median won cycle = median(30, 50) = 40 (m1's -53 would make it 30);
    # o1 open since 07-01: 81 days as of 09-20, 41 days behind
    behind = behind_cycle(con, req).frame
    assert behind["opportunity_id"].tolist() == ["o1"]
    assert behind["median_cycle"].tolist() == [40.0]
    assert behind["days_behind"].tolist() == [41]


def test_time_in_stage_and_stage_medians_leave_out_its_history(con):
    r = q3(con, "time_in_stage_days")
    # w1: opportunity 07-01 -> 07-11 = 10, proposal 07-11 -> 07-31 = 20; m1's 2 and 6 left out
    # mean 15, n 2
    assert (r.value, r.extras["n"]) == (15.0, 2)
    aging = q3(con, "pipeline_aging")
    # o1 in Prospecting since 09-08: 12 days; Prospecting median from w1 alone = 10, and
    # 12 <= 1.5 * 10 = 15 -> not aged: 0 / 1 (with m1's 2 days the median would be 6 and
    # 12 > 9 would call it aged)
    assert (aging.value, aging.extras["numerator"], aging.extras["denominator"]) == (0, 0, 1)


LEADS = [
    # first responses 1 h, 2 h and 30 h after creation; L4 never answered (left out)
    dict(lead_id="L1", created_date=D(2026, 7, 1), first_response_at=T(2026, 7, 1, 1)),
    dict(lead_id="L2", created_date=D(2026, 7, 1), first_response_at=T(2026, 7, 1, 2)),
    dict(lead_id="L3", created_date=D(2026, 7, 2), first_response_at=T(2026, 7, 3, 6)),
    dict(lead_id="L4", created_date=D(2026, 7, 2)),
]


def test_lead_response_hours_headline_is_the_median():
    con = new_con()
    insert(con, "leads", LEADS)
    r = compute(con, make_request(["lead_response_hours"], period="2026-Q3", as_of=AS_OF))
    # hours 1, 2, 30: median 2 is the value; mean (1 + 2 + 30) / 3 = 11 beside it;
    # p25 = 1 + 0.5 * (2 - 1) = 1.5, p75 = 2 + 0.5 * (30 - 2) = 16
    assert r.value == 2.0
    assert (r.extras["mean"], r.extras["p25"], r.extras["p75"], r.extras["n"]) == (
        11.0,
        1.5,
        16.0,
        3,
    )
    hours = pd.Series([1.0, 2.0, 30.0])
    assert (r.value, r.extras["mean"]) == (hours.median(), hours.mean())
    # the catalog says so as data, not as a rule on the id
    assert get_metric("lead_response_hours").headline == "median"
    assert get_metric("sales_cycle_days").headline == "mean"


def test_a_headline_other_than_mean_or_median_is_refused():
    raw = {
        "id": "x", "name": "X", "purpose": "p", "formula": "f", "denominator": "",
        "sources": ["leads"], "cadence": "weekly", "tier": 3, "direction": "leading",
        "unit": "hours", "higher_is_better": False, "kind": "quantile",
        "measure": "response_hours", "headline": "mode",
    }  # fmt: skip
    with pytest.raises(CatalogError, match="headline 'mode'"):
        parse_metric(raw)


def test_report_shows_the_mean_beside_a_median_headline():
    con = new_con()
    insert(con, "leads", LEADS)
    req = make_request(["lead_response_hours"], period="2026-Q3", as_of=AS_OF)
    report = build_report(con, req)
    entry = report["metrics"]["lead_response_hours"]
    assert (entry["value"], entry["mean"], entry["median"]) == (2.0, 11.0, 2.0)
    # units are written the way the pages write them (engine.core.units)
    assert (
        "Lead response time       2.0 hours  (mean 11.0 hours, p25 1.5 hours, p75 16.0 hours)"
        in (format_table(report))
    )


def test_coverage_coming_period_is_relative_to_the_as_of_date():
    req = make_request(["pipeline_coverage"], as_of="2017-12-20")
    # as-of 2017-12-20 is in 2017-Q4; the coming period is 2018-Q1 = [2018-01-01, 2018-04-01)
    nxt = coming_period(req)
    assert (nxt.start, nxt.end) == (D(2018, 1, 1), D(2018, 4, 1))
    assert not_ended(nxt, req.as_of)
    # a chosen period 2017-Q1 makes the coming period 2017-Q2, ended by 2017-12-20
    q2 = coming_period(req.with_(period="2017-Q1"))
    assert (q2.start, q2.end) == (D(2017, 4, 1), D(2017, 7, 1))
    assert not not_ended(q2, req.as_of)
    # the last day of a period is still inside it: [.., 2018-01-01) has not ended on 12-31
    assert not_ended(parse_period("2017-Q4", D(2017, 12, 31)), D(2017, 12, 31))
    assert not not_ended(parse_period("2017-Q4", D(2018, 1, 1)), D(2018, 1, 1))


def test_low_coverage_alert_skips_an_ended_coming_period():
    con = new_con()
    insert(con, "opportunities", [OPPS[4]])  # o1 open, 10, closes 2026-12-01
    insert(
        con,
        "quotas",
        [dict(owner="A", period_start=D(2026, 10, 1), period_end=D(2027, 1, 1), quota_amount=1e4)],
    )
    # as of 2026-09-20 the coming period is 2026-Q4: 10 / 10,000 = 0.001x, an alert
    alerts = low_coverage(con, make_request(["pipeline_coverage"], as_of=AS_OF))
    assert [round(a.value or 0, 4) for a in alerts] == [0.001]
    # as of 2027-02-01 it is 2027-Q2: not ended, no quota -> no value, no alert
    assert low_coverage(con, make_request(["pipeline_coverage"], as_of="2027-02-01")) == []


def test_weighted_total_needs_two_scored_categories(con):
    # no activities, no history in the graded period: only conversion is scored per rep
    req = make_request(["stage_conversion"], period="2026-Q3", as_of=AS_OF)
    card = scorecard(con, req).frame.set_index("owner")
    assert card["conversion"].notna().all()
    assert card[["discovery", "activity"]].isna().all().all()
    assert card["total"].isna().all()
    assert set(card["why_no_total"]) == {
        "only 1 scored category; a weighted total needs at least 2"
    }


def test_activities_per_opportunity_is_unknown_without_activities(con):
    # 3 deals created in Q3 (m1, l1, o1) and no activities file: n/a, not 0 / 3 = 0
    r = q3(con, "activities_per_opportunity")
    assert r.value is None and r.extras["denominator"] == 3.0
    assert "needs activities" in " ".join(r.notes)
    insert(con, "activities", [dict(activity_id="a1", owner="A", activity_type="call",
                                    activity_date=D(2026, 7, 5))])  # fmt: skip
    # with one activity loaded: 1 / 3
    assert q3(con, "activities_per_opportunity").value == pytest.approx(1 / 3)
    con.execute("DELETE FROM activities")


def test_forecast_accuracy_is_unknown_without_history_before_the_period(con):
    # the first history row is entered 2026-07-01, the Q3 start: the pipeline as it stood at
    # the start cannot be rebuilt, so no forecast (null), never "forecast 0 -> accuracy 0%"
    r = q3(con, "forecast_accuracy")
    assert r.value is None and r.extras["forecast"] is None
    assert r.extras["actual"] == 1300.0  # w1 100 + w2 200 + m1 1000 won in Q3
