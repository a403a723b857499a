"""Quota proration per grain bucket (quota_attainment, ramp-adjusted, pipeline_coverage).

A quota row counts in a period (or grain bucket) by the share of its days that overlap it:
quota_amount * overlap days / row days. The rows below are chosen so every share is exact.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.semantic import compute, make_request
from tests.metrics_fixtures import insert, new_con

D = dt.date


@pytest.fixture(scope="module")
def con():
    con = new_con()
    insert(
        con,
        "reps",
        [
            {"owner": "A", "team": "T", "segment": "SMB", "hire_date": D(2020, 1, 1)},
            # hired 2026-01-01: a quota row starting before 2027-01-01 is ramping
            {"owner": "B", "team": "T", "segment": "SMB", "hire_date": D(2026, 1, 1)},
        ],
    )
    insert(
        con,
        "quotas",
        [
            # 2026-Q3 is 92 days (Jul 31 + Aug 31 + Sep 30): 920 is 10 a day
            {
                "owner": "A",
                "period_start": D(2026, 7, 1),
                "period_end": D(2026, 10, 1),
                "quota_amount": 920.0,
            },
            # 2026-07-15 .. 2026-08-15 is 31 days: 310 is 10 a day (17 in July, 14 in August)
            {
                "owner": "B",
                "period_start": D(2026, 7, 15),
                "period_end": D(2026, 8, 15),
                "quota_amount": 310.0,
            },
        ],
    )
    won = {"stage": "Closed Won", "created_date": D(2026, 6, 1)}
    insert(
        con,
        "opportunities",
        [
            {"opportunity_id": "w1", "owner": "A", "amount": 155.0, "close_date": D(2026, 7, 10)}
            | won,
            {"opportunity_id": "w2", "owner": "A", "amount": 300.0, "close_date": D(2026, 9, 5)}
            | won,
            {"opportunity_id": "w3", "owner": "B", "amount": 70.0, "close_date": D(2026, 8, 1)}
            | won,
        ],
    )
    return con


def _keyed(frame, column: str = "denominator") -> dict[str, float]:
    return {str(p)[:10]: v for p, v in zip(frame["period_start"], frame[column], strict=True)}


def _by_month(con, metric: str, column: str = "denominator") -> dict[str, float]:
    r = compute(con, make_request([metric], period="2026-Q3", grain="month", as_of="2026-11-20"))
    return {str(p)[:10]: v for p, v in zip(r.frame["period_start"], r.frame[column], strict=True)}


def test_quota_prorated_per_month(con):
    assert _by_month(con, "quota_attainment") == pytest.approx(
        {
            # A 31 days * 10 = 310; B 17 days (Jul 15-31) * 10 = 170
            "2026-07-01": 480.0,
            # A 31 * 10 = 310; B 14 days (Aug 1-14) * 10 = 140
            "2026-08-01": 450.0,
            # A 30 * 10 = 300; B's row has ended
            "2026-09-01": 300.0,
        }
    )


def test_attainment_per_month(con):
    assert _by_month(con, "quota_attainment", "value") == pytest.approx(
        {
            "2026-07-01": 155.0 / 480.0,  # w1 155 (A); B won nothing in July
            "2026-08-01": 70.0 / 450.0,  # w3 70 (B)
            "2026-09-01": 300.0 / 300.0,  # w2 300 (A)
        }
    )


def test_ramp_adjusted_quota_per_month(con):
    # B's row starts 2026-07-15, within 12 months of hire: its share is times 0.7
    assert _by_month(con, "ramp_adjusted_attainment") == pytest.approx(
        {
            "2026-07-01": 310.0 + 170.0 * 0.7,  # 429
            "2026-08-01": 310.0 + 140.0 * 0.7,  # 408
            "2026-09-01": 300.0,
        }
    )


def test_quota_prorated_per_week(con):
    r = compute(
        con,
        make_request(
            ["quota_attainment"], period="2026-08-03..2026-08-17", grain="week", as_of="2026-11-20"
        ),
    )
    got = _keyed(r.frame)
    assert got == pytest.approx(
        {
            # Mon 2026-08-03 .. 08-09: A 7 * 10 + B 7 * 10
            "2026-08-03": 140.0,
            # 2026-08-10 .. 08-16: A 7 * 10 + B 5 days (Aug 10-14) * 10
            "2026-08-10": 120.0,
        }
    )


def test_quota_for_a_month_period_without_grain(con):
    r = compute(con, make_request(["quota_attainment"], period="2026-08", as_of="2026-11-20"))
    # A 310 + B 140 (see above); won in August: w3 70
    assert r.extras["denominator"] == pytest.approx(450.0)
    assert r.value == pytest.approx(70.0 / 450.0)


def test_quota_per_quarter_bucket_sums_the_months(con):
    r = compute(
        con,
        make_request(["quota_attainment"], period="2026", grain="quarter", as_of="2026-11-20"),
    )
    got = _keyed(r.frame)
    # Q3: 480 + 450 + 300 = 1230 = A's 920 + B's 310
    assert got["2026-07-01"] == pytest.approx(1230.0)
