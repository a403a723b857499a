"""Chart builders checked on their Vega-Lite spec: encodings, bands, reference lines, tooltips."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from views import charts


def _spec(chart: object) -> str:
    return json.dumps(chart.to_dict())  # type: ignore[attr-defined]


CONV = pd.DataFrame(
    {
        "from_stage": ["opportunity", "proposal"],
        "to_stage": ["proposal", "closed_won"],
        "reached_from": [100, 12],
        "reached_to": [55, 5],
        "rate": [0.55, 5 / 12],
        "band_low": [0.60, 0.25],
        "band_high": [0.80, 0.40],
    }
)


def test_conversion_band_layers_band_dot_and_count() -> None:
    spec = charts.conversion_vs_band(CONV).to_dict()
    band, dot, text = spec["layer"]
    assert band["mark"]["type"] == "bar"
    assert (
        band["encoding"]["x"]["field"] == "band_low"
        and band["encoding"]["x2"]["field"] == "band_high"
    )
    assert dot["encoding"]["x"]["field"] == "rate"
    assert dot["encoding"]["color"]["scale"]["domain"] == list(charts.POSITIONS)
    assert dot["encoding"]["color"]["scale"]["range"][:3] == [
        charts.BAD,
        charts.NEUTRAL,
        charts.GOOD,
    ]
    assert text["encoding"]["text"]["field"] == "label"
    calc = json.dumps(spec)
    assert "reached_from" in calc and "below band" in calc and "(small)" in calc
    tips = {t["field"] for t in dot["encoding"]["tooltip"]}
    assert {"rate", "reached_from", "band_low", "band_high"} <= tips


def test_conversion_band_facets_by_segment() -> None:
    two = pd.concat([CONV.assign(segment="SMB"), CONV.assign(segment="Enterprise")])
    spec = charts.conversion_vs_band(two, "segment").to_dict()
    assert spec["facet"]["row"]["field"] == "segment"


def test_a_single_or_missing_segment_is_not_a_facet_called_null() -> None:
    spec = charts.conversion_vs_band(CONV.assign(segment=None), "segment").to_dict()
    assert "facet" not in spec
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "point", "text"]
    mixed = pd.concat([CONV.assign(segment="SMB"), CONV.assign(segment=None)])
    spec = charts.conversion_vs_band(mixed, "segment").to_dict()
    rows = {r["segment"] for d in spec["datasets"].values() for r in d}
    assert rows == {"SMB", "(no segment)"}


def test_a_segment_panel_without_any_rate_is_left_out() -> None:
    """Without a leads table the lead stages have no rate and no segment: no empty panel."""
    empty = CONV.assign(segment=None, rate=float("nan"))
    frame = pd.concat([CONV.assign(segment="SMB"), CONV.assign(segment="Enterprise"), empty])
    spec = charts.conversion_vs_band(frame, "segment").to_dict()
    assert spec["facet"]["row"]["field"] == "segment"
    rows = {r["segment"] for d in spec["datasets"].values() for r in d}
    assert rows == {"SMB", "Enterprise"}
    # a chart with no rate at all still shows its panels ("no data"), not nothing
    spec = charts.conversion_vs_band(pd.concat([empty, empty.assign(segment="SMB")]), "segment")
    rows = {r["segment"] for d in spec.to_dict()["datasets"].values() for r in d}
    assert rows == {"SMB", "(no segment)"}


def test_breakdown_and_win_rate_label_an_empty_value() -> None:
    by = CONV.assign(lead_source=["Web", None])
    spec = charts.conversion_heatmap(by, "lead_source").to_dict()
    assert {r["lead_source"] for d in spec["datasets"].values() for r in d} == {
        "Web",
        "(no source)",
    }
    wr = pd.DataFrame(
        {"segment": [None], "value": [0.25], "numerator": [5], "denominator": [20], "n": [20]}
    )
    spec = charts.value_vs_reference(wr, "segment", 0.22, 0.35, "t", parts=("Won", "Closed"))
    rows = [r for d in spec.to_dict()["datasets"].values() for r in d if "segment" in r]
    assert [r["segment"] for r in rows] == ["(no segment)"]
    tips = {t["title"] for t in spec.to_dict()["layer"][1]["encoding"]["tooltip"]}
    assert {"Won", "Closed", "Segment"} <= tips


def test_time_in_stage_slow_is_red() -> None:
    f = pd.DataFrame(
        {
            "stage": ["opportunity"],
            "median": [25.0],
            "mean": [30.0],
            "p25": [10.0],
            "p75": [40.0],
            "n": [9],
            "band_low": [10],
            "band_high": [20],
        }
    )
    spec = charts.time_in_stage_vs_band(f).to_dict()
    dot = spec["layer"][2]
    assert dot["encoding"]["color"]["scale"]["range"][2] == charts.BAD
    assert spec["layer"][1]["encoding"]["x2"]["field"] == "p75"


def test_coverage_reference_lines_and_alert() -> None:
    f = pd.DataFrame(
        {
            "team": ["A", "B"],
            "value": [2.0, 3.5],
            "numerator": [2, 7],
            "denominator": [1, 2],
            "period": ["next", "next"],
            "period_start": [dt.date(2027, 1, 1)] * 2,
            "period_end": [dt.date(2027, 4, 1)] * 2,
        }
    )
    spec = charts.coverage_bars(f, "team", "next").to_dict()
    text = _spec(charts.coverage_bars(f, "team", "next"))
    assert "2027-01-01" in text
    datasets = spec["datasets"].values()
    xs = {r["x"] for d in datasets for r in d if "label" in r}
    assert xs == {2.5, 3.0, 4.0}
    assert "datum.value < 2.5" in text
    assert spec["layer"][0]["encoding"]["color"]["scale"]["range"][0] == charts.BAD


def test_activity_quadrants_split_at_medians() -> None:
    f = pd.DataFrame(
        {
            "owner": ["busy", "quiet"],
            "activities": [300, 30],
            "opportunities_created": [10, 10],
            "activities_per_opportunity": [30.0, 3.0],
            "conversion": [0.05, 0.5],
            "activity_median": [7.0, 7.0],
            "conversion_median": [0.2, 0.2],
        }
    )
    spec = charts.activity_quadrants(f).to_dict()
    vline, hline, dots, names = spec["layer"]
    assert vline["encoding"]["x"]["field"] == "activity_median"
    assert hline["encoding"]["y"]["field"] == "conversion_median"
    assert dots["encoding"]["color"]["scale"]["domain"][:2] == [
        "busy, not converting",
        "quiet high converter",
    ]
    assert names["encoding"]["text"]["field"] == "owner"


def test_histogram_marks_mean_and_median() -> None:
    bins = pd.DataFrame({"bin_start": [0.0, 10.0], "bin_end": [10.0, 20.0], "deals": [3, 4]})
    spec = charts.histogram(bins, 12.0, 11.0, "t").to_dict()
    stats = [d for d in spec["datasets"].values() if d and "stat" in d[0]][0]
    assert {s["stat"]: s["days"] for s in stats} == {"mean": 12.0, "median": 11.0}
    assert spec["layer"][0]["encoding"]["x"]["bin"] == "binned"


def test_scorecard_shows_missing() -> None:
    f = pd.DataFrame({"owner": ["a"], "discovery": [4.0], "conversion": [None], "total": [4.0]})
    text = _spec(charts.score_grid(f, ["discovery", "conversion"]))
    assert "'missing'" in text


def test_charts_stay_under_the_row_limit_with_aggregates() -> None:
    f = pd.DataFrame(
        {
            "period_start": pd.date_range("2024-01-01", periods=24, freq="MS"),
            "value": 1.0,
            "opportunities_created": 1.0,
            "win_rate": 0.2,
            "avg_deal_size": 1.0,
            "sales_cycle_days": 1.0,
        }
    )
    spec = charts.velocity_levers(f).to_dict()
    # one panel per lever, velocity first, all reading the one 24-row dataset (not a copy each)
    assert [p["encoding"]["y"]["field"] for p in spec["concat"]] == [
        "value",
        "opportunities_created",
        "win_rate",
        "avg_deal_size",
        "sales_cycle_days",
    ]
    (rows,) = spec["datasets"].values()
    assert len(rows) == 24
    assert {p["data"]["name"] for p in spec["concat"]} == set(spec["datasets"])
    assert [r["win_rate"] for r in rows] == [0.2] * 24


def _svg(chart: object) -> str:
    """The chart rendered (as the PNG/SVG download does): its visible texts, then its tooltips
    and descriptions (aria labels)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_dict())  # type: ignore[attr-defined]


def test_heatmap_empty_cells_read_no_deals_never_null() -> None:
    frame = pd.DataFrame(
        {
            "segment": ["SMB", "Enterprise"],
            "from_stage": ["opportunity", "opportunity"],
            "to_stage": ["closed_won", "closed_won"],
            "reached_from": [10, 0],  # Enterprise: no deal reached the stage
            "reached_to": [4, 0],
            "rate": [0.4, None],
        }
    )
    svg = _svg(charts.conversion_heatmap(frame, "segment"))
    assert "40%" in svg and "n=10" in svg and "no deals" in svg
    assert "null" not in svg and "n=0" not in svg


def test_cohort_heatmap_empty_cohort_reads_no_deals() -> None:
    frame = pd.DataFrame(
        {
            "cohort": [dt.date(2026, 1, 1), dt.date(2026, 2, 1)],
            "deals": [4, 0],
            "won": [1, 0],
            "lost": [1, 0],
            "open_after": [2, 0],
        }
    )
    svg = _svg(charts.cohort_heatmap(frame, 90))
    # January: won 1/4 = 25%, lost 25%, open 2/4 = 50%; February has no deal
    assert "25%" in svg and "50%" in svg and "no deals" in svg and "null" not in svg


def test_histogram_mean_and_median_labels_do_not_overlap() -> None:
    bins = pd.DataFrame({"bin_start": [0, 10], "bin_end": [10, 20], "deals": [3, 1]})
    spec = charts.histogram(bins, 12.0, 12.0, "cycle").to_dict()
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    # equal mean and median: one label per line, on opposite sides of the rule
    assert len(texts) == 2
    assert texts[0]["mark"]["y"] != texts[1]["mark"]["y"]
    assert {t["mark"]["align"] for t in texts} == {"left", "right"}
    svg = _svg(charts.histogram(bins, 14.0, 11.0, "cycle"))
    assert "mean 14 d" in svg and "median 11 d" in svg


def test_coverage_bars_of_an_ended_period_raise_no_alarm_colour() -> None:
    frame = pd.DataFrame(
        {
            "team": ["A"],
            "value": [0.5],
            "numerator": [1.0],
            "denominator": [2.0],
            "period": ["next"],
        }
    )
    spec = _spec(charts.coverage_bars(frame, "team", "next", ended=True))
    assert "period ended" in spec and "below 2.5x" not in spec.split('"domain"')[1][:80]


def test_conversion_chart_follows_the_path_order_with_a_spanning_transition() -> None:
    frame = pd.DataFrame(
        {
            "from_stage": ["lead", "opportunity"],
            "to_stage": ["sql", "closed_won"],
            "reached_from": [10, 8],
            "reached_to": [5, 4],
            "rate": [0.5, 0.5],
            "band_low": [None, None],
            "band_high": [None, None],
        }
    )
    spec = charts.conversion_vs_band(frame).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["lead → sql", "opportunity → closed_won"]
