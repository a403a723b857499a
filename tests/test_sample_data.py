"""Tests of the synthetic CRM export in ``sample_data/``.

They check that the generator is deterministic, that the committed CSVs are exactly its output,
that the tables reference each other, that the planted reps are the extremes the README claims
and that funnel rates sit inside the benchmark bands of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine.core.canonical import TABLES
from sample_data.generate import (
    AS_OF,
    BUSY_REP,
    QUIET_REP,
    SAMPLE_DIR,
    SEGMENT_PROFILES,
    generate,
    write_csvs,
    write_dirty,
)

PROPOSAL_STAGES = ("Proposal/Price Quote", "Negotiation/Review", "Closed Won")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
)
LEAD_BANDS = {  # lead->sal, sal->sql, sql->opportunity (docs/benchmarks.md)
    "SMB": ((0.15, 0.25), (0.50, 0.70), (0.30, 0.45)),
    "Mid-Market": ((0.12, 0.20), (0.45, 0.65), (0.25, 0.40)),
    "Enterprise": ((0.08, 0.15), (0.30, 0.50), (0.15, 0.25)),
}
TIME_BANDS = {  # median days in canonical opportunity / proposal stage
    "SMB": ((10, 20), (7, 14)),
    "Mid-Market": ((15, 60), (15, 60)),
    "Enterprise": ((30, 60), (45, 90)),
}
TOLERANCE = 0.03
# The sample has no accounts or lead outcomes file (tests/test_dimensions.py covers them).
CSV_FILES = [f"{name}.csv" for name in TABLES if name not in ("accounts", "lead_outcomes")]


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return generate()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pl.DataFrame]) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_csvs(tables, out)
    write_dirty(tables, out / "dirty")
    return out


def _num(value: Any) -> float:
    return float(value)


def _reach(opps: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Per deal: reached proposal (from history, docs/metrics.md), won, closed, owner, segment."""
    reached = history.group_by("opportunity_id").agg(
        pl.col("stage").is_in(PROPOSAL_STAGES).any().alias("reached_proposal")
    )
    return opps.join(reached, on="opportunity_id", how="left")


def _rep_stats(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    deals = _reach(tables["opportunities"], tables["stage_history"])
    per_rep = deals.group_by("owner").agg(
        pl.len().alias("deals"),
        pl.col("reached_proposal").mean().alias("opp_to_proposal"),
        (pl.col("is_won").sum() / pl.col("is_closed").sum()).alias("win_rate"),
    )
    acts = (
        tables["activities"]
        .group_by("owner")
        .agg(pl.len().alias("activities"), pl.col("discovery_score").mean().alias("discovery"))
    )
    return per_rep.join(acts, on="owner").with_columns(
        (pl.col("activities") / pl.col("deals")).alias("acts_per_opp")
    )


def test_same_seed_same_tables_and_other_seed_differs(tables: dict[str, pl.DataFrame]) -> None:
    again = generate()
    for name, df in tables.items():
        assert df.equals(again[name]), name
    other = generate(seed=7)
    assert not other["opportunities"].equals(tables["opportunities"])
    assert not other["activities"].equals(tables["activities"])


# Optional canonical columns the sample does not carry: status (is_closed/is_won are given),
# lead_id (no lead outcomes), and the reps' region and CRM user id.
NOT_IN_SAMPLE = {("opportunities", "status"), ("opportunities", "lead_id")} | {
    ("reps", "region"),
    ("reps", "user_id"),
}


def test_headers_are_canonical(tables: dict[str, pl.DataFrame]) -> None:
    for name, df in tables.items():
        expected = [c for c in TABLES[name].column_names if (name, c) not in NOT_IN_SAMPLE]
        assert df.columns == expected, name


@pytest.mark.parametrize("fname", CSV_FILES)
def test_committed_csvs_match_a_fresh_generation(written: Path, fname: str) -> None:
    assert (SAMPLE_DIR / fname).read_bytes() == (written / fname).read_bytes(), (
        f"{fname} drifted: run `python -m sample_data.generate --dirty`"
    )


@pytest.mark.parametrize(
    "fname",
    ["opportunities.csv", "activities.csv", "stage_history.csv", "expected.json", "PROBLEMS.md"],
)
def test_committed_dirty_files_match_a_fresh_generation(written: Path, fname: str) -> None:
    assert (SAMPLE_DIR / "dirty" / fname).read_bytes() == (written / "dirty" / fname).read_bytes()


def test_committed_size_under_5_mb() -> None:
    total = sum((SAMPLE_DIR / f).stat().st_size for f in CSV_FILES)
    assert total < 5_000_000, total


def test_csv_round_trip_keeps_region_na() -> None:
    opps = pl.read_csv(SAMPLE_DIR / "opportunities.csv", infer_schema_length=0)
    assert opps["region"].null_count() == 0
    assert "NA" in set(opps["region"].to_list())
    assert set(opps["is_closed"].unique().to_list()) == {"true", "false"}
    hist = pl.read_csv(SAMPLE_DIR / "stage_history.csv", infer_schema_length=0)
    assert hist["entered_at"].str.contains(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()


def test_shape_and_content(tables: dict[str, pl.DataFrame]) -> None:
    opps = tables["opportunities"]
    assert 4000 <= opps.height <= 6000
    assert opps["opportunity_id"].is_unique().all()
    assert tables["reps"].height == 24
    assert 8000 <= tables["leads"].height <= 12000
    assert opps["probability"].is_between(0, 100).all()
    assert (opps["close_date"] >= opps["created_date"]).all()
    assert opps.select(pl.col("created_date").max()).item() <= AS_OF
    open_deals = opps.filter(~pl.col("is_closed"))
    assert set(open_deals["stage"].unique().to_list()) == set(
        OPPORTUNITY_STAGES + PROPOSAL_STAGES[:2]
    )
    assert (open_deals["close_date"] < AS_OF).sum() > 10  # some slipped
    assert (
        open_deals.select((pl.col("close_date") > AS_OF).mean()).item() > 0.6
    )  # mostly in the future
    hired_recently = tables["reps"].filter(pl.col("hire_date") > date(2025, 11, 20))
    assert 4 <= hired_recently.height <= 5
    quotas = tables["quotas"]
    assert quotas.filter(pl.col("period_start") == date(2027, 1, 1)).height == 24
    assert (quotas["period_end"] > quotas["period_start"]).all()


def test_history_consistent_with_opportunities(tables: dict[str, pl.DataFrame]) -> None:
    opps, hist = tables["opportunities"], tables["stage_history"]
    assert set(hist["opportunity_id"].unique().to_list()) == set(opps["opportunity_id"].to_list())
    ends = hist.group_by("opportunity_id", maintain_order=True).agg(
        pl.col("entered_at").first().dt.date().alias("first_at"),
        pl.col("entered_at").last().dt.date().alias("last_at"),
        pl.col("stage").last().alias("last_stage"),
        pl.col("amount").last().alias("last_amount"),
        (pl.col("entered_at").diff().drop_nulls() > pl.duration(seconds=0))
        .all()
        .alias("increasing"),
    )
    joined = opps.join(ends, on="opportunity_id")
    assert (joined["first_at"] == joined["created_date"]).all()
    assert (joined["last_stage"] == joined["stage"]).all()
    assert (joined["last_amount"] == joined["amount"]).all()
    assert joined["increasing"].all()
    closed = joined.filter(pl.col("is_closed"))
    assert (closed["last_at"] == closed["close_date"]).all()
    assert hist.select(pl.col("entered_at").max().dt.date()).item() <= AS_OF


def test_stale_and_behind_deals_exist(tables: dict[str, pl.DataFrame]) -> None:
    opps, hist = tables["opportunities"], tables["stage_history"]
    open_ids = opps.filter(~pl.col("is_closed")).select("opportunity_id")
    last_entry = hist.group_by("opportunity_id").agg(pl.col("entered_at").max())
    stale = open_ids.join(last_entry, on="opportunity_id").filter(
        (pl.lit(AS_OF) - pl.col("entered_at").dt.date()).dt.total_days() > 60
    )
    assert stale.height >= 20


def test_referential_integrity(tables: dict[str, pl.DataFrame]) -> None:
    opp_ids = tables["opportunities"]["opportunity_id"]
    acts = tables["activities"]
    assert acts["activity_id"].is_unique().all()
    with_opp = acts.filter(pl.col("opportunity_id").is_not_null())
    assert with_opp.height / acts.height > 0.9
    assert with_opp["opportunity_id"].is_in(opp_ids.implode()).all()
    assert acts.filter(pl.col("opportunity_id").is_null())["lead_id"].is_not_null().all()
    assert acts.select(pl.col("activity_date").max()).item() <= AS_OF
    leads = tables["leads"]
    converted = leads.filter(pl.col("status") == "Converted")
    assert converted.height > 0
    assert converted["converted_opportunity_id"].is_in(opp_ids.implode()).all()
    assert converted["converted_opportunity_id"].is_unique().all()
    linked = converted.join(
        tables["opportunities"], left_on="converted_opportunity_id", right_on="opportunity_id"
    )
    assert (linked["converted_date"] == linked["created_date_right"]).all()
    assert (linked["owner"] == linked["owner_right"]).all()
    assert set(tables["opportunities"]["owner"].unique().to_list()) <= set(
        tables["reps"]["owner"].to_list()
    )


def test_lead_response_time(tables: dict[str, pl.DataFrame]) -> None:
    leads = tables["leads"]
    hours = (pl.col("first_response_at") - pl.col("created_date")).dt.total_minutes() / 60
    stats = leads.select(hours.median().alias("median"), hours.quantile(0.95).alias("p95"))
    assert 4 <= stats["median"][0] <= 20
    assert stats["p95"][0] > 48
    assert 0 < leads["first_response_at"].null_count() < leads.height * 0.15


def test_planted_reps_are_the_extremes(tables: dict[str, pl.DataFrame]) -> None:
    stats = _rep_stats(tables).filter(pl.col("deals") >= 30)
    busy = stats.filter(pl.col("owner") == BUSY_REP).row(0, named=True)
    quiet = stats.filter(pl.col("owner") == QUIET_REP).row(0, named=True)
    assert busy["acts_per_opp"] == stats["acts_per_opp"].max()
    assert busy["acts_per_opp"] >= 2 * _num(stats["acts_per_opp"].median())
    assert busy["activities"] >= 1.5 * _num(
        stats.filter(pl.col("owner") != BUSY_REP)["activities"].max()
    )
    assert busy["win_rate"] == stats["win_rate"].min()
    assert busy["opp_to_proposal"] == stats["opp_to_proposal"].min()
    assert busy["discovery"] == stats["discovery"].min()
    assert quiet["acts_per_opp"] == stats["acts_per_opp"].min()
    assert quiet["win_rate"] == stats["win_rate"].max()
    assert quiet["opp_to_proposal"] == stats["opp_to_proposal"].max()
    assert quiet["discovery"] == stats["discovery"].max()
    all_reps = _rep_stats(tables)
    assert quiet["activities"] <= _num(all_reps["activities"].quantile(0.25))


@pytest.mark.parametrize("segment", list(SEGMENT_PROFILES))
def test_stage_conversion_inside_bands(tables: dict[str, pl.DataFrame], segment: str) -> None:
    deals = _reach(tables["opportunities"], tables["stage_history"]).filter(
        pl.col("segment") == segment
    )
    profile = SEGMENT_PROFILES[segment]
    opp_to_prop = _num(deals["reached_proposal"].mean())
    lo, hi = profile.band_opp_to_proposal
    assert lo - TOLERANCE <= opp_to_prop <= hi + TOLERANCE, opp_to_prop
    prop = deals.filter(pl.col("reached_proposal"))
    prop_to_won = _num(prop["is_won"].mean())
    lo, hi = profile.band_proposal_to_won
    assert lo - TOLERANCE <= prop_to_won <= hi + TOLERANCE, prop_to_won


@pytest.mark.parametrize("segment", list(SEGMENT_PROFILES))
def test_time_in_stage_inside_bands(tables: dict[str, pl.DataFrame], segment: str) -> None:
    opps = tables["opportunities"].filter(pl.col("segment") == segment, pl.col("is_won"))
    hist = tables["stage_history"].join(opps.select("opportunity_id"), on="opportunity_id")
    firsts = hist.group_by("opportunity_id").agg(
        pl.col("entered_at").min().alias("created"),
        pl.col("entered_at")
        .filter(pl.col("stage").is_in(PROPOSAL_STAGES[:2]))
        .min()
        .alias("proposal"),
        pl.col("entered_at").filter(pl.col("stage") == "Closed Won").min().alias("won"),
    )
    days = firsts.select(
        ((pl.col("proposal") - pl.col("created")).dt.total_hours() / 24).median().alias("opp"),
        ((pl.col("won") - pl.col("proposal")).dt.total_hours() / 24).median().alias("prop"),
    ).row(0)
    (olo, ohi), (plo, phi) = TIME_BANDS[segment]
    assert olo <= days[0] <= ohi, days
    assert plo <= days[1] <= phi, days


@pytest.mark.parametrize("segment", list(SEGMENT_PROFILES))
def test_lead_funnel_inside_bands(tables: dict[str, pl.DataFrame], segment: str) -> None:
    leads = tables["leads"].filter(pl.col("segment") == segment)
    sal = leads["sal_date"].is_not_null().sum()
    sql = leads["sql_date"].is_not_null().sum()
    conv = leads["converted_opportunity_id"].is_not_null().sum()
    rates = (_num(sal) / leads.height, _num(sql) / _num(sal), _num(conv) / _num(sql))
    for rate, (lo, hi) in zip(rates, LEAD_BANDS[segment], strict=True):
        assert lo - TOLERANCE <= rate <= hi + TOLERANCE, rates


def test_sales_cycle_by_segment(tables: dict[str, pl.DataFrame]) -> None:
    won = (
        tables["opportunities"]
        .filter(pl.col("is_won"))
        .with_columns(
            (pl.col("close_date") - pl.col("created_date")).dt.total_days().alias("cycle")
        )
    )
    median = dict(won.group_by("segment").agg(pl.col("cycle").median()).iter_rows())
    assert 25 <= median["SMB"] <= 60
    assert 90 <= median["Enterprise"] <= 180
    assert median["SMB"] < median["Mid-Market"] < median["Enterprise"]


def test_scale_multiplies_rows() -> None:
    small = generate(scale=0.1)
    assert 300 <= small["opportunities"].height <= 500
    sized = generate(scale=0.1, n_opportunities=1000, n_activities=5000)
    assert sized["opportunities"].height == 1000
    assert 4500 <= sized["activities"].height <= 5500


def test_dirty_expected_matches_files(written: Path) -> None:
    expected = json.loads((written / "dirty" / "expected.json").read_text())
    assert expected["as_of"] == AS_OF.isoformat()
    for fname, spec in expected["files"].items():
        lines = (written / "dirty" / fname).read_text().splitlines()
        assert spec["rows_in"] == len(lines) - 1
        assert spec["rows_in"] == spec["rows_loaded"] + spec["rows_quarantined"]
        errors = {p["line"] for p in spec["problems"] if p["severity"] == "error"}
        assert len(errors) == spec["rows_quarantined"]
        counts: dict[str, int] = {}
        for p in spec["problems"]:
            counts[p["rule"]] = counts.get(p["rule"], 0) + 1
            if p["id"]:
                assert lines[p["line"] - 1].startswith(p["id"]) or p["id"] in lines[p["line"] - 1]
        assert counts == {**spec["errors"], **spec["warnings"]}
    opp_rules = set(expected["files"]["opportunities.csv"]["errors"]) | set(
        expected["files"]["opportunities.csv"]["warnings"]
    )
    assert {
        "duplicate_id",
        "empty_id",
        "unparseable_value",
        "negative_amount",
        "probability_out_of_range",
        "closed_without_close_date",
        "close_before_created",
        "missing_created_date",
        "missing_amount",
        "open_without_close_date",
        "slipped",
        "unknown_stage",
        "missing_owner",
        "zero_amount_proposal",
    } <= opp_rules
    assert "unknown_opportunity" in expected["files"]["activities.csv"]["warnings"]
