"""Leading indicators (docs/metrics.md, Leading indicators): the panel is the catalog's numbers,
rho and the interval are scipy's, planted effects are found, noise is not, thin data says so."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.analyses import indicators as ind
from engine.cli import commands as cli
from engine.semantic import compute, make_request
from tests.metrics_fixtures import SAMPLE_AS_OF

# --- tiny hand-computed fixtures ---------------------------------------------------------------


def _pairs(owners: list[str], x: list[float], y: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"owner": owners, "x": x, "y": y})


def test_rho_by_hand_and_equal_to_spearmanr() -> None:
    # x ranks 1 2 3 4, y ranks 1 3 2 4: d = 0, -1, 1, 0, sum d^2 = 2
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 1 - 12/60 = 0.8
    df = _pairs(["a", "b", "c", "d"], [1, 2, 3, 4], [10, 30, 20, 40])
    got = ind.correlate(df)
    assert got["rho"] == pytest.approx(0.8)
    assert got["n_reps"] == 4 and got["n_obs"] == 4


def test_ties_take_average_ranks() -> None:
    # x = 1 1 2 3 -> ranks 1.5 1.5 3 4; y = 1 2 3 4 -> ranks 1 2 3 4
    # Pearson of the ranks: mean x 2.5, dev -1 -1 .5 1.5; y dev -1.5 -.5 .5 1.5
    # cov sum = 1.5 + .5 + .25 + 2.25 = 4.5; sx^2 = 1+1+.25+2.25 = 4.5; sy^2 = 5
    # rho = 4.5 / sqrt(4.5 * 5) = 4.5 / 4.7434 = 0.94868
    df = _pairs(["a", "b", "c", "d"], [1, 1, 2, 3], [1, 2, 3, 4])
    assert ind.correlate(df)["rho"] == pytest.approx(4.5 / math.sqrt(22.5))


def _clustered(seed: int, n_reps: int = 10, periods: int = 4, effect: float = 0.6):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_reps):
        skill = rng.normal()
        for _ in range(periods):
            x = skill + rng.normal()
            rows.append((f"rep{r:02d}", x, effect * x + rng.normal()))
    return pd.DataFrame(rows, columns=["owner", "x", "y"])


def test_rho_and_interval_equal_scipy_computed_independently() -> None:
    df = _clustered(3, n_reps=9, periods=3)
    got = ind.correlate(df, seed=7, n_resamples=499)
    rho = stats.spearmanr(df["x"], df["y"]).statistic
    assert got["rho"] == pytest.approx(rho, abs=1e-12)
    # the same bootstrap written the plain way: resample rep labels, gather their rows, spearmanr
    owners = sorted(df["owner"].unique(), key=list(pd.unique(df["owner"])).index)
    groups = [df[df["owner"] == o] for o in owners]

    def rho_of(rep_idx):
        rows = pd.concat([groups[int(i)] for i in rep_idx])
        return stats.spearmanr(rows["x"], rows["y"]).statistic

    ref = stats.bootstrap(
        (np.arange(len(owners)),),
        rho_of,
        n_resamples=499,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    assert got["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert got["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    # same data, same seed: the same interval
    again = ind.correlate(df, seed=7, n_resamples=499)
    assert (again["ci_low"], again["ci_high"]) == (got["ci_low"], got["ci_high"])


# --- the shared bootstrap: the same numbers as the plain way ----------------------------------


def test_rank_codes_rank_like_the_values() -> None:
    # values 2.5 1.0 2.5 7.0 -> dense ranks 2 1 2 3 (ties share one), int16, padding 32767
    values = np.array([2.5, 1.0, 2.5, 7.0])
    codes, pad = ind.rank_codes(values)
    assert codes.dtype == np.int16 and codes.tolist() == [2, 1, 2, 3] and pad == 32767
    # any selection (repeats included) with padding after it ranks as the values themselves:
    # [7.0, 2.5, 2.5, 2.5, pad] -> 4, 2, 2, 2, 5 (the three 2.5s share (1 + 2 + 3) / 3 = 2)
    sel = np.array([3, 0, 2, 0])
    got = stats.rankdata(np.append(codes[sel], pad))
    assert got.tolist() == [4.0, 2.0, 2.0, 2.0, 5.0]
    assert got.tolist() == stats.rankdata(np.append(values[sel], np.inf)).tolist()
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=500), 1)  # many ties
    codes, pad = ind.rank_codes(x)
    picks = rng.integers(0, len(x), size=(50, 600))
    padded = np.full((50, 40), pad, dtype=codes.dtype)
    want = stats.rankdata(np.hstack([x[picks], np.full((50, 40), np.inf)]), axis=-1)
    assert np.array_equal(stats.rankdata(np.hstack([codes[picks], padded]), axis=-1), want)
    # 32,767 distinct values or more do not fit int16: float codes, +inf padding, same ranks
    many = rng.permutation(40_000).astype(float) / 7
    codes, pad = ind.rank_codes(many)
    assert codes.dtype == np.float64 and pad == np.inf
    sel = rng.integers(0, len(many), size=(3, 50_000))
    assert np.array_equal(stats.rankdata(codes[sel], axis=-1), stats.rankdata(many[sel], axis=-1))


def _uneven_panel() -> ind.Panel:
    """11 reps with 2 to 5 quarters each (padded blocks), one indicator missing in some rows
    (a second set of rows), ties in a count column."""
    rng = np.random.default_rng(11)
    starts = [dt.date(2025, m, 1) for m in (1, 4, 7, 10)] + [dt.date(2026, 1, 1)]
    rows = []
    for r in range(11):
        skill = rng.normal()
        for p in range(2 + r % 4):
            x = skill + rng.normal()
            rows.append(
                {
                    "owner": f"rep{r:02d}",
                    "period": starts[p],
                    "segment": "SMB",
                    "ramping": False,
                    "discovery_score": x,
                    "activity_count": float(rng.integers(0, 6)),  # ties
                    "lead_response_hours": np.nan if (r + p) % 3 == 0 else rng.exponential(),
                    "win_rate": 0.5 * x + rng.normal(),
                    "won_deals": float(rng.integers(0, 4)),
                }
            )
    return _panel(pd.DataFrame(rows))


def test_shared_intervals_equal_the_plain_bootstrap_per_test() -> None:
    panel = _uneven_panel()
    indicators = ["discovery_score", "activity_count", "lead_response_hours"]
    outcomes = ["win_rate", "won_deals"]
    res = ind.run_tests(panel, indicators, outcomes, [0, 1], seed=3, n_resamples=199).results
    assert len(res) == 12  # 3 indicators x 2 outcomes x 2 lags
    checked = 0
    for row in res.to_dict("records"):
        df = ind.pairs(panel.frame, row["indicator"], row["outcome"], row["lag"], "quarter")
        # each test alone (its own RepBootstrap) gives the same numbers, bit for bit
        alone = ind.correlate(df, seed=3, n_resamples=199)
        for k in ("rho", "ci_low", "ci_high", "p_value", "between_rho", "within_rho"):
            assert row[k] == alone[k], (row["indicator"], row["outcome"], row["lag"], k)
        # and the plain way: spearmanr of the drawn reps' rows, one resample at a time
        assert row["rho"] == pytest.approx(stats.spearmanr(df["x"], df["y"]).statistic, abs=1e-12)
        owners = list(pd.unique(df["owner"]))
        groups = [df[df["owner"] == o] for o in owners]

        def rho_of(rep_idx, groups=groups):
            rows = pd.concat([groups[int(i)] for i in rep_idx])
            return stats.spearmanr(rows["x"], rows["y"]).statistic

        ref = stats.bootstrap(
            (np.arange(len(owners)),),
            rho_of,
            n_resamples=199,
            vectorized=False,
            method="percentile",
            rng=np.random.default_rng(3),
        )
        assert row["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
        assert row["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=1e-12)
        checked += 1
    assert checked == 12
    # the blocks are padded (11 reps with 2 3 4 5 2 3 4 5 2 3 4 quarters = 37 rows) and the
    # rows differ between tests: lag 1 drops each rep's last quarter (37 - 11 = 26);
    # lead_response_hours is missing where (rep + quarter) % 3 == 0, 12 rows (37 - 12 = 25),
    # 17 of its rows with a value have a next quarter
    assert len(panel.frame) == 37
    assert sorted(res["n_obs"].unique()) == [17, 25, 26, 37]


def test_slices_and_threads_give_the_same_rho(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = _uneven_panel()
    args = (panel, ["discovery_score", "lead_response_hours"], ["win_rate"], [0, 1])
    whole = ind.run_tests(*args, seed=3, n_resamples=99).results
    # one resample per slice, two threads: the same numbers, bit for bit
    monkeypatch.setattr(ind, "CHUNK_CELLS", 1)
    monkeypatch.setattr(ind, "WORKERS", 2)
    sliced = ind.run_tests(*args, seed=3, n_resamples=99).results
    cols = ["rho", "ci_low", "ci_high", "p_value", "q_value"]
    assert whole[cols[:4]].notna().all().all()  # (17 rep-periods at lag 1: no q)
    assert whole[cols].astype(float).equals(sliced[cols].astype(float))


def test_shared_bootstrap_other_resamples_computed_anew() -> None:
    # 3 reps: a (1, 2), b (3,), c (4, 5, 6); x rises, y = x except b's (0)
    codes = np.array([0, 0, 1, 2, 2, 2])
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([1.0, 2.0, 0.0, 4.0, 5.0, 6.0])
    boot = ind.RepBootstrap(codes, 3)
    boot.add("x", x, "y", y)
    boot.add("x", x, "x2", x)
    first = np.array([[0, 1, 2], [2, 2, 0]])
    other = np.array([[0, 0, 2], [1, 2, 2]])
    got = boot.statistic("x", "y")(first)
    # resample [0, 1, 2] is every row: x ranks 1..6, y ranks 2 3 1 4 5 6: d = -1 -1 2 0 0 0,
    # sum d^2 = 6, rho = 1 - 6 * 6 / (6 * 35) = 1 - 36/210 = 0.828571
    assert got[0] == pytest.approx(1 - 36 / 210)
    assert boot.statistic("x", "x2")(first) == pytest.approx([1.0, 1.0], abs=1e-12)
    again = boot.statistic("x", "y")(other)
    for k, rep_idx in enumerate(other):
        sel = np.concatenate([np.flatnonzero(codes == i) for i in rep_idx])
        assert again[k] == pytest.approx(stats.spearmanr(x[sel], y[sel]).statistic, abs=1e-12)


def test_between_and_within_views() -> None:
    # two reps, 3 periods each; rep means: a (x 2, y 11), b (x 5, y 20)
    # between (2 reps) needs 3: None. within: x - mean = -1 0 1 | -2 0 2,
    # y - mean = -1 0 1 | -2 0 2: the same numbers, so within rho = 1
    df = _pairs(["a"] * 3 + ["b"] * 3, [1, 2, 3, 3, 5, 7], [10, 11, 12, 18, 20, 22])
    got = ind.correlate(df)
    assert got["between_rho"] is None
    assert got["within_rho"] == pytest.approx(1.0)
    # three reps whose means run opposite: means x 2, 5, 8 vs y 30, 20, 10 -> between rho = -1
    df3 = _pairs(
        ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        [29, 30, 31, 19, 20, 21, 9, 10, 11],
    )
    got3 = ind.correlate(df3)
    assert got3["between_rho"] == pytest.approx(-1.0)
    assert got3["within_rho"] == pytest.approx(1.0)


def test_smallest_detectable_correlation() -> None:
    # t_c(18) = 2.1009; 2.1009 / sqrt(18 + 4.4138) = 2.1009 / 4.7343 = 0.4438
    assert ind.min_detectable(20) == pytest.approx(0.4438, abs=1e-4)
    tc = stats.t.ppf(0.975, 8)
    assert ind.min_detectable(10) == pytest.approx(tc / math.sqrt(8 + tc * tc))
    assert ind.min_detectable(2) is None


def test_p_value_counts_reps_not_rows() -> None:
    # rho 0.5 with 12 reps: t = 0.5 * sqrt(10 / 0.75) = 1.8257, df 10 -> p = 2 * t.sf
    t = 0.5 * math.sqrt(10 / 0.75)
    assert ind.p_value(0.5, 12) == pytest.approx(2 * stats.t.sf(t, 10))
    # at the smallest detectable rho the p is exactly alpha
    assert ind.p_value(ind.min_detectable(20), 20) == pytest.approx(0.05)


# --- thresholds -----------------------------------------------------------------------------


def _panel(frame: pd.DataFrame, grain: str = "quarter") -> ind.Panel:
    return ind.Panel(frame, grain, tuple(c for c in frame.columns if c not in ind.KEY_COLUMNS))


def _grid(n_reps: int, periods: int, seed: int = 0, effect: float = 0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    starts = [dt.date(2025, 1, 1), dt.date(2025, 4, 1), dt.date(2025, 7, 1), dt.date(2025, 10, 1)]
    starts += [dt.date(2026, 1, 1), dt.date(2026, 4, 1), dt.date(2026, 7, 1), dt.date(2026, 10, 1)]
    rows = []
    for r in range(n_reps):
        skill, busy = rng.normal(), rng.normal()
        for p in range(periods):
            disc = skill + 0.7 * rng.normal()
            rows.append(
                {
                    "owner": f"rep{r:02d}",
                    "period": starts[p],
                    "segment": "SMB" if r % 2 else "Enterprise",
                    "ramping": False,
                    "discovery_score": disc,
                    "activity_count": busy + rng.normal(),  # independent of the outcome
                    "win_rate": effect * disc + rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def test_fewer_than_8_reps_or_20_rep_periods_is_not_enough_data() -> None:
    # 7 reps x 4 periods = 28 rows, but 7 < 8 reps
    res = ind.run_tests(_panel(_grid(7, 4)), ["discovery_score"], ["win_rate"], [0])
    row = res.results.iloc[0]
    assert row["verdict"] == ind.NOT_ENOUGH
    assert "7 reps and 28 rep-periods" in row["why"]
    assert row["q_value"] is None or pd.isna(row["q_value"])
    # 8 reps x 2 periods = 16 < 20 rep-periods
    res = ind.run_tests(_panel(_grid(8, 2)), ["discovery_score"], ["win_rate"], [0])
    assert res.results.iloc[0]["verdict"] == ind.NOT_ENOUGH
    # 10 reps x 2 periods = 20: tested
    res = ind.run_tests(_panel(_grid(10, 2, effect=3.0)), ["discovery_score"], ["win_rate"], [0])
    assert res.results.iloc[0]["verdict"] != ind.NOT_ENOUGH


def test_lag_one_pairs_the_next_calendar_bucket() -> None:
    q1, q2, q3 = dt.date(2026, 1, 1), dt.date(2026, 4, 1), dt.date(2026, 7, 1)
    f = pd.DataFrame(
        {
            "owner": ["a", "a", "b", "b"],
            "period": [q1, q2, q1, q3],  # b skips Q2: b's Q1 has no next quarter
            "segment": [None] * 4,
            "x": [1.0, 2.0, 3.0, 4.0],
            "y": [10.0, 20.0, 30.0, 40.0],
        }
    )
    got = ind.pairs(f, "x", "y", 1, "quarter")
    # a: x(Q1)=1 with y(Q2)=20; a's Q2 and b's Q3 have no next row; b's Q1 -> Q2 missing
    assert got[["owner", "period", "x", "y"]].values.tolist() == [["a", q1, 1.0, 20.0]]
    assert len(ind.pairs(f, "x", "y", 0, "quarter")) == 4


# --- planted effects and noise over many seeds ------------------------------------------------


def test_planted_effect_found_and_noise_false_positive_rate() -> None:
    seeds = 200
    found = false_pos = 0
    for seed in range(seeds):
        panel = _panel(_grid(20, 6, seed=seed))
        res = ind.run_tests(
            panel, ["discovery_score", "activity_count"], ["win_rate"], [0], n_resamples=199
        ).results.set_index("indicator")
        found += res.loc["discovery_score", "verdict"] == ind.PREDICTIVE
        false_pos += res.loc["activity_count", "verdict"] == ind.PREDICTIVE
    # measured on these 200 seeds: planted effect found 199/200 (99.5%); the noise column, which
    # has a persistent per-rep level like real activity volume, called predictive 0/200 (0%)
    assert found / seeds >= 0.95
    assert false_pos / seeds <= 0.10


# --- the sample, through the catalog --------------------------------------------------------


@pytest.fixture(scope="module")
def sample_panel(sample_dataset) -> ind.Panel:
    ws, token = sample_dataset
    with ws.cursor(token) as con:
        return ind.build_panel(con, make_request("won_revenue", as_of=SAMPLE_AS_OF))


@pytest.mark.parametrize(
    "metric", ["won_revenue", "win_rate", "discovery_score", "activity_count", "stage_conversion"]
)
def test_panel_equals_the_catalog_per_rep(sample_con, sample_panel, metric) -> None:
    period = "2026-Q2"
    res = compute(
        sample_con, make_request(metric, period=period, by="owner", as_of=SAMPLE_AS_OF)
    ).frame.set_index("owner")["value"]
    f = sample_panel.frame
    rows = f[f["period"] == dt.date(2026, 4, 1)].set_index("owner")[metric]
    assert len(rows) >= 20
    for owner, v in rows.items():
        want = res.get(owner)
        if want is None or pd.isna(want):
            # only a sum or count is 0 where the catalog has no row; a ratio stays missing
            assert (v == 0 and metric in ("won_revenue", "activity_count")) or pd.isna(v)
        else:
            assert v == pytest.approx(float(want), rel=1e-12), (owner, metric)


def test_panel_rows_are_reps_with_a_deal_or_an_activity(sample_con, sample_panel) -> None:
    f = sample_panel.frame
    # the running quarter (2026-Q4, as of 2026-11-20) is left out
    assert f["period"].max() == dt.date(2026, 7, 1)
    active = compute(
        sample_con,
        make_request(
            ["opportunities_created", "activity_count", "won_deals"],
            period="2026-Q2",
            by="owner",
            as_of=SAMPLE_AS_OF,
        ),
    ).frame
    owners = set(active.loc[active["value"] > 0, "owner"])
    assert set(f.loc[f["period"] == dt.date(2026, 4, 1), "owner"]) == owners


def test_without_activities_the_indicators_say_what_is_missing(tmp_path: Path) -> None:
    deals = ["Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date"]
    for i in range(60):
        won = "Closed Won" if i % 3 else "Closed Lost"
        deals.append(f"D{i},Rep{i % 10},{won},{1000 + i},2025-0{1 + i % 6}-05,2025-0{2 + i % 7}-10")
    path = tmp_path / "deals.csv"
    path.write_text("\n".join(deals) + "\n")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["indicators", str(path), "--json", "--outcome", "win_rate"], out, err)
    assert code == 0, err.getvalue()
    payload = json.loads(out.getvalue())
    by = {(r["indicator"], r["lag"]): r for r in payload["results"]}
    assert {r["outcome"] for r in payload["results"]} == {"win_rate"}
    disc = by[("discovery_score", 0)]
    assert disc["verdict"] == ind.NOT_ENOUGH and disc["rho"] is None
    assert "activities" in disc["why"]
    assert "activity_count" in payload["missing"]
    assert set(payload["results"][0]) >= {
        "indicator",
        "outcome",
        "lag",
        "rho",
        "ci_low",
        "ci_high",
        "q_value",
        "n_reps",
        "n_obs",
        "verdict",
    }


@pytest.fixture(scope="module")
def sample_test(sample_panel) -> ind.IndicatorTest:
    return ind.run_tests(sample_panel, tested_on=dt.date(2026, 12, 1))


def test_the_sample_plant_is_found(sample_test) -> None:
    r = sample_test.results.set_index(["indicator", "outcome", "lag"])
    # sample_data/generate.py, IndicatorPlant: discovery drives conversion, pipeline created
    # drives next quarter's won revenue, activity volume drives no conversion
    assert r.loc[("discovery_score", "win_rate", 0), "verdict"] == ind.PREDICTIVE
    assert r.loc[("pipeline_created", "won_revenue", 1), "verdict"] == ind.PREDICTIVE
    for lag in (0, 1):
        assert r.loc[("activity_count", "win_rate", lag), "verdict"] == ind.NO_EVIDENCE
    # 9 indicators x 6 outcomes x 2 lags, every one with enough data on the sample
    assert len(r) == 108 and r["q_value"].notna().all()
    assert sample_test.retest_by == dt.date(2027, 6, 1)  # 2026-12-01 + 6 months


def test_coaching_names_the_predictive_categories(sample_test) -> None:
    from engine.analyses.coaching import predictive_categories

    found = predictive_categories(sample_test)
    assert found["discovery"].startswith("predictive: ")
    assert "same quarter's win rate (rho 0.6" in found["discovery"]
    assert found["forecast"] == "not a leading indicator of the test"
    r = sample_test.results
    act = r[(r["indicator"] == "activity_count") & (r["verdict"] == ind.PREDICTIVE)]
    # activity volume follows the deals: it may predict revenue or deal counts, never win rate
    assert "win rate" not in found["activity"] or act.empty
    assert set(act["outcome"]).isdisjoint({"win_rate"})
