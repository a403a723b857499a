"""Chart builders for the analysis pages: pure functions, a frame in and an Altair chart out.

Every chart carries tooltips with the exact values it plots. Benchmark bands are drawn as a
grey range so a value below, inside or above it reads at a glance; reference lines (3x, 4x,
2.5x coverage, 20% aging, 100% attainment) are labelled rules. Frames handed in are
aggregates (one row per stage, period, rep...), never raw deal rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import altair as alt
import pandas as pd

from engine.analyses.alerts import COVERAGE_MIN
from engine.analyses.coaching import DEFAULT_TARGETS
from engine.core.canonical import FUNNEL
from engine.core.units import format_value
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS

STAGE_ORDER = FUNNEL


def _transition_order(frame: pd.DataFrame) -> list[str]:
    """Transitions in the order the frame lists them (the funnel order of the dataset's path,
    which may span skipped stages)."""
    if not {"from_stage", "to_stage"} <= set(frame.columns):
        return []
    pairs = (frame["from_stage"].astype(str) + " → " + frame["to_stage"].astype(str)).tolist()
    return list(dict.fromkeys(pairs))


POSITIONS = ("below band", "inside band", "above band", "no band")
GOOD, WARN, BAD, NEUTRAL, BAND = "#2e7d32", "#f9a825", "#c62828", "#607d8b", "#cfd8dc"
SMALL_SAMPLE = 30


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``datetime.date`` values as ISO strings (JSON cannot carry them)."""
    dates = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, dt.date)).any()]
    return frame.assign(
        **{c: frame[c].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v) for c in dates}
    )


NO_VALUE = "(no {})"


def _labelled(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """The frame with an empty ``column`` value shown as "(no segment)" rather than "null"."""
    if not column or column not in frame.columns or not frame[column].isna().any():
        return frame
    name = column.replace("_", " ").removeprefix("lead ")
    return frame.assign(**{column: frame[column].astype(object).fillna(NO_VALUE.format(name))})


def _position(value: str, low: str = "datum.band_low", high: str = "datum.band_high") -> str:
    return (
        f"!isValid({low}) || !isValid({value}) ? 'no band' : {value} < {low} ? 'below band' : "
        f"{value} > {high} ? 'above band' : 'inside band'"
    )


def _position_color(higher_is_better: bool) -> alt.Scale:
    low, high = (BAD, GOOD) if higher_is_better else (GOOD, BAD)
    return alt.Scale(domain=list(POSITIONS), range=[low, NEUTRAL, high, "#9e9e9e"])


def conversion_vs_band(frame: pd.DataFrame, row: str | None = None) -> alt.Chart:
    """Each transition's conversion as a dot beside its benchmark band (grey range), coloured
    below / inside / above, labelled with the rate and the deal count behind it. A ``row``
    facet with a single value is left out (its header would only repeat the filter)."""
    frame = _labelled(frame, row)
    if row:
        # A panel where no transition has a rate (the lead stages of a dataset without a
        # leads table come without a segment) would be an empty panel: it is left out.
        has_rate = frame.groupby(row, dropna=False)["rate"].transform(lambda r: r.notna().any())
        if has_rate.any():
            frame = frame[has_rate.astype(bool)]
    if row and frame[row].nunique(dropna=False) < 2:
        row = None
    base = alt.Chart(_safe(frame)).transform_calculate(
        transition="datum.from_stage + ' → ' + datum.to_stage",
        position=_position("datum.rate"),
        label="isValid(datum.rate) ? format(datum.rate, '.1%') + '  n=' + "
        f"format(datum.reached_from, ',') + (datum.reached_from < {SMALL_SAMPLE} ? ' (small)' : '')"
        " : 'no data'",
    )
    y = alt.Y(
        "transition:N", sort=_transition_order(frame), title=None, axis=alt.Axis(labelLimit=220)
    )
    tips = [
        alt.Tooltip("transition:N", title="Transition"),
        alt.Tooltip("rate:Q", title="Conversion", format=".2%"),
        alt.Tooltip("reached_to:Q", title="Reached next stage", format=","),
        alt.Tooltip("reached_from:Q", title="Reached this stage (deals)", format=","),
        alt.Tooltip("band_low:Q", title="Benchmark low", format=".0%"),
        alt.Tooltip("band_high:Q", title="Benchmark high", format=".0%"),
        alt.Tooltip("position:N", title="Against benchmark"),
    ]
    band = base.mark_bar(color=BAND, height=14, cornerRadius=3).encode(
        x=alt.X(
            "band_low:Q",
            title="Conversion",
            axis=alt.Axis(format="%", values=[0, 0.2, 0.4, 0.6, 0.8, 1]),
            scale=alt.Scale(domain=[0, 1.3]),
        ),
        x2="band_high:Q",
        y=y,
        tooltip=tips,
    )
    dot = base.mark_point(filled=True, size=180, opacity=1).encode(
        x="rate:Q",
        y=y,
        color=alt.Color("position:N", scale=_position_color(True), title="Against benchmark"),
        tooltip=tips,
    )
    text = base.mark_text(align="left", dx=12, fontSize=12).encode(
        x="rate:Q", y=y, text="label:N", tooltip=tips
    )
    layered = alt.layer(band, dot, text)
    if row:
        return layered.facet(row=alt.Row(f"{row}:N", title=None)).properties(
            title="Stage conversion against the benchmark band (grey)"
        )
    return layered.properties(
        title="Stage conversion against the benchmark band (grey)", height=220
    )


def time_in_stage_vs_band(frame: pd.DataFrame) -> alt.Chart:
    """Median days in each stage (dot), its interquartile range (line) and the band (grey);
    above the band is slow (red)."""
    base = alt.Chart(_safe(frame)).transform_calculate(
        position=_position("datum.median"),
        label="format(datum.median, '.1f') + ' d  n=' + format(datum.n, ',')",
    )
    y = alt.Y("stage:N", sort=list(STAGE_ORDER), title=None)
    tips = [
        alt.Tooltip("stage:N", title="Stage"),
        alt.Tooltip("median:Q", title="Median days", format=".1f"),
        alt.Tooltip("mean:Q", title="Mean days", format=".1f"),
        alt.Tooltip("p25:Q", title="25th percentile", format=".1f"),
        alt.Tooltip("p75:Q", title="75th percentile", format=".1f"),
        alt.Tooltip("n:Q", title="Stage visits", format=","),
        alt.Tooltip("band_low:Q", title="Benchmark low (days)"),
        alt.Tooltip("band_high:Q", title="Benchmark high (days)"),
        alt.Tooltip("position:N", title="Against benchmark"),
    ]
    band = base.mark_bar(color=BAND, height=14, cornerRadius=3).encode(
        x=alt.X("band_low:Q", title="Days in stage"), x2="band_high:Q", y=y, tooltip=tips
    )
    iqr = base.mark_rule(strokeWidth=2, color=NEUTRAL).encode(
        x="p25:Q", x2="p75:Q", y=y, tooltip=tips
    )
    dot = base.mark_point(filled=True, size=180, opacity=1).encode(
        x="median:Q",
        y=y,
        color=alt.Color("position:N", scale=_position_color(False), title="Against benchmark"),
        tooltip=tips,
    )
    text = base.mark_text(align="left", dx=12, dy=-12).encode(x="median:Q", y=y, text="label:N")
    return alt.layer(band, iqr, dot, text).properties(
        title="Median days in stage (line: 25th-75th percentile)", height=alt.Step(34)
    )


def leakage_bars(frame: pd.DataFrame) -> alt.Chart:
    """Deals lost after reaching each stage and open deals stalled in it, stacked."""
    return (
        alt.Chart(_safe(frame))
        .transform_fold(["lost", "stalled"], as_=["outcome", "deals"])
        .mark_bar()
        .encode(
            y=alt.Y("stage:N", sort=list(STAGE_ORDER), title=None),
            x=alt.X("deals:Q", title="Deals", stack="zero"),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(domain=["lost", "stalled"], range=[BAD, WARN]),
                title=None,
            ),
            tooltip=[
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("outcome:N", title="Outcome"),
                alt.Tooltip("deals:Q", title="Deals", format=","),
                alt.Tooltip("open:Q", title="Open deals in stage", format=","),
            ],
        )
        .properties(
            title="Where deals leak: lost after reaching, or stalled in, each stage",
            height=alt.Step(34),
        )
    )


def conversion_heatmap(frame: pd.DataFrame, dim: str) -> alt.Chart:
    """Conversion per transition (columns) and ``dim`` value (rows), with the deal count."""
    base = alt.Chart(_safe(_labelled(frame, dim))).transform_calculate(
        transition="datum.from_stage + ' → ' + datum.to_stage",
        # an empty cell reads "no deals", never "null n=0"
        rate_label="isValid(datum.rate) ? format(datum.rate, '.0%') : ''",
        rate_tip="isValid(datum.rate) ? format(datum.rate, '.2%') : 'n/a, no deals'",
        n_label="datum.reached_from > 0 ? 'n=' + format(datum.reached_from, ',') : 'no deals'",
    )
    x = alt.X(
        "transition:N",
        sort=_transition_order(frame),
        title=None,
        axis=alt.Axis(labelAngle=0, labelLimit=200, orient="top"),
    )
    y = alt.Y(f"{dim}:N", title=None, axis=alt.Axis(labelLimit=200))
    tips = [
        alt.Tooltip(f"{dim}:N", title=dim.replace("_", " ").capitalize()),
        alt.Tooltip("transition:N", title="Transition"),
        alt.Tooltip("rate_tip:N", title="Conversion"),
        alt.Tooltip("reached_from:Q", title="Deals reaching the stage", format=","),
        alt.Tooltip("reached_to:Q", title="Deals reaching the next", format=","),
    ]
    cells = base.mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color(
            "rate:Q",
            title="Conversion",
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            legend=alt.Legend(format="%", gradientLength=100),
        ),
        tooltip=tips,
    )
    rate = base.mark_text(dy=-6, fontSize=11).encode(x=x, y=y, text="rate_label:N", tooltip=tips)
    count = base.mark_text(dy=7, fontSize=9, opacity=0.8).encode(
        x=x, y=y, text="n_label:N", tooltip=tips
    )
    return alt.layer(cells, rate, count).properties(
        title=f"Stage conversion by {dim.replace('_', ' ')}", height=alt.Step(40)
    )


def trend_lines(
    frame: pd.DataFrame, fields: dict[str, str], title: str, y_format: str = ".0%", count: str = "n"
) -> alt.Chart:
    """One line per field over ``period_start`` (fields maps column -> legend label)."""
    calc = {
        "series": " : ".join(f"datum.key == '{k}' ? '{v}'" for k, v in fields.items())
        + " : datum.key"
    }
    return (
        alt.Chart(_safe(frame))
        .transform_fold(list(fields), as_=["key", "value"])
        .transform_calculate(**calc)
        .mark_line(point=True)
        .encode(
            x=alt.X("period_start:T", title=None, axis=alt.Axis(format="%b %Y")),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=y_format)),
            color=alt.Color("series:N", title=None, sort=list(fields.values())),
            tooltip=[
                alt.Tooltip("period_start:T", title="Period", format="%b %Y"),
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("value:Q", title="Value", format=y_format.replace(".0", ".2")),
                alt.Tooltip(f"{count}:Q", title="Deals in cohort", format=","),
            ],
        )
        .properties(title=title, height=260)
    )


LEVERS: tuple[tuple[str, str, str], ...] = (
    ("value", "Sales velocity ($/day)", "$,.0f"),
    ("opportunities_created", "Opportunities", ",.0f"),
    ("win_rate", "Win rate", ".1%"),
    ("avg_deal_size", "Average deal size", "$,.0f"),
    ("sales_cycle_days", "Cycle length (days)", ",.1f"),
)


def velocity_levers(frame: pd.DataFrame) -> alt.ConcatChart:
    """Sales velocity and its four levers, one small line chart each, per period."""
    charts = [
        alt.Chart(_safe(frame))
        .mark_line(point=True, color=GOOD if field == "value" else NEUTRAL)
        .encode(
            x=alt.X("period_start:T", title=None, axis=alt.Axis(format="%b %Y")),
            y=alt.Y(
                f"{field}:Q", title=None, axis=alt.Axis(format=fmt), scale=alt.Scale(zero=False)
            ),
            tooltip=[
                alt.Tooltip("period_start:T", title="Period", format="%b %Y"),
                alt.Tooltip(f"{field}:Q", title=title, format=fmt),
            ],
        )
        .properties(title=title, width=380, height=150)
        for field, title, fmt in LEVERS
    ]
    return alt.concat(*charts, columns=2)


def histogram(
    bins: pd.DataFrame, mean: float | None, median: float | None, title: str
) -> alt.LayerChart:
    """Pre-binned counts (bin_start, bin_end, deals) with mean and median as labelled rules."""
    bars = (
        alt.Chart(_safe(bins))
        .mark_bar(color=NEUTRAL)
        .encode(
            x=alt.X("bin_start:Q", title="Days from created to won", bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("deals:Q", title="Won deals"),
            tooltip=[
                alt.Tooltip("bin_start:Q", title="From day"),
                alt.Tooltip("bin_end:Q", title="To day (excl.)"),
                alt.Tooltip("deals:Q", title="Won deals", format=","),
            ],
        )
    )
    stats = pd.DataFrame(
        {"stat": ["mean", "median"], "days": [mean, median], "color": [BAD, GOOD]}
    ).dropna()
    rules = (
        alt.Chart(stats)
        .mark_rule(strokeWidth=2, strokeDash=[6, 3])
        .encode(
            x="days:Q",
            color=alt.Color(
                "stat:N", scale=alt.Scale(domain=["mean", "median"], range=[BAD, GOOD]), title=None
            ),
            tooltip=[alt.Tooltip("stat:N"), alt.Tooltip("days:Q", format=".1f")],
        )
    )
    # Each label on its own line, on the outer side of its rule (the larger value's label to
    # the right, the smaller's to the left), so close or equal mean and median never overlap.
    labels = []
    larger = stats["days"].idxmax() if len(stats) else None
    for i, (idx, row) in enumerate(stats.iterrows()):
        right = idx == larger if len(stats) > 1 else True
        labels.append(
            alt.Chart(pd.DataFrame([row]))
            .transform_calculate(text="datum.stat + ' ' + format(datum.days, '.0f') + ' d'")
            .mark_text(align="left" if right else "right", dx=4 if right else -4, y=8 + 14 * i)
            .encode(x="days:Q", text="text:N", color=alt.Color("stat:N", legend=None))
        )
    return alt.layer(bars, rules, *labels).properties(title=title, height=260)


def cycle_by_group(frame: pd.DataFrame) -> alt.LayerChart:
    """Median won-deal cycle per segment and deal-size band, with the quartile range."""
    frame = _labelled(frame, "segment")
    y = alt.Y("segment:N", title=None)
    tips = [
        alt.Tooltip("segment:N", title="Segment"),
        alt.Tooltip("size_band:N", title="Deal size"),
        alt.Tooltip("median:Q", title="Median days", format=".1f"),
        alt.Tooltip("mean:Q", title="Mean days", format=".1f"),
        alt.Tooltip("p25:Q", title="25th percentile", format=".1f"),
        alt.Tooltip("p75:Q", title="75th percentile", format=".1f"),
        alt.Tooltip("n:Q", title="Won deals", format=","),
    ]
    order = ["under 50K", "50K-100K", "over 100K"]
    color = alt.Color(
        "size_band:N", sort=order, title="Deal size", scale=alt.Scale(scheme="tableau10")
    )
    offset = alt.YOffset("size_band:N", sort=order)
    bars = (
        alt.Chart(_safe(frame))
        .mark_bar(opacity=0.8)
        .encode(
            x=alt.X("median:Q", title="Median days to win"),
            y=y,
            yOffset=offset,
            color=color,
            tooltip=tips,
        )
    )
    iqr = (
        alt.Chart(_safe(frame))
        .mark_rule(color="#263238")
        .encode(x="p25:Q", x2="p75:Q", y=y, yOffset=offset, tooltip=tips)
    )
    n = (
        alt.Chart(_safe(frame))
        .mark_text(align="left", dx=4, fontSize=10)
        .encode(x="p75:Q", y=y, yOffset=offset, text=alt.Text("n:Q", format=","), tooltip=tips)
    )
    return alt.layer(bars, iqr, n).properties(
        title="Cycle by segment and deal size (label: won deals)"
    )


def cohort_heatmap(frame: pd.DataFrame, days: int) -> alt.LayerChart:
    """Per created-month cohort, the share won, lost and still open after ``days`` days."""
    base = (
        alt.Chart(_safe(frame))
        .transform_fold(["won", "lost", "open_after"], as_=["outcome_key", "count"])
        .transform_calculate(
            share="datum.deals ? datum.count / datum.deals : null",
            outcome="datum.outcome_key == 'open_after' ? 'still open' : datum.outcome_key",
            share_label="datum.deals ? format(datum.count / datum.deals, '.0%') : 'no deals'",
        )
    )
    x = alt.X(
        "outcome:N",
        sort=["won", "lost", "still open"],
        title=None,
        axis=alt.Axis(orient="top", labelAngle=0),
    )
    y = alt.Y("yearmonth(cohort):O", title="Created", timeUnit="yearmonth")
    tips = [
        alt.Tooltip("yearmonth(cohort):T", title="Cohort"),
        alt.Tooltip("outcome:N", title="Outcome"),
        alt.Tooltip("count:Q", title="Deals", format=","),
        alt.Tooltip("deals:Q", title="Deals in cohort", format=","),
        alt.Tooltip("share_label:N", title="Share"),
    ]
    cells = base.mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color("share:Q", scale=alt.Scale(scheme="greens", domain=[0, 1]), title="Share"),
        tooltip=tips,
    )
    text = base.mark_text(fontSize=10).encode(x=x, y=y, text="share_label:N", tooltip=tips)
    return alt.layer(cells, text).properties(title=f"Created-month cohorts after {days} days")


_HEALTHY = DEFAULT_BENCHMARKS.reference["pipeline_coverage"]
COVERAGE_LINES = (COVERAGE_MIN, _HEALTHY.low, _HEALTHY.high)
_ALERT, _LOW, _HIGH = (f"{x:g}" for x in COVERAGE_LINES)
COVERAGE_STATUS = (f"below {_ALERT}x", f"{_ALERT}-{_LOW}x", f"{_LOW}x or more")


def coverage_bars(
    frame: pd.DataFrame, level: str, period: str, ended: bool = False
) -> alt.LayerChart:
    """Coverage per ``level`` value for one period ('current'/'next'), with the 3x and 4x
    reference lines and the 2.5x alert line; bars under 2.5x red, 2.5-3x amber. A period that
    has ``ended`` as of the data's as-of date raises no alarm: its bars are grey."""
    status = (
        "!isValid(datum.value) ? 'no quota' : 'period ended'"
        if ended
        else f"!isValid(datum.value) ? 'no quota' : datum.value < {_ALERT} ? "
        f"'{COVERAGE_STATUS[0]}' : datum.value < {_LOW} ? '{COVERAGE_STATUS[1]}' : "
        f"'{COVERAGE_STATUS[2]}'"
    )
    base = (
        alt.Chart(_safe(_labelled(frame, level)))
        .transform_filter(alt.datum.period == period)
        .transform_calculate(status=status)
    )
    y = alt.Y(f"{level}:N", title=None, sort="-x")
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title="Coverage (open pipeline / quota)", axis=alt.Axis(format=".1f")),
        y=y,
        color=alt.Color(
            "status:N",
            scale=alt.Scale(
                domain=["period ended", "no quota"] if ended else [*COVERAGE_STATUS, "no quota"],
                range=[NEUTRAL, "#9e9e9e"] if ended else [BAD, WARN, GOOD, "#9e9e9e"],
            ),
            title=None,
        ),
        tooltip=[
            alt.Tooltip(f"{level}:N", title="Rep" if level == "owner" else level.capitalize()),
            alt.Tooltip("value:Q", title="Coverage (x)", format=".2f"),
            alt.Tooltip("numerator:Q", title="Open pipeline", format="$,.0f"),
            alt.Tooltip("denominator:Q", title="Quota", format="$,.0f"),
            alt.Tooltip("period_start:T", title="Period start", format="%Y-%m-%d"),
            alt.Tooltip("period_end:T", title="Period end (excl.)", format="%Y-%m-%d"),
        ],
    )
    lines = pd.DataFrame(
        {
            "x": COVERAGE_LINES,
            "label": [f"{_ALERT}x alert", f"{_LOW}x", f"{_HIGH}x"],
            "dy": [-14, -4, -4],
        }
    )
    alert = (
        alt.Chart(lines.head(1))
        .mark_rule(strokeDash=[5, 3], color=BAD, strokeWidth=2)
        .encode(x="x:Q", tooltip=[alt.Tooltip("label:N", title="Reference")])
    )
    refs = (
        alt.Chart(lines.tail(2))
        .mark_rule(strokeDash=[5, 3], color="#263238")
        .encode(x="x:Q", tooltip=[alt.Tooltip("label:N", title="Reference")])
    )
    rules = alt.layer(alert, refs)
    marks = (
        alt.Chart(lines)
        .mark_text(align="center", y=-8, fontSize=10)
        .encode(x="x:Q", text="label:N")
    )
    return alt.layer(bars, rules, marks).properties(
        title=f"Coverage, {period} period", height=alt.Step(26)
    )


def pipeline_by_month(frame: pd.DataFrame) -> alt.LayerChart:
    """Open pipeline per expected close month stacked by stage, weighted pipeline as a line."""
    x = alt.X("yearmonth(close_month):O", title="Expected close month")
    bars = (
        alt.Chart(_safe(frame))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("sum(open_pipeline):Q", title="Pipeline", axis=alt.Axis(format="$,.2s")),
            color=alt.Color("stage:N", title="Stage", scale=alt.Scale(scheme="tableau10")),
            order=alt.Order("stage_canonical:N"),
            tooltip=[
                alt.Tooltip("yearmonth(close_month):T", title="Close month"),
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("deals:Q", title="Deals", format=","),
                alt.Tooltip("sum(open_pipeline):Q", title="Open pipeline", format="$,.0f"),
                alt.Tooltip("sum(weighted_pipeline):Q", title="Weighted pipeline", format="$,.0f"),
            ],
        )
    )
    weighted = (
        alt.Chart(_safe(frame))
        .mark_line(point=True, color="#263238")
        .encode(
            x=x,
            y="sum(weighted_pipeline):Q",
            tooltip=[
                alt.Tooltip("yearmonth(close_month):T", title="Close month"),
                alt.Tooltip(
                    "sum(weighted_pipeline):Q",
                    title="Weighted pipeline (all stages)",
                    format="$,.0f",
                ),
            ],
        )
    )
    return alt.layer(bars, weighted).properties(
        title="Open pipeline by close month and stage (line: weighted)", height=300
    )


def share_bars(frame: pd.DataFrame, category: str, limit: float, title: str) -> alt.LayerChart:
    """A share per category (``value``, with ``numerator``/``denominator``) and a limit rule."""
    bars = (
        alt.Chart(_safe(frame))
        .transform_calculate(over=f"datum.value > {limit}")
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None, axis=alt.Axis(format="%")),
            y=alt.Y(f"{category}:N", title=None, sort="-x"),
            color=alt.Color(
                "over:N", scale=alt.Scale(domain=[True, False], range=[BAD, GOOD]), legend=None
            ),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=category.replace("_", " ").capitalize()),
                alt.Tooltip("value:Q", title="Share", format=".1%"),
                alt.Tooltip("numerator:Q", title="Deals past the limit", format=","),
                alt.Tooltip("denominator:Q", title="Open deals", format=","),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"x": [limit]}))
        .mark_rule(color=BAD, strokeDash=[5, 3])
        .encode(x="x:Q")
    )
    return alt.layer(bars, rule).properties(title=title, height=alt.Step(18))


def attainment_distribution(frame: pd.DataFrame, field: str = "value") -> alt.LayerChart:
    """One dot per rep on the attainment axis (not an average), with the 100% line."""
    dots = (
        alt.Chart(_safe(frame))
        .transform_calculate(at=f"datum.{field} >= 1")
        .mark_circle(size=160, opacity=0.85)
        .encode(
            x=alt.X(f"{field}:Q", title="Quota attainment", axis=alt.Axis(format="%")),
            y=alt.Y("jitter:Q", title=None, axis=None, scale=alt.Scale(domain=[-1, 1])),
            color=alt.Color(
                "at:N", scale=alt.Scale(domain=[True, False], range=[GOOD, BAD]), legend=None
            ),
            tooltip=[
                alt.Tooltip("owner:N", title="Rep"),
                alt.Tooltip(f"{field}:Q", title="Attainment", format=".1%"),
                alt.Tooltip("numerator:Q", title="Won revenue", format="$,.0f"),
                alt.Tooltip("denominator:Q", title="Quota", format="$,.0f"),
            ],
        )
        .transform_calculate(jitter="sqrt(-2*log(random()))*cos(2*PI*random()) / 3")
    )
    rule = (
        alt.Chart(pd.DataFrame({"x": [1.0]}))
        .mark_rule(strokeDash=[5, 3], color="#263238")
        .encode(x="x:Q")
    )
    return alt.layer(dots, rule).properties(
        title="Attainment distribution (one dot per rep)", height=140
    )


def value_vs_reference(
    frame: pd.DataFrame,
    category: str,
    low: float,
    high: float,
    title: str,
    fmt: str = ".1%",
    parts: tuple[str, str] = ("Numerator", "Denominator"),
) -> alt.LayerChart:
    """A value per category (with ``n``) beside a grey reference range [low, high]; ``parts``
    names the numerator and denominator in the tooltip."""
    frame = _labelled(frame, category)
    band = (
        alt.Chart(pd.DataFrame({"low": [low], "high": [high]}))
        .mark_rect(color=BAND, opacity=0.6)
        .encode(x="low:Q", x2="high:Q")
    )
    bars = (
        alt.Chart(_safe(frame))
        .mark_bar(color=NEUTRAL, height=16)
        .encode(
            x=alt.X("value:Q", title=None, axis=alt.Axis(format=fmt)),
            y=alt.Y(f"{category}:N", title=None),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=category.replace("_", " ").capitalize()),
                alt.Tooltip("value:Q", format=fmt.replace(".1", ".2"), title="Value"),
                alt.Tooltip("numerator:Q", title=parts[0], format=","),
                alt.Tooltip("denominator:Q", title=parts[1], format=","),
            ],
        )
    )
    return alt.layer(band, bars).properties(title=title, height=alt.Step(24))


QUADRANTS = (
    "busy, not converting",
    "quiet high converter",
    "busy and converting",
    "quiet, low conversion",
)


def activity_quadrants(frame: pd.DataFrame) -> alt.LayerChart:
    """Activities per opportunity against stage conversion per rep, split at the medians; the
    busy-but-not-converting and the quiet high converter get their own colours and labels."""
    base = alt.Chart(_safe(frame)).transform_calculate(
        quadrant="datum.activities_per_opportunity >= datum.activity_median ? "
        f"(datum.conversion < datum.conversion_median ? '{QUADRANTS[0]}' : '{QUADRANTS[2]}') : "
        f"(datum.conversion >= datum.conversion_median ? '{QUADRANTS[1]}' : '{QUADRANTS[3]}')"
    )
    x = alt.X("activities_per_opportunity:Q", title="Activities per opportunity created")
    y = alt.Y(
        "conversion:Q", title="Stage conversion (opportunity → won)", axis=alt.Axis(format="%")
    )
    tips = [
        alt.Tooltip("owner:N", title="Rep"),
        alt.Tooltip("activities:Q", title="Activities", format=","),
        alt.Tooltip("opportunities_created:Q", title="Opportunities created", format=","),
        alt.Tooltip(
            "activities_per_opportunity:Q", title="Activities per opportunity", format=".1f"
        ),
        alt.Tooltip("conversion:Q", title="Conversion", format=".1%"),
        alt.Tooltip("quadrant:N", title="Quadrant"),
    ]
    color = alt.Color(
        "quadrant:N",
        scale=alt.Scale(domain=list(QUADRANTS), range=[BAD, GOOD, NEUTRAL, "#b0bec5"]),
        title=None,
    )
    dots = base.mark_circle(size=140, opacity=0.9).encode(x=x, y=y, color=color, tooltip=tips)
    names = base.mark_text(align="left", dx=8, fontSize=10).encode(
        x=x, y=y, text="owner:N", color=color
    )
    vline = base.mark_rule(strokeDash=[4, 4], color="#90a4ae").encode(x="mean(activity_median):Q")
    hline = base.mark_rule(strokeDash=[4, 4], color="#90a4ae").encode(y="mean(conversion_median):Q")
    return alt.layer(vline, hline, dots, names).properties(
        title="Activity against conversion per rep (dashed lines: medians)", height=420
    )


def score_grid(frame: pd.DataFrame, categories: Sequence[str]) -> alt.LayerChart:
    """Scorecard: reps (rows) by category (columns), 1-5 colour, 'missing' where no data."""
    base = (
        alt.Chart(_safe(frame))
        .transform_fold([*categories, "total"], as_=["category", "score"])
        .transform_calculate(label="isValid(datum.score) ? format(datum.score, '.1f') : 'missing'")
    )
    x = alt.X(
        "category:N",
        sort=[*categories, "total"],
        title=None,
        axis=alt.Axis(orient="top", labelAngle=0),
    )
    y = alt.Y("owner:N", title=None, sort=alt.EncodingSortField("total", order="descending"))
    tips = [
        alt.Tooltip("owner:N", title="Rep"),
        alt.Tooltip("category:N", title="Category"),
        alt.Tooltip("label:N", title="Score (1-5)"),
    ]
    cells = base.mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color(
            "score:Q", scale=alt.Scale(domain=[1, 5], scheme="redyellowgreen"), title="Score"
        ),
        tooltip=tips,
    )
    text = base.mark_text(fontSize=10).encode(x=x, y=y, text="label:N", tooltip=tips)
    strong = f"{DEFAULT_TARGETS['strong_total']:g}"
    return alt.layer(cells, text).properties(
        title=f"Weighted scorecard (1-5; above {strong} is strong)"
    )


def rep_vs_peers(frame: pd.DataFrame) -> alt.LayerChart:
    """A rep's value per metric (dot) against the median of their peers (tick); the tooltip
    states both in the metric's unit (``unit`` column)."""
    if "unit" in frame.columns:
        frame = frame.assign(
            rep_text=[format_value(v, u) for v, u in zip(frame["rep"], frame["unit"], strict=True)],
            peer_text=[
                format_value(v, u) for v, u in zip(frame["peer_median"], frame["unit"], strict=True)
            ],
        )
    else:
        frame = frame.assign(rep_text=frame["rep"], peer_text=frame["peer_median"])
    y = alt.Y("label:N", title=None, sort=None)
    tips = [
        alt.Tooltip("label:N", title="Metric"),
        alt.Tooltip("rep_text:N", title="This rep"),
        alt.Tooltip("peer_text:N", title="Peer median"),
        alt.Tooltip("peers:Q", title="Peers", format=","),
        alt.Tooltip("index:Q", title="Rep / peer median", format=".0%"),
    ]
    bars = (
        alt.Chart(_safe(frame))
        .mark_bar(height=14)
        .encode(
            x=alt.X(
                "index:Q", title="Rep as a share of the peer median", axis=alt.Axis(format="%")
            ),
            y=y,
            color=alt.condition("datum.index >= 1", alt.value(GOOD), alt.value(BAD)),
            tooltip=tips,
        )
    )
    rule = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="#263238").encode(x="x:Q")
    return alt.layer(bars, rule).properties(
        title="Rep against the peer median (100% = median)", height=alt.Step(26)
    )


def backtest_heatmap(frame: pd.DataFrame) -> alt.LayerChart:
    """Quarter x checkpoint (rows) by method (columns), coloured by accuracy (red below 0,
    green towards 100%); frame: period, checkpoint_name, label, accuracy, forecast, actual."""
    f = _safe(frame).assign(row=lambda d: d["period"] + " " + d["checkpoint_name"])
    base = alt.Chart(f).encode(
        x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("row:N", title=None, sort=None),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "accuracy:Q",
            title="Accuracy",
            scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen", clamp=True),
            legend=alt.Legend(format=".0%"),
        ),
        tooltip=[
            alt.Tooltip("period:N", title="Quarter"),
            alt.Tooltip("checkpoint_name:N", title="Checkpoint"),
            alt.Tooltip("checkpoint:T", title="Rebuilt as of", format="%Y-%m-%d"),
            alt.Tooltip("label:N", title="Method"),
            alt.Tooltip("forecast:Q", title="Forecast", format="$,.0f"),
            alt.Tooltip("actual:Q", title="Actual", format="$,.0f"),
            alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
        ],
    )
    text = base.mark_text(fontSize=11).encode(text=alt.Text("accuracy:Q", format=".0%"))
    return (cells + text).properties(title="Backtest accuracy", height=alt.Step(24))


def forecast_vs_actual(frame: pd.DataFrame, checkpoint: str) -> alt.LayerChart:
    """Each method's forecast per quarter (lines) against the actual (black); frame: period,
    label, forecast, actual, accuracy."""
    f = _safe(frame)
    tips = [
        alt.Tooltip("period:N", title="Quarter"),
        alt.Tooltip("label:N", title="Method"),
        alt.Tooltip("forecast:Q", title="Forecast", format="$,.0f"),
        alt.Tooltip("actual:Q", title="Actual", format="$,.0f"),
        alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
    ]
    lines = (
        alt.Chart(f)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:N", title=None, sort=None),
            y=alt.Y("forecast:Q", title="Won revenue", axis=alt.Axis(format="$,.0s")),
            color=alt.Color("label:N", title="Method"),
            tooltip=tips,
        )
    )
    actual = f.drop_duplicates("period")
    act = (
        alt.Chart(actual)
        .mark_line(point=True, color="black", strokeDash=[4, 2])
        .encode(
            x=alt.X("period:N", sort=None),
            y="actual:Q",
            tooltip=[
                alt.Tooltip("period:N", title="Quarter"),
                alt.Tooltip("actual:Q", title="Actual won revenue", format="$,.0f"),
            ],
        )
    )
    return (lines + act).properties(
        title=f"Forecast at {checkpoint} against actual (dashed)", height=280
    )


def stage_rates(frame: pd.DataFrame) -> alt.Chart:
    """Per CRM stage, the learned win rate against the stage map's default; frame: stage,
    learned, default, deals, won."""
    f = _safe(frame)
    order = list(f["stage"])
    return (
        alt.Chart(f)
        .transform_fold(["learned", "default"], as_=["which", "rate"])
        .mark_bar()
        .encode(
            y=alt.Y("stage:N", title=None, sort=order),
            x=alt.X("rate:Q", title="Win rate", axis=alt.Axis(format=".0%")),
            yOffset="which:N",
            color=alt.Color(
                "which:N",
                title=None,
                scale=alt.Scale(domain=["learned", "default"], range=["#1f77b4", "#bbbbbb"]),
            ),
            tooltip=[
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("which:N", title="Rate"),
                alt.Tooltip("rate:Q", title="Value", format=".1%"),
                alt.Tooltip("deals:Q", title="Deals learned from", format=","),
                alt.Tooltip("won:Q", title="Won", format=","),
            ],
        )
        .properties(title="Stage win rates learned against the stage map's defaults")
    )


WATERFALL_COLORS = alt.Scale(domain=["total", "up", "down"], range=[NEUTRAL, GOOD, BAD])


def waterfall(frame: pd.DataFrame) -> alt.LayerChart:
    """Start -> buckets -> End: totals from zero, each bucket floating from the running total
    (green adds, red takes away), its amount written on the bar."""
    order = frame["step"].tolist()
    tips = [
        alt.Tooltip("step:N", title="Step"),
        alt.Tooltip("amount:Q", title="Amount", format="$,.0f"),
        alt.Tooltip("deals:Q", title="Deals", format=","),
        alt.Tooltip("low:Q", title="From", format="$,.0f"),
        alt.Tooltip("high:Q", title="To", format="$,.0f"),
    ]
    x = alt.X("step:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35, labelOverlap=False))
    base = alt.Chart(frame)
    bars = base.mark_bar().encode(
        x=x,
        y=alt.Y("low:Q", title="Open pipeline due in the period", axis=alt.Axis(format="$,.2s")),
        y2="high:Q",
        color=alt.Color("kind:N", scale=WATERFALL_COLORS, legend=None),
        tooltip=tips,
    )
    text = base.mark_text(dy=-6, fontSize=10).encode(
        x=x, y="high:Q", text=alt.Text("amount:Q", format="$,.3~s"), tooltip=tips
    )
    return alt.layer(bars, text).properties(title="From Start to End", height=320)


VERDICT_COLORS = {"predictive": GOOD, "no evidence": NEUTRAL, "not enough data": "#b0bec5"}


def indicator_intervals(frame: pd.DataFrame) -> alt.LayerChart:
    """Leading indicators: each indicator's rho (point) and 95% bootstrap interval (bar)
    against zero (the rule), coloured by verdict, in the frame's order."""
    data = _safe(frame[frame["rho"].notna()])
    order = data["label"].tolist()
    y = alt.Y("label:N", sort=order, title=None)
    color = alt.Color(
        "verdict:N",
        scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
        title="Verdict",
    )
    tips = [
        alt.Tooltip("label:N", title="Indicator"),
        alt.Tooltip("rho:Q", title="rho", format=".2f"),
        alt.Tooltip("ci_low:Q", title="95% low", format=".2f"),
        alt.Tooltip("ci_high:Q", title="95% high", format=".2f"),
        alt.Tooltip("q_value:Q", title="q (BH)", format=".3f"),
        alt.Tooltip("n_reps:Q", title="Reps"),
        alt.Tooltip("n_obs:Q", title="Rep-periods"),
        alt.Tooltip("verdict:N", title="Verdict"),
    ]
    base = alt.Chart(data)
    scale = alt.Scale(domain=[-1, 1])
    bars = base.mark_rule(strokeWidth=6, opacity=0.55).encode(
        x=alt.X("ci_low:Q", scale=scale, title="Spearman's rho with its 95% interval"),
        x2="ci_high:Q",
        y=y,
        color=color,
        tooltip=tips,
    )
    dots = base.mark_point(filled=True, size=90).encode(
        x=alt.X("rho:Q", scale=scale), y=y, color=color, tooltip=tips
    )
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color="#37474f")
        .encode(x="zero:Q", tooltip=[alt.Tooltip("zero:Q", title="No correlation")])
    )
    return alt.layer(zero, bars, dots).properties(
        title="rho and its 95% interval (an interval that crosses 0 cannot rule chance out)",
        height=max(220, 34 * len(order)),
    )


def indicator_scatter(
    pairs: pd.DataFrame, means: pd.DataFrame, x_title: str, y_title: str
) -> alt.LayerChart:
    """The rep-periods behind one test (small points, coloured by rep) and each rep's mean
    (large diamonds: the between-rep view); hover shows rep, period and both values."""
    tips = [
        alt.Tooltip("owner:N", title="Rep"),
        alt.Tooltip("period:N", title="Period"),
        alt.Tooltip("x:Q", title=x_title, format=",.2f"),
        alt.Tooltip("y:Q", title=y_title, format=",.2f"),
    ]
    x = alt.X("x:Q", title=x_title)
    y = alt.Y("y:Q", title=y_title)
    color = alt.Color("owner:N", title="Rep", legend=alt.Legend(columns=2, symbolLimit=60))
    points = (
        alt.Chart(_safe(pairs))
        .mark_circle(size=60, opacity=0.75)
        .encode(x=x, y=y, color=color, tooltip=tips)
    )
    mean_tips = [
        alt.Tooltip("owner:N", title="Rep"),
        alt.Tooltip("periods:Q", title="Periods"),
        alt.Tooltip("x:Q", title=f"Mean {x_title}", format=",.2f"),
        alt.Tooltip("y:Q", title=f"Mean {y_title}", format=",.2f"),
    ]
    diamonds = (
        alt.Chart(_safe(means))
        .mark_point(shape="diamond", size=180, filled=True, stroke="#263238", strokeWidth=1)
        .encode(x=x, y=y, color=color, tooltip=mean_tips)
    )
    return alt.layer(points, diamonds).properties(
        title="Each point a rep-period; diamonds: each rep's mean (the between-rep view)",
        height=420,
    )
