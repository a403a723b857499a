"""Every catalog metric on the tiny hand-written dataset of ``metrics_fixtures``.

Period 2026-Q3 = [2026-07-01, 2026-10-01), as-of 2026-09-20 unless stated. The arithmetic
behind each expected value is in the comment beside it.
"""

from __future__ import annotations

import pytest

from engine.semantic import compute, make_request, metric_ids
from tests.metrics_fixtures import TINY_AS_OF, tiny_con


@pytest.fixture(scope="module")
def con():
    return tiny_con()


def q3(con, metric, **kw):
    return compute(con, make_request([metric], period="2026-Q3", as_of=TINY_AS_OF, **kw))


def test_won_revenue(con):
    # o1 50 + o2 30 + o4 60 (won, closed in Q3)
    assert q3(con, "won_revenue").value == 140.0


def test_won_revenue_by_owner(con):
    r = q3(con, "won_revenue", by=["owner"])
    # A: o1 50 + o2 30 = 80; B: o4 60
    assert dict(zip(r.frame["owner"], r.frame["value"], strict=True)) == {"A": 80.0, "B": 60.0}


def test_revenue_per_rep(con):
    # 140 won / 2 reps (A and B hold a Q3 quota)
    assert q3(con, "revenue_per_rep").value == 70.0


def test_won_deals(con):
    # o1, o2, o4
    assert q3(con, "won_deals").value == 3.0


def test_win_rate(con):
    # won 3 / closed 5 (o1, o2, o3, o4, o7)
    r = q3(con, "win_rate")
    assert r.value == pytest.approx(0.6)
    assert (r.extras["numerator"], r.extras["denominator"]) == (3.0, 5.0)


def test_win_rate_without_flagged_rows(con):
    # o7 is flagged: won 3 / closed 4
    assert q3(con, "win_rate", exclude_flagged=True).value == pytest.approx(0.75)


def test_avg_deal_size(con):
    # 140 / 3
    assert q3(con, "avg_deal_size").value == pytest.approx(46.666666666666664)


def test_sales_cycle_days(con):
    r = q3(con, "sales_cycle_days")
    # cycles 40 (o1), 50 (o2), 123 (o4): mean 213/3 = 71, median 50,
    # p25 = 40 + 0.5 * 10 = 45, p75 = 50 + 0.5 * 73 = 86.5
    assert r.value == 71.0
    assert (r.extras["median"], r.extras["p25"], r.extras["p75"]) == (50.0, 45.0, 86.5)


def test_pipeline_created(con):
    # created in Q3: o2 30 + o3 20 + o5 100 + o6 200 + o7 40
    assert q3(con, "pipeline_created").value == 390.0


def test_open_pipeline(con):
    # open with close_date in Q3: o5 100 + o6 200 (o8 closes in Q4)
    assert q3(con, "open_pipeline").value == 300.0


def test_weighted_pipeline(con):
    # o5 100 * 90% (stage map) + o6 200 * 25% (row probability) = 90 + 50
    assert q3(con, "weighted_pipeline").value == 140.0


def test_pipeline_coverage(con):
    # open pipeline 300 / quota 100 + 100
    assert q3(con, "pipeline_coverage").value == 1.5


def test_pipeline_coverage_per_month_prorates_quota(con):
    r = compute(con, make_request(["pipeline_coverage"], period="2026-09", as_of=TINY_AS_OF))
    # September: open o5 100 + o6 200 = 300; quota 2 * 100 * 30/92 days = 65.2173...
    assert r.value == pytest.approx(300 / (200 * 30 / 92))


def test_quota_attainment(con):
    r = q3(con, "quota_attainment")
    # A 80/100 = 0.8, B 60/100 = 0.6; team 140/200 = 0.7; median 0.7; nobody >= 100%
    assert r.value == pytest.approx(0.7)
    assert r.extras["median"] == pytest.approx(0.7)
    assert r.extras["share_at_or_above_100"] == 0.0


def test_owner_filter_on_rep_joined_metrics(con):
    """A filter on owner narrows quota and activity metrics (their sources join reps)."""
    a = {"owner": ["A"]}
    # A: 80 won / 100 quota
    assert q3(con, "quota_attainment", filters=a).value == pytest.approx(0.8)
    # ramp: A is not ramping, so the same 80 / 100
    assert q3(con, "ramp_adjusted_attainment", filters=a).value == pytest.approx(0.8)
    for metric in ("activities_per_opportunity", "pipeline_coverage", "revenue_per_rep"):
        grouped = q3(con, metric, by=["owner"]).frame.set_index("owner")["value"]
        assert q3(con, metric, filters=a).value == pytest.approx(grouped["A"]), metric


def test_ramp_adjusted_attainment(con):
    # B hired 2026-03-01 is ramping in Q3: quota 100 * 0.7 = 70; 140 / (100 + 70)
    assert q3(con, "ramp_adjusted_attainment").value == pytest.approx(140 / 170)


def test_sales_velocity(con):
    r = q3(con, "sales_velocity")
    # 5 created * 0.6 win rate * 140/3 avg deal / 71 days mean cycle = 140 / 71
    assert r.value == pytest.approx(140 / 71)
    assert r.extras["opportunities_created"] == 5.0


def test_stage_conversion(con):
    r = q3(con, "stage_conversion")
    # cohort created in Q3: o2 won (no history: reached closed_won), o3 lost with history up to
    # proposal, o5 proposal, o6 opportunity, o7 lost without history (opportunity only).
    # reached opportunity 5, proposal 3 (o2, o3, o5), closed_won 1 (o2)
    assert r.value == pytest.approx(1 / 5)
    assert r.extras["opportunity_to_proposal"] == pytest.approx(3 / 5)
    assert r.extras["proposal_to_closed_won"] == pytest.approx(1 / 3)


def test_time_in_stage_days(con):
    r = q3(con, "time_in_stage_days")
    # visits entered in Q3: o3 opportunity 07-05 -> 07-20 = 15, o3 proposal 07-20 -> 08-01 = 12,
    # o5 opportunity 07-10 -> 08-09 = 30 (Prospecting + Qualification are one visit)
    # mean 57/3 = 19, median 15, p25 13.5, p75 22.5
    assert r.value == pytest.approx(19.0)
    assert (r.extras["median"], r.extras["p25"], r.extras["p75"]) == (15.0, 13.5, 22.5)


def test_pipeline_aging(con):
    r = q3(con, "pipeline_aging")
    # open deals as of 2026-09-20:
    #  o5 Negotiation/Review since 08-09 = 42 d; stage median 30 (o1: 06-11 -> 07-11); 42 <= 45
    #  o6 Prospecting since created 08-01 = 50 d; median(15, 5, 40) = 15; 50 > 22.5 -> aged
    #  o8 Qualification since created 02-01 = 231 d; median 25 (o5); 231 > 37.5 -> aged
    assert r.value == pytest.approx(2 / 3)


def test_stale_deals(con):
    # only o8 (231 days) is over 60 days in its stage
    assert q3(con, "stale_deals").value == 1.0


def test_activities_per_opportunity(con):
    # activities in Q3: a1, a2, a3, a4, a6 = 5; opportunities created in Q3 = 5
    assert q3(con, "activities_per_opportunity").value == 1.0


def test_activities_per_opportunity_by_owner(con):
    r = q3(con, "activities_per_opportunity", by=["owner"])
    # A: a1 a2 a3 / o2 o3 o6 = 1.0; B: a4 a6 / o5 o7 = 1.0
    assert list(r.frame["value"]) == [1.0, 1.0]


def test_opportunities_created(con):
    # created in Q3: o2, o3, o5, o6, o7 = 5 (the rows of pipeline_created, o8 is Q1)
    assert q3(con, "opportunities_created").value == 5.0


def test_activity_count(con):
    # Q3: a1 a2 a3 (A) + a4 a6 (B) = 5; a5 is June
    assert q3(con, "activity_count").value == 5.0
    r = q3(con, "activity_count", by=["owner"])
    assert dict(zip(r.frame["owner"], r.frame["value"], strict=True)) == {"A": 3.0, "B": 2.0}


def test_discovery_score(con):
    # scored in Q3: a1 4 and a4 2 -> (4 + 2) / 2 = 3; unscored a2 a3 a6 left out, not 0
    r = q3(con, "discovery_score")
    assert r.value == 3.0 and r.extras["n"] == 2
    by = q3(con, "discovery_score", by=["owner"]).frame
    assert dict(zip(by["owner"], by["value"], strict=True)) == {"A": 4.0, "B": 2.0}


def test_lead_response_hours(con):
    r = q3(con, "lead_response_hours")
    # L1 2 h (first_response_at), L2 15 h (first activity 07-03 00:00 - 07-02 09:00), L3 none
    assert r.value == pytest.approx(8.5)
    assert r.extras["median"] == pytest.approx(8.5)


def test_lead_velocity_rate(con):
    # SQLs by sql_date: Q3 L1 (07-05), L2 (07-08) = 2; Q2 none: (2 - 0) / 0 is null
    r = q3(con, "lead_velocity_rate")
    assert r.value is None
    assert (r.extras["numerator"], r.extras["denominator"]) == (2, 0)
    # Q4 none against Q3's 2: (0 - 2) / 2
    q4 = make_request(["lead_velocity_rate"], period="2026-Q4", as_of=TINY_AS_OF)
    assert compute(con, q4).value == pytest.approx(-1.0)


def test_forecast_accuracy(con):
    r = q3(con, "forecast_accuracy")
    # state at 2026-07-01: o1 Negotiation/Review 40 * 50% = 20; o4 Proposal/Price Quote
    # 60 * 75% (stage default) = 45; forecast 65, actual 140: 1 - |65 - 140| / 140
    assert r.value == pytest.approx(1 - 75 / 140)
    assert r.extras["forecast"] == 65.0


def test_forecast_accuracy_all_is_null(con):
    r = compute(con, make_request(["forecast_accuracy"], period="all", as_of=TINY_AS_OF))
    assert r.value is None and r.notes


def test_every_metric_has_a_tiny_test():
    names = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert set(metric_ids()) <= names


def test_empty_dataset_gives_nulls():
    from tests.metrics_fixtures import new_con

    r = compute(new_con(), make_request(metric_ids(), period="2026-Q3", as_of=TINY_AS_OF))
    vals = r.values()
    # counts are 0 (activity_count needs an activities file: null), everything else undefined
    assert {k for k, v in vals.items() if v is not None} == {
        "won_deals",
        "opportunities_created",
        "stale_deals",
    }
    assert vals["won_deals"] == 0.0 and vals["opportunities_created"] == 0.0
