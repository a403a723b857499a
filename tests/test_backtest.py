"""The forecast backtest (docs/metrics.md, "Forecast backtest") on a tiny hand-written history.

Stage defaults (the Salesforce map of the fixtures): Prospecting 10%, Proposal/Price Quote 75%,
Negotiation/Review 90%.

Training quarters of 2026-Q1: 2025-Q1..2025-Q4 (the first history row, 2024-12-15, lies before
2025-Q1's start, so 2026-Q1 has four quarters of history before it and is the only quarter
backtested; as-of 2026-04-15, so the current quarter is 2026-Q2).

- Proposal/Price Quote, open and due at a training quarter's start: t1 (won), t2 (lost) at
  2025-Q1; t3 (won), t4 (lost) at 2025-Q2; t5 (lost) at 2025-Q3 -> 5 deals, 2 won, r = 0.4.
- Prospecting: t6 (won) at 2025-Q4 -> 1 deal < 5: the default 0.10, flagged.
- Negotiation/Review: never seen in training -> the default 0.90, flagged.
- Won revenue: 2025-Q1 100 (t1), 2025-Q2 140 (t3 100 + n1 40), 2025-Q3 0, 2025-Q4 100 (t6).
- New business (created and won in the same quarter): 2025-Q2 40 (n1), else 0 -> mean
  (0 + 40 + 0 + 0) / 4 = 10.
- Actual 2026-Q1: a 200 + c 300 + d 50 = 550.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from engine.analyses import coverage
from engine.analyses.backtest import (
    METHODS,
    Weighting,
    as_json,
    backtest,
    cell_math,
    choose_weighting,
)
from engine.semantic.compute import compute
from engine.semantic.request import make_request
from tests.metrics_fixtures import SAMPLE_AS_OF, insert, new_con

D = dt.date
T = dt.datetime
AS_OF = "2026-04-15"
Q = D(2026, 1, 1)
START, WEEK4, WEEK8 = D(2026, 1, 1), D(2026, 1, 29), D(2026, 2, 26)


def _opp(oid: str, stage: str, amount: float, created: D, close: D) -> dict:
    return {
        "opportunity_id": oid,
        "owner": "A",
        "stage": stage,
        "amount": amount,
        "created_date": created,
        "close_date": close,
    }


def _h(oid: str, stage: str, at: T, amount: float | None = 100.0, **kw: object) -> dict:
    return {"opportunity_id": oid, "stage": stage, "entered_at": at, "amount": amount, **kw}


OPPS = [
    _opp("t1", "Closed Won", 100, D(2024, 12, 1), D(2025, 2, 1)),
    _opp("t2", "Closed Lost", 100, D(2024, 12, 1), D(2025, 3, 1)),
    _opp("t3", "Closed Won", 100, D(2025, 3, 1), D(2025, 5, 1)),
    _opp("t4", "Closed Lost", 100, D(2025, 3, 1), D(2025, 6, 1)),
    _opp("t5", "Closed Lost", 100, D(2025, 6, 1), D(2025, 8, 1)),
    _opp("t6", "Closed Won", 100, D(2025, 9, 1), D(2025, 11, 1)),
    _opp("n1", "Closed Won", 40, D(2025, 4, 10), D(2025, 5, 20)),
    _opp("a", "Closed Won", 200, D(2025, 11, 20), D(2026, 3, 10)),
    _opp("b", "Closed Lost", 100, D(2025, 11, 20), D(2026, 3, 20)),
    _opp("c", "Closed Won", 300, D(2025, 10, 20), D(2026, 2, 10)),
    _opp("d", "Closed Won", 50, D(2026, 1, 15), D(2026, 3, 25)),
]
HISTORY = [
    _h("t1", "Proposal/Price Quote", T(2024, 12, 15)),
    _h("t1", "Closed Won", T(2025, 2, 1)),
    _h("t2", "Proposal/Price Quote", T(2024, 12, 20)),
    _h("t2", "Closed Lost", T(2025, 3, 1)),
    _h("t3", "Proposal/Price Quote", T(2025, 3, 10)),
    _h("t3", "Closed Won", T(2025, 5, 1)),
    _h("t4", "Proposal/Price Quote", T(2025, 3, 15)),
    _h("t4", "Closed Lost", T(2025, 6, 1)),
    _h("t5", "Proposal/Price Quote", T(2025, 6, 10)),
    _h("t5", "Closed Lost", T(2025, 8, 1)),
    _h("t6", "Prospecting", T(2025, 9, 10)),
    _h("t6", "Closed Won", T(2025, 11, 1)),
    _h("n1", "Prospecting", T(2025, 4, 10), 40),
    _h("n1", "Closed Won", T(2025, 5, 20), 40),
    _h("a", "Proposal/Price Quote", T(2025, 12, 1), 200),
    _h("a", "Closed Won", T(2026, 3, 10), 200),
    # b's row carries its own probability (50), which wins over the stage default (90)
    _h("b", "Negotiation/Review", T(2025, 12, 5), 100, probability=50.0),
    _h("b", "Closed Lost", T(2026, 3, 20), 100),
    # c's row has no amount: the deal's amount (300) is used
    _h("c", "Prospecting", T(2025, 11, 1), None),
    _h("c", "Closed Won", T(2026, 2, 10), 300),
    _h("d", "Prospecting", T(2026, 1, 15), 50),
    _h("d", "Proposal/Price Quote", T(2026, 2, 20), 50),
    _h("d", "Closed Won", T(2026, 3, 25), 50),
]


def tiny() -> duckdb.DuckDBPyConnection:
    con = new_con()
    insert(con, "opportunities", OPPS)
    insert(con, "stage_history", HISTORY)
    return con


def req(**kw: object):
    return make_request(["forecast_accuracy"], as_of=AS_OF, **kw)


def forecasts(bt, cp: D) -> dict[str, float]:
    r = bt.results[bt.results["checkpoint"] == cp]
    return dict(zip(r["method"], r["forecast"], strict=True))


@pytest.fixture
def con():
    c = tiny()
    yield c
    c.close()


def test_only_quarters_with_four_earlier_quarters_are_backtested(con):
    bt = backtest(con, req())
    assert set(bt.results["period"]) == {"2026-Q1"}
    assert sorted(set(bt.results["checkpoint"])) == [START, WEEK4, WEEK8]
    assert len(bt.results) == 3 * 4
    assert bt.reason is None


def test_forecasts_at_quarter_start(con):
    f = forecasts(backtest(con, req()), START)
    # open and due: a Proposal 200 (75%), b Negotiation 100 (its row's 50%), c Prospecting 300
    # (deal amount, 10%); d has no history row before 2026-01-01
    assert f["crm_probability"] == pytest.approx(200 * 0.75 + 100 * 0.50 + 300 * 0.10)  # 230
    # rates: Proposal 2/5 = 0.4; Negotiation unseen -> 0.9; Prospecting 1 deal -> 0.1
    assert f["historical_rate"] == pytest.approx(200 * 0.4 + 100 * 0.9 + 300 * 0.1)  # 200
    assert f["historical_rate_plus_new"] == pytest.approx(200 + 10)  # + mean new business
    assert f["naive"] == pytest.approx(100)  # 2025-Q4's won revenue (t6)


def test_forecasts_at_week_4(con):
    f = forecasts(backtest(con, req()), WEEK4)
    # as at the start, plus d (Prospecting, 50) entered 2026-01-15; nothing won yet
    assert f["crm_probability"] == pytest.approx(230 + 50 * 0.10)  # 235
    assert f["historical_rate"] == pytest.approx(200 + 50 * 0.10)  # 205
    assert f["historical_rate_plus_new"] == pytest.approx(205 + 10)  # 215
    assert f["naive"] == pytest.approx(100)


def test_forecasts_at_week_8(con):
    f = forecasts(backtest(con, req()), WEEK8)
    # c was won on 2026-02-10 (300 won so far, no longer open); d is in Proposal since 02-20
    assert f["crm_probability"] == pytest.approx(300 + 200 * 0.75 + 100 * 0.5 + 50 * 0.75)  # 537.5
    assert f["historical_rate"] == pytest.approx(300 + 200 * 0.4 + 100 * 0.9 + 50 * 0.4)  # 490
    assert f["historical_rate_plus_new"] == pytest.approx(490 + 10)  # 500
    assert f["naive"] == pytest.approx(100)


def test_accuracy_error_and_summary(con):
    bt = backtest(con, req())
    r = bt.results.set_index(["checkpoint", "method"])
    row = r.loc[(START, "crm_probability")]
    assert row["actual"] == pytest.approx(550)  # a 200 + c 300 + d 50
    assert row["error"] == pytest.approx(230 - 550)  # -320
    assert row["accuracy"] == pytest.approx(1 - 320 / 550)  # 0.41818
    s = bt.summary.set_index("method")
    # crm_probability: errors 230-550, 235-550, 537.5-550 = -320, -315, -12.5
    errs = [-320, -315, -12.5]
    assert s.loc["crm_probability", "bias"] == pytest.approx(sum(e / 550 for e in errs) / 3)
    assert s.loc["crm_probability", "mape"] == pytest.approx(sum(abs(e) / 550 for e in errs) / 3)
    assert s.loc["crm_probability", "mean_accuracy"] == pytest.approx(
        sum(1 - abs(e) / 550 for e in errs) / 3
    )
    # naive: 100 at every checkpoint -> accuracy 1 - 450/550, bias -450/550
    assert s.loc["naive", "mean_accuracy"] == pytest.approx(1 - 450 / 550)
    assert s.loc["naive", "bias"] == pytest.approx(-450 / 550)
    assert s.loc["historical_rate", "mean_accuracy"] == pytest.approx(
        (3 - 350 / 550 - 345 / 550 - 60 / 550) / 3
    )
    # best by mean accuracy: crm (1 - 320/550, 1 - 315/550, 1 - 12.5/550 -> 0.6076) >
    # hist+new (210, 215, 500 -> 0.5606) > hist (200, 205, 490 -> 0.5424) > naive (0.1818)
    assert list(bt.projection["method"]) == [
        "crm_probability",
        "historical_rate_plus_new",
        "historical_rate",
        "naive",
    ]
    assert bt.best_method == "crm_probability"


def test_rates_learned_against_defaults(con):
    bt = backtest(con, req())
    rates = bt.cells[(Q, START)].rates.set_index("stage")
    assert rates.loc["Proposal/Price Quote", "deals"] == 5
    assert rates.loc["Proposal/Price Quote", "won"] == 2
    assert rates.loc["Proposal/Price Quote", "rate"] == pytest.approx(0.4)
    assert not rates.loc["Proposal/Price Quote", "fallback"]
    assert rates.loc["Prospecting", "learned"] == pytest.approx(1.0)  # 1 of 1, too few
    assert rates.loc["Prospecting", "rate"] == pytest.approx(0.10)
    assert rates.loc["Prospecting", "fallback"]
    pipe = bt.cells[(Q, START)].pipeline.set_index("stage")
    assert pipe.loc["Negotiation/Review", "rate"] == pytest.approx(0.90)
    assert pipe.loc["Negotiation/Review", "fallback"]


def test_crm_probability_at_start_equals_forecast_accuracy(con):
    bt = backtest(con, req())
    fa = compute(con, req(period="2026-Q1"))
    row = bt.results.set_index(["checkpoint", "method"]).loc[(START, "crm_probability")]
    assert fa.extras["forecast"] == row["forecast"] == pytest.approx(230)
    assert fa.extras["actual"] == row["actual"]
    assert fa.value == row["accuracy"]


def test_crm_probability_equals_forecast_accuracy_on_the_sample(sample_con):
    bt = backtest(sample_con, make_request(["forecast_accuracy"], as_of=SAMPLE_AS_OF))
    starts = bt.results[
        (bt.results["checkpoint"] == bt.results["quarter_start"])
        & (bt.results["method"] == "crm_probability")
    ]
    assert len(starts) >= 3
    for r in starts.to_dict("records"):
        fa = compute(
            sample_con,
            make_request(["forecast_accuracy"], as_of=SAMPLE_AS_OF, period=r["period"]),
        )
        assert fa.extras["forecast"] == r["forecast"]
        assert fa.extras["actual"] == r["actual"]
        assert fa.value == r["accuracy"]


def _leak(con: duckdb.DuckDBPyConnection, cp: D) -> None:
    """Change every row dated on or after ``cp``."""
    ts = T(cp.year, cp.month, cp.day)
    # history rows entered later: another stage, amount and probability
    con.execute(
        """UPDATE stage_history SET stage = 'Negotiation/Review', stage_canonical = 'proposal',
           stage_order = 8, stage_probability = 90, probability = 99, amount = amount * 10 + 7
           WHERE entered_at >= ?""",
        [ts],
    )
    # new history rows after the checkpoint for every deal
    con.execute(
        """INSERT INTO stage_history (opportunity_id, stage, stage_canonical, stage_order,
           stage_probability, entered_at, amount, _file, _line, _flagged)
           SELECT opportunity_id, 'Prospecting', 'opportunity', 1, 10, ?, 1e6, 'x', 1, false
           FROM opportunities""",
        [ts],
    )
    # deals closing later: the other outcome; deals created later: another amount
    con.execute(
        """UPDATE opportunities SET is_won = NOT coalesce(is_won, false), is_closed = true
           WHERE close_date >= ?""",
        [cp],
    )
    con.execute("UPDATE opportunities SET amount = amount * 3 + 1 WHERE created_date >= ?", [cp])
    # a deal created later, due in the quarter, with history
    insert(con, "opportunities", [_opp("late", "Closed Won", 999, cp, D(2026, 3, 30))])
    insert(con, "stage_history", [_h("late", "Negotiation/Review", ts, 999)])


@pytest.mark.parametrize("cp", [START, WEEK4, WEEK8])
def test_no_forecast_moves_when_later_rows_change(cp):
    before = tiny()
    after = tiny()
    _leak(after, cp)
    f0 = forecasts(backtest(before, req()), cp)
    f1 = forecasts(backtest(after, req()), cp)
    assert set(f0) == set(METHODS)
    for m in METHODS:
        assert f1[m] == pytest.approx(f0[m]), m
    # the change is real: the actual moved
    a0 = backtest(before, req()).results["actual"].iloc[0]
    a1 = backtest(after, req()).results["actual"].iloc[0]
    assert a0 != a1


def test_see_the_math_adds_up(con):
    bt = backtest(con, req())
    deals, terms = cell_math(con, req(), bt, Q, WEEK8, "historical_rate")
    d = deals.set_index("opportunity_id")
    assert sorted(d.index) == ["a", "b", "d"]
    assert d.loc["a", "rate"] == pytest.approx(0.4)
    assert d.loc["b", "stage"] == "Negotiation/Review"
    assert d.loc["b", "contribution"] == pytest.approx(90)  # 100 x 0.9
    assert terms["open deals"] == pytest.approx(80 + 90 + 20)
    assert terms["won so far"] == pytest.approx(300)  # c
    assert terms["forecast"] == pytest.approx(490)
    deals, terms = cell_math(con, req(), bt, Q, START, "crm_probability")
    assert deals.set_index("opportunity_id").loc["c", "amount"] == 300  # the deal's amount
    assert terms["open deals"] == pytest.approx(230)


def test_projection_of_the_current_quarter(con):
    bt = backtest(con, req())
    cur = bt.current
    assert cur is not None and cur.quarter == D(2026, 4, 1)
    assert cur.checkpoint == D(2026, 4, 16)  # everything up to and including the as-of day
    # 2026-Q2 has no deal due: the rate methods are won so far (0) + new business (mean of
    # 2025-Q2..2026-Q1: n1 40, 0, 0, and d 50 created and won in 2026-Q1 -> 22.5); naive = 550
    f = dict(zip(bt.projection["method"], bt.projection["forecast"], strict=True))
    assert f["crm_probability"] == 0
    assert f["historical_rate_plus_new"] == pytest.approx((40 + 0 + 0 + 50) / 4)
    assert f["naive"] == pytest.approx(550)


def test_too_little_history_says_how_much_more(con):
    bt = backtest(con, make_request(["forecast_accuracy"], as_of="2025-10-15"))
    assert bt.results.empty
    # before 2025-Q3 only 2025-Q1 and 2025-Q2 start after the first history row
    assert bt.reason == "needs 4 quarters of history before 2025-Q3; this data has 2"
    assert bt.summary["mean_accuracy"].isna().all()


def test_no_history_at_all():
    c = new_con()
    insert(c, "opportunities", OPPS)
    bt = backtest(c, req())
    assert bt.results.empty and bt.current is None
    assert "needs stage history" in (bt.reason or "")


def test_json_shape(con):
    out = as_json(backtest(con, req()))
    first = out["results"][0]
    assert set(first) == {
        "period",
        "checkpoint",
        "method",
        "forecast",
        "actual",
        "accuracy",
        "error",
    }
    assert first["period"] == "2026-Q1" and first["checkpoint"] == "2026-01-01"
    assert [s["method"] for s in out["summary"]] == list(METHODS)
    assert out["projection"][0]["method"] == out["best_method"]


def test_the_weighting_follows_the_backtest(con):
    bt = backtest(con, req())
    # crm_probability's mean accuracy (0.6076) beats historical_rate's (0.5424) here
    w = choose_weighting(bt)
    assert w.method == "crm_probability" and w.rates == {}
    assert "they beat the learned stage rates in the backtest (61% against 54%" in w.text
    # the other way round: learned rates win and carry the current quarter's rates
    bt.summary.loc[bt.summary["method"] == "historical_rate", "mean_accuracy"] = 0.9
    w = choose_weighting(bt)
    assert w.method == "historical_rate"
    # the current quarter's (2026-Q2) rates, learned from 2025-Q2..2026-Q1: Proposal has t3,
    # t4, t5 and a = 4 deals < 5 -> its default 0.75
    assert w.rates["Proposal/Price Quote"] == pytest.approx(0.75)
    assert "(90% against 61% mean accuracy)" in w.text
    # no backtest: the CRM's probabilities, with the reason
    short = choose_weighting(backtest(con, make_request(["forecast_accuracy"], as_of="2025-10-15")))
    assert short.method == "crm_probability"
    assert "needs 4 quarters of history before 2025-Q3; this data has 2" in short.text


def test_coverage_weighted_by_learned_rates():
    c = new_con()
    insert(
        c,
        "opportunities",
        [
            _opp("x", "Proposal/Price Quote", 100, D(2026, 3, 1), D(2026, 5, 1)),
            _opp("y", "Prospecting", 200, D(2026, 3, 1), D(2026, 5, 10)),
            _opp("z", "Negotiation/Review", 50, D(2026, 3, 1), D(2026, 5, 20)),
        ],
    )
    w = Weighting("historical_rate", {"Proposal/Price Quote": 0.4, "Prospecting": 0.05}, "t")
    r = make_request(["weighted_pipeline"], as_of=AS_OF)
    learned = coverage.forecast_next_days(c, r, w=w).parts["weighted_pipeline"].value
    # 100 x 0.4 + 200 x 0.05 + 50 x 0.90 (no learned rate for Negotiation: its default)
    assert learned == pytest.approx(40 + 10 + 45)
    crm = coverage.forecast_next_days(c, r).parts["weighted_pipeline"].value
    assert crm == pytest.approx(100 * 0.75 + 200 * 0.10 + 50 * 0.90)  # 140
    month = coverage.pipeline_by_close_month(c, r, w).frame
    assert month["weighted_pipeline"].sum() == pytest.approx(95)


def _pandas_cell(con: duckdb.DuckDBPyConnection, qs: D, cp: D) -> dict[str, float]:
    """crm_probability and historical_rate at (qs, cp), recomputed with pandas from the stored
    tables (an implementation independent of the SQL)."""
    import pandas as pd

    from engine.analyses.backtest import add_quarters

    opp = con.execute("SELECT * FROM opportunities").df()
    opp["is_won"] = opp["is_won"].fillna(False).astype(bool)
    opp["is_closed"] = opp["is_closed"].fillna(False).astype(bool)
    opp["close_date"] = pd.to_datetime(opp["close_date"])
    hist = con.execute("SELECT * FROM stage_history WHERE entered_at IS NOT NULL").df()
    hist["stage_canonical"] = hist["stage_canonical"].fillna("opportunity")

    def state(q: D, day: D) -> pd.DataFrame:
        qe = add_quarters(q, 1)
        due = opp[(opp["close_date"] >= pd.Timestamp(q)) & (opp["close_date"] < pd.Timestamp(qe))]
        h = hist[hist["entered_at"] < pd.Timestamp(day)].sort_values(["entered_at", "stage_order"])
        last = h.groupby("opportunity_id").tail(1)
        s = due.merge(last, on="opportunity_id", suffixes=("", "_h"))
        s["amount_then"] = s["amount_h"].fillna(s["amount"])
        s["prob_then"] = s["probability_h"].fillna(s["stage_probability_h"])
        closed = s["stage_canonical_h"].isin(["closed_won", "closed_lost"])
        early = s["is_closed"] & (s["close_date"] < pd.Timestamp(day))
        return s[~closed & ~early]

    train = pd.concat([state(add_quarters(qs, -k), add_quarters(qs, -k)) for k in range(1, 5)])
    g = train.groupby("stage_h").agg(n=("is_won", "size"), won=("is_won", "sum"))
    defaults = hist.groupby("stage")["stage_probability"].first() / 100
    now = state(qs, cp)
    rate = now["stage_h"].map(
        lambda st: (
            g.loc[st, "won"] / g.loc[st, "n"]
            if st in g.index and g.loc[st, "n"] >= 5
            else defaults[st]
        )
    )
    qe = pd.Timestamp(add_quarters(qs, 1))
    won = opp[opp["is_won"] & (opp["close_date"] >= pd.Timestamp(qs)) & (opp["close_date"] < qe)]
    to_date = won[won["close_date"] < pd.Timestamp(cp)]["amount"].sum()
    weighted = (now["amount_then"] * now["prob_then"] / 100).sum()
    return {
        "crm_probability": float(to_date + weighted),
        "historical_rate": float(to_date + (now["amount_then"] * rate).sum()),
    }


def test_sample_forecasts_match_an_independent_pandas_computation(sample_con):
    bt = backtest(sample_con, make_request(["forecast_accuracy"], as_of=SAMPLE_AS_OF))
    assert len(bt.cells) >= 9
    for (qs, cp), cell in bt.cells.items():
        ref = _pandas_cell(sample_con, qs, cp)
        for m, v in ref.items():
            assert cell.forecasts[m] == pytest.approx(v, rel=1e-9), (qs, cp, m)
