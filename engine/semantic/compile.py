"""Compile one catalog metric for one request into a single parameterised DuckDB statement.

Each compiled statement returns one row per group (the request's ``by`` dimensions, then
``period_start`` when a grain is set) with ``value`` and the columns that explain it
(numerator, denominator, median, quartiles, n, levers). Without ``by`` and grain it returns
exactly one row, even on an empty dataset, so an undefined value comes back as NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from engine.core.canonical import FUNNEL, FUNNEL_RANK
from engine.semantic.catalog import Metric, get_metric, required_table
from engine.semantic.model import MEASURES, RELATIONS, Measure
from engine.semantic.request import Request
from engine.semantic.sql import (
    IQR_K,
    LOST_RANK,
    NO_CYCLE_DEALS,
    OPP_DIMS,
    OPPORTUNITY_RANK,
    REP_DIMS,
    SOURCE_DIMS,
    STAGE_VISITS,
    Sql,
    iqr_outlier,
    qi,
    quartiles,
    stage_rank,
    state_as_of,
)


@dataclass
class Compiled:
    metric: str
    sql: str
    params: list[Any]
    keys: list[str]
    notes: list[str] = field(default_factory=list)


def _src(q: Sql, source: str) -> str:
    return {"opp": q.opp, "opp_r": q.opp_r, "act": q.act, "lead": q.lead}[source]()


def _side_select(q: Sql, side: Measure, aggs: str, source: str | None = None) -> str:
    src = _src(q, source or side.source)
    cols = ", ".join(q.key_cols(side.date) + [aggs])
    return (
        f"SELECT {cols}\nFROM {src}\nWHERE ({side.where}) AND {q.period(side.date)}{q.group_by()}"
    )


def _join(q: Sql, left: str, right: str, la: str = "l", ra: str = "r") -> tuple[str, str]:
    """FROM clause joining two keyed aggregates, and the SELECT items for the keys."""
    keys = [k.strip('"') for k in q.keys()]
    if not keys:
        return f"({left}) {la}\nCROSS JOIN ({right}) {ra}", ""
    on = " AND ".join(f"{la}.{qi(k)} IS NOT DISTINCT FROM {ra}.{qi(k)}" for k in keys)
    cols = ", ".join(f"coalesce({la}.{qi(k)}, {ra}.{qi(k)}) AS {qi(k)}" for k in keys)
    return f"({left}) {la}\nFULL OUTER JOIN ({right}) {ra} ON {on}", cols + ", "


def _select_keys(q: Sql, alias: str = "") -> str:
    pre = f"{alias}." if alias else ""
    return "".join(f"{pre}{k}, " for k in q.keys())


# -- generic kinds ---------------------------------------------------------------------------


def _measure(q: Sql, m: Metric) -> str:
    s = m.measure
    assert s is not None
    return (
        _side_select(q, s, f"CAST({s.sql()} AS DOUBLE) AS value, {s.n_sql()} AS n") + q.order_by()
    )


def _share_aggs(num: Measure, den: Measure) -> tuple[str, str]:
    """A ratio's two aggregates read in one scan of their relation: the numerator counts only
    among the denominator's rows (a share never exceeds its whole)."""
    return (
        f"{num.sql()} FILTER (WHERE ({num.where}) AND ({den.where}))",
        f"{den.sql()} FILTER (WHERE {den.where})",
    )


def _quantile_aggs(x: str, headline: str = "mean") -> str:
    """value (the catalog's headline statistic), mean, median, quartiles, min, max, n."""
    value = f"median({x})" if headline == "median" else f"avg({x})"
    return (
        f"CAST({value} AS DOUBLE) AS value, CAST(avg({x}) AS DOUBLE) AS mean, "
        + ", ".join(quartiles(x, cast=True))
        + f", CAST(min({x}) AS DOUBLE) AS min, CAST(max({x}) AS DOUBLE) AS max, count({x}) AS n"
    )


def _without_outliers(
    q: Sql, cols: list[str], value: str, frm: str, where: str, headline: str = "mean"
) -> str:
    """Aggregates of ``value`` per group with IQR outliers left out, and how many were."""
    keys = q.keys()
    part = f"PARTITION BY {', '.join(keys)}" if keys else ""
    inner = ", ".join(cols + [f"{value} AS v"])
    aggs = _quantile_aggs("CASE WHEN NOT outlier THEN v END", headline)
    return f"""SELECT {_select_keys(q)}{aggs},
       count(*) FILTER (WHERE outlier) AS outliers_excluded
FROM (
    SELECT *, {iqr_outlier("v", "q1", "q3")} AS outlier
    FROM (
        SELECT *, quantile_cont(v, 0.25) OVER w AS q1, quantile_cont(v, 0.75) OVER w AS q3
        FROM (
            SELECT {inner}
            FROM {frm}
            WHERE {where}
        ) b
        WINDOW w AS ({part})
    ) f
    WHERE v IS NOT NULL
) t{q.group_by()}{q.order_by()}"""


def _outlier_note(q: Sql) -> None:
    q.note(
        f"Outliers excluded: values outside p25 - {IQR_K} IQR .. p75 + {IQR_K} IQR of each group "
        "(Tukey's fences) are left out; outliers_excluded counts them."
    )


def _quantile(q: Sql, m: Metric) -> str:
    s = m.measure
    assert s is not None
    if q.req.exclude_outliers and m.outliers:
        _outlier_note(q)
        where = f"({s.where}) AND {q.period(s.date)}"
        return _without_outliers(
            q, q.key_cols(s.date), s.expr, _src(q, s.source), where, m.headline
        )
    return _side_select(q, s, _quantile_aggs(s.expr, m.headline)) + q.order_by()


def _ratio(q: Sql, m: Metric) -> str:
    assert m.num is not None and m.den is not None
    rep_mode = m.num.source != "opp" or m.den.source != "opp"
    ns = "opp_r" if rep_mode and m.num.source == "opp" else m.num.source
    ds = "opp_r" if rep_mode and m.den.source == "opp" else m.den.source
    value = (
        "CAST(numerator AS DOUBLE) / nullif(CAST(denominator AS DOUBLE), 0) AS value, "
        "CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, "
        "CAST(denominator AS BIGINT) AS n"
    )
    if (m.num.source, m.num.date) == (m.den.source, m.den.date):
        n_agg, d_agg = _share_aggs(m.num, m.den)
        inner = _side_select(q, m.den, f"{n_agg} AS numerator, {d_agg} AS denominator", ds)
        return f"SELECT {_select_keys(q)}{value}\nFROM (\n{inner}\n) t{q.order_by()}"
    num = _side_select(q, m.num, f"{m.num.sql()} AS numerator", ns)
    den = _side_select(q, m.den, f"{m.den.sql()} AS denominator", ds)
    frm, cols = _join(q, num, den)
    return f"SELECT * FROM (\nSELECT {cols}{value}\nFROM {frm}\n) t{q.order_by()}"


def _growth(q: Sql, m: Metric) -> str:
    """(count in the period - count in the previous period of the same length) / the previous
    count (docs/metrics.md, Activity and leads); with a grain, each bucket against the one before."""
    s = m.measure
    assert s is not None
    date = s.date
    if m.date_fallback:
        # a dataset-level choice: the whole source table either has the date or falls back
        have = _exists(f"{RELATIONS[s.source].table} WHERE {s.date} IS NOT NULL")
        date = f"CASE WHEN {have} THEN {s.date} ELSE {m.date_fallback} END"
    rows = q.cte(
        "growth_rows",
        f"SELECT * FROM (\nSELECT *, {date} AS growth_date\nFROM {_src(q, s.source)}\n"
        f"WHERE ({s.where})\n) WHERE growth_date IS NOT NULL",
    )
    value = (
        "CAST(numerator - denominator AS DOUBLE) / nullif(denominator, 0) AS value, "
        "numerator, denominator, CAST(numerator AS BIGINT) AS n"
    )
    per = q.req.period
    if q.req.grain:
        by = "".join(f"{qi(d)}, " for d in q.req.by)
        q.cte(
            "growth_n",
            f"""SELECT {by}{q.bucket("growth_date")} AS period_start,
       count(*) FILTER (WHERE {q.period("growth_date")}) AS c_in, count(*) AS c
FROM {rows}
GROUP BY ALL""",
        )
        nxt = f"CAST(period_start + {q.step} AS DATE)"
        inside = "TRUE"
        if per.start is not None and per.end is not None:
            inside = f"{nxt} < {q.p(per.end)} AND {nxt} + {q.step} > {q.p(per.start)}"
        # buckets with rows in the period, and a bucket without rows that follows one with
        # rows (0 leads: -100%), never past the last bucket of the data
        q.cte(
            "growth_b",
            f"""SELECT {by}period_start FROM growth_n WHERE c_in > 0
UNION
SELECT {by}{nxt} FROM growth_n
WHERE {nxt} <= (SELECT max(period_start) FROM growth_n) AND {inside}""",
        )

        def on(a: str, start: str) -> str:
            same = [f"{a}.{qi(d)} IS NOT DISTINCT FROM b.{qi(d)}" for d in q.req.by]
            return " AND ".join([*same, f"{a}.period_start = {start}"])

        cur_on = on("c", "b.period_start")
        prev_on = on("p", f"CAST(b.period_start - {q.step} AS DATE)")
        return f"""SELECT {_select_keys(q)}{value}
FROM (
    SELECT b.*, CAST(coalesce(c.c_in, 0) AS DOUBLE) AS numerator,
           CAST(coalesce(p.c, 0) AS DOUBLE) AS denominator
    FROM growth_b b
    LEFT JOIN growth_n c ON {cur_on}
    LEFT JOIN growth_n p ON {prev_on}
) t{q.order_by()}"""
    if per.start is None or per.end is None:
        q.note(f"{m.name} compares a period with the one before it: null for 'all'.")
        inner = (
            f"SELECT {_select_keys(q)}CAST(count(*) AS DOUBLE) AS numerator, "
            f"CAST(NULL AS DOUBLE) AS denominator\nFROM {rows}{q.group_by()}"
        )
    else:
        prev = per.shifted(-1)
        assert prev.start is not None and prev.end is not None
        before = f"growth_date >= {q.p(prev.start)} AND growth_date < {q.p(prev.end)}"
        now = q.period("growth_date")
        inner = (
            f"SELECT {_select_keys(q)}CAST(count(*) FILTER (WHERE {now}) AS DOUBLE) AS numerator, "
            f"CAST(count(*) FILTER (WHERE {before}) AS DOUBLE) AS denominator\n"
            f"FROM {rows}\nWHERE ({now}) OR ({before}){q.group_by()}"
        )
    return f"SELECT {_select_keys(q)}{value}\nFROM (\n{inner}\n) t{q.order_by()}"


# -- quota-based metrics ----------------------------------------------------------------------


def _quota(q: Sql, m: Metric) -> str:
    nm = get_metric(m.numerator_metric or "")
    s = nm.measure
    assert s is not None
    q.quota_clipped(m.ramp)
    qname = "quota_r" if m.ramp else "quota_c"
    grain_q = ", period_start" if q.req.grain else ""
    q.cte(
        "q_owner",
        f"""SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager{grain_q}, sum(quota) AS quota
FROM {qname}
GROUP BY owner{grain_q}""",
    )
    src = q.opp_r()
    bucket = f", {q.bucket(s.date)} AS period_start" if q.req.grain else ""
    q.cte(
        "n_owner",
        f"""SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager{bucket}, {s.sql()} AS num
FROM {src}
WHERE ({s.where}) AND {q.period(s.date)}
GROUP BY ALL""",
    )
    on = "qo.owner IS NOT DISTINCT FROM no.owner"
    if q.req.grain:
        on += " AND qo.period_start IS NOT DISTINCT FROM no.period_start"
    cols = ", ".join(
        f"coalesce(qo.{c}, no.{c}) AS {c}"
        for c in ("owner", "team", "segment", "role", "manager")
        + (("period_start",) if q.req.grain else ())
    )
    q.cte(
        "per_owner",
        f"""SELECT {cols}, qo.quota, no.num,
       CASE WHEN qo.quota > 0 THEN coalesce(no.num, 0) / qo.quota END AS att
FROM q_owner qo
FULL OUTER JOIN n_owner no ON {on}""",
    )
    if m.numerator_scope == "all_owners":
        numer = "sum(num)"
    else:
        numer = "sum(coalesce(num, 0)) FILTER (WHERE quota > 0)"
    aggs = (
        f"CAST({numer} / nullif(sum(quota) FILTER (WHERE quota > 0), 0) AS DOUBLE) AS value, "
        f"CAST({numer} AS DOUBLE) AS numerator, "
        "CAST(sum(quota) FILTER (WHERE quota > 0) AS DOUBLE) AS denominator, "
        "CAST(median(att) AS DOUBLE) AS median, CAST(quantile_cont(att, 0.25) AS DOUBLE) AS p25, "
        "CAST(quantile_cont(att, 0.75) AS DOUBLE) AS p75, "
        "CAST(avg(CASE WHEN att >= 1 THEN 1.0 WHEN att IS NOT NULL THEN 0.0 END) AS DOUBLE) "
        "AS share_at_or_above_100, "
        "count(att) AS n"
    )
    return f"SELECT {_select_keys(q)}{aggs}\nFROM per_owner{q.group_by()}{q.order_by()}"


def _revenue_per_rep(q: Sql, m: Metric) -> str:
    won = get_metric(m.numerator_metric or "").measure
    assert won is not None
    src = q.opp_r()
    num = _side_select(q, won, f"{won.sql()} AS numerator", "opp_r")
    q.quota_clipped(False)
    dims = "owner, team, segment, role, manager"
    gq = ", period_start" if q.req.grain else ""
    bd = f", {q.bucket('d')} AS period_start" if q.req.grain else ""
    q.cte(
        "rep_rows",
        f"""SELECT {dims}{gq} FROM quota_c WHERE quota > 0
UNION ALL
SELECT {dims}{bd}
FROM (
    SELECT {dims}, created_date AS d FROM {src}
    UNION ALL
    SELECT {dims}, close_date AS d FROM {src}
) x
WHERE d IS NOT NULL AND {q.period("d")} AND NOT EXISTS (SELECT 1 FROM quota_c WHERE quota > 0)""",
    )
    keys = ", ".join(q.keys())
    den = (
        f"SELECT {keys + ', ' if keys else ''}count(DISTINCT owner) AS denominator FROM rep_rows"
        f"{q.group_by()}"
    )
    frm, cols = _join(q, num, den)
    value = (
        "CAST(numerator AS DOUBLE) / nullif(denominator, 0) AS value, "
        "CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, "
        "denominator AS n"
    )
    return f"SELECT * FROM (\nSELECT {cols}{value}\nFROM {frm}\n) t{q.order_by()}"


# -- special kinds -----------------------------------------------------------------------------


def _velocity(q: Sql, m: Metric) -> str:
    """Opportunities created x win rate x average deal size / mean sales cycle, each lever the
    number its own metric gives (the parts the catalog names)."""
    src = q.opp()
    created = MEASURES[m.parts["created"]]
    win, size, cycle = (get_metric(m.parts[k]) for k in ("win_rate", "deal_size", "cycle"))
    assert win.num and win.den and size.num and size.den and cycle.measure
    closed_side = (win.num, win.den, size.num, size.den, cycle.measure)
    assert len({(s.source, s.date) for s in closed_side}) == 1, "levers read one relation"
    created_sel = _side_select(q, created, f"{created.sql()} AS opportunities_created")
    won, decided = _share_aggs(win.num, win.den)
    amount, with_amount = _share_aggs(size.num, size.den)
    aggs = [
        f"{won} AS won",
        f"{decided} AS closed",
        f"{amount} AS won_amount",
        f"{with_amount} AS won_with_amount",
        f"avg({cycle.measure.expr}) FILTER (WHERE {cycle.measure.where}) AS mean_cycle",
    ]
    date = cycle.measure.date
    scan = " OR ".join(f"({s.where})" for s in closed_side)
    closed = (
        f"SELECT {', '.join(q.key_cols(date) + aggs)}\n"
        f"FROM {src}\nWHERE ({scan}) AND {q.period(date)}{q.group_by()}"
    )
    frm, cols = _join(q, created_sel, closed, "c", "d")
    # The win-rate lever is null where the win_rate metric is (no lost deal recorded).
    win_ok = " AND ".join(_exists(r) for r in win.requires) or "TRUE"
    return f"""SELECT *, CAST(opportunities_created * win_rate * avg_deal_size
                  / nullif(sales_cycle_days, 0) AS DOUBLE) AS value
FROM (
    SELECT {cols}CAST(coalesce(c.opportunities_created, 0) AS DOUBLE) AS opportunities_created,
           CASE WHEN {win_ok} THEN CAST(d.won AS DOUBLE) / nullif(d.closed, 0) END AS win_rate,
           CAST(d.won_amount / nullif(d.won_with_amount, 0) AS DOUBLE) AS avg_deal_size,
           CAST(d.mean_cycle AS DOUBLE) AS sales_cycle_days
    FROM {frm}
) t{q.order_by()}"""


def reach_cte(q: Sql) -> str:
    """Deals with the highest canonical stage they reached (the 'reached' rule of
    docs/metrics.md, Funnel metrics)."""
    src = q.opp()
    q.hist()
    q.cte(
        "hist_reach",
        f"""SELECT opportunity_id,
       max({stage_rank("stage_canonical")}) FILTER (WHERE stage_canonical <> 'closed_lost') AS hmax
FROM hist
GROUP BY opportunity_id""",
    )
    cur = stage_rank("o.stage_canonical")
    opp, won, lost = OPPORTUNITY_RANK, FUNNEL_RANK["closed_won"], LOST_RANK
    return q.cte(
        "reach",
        f"""SELECT o.*, greatest({opp}, CASE
         WHEN o.is_won THEN {won}
         WHEN h.opportunity_id IS NOT NULL
           THEN greatest(coalesce(h.hmax, {lost}),
                         CASE WHEN o.stage_canonical = 'closed_lost' THEN {lost} ELSE {cur} END)
         WHEN o.stage_canonical = 'closed_lost' THEN {opp}
         ELSE {cur} END) AS reached
FROM {src} o
LEFT JOIN hist_reach h ON h.opportunity_id = o.opportunity_id""",
    )


# The deal stages the dataset reaches (engine.analyses.funnel.funnel_path says the same for the
# funnel view): a canonical stage of the stage map, of a deal or of a history row; a won deal
# reaches closed_won whatever its stage.
DEAL_STAGES_SQL = """SELECT bool_or(s = 'proposal') AS has_proposal, bool_or(s = 'closed_won') AS has_won
FROM (
    SELECT canonical AS s FROM stage_map
    UNION ALL SELECT stage_canonical FROM opportunities
    UNION ALL SELECT stage_canonical FROM stage_history
    UNION ALL SELECT 'closed_won' FROM opportunities WHERE is_won
)"""


def _stage_conversion(q: Sql, m: Metric) -> str:
    reach_cte(q)
    q.cte("deal_stages", DEAL_STAGES_SQL)
    aggs = [
        f"count(*) FILTER (WHERE reached >= {FUNNEL_RANK[s]}) AS reached_{s}"
        for s in FUNNEL[OPPORTUNITY_RANK:]  # opportunity, proposal, closed_won
    ]
    # With a grain a deal needs a created_date to fall in a bucket; for 'all' every deal counts.
    dated = "created_date IS NOT NULL AND " if q.req.grain or q.req.period.bounded else ""
    inner = (
        f"SELECT {', '.join(q.key_cols('created_date') + aggs)}\nFROM reach\n"
        f"WHERE {dated}{q.period('created_date')}{q.group_by()}"
    )
    # A transition into or out of a stage the data never reaches is null (never a 100%
    # "proposal -> won" made of deals that skipped proposal); opportunity_to_closed_won is the
    # transition when proposal is skipped.
    won = "CAST(reached_closed_won AS DOUBLE) / nullif(reached_opportunity, 0)"
    return f"""SELECT {_select_keys(q)}
       CASE WHEN s.has_won THEN {won} END AS value,
       CASE WHEN s.has_won THEN CAST(reached_closed_won AS DOUBLE) END AS numerator,
       CAST(reached_opportunity AS DOUBLE) AS denominator,
       CASE WHEN s.has_proposal
            THEN CAST(reached_proposal AS DOUBLE) / nullif(reached_opportunity, 0)
       END AS opportunity_to_proposal,
       CASE WHEN s.has_proposal AND s.has_won
            THEN CAST(reached_closed_won AS DOUBLE) / nullif(reached_proposal, 0)
       END AS proposal_to_closed_won,
       CASE WHEN NOT s.has_proposal AND s.has_won THEN {won} END AS opportunity_to_closed_won,
       reached_opportunity, CASE WHEN s.has_proposal THEN reached_proposal END AS reached_proposal,
       reached_closed_won, reached_opportunity AS n
FROM (
{inner}
) t
CROSS JOIN deal_stages s{q.order_by()}"""


def visits_cte(q: Sql) -> str:
    """Completed canonical stage visits with their length in days, joined to deal dimensions.

    Callers keep only visits entered in the request's period, so for a bounded period the
    history is first narrowed to deals with an entry in it: the two windows then sort only
    those deals' rows (each deal's partition is whole, so its visits are unchanged).
    """
    src = q.opp()
    if q.uses_stored(STAGE_VISITS):
        q.cte("hist_visits", f"SELECT * FROM {STAGE_VISITS}")
    else:
        stage_visits(q)
    return q.cte(
        "visits",
        f"""SELECT o.* EXCLUDE (stage_canonical, stage_order, amount, probability, stage_probability),
       v.stage_canonical, v.entered_at,
       date_diff('second', v.entered_at, v.next_at) / 86400.0 AS days
FROM hist_visits v
JOIN {src} o ON o.opportunity_id = v.opportunity_id
WHERE v.next_at IS NOT NULL AND v.stage_canonical NOT IN ('closed_won', 'closed_lost')
  AND v.opportunity_id NOT IN ({NO_CYCLE_DEALS})""",
    )


def stage_visits(q: Sql) -> str:
    """Each deal's canonical stage visits (a run of rows in one canonical stage is one visit)
    with the time the next one began: what :data:`STAGE_VISITS` stores."""
    q.hist()
    per = q.req.period
    narrowed = "hist"
    if per.start is not None and per.end is not None:
        narrowed = q.cte(
            "hist_p",
            f"""SELECT *
FROM hist
WHERE opportunity_id IN (SELECT opportunity_id FROM hist WHERE {q.period("entered_at")})""",
        )
    q.cte(
        "hist_runs",
        f"""SELECT opportunity_id, stage_canonical, stage_order, entered_at,
       lag(stage_canonical) OVER w AS prev_stage
FROM {narrowed}
WINDOW w AS (PARTITION BY opportunity_id ORDER BY entered_at, stage_order)""",
    )
    return q.cte(
        "hist_visits",
        """SELECT *, lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY entered_at, stage_order) AS next_at
FROM hist_runs
WHERE prev_stage IS DISTINCT FROM stage_canonical""",
    )


def _time_in_stage(q: Sql, m: Metric) -> str:
    visits_cte(q)
    if q.req.exclude_outliers and m.outliers:
        _outlier_note(q)
        return _without_outliers(
            q, q.key_cols("entered_at"), "days", "visits", q.period("entered_at")
        )
    aggs = [
        "CAST(avg(days) AS DOUBLE) AS value",
        *quartiles("days", cast=True),
        "count(days) AS n",
    ]
    return (
        f"SELECT {', '.join(q.key_cols('entered_at') + aggs)}\nFROM visits\n"
        f"WHERE {q.period('entered_at')}{q.group_by()}{q.order_by()}"
    )


def _aging(q: Sql, m: Metric) -> str:
    q.stage_age()
    mult = q.p(q.req.aging_multiple)
    aggs = [
        f"CAST(count(*) FILTER (WHERE days_in_stage > {mult} * stage_median) AS DOUBLE) "
        "/ nullif(count(*), 0) AS value",
        f"CAST(count(*) FILTER (WHERE days_in_stage > {mult} * stage_median) AS DOUBLE) AS numerator",
        "CAST(count(*) AS DOUBLE) AS denominator",
        "count(*) AS n",
    ]
    return (
        f"SELECT {', '.join(q.key_cols(None) + aggs)}\nFROM stage_age{q.group_by()}{q.order_by()}"
    )


def _stale(q: Sql, m: Metric) -> str:
    # no stage medians needed: the days in stage alone decide
    q.open_age()
    days = q.p(q.req.stale_days)
    aggs = [
        f"CAST(count(*) FILTER (WHERE days_in_stage > {days}) AS DOUBLE) AS value",
        f"CAST(sum(amount) FILTER (WHERE days_in_stage > {days}) AS DOUBLE) AS amount",
        "count(*) AS n",
    ]
    return f"SELECT {', '.join(q.key_cols(None) + aggs)}\nFROM open_age{q.group_by()}{q.order_by()}"


def _forecast(q: Sql, m: Metric) -> str:
    per = q.req.period
    src = q.opp()
    q.hist()
    if q.req.grain:
        bs = q.bucket("close_date")
    elif per.start is not None:
        bs = q.p(per.start)
    else:
        q.note("Forecast accuracy needs a bounded period or a grain; it is null for 'all'.")
        keys = [f"NULL AS {k}" for k in q.keys()]
        return (
            "SELECT "
            + ", ".join(
                keys
                + [
                    "CAST(NULL AS DOUBLE) AS value",
                    "CAST(NULL AS DOUBLE) AS forecast",
                    "CAST(NULL AS DOUBLE) AS actual",
                    "0 AS n",
                ]
            )
            + ("\nWHERE FALSE" if keys else "")
        )
    q.cte(
        "due",
        f"""SELECT *, CAST({bs} AS DATE) AS bs
FROM {src}
WHERE close_date IS NOT NULL AND {q.period("close_date")}""",
    )
    # the as-of reconstruction shared with the backtest (engine/analyses/backtest.py)
    q.cte("state_at_start", state_as_of())
    keys = q.keys()
    kcols = "".join(f"d.{k}, " for k in keys) if keys else ""
    inner = f"""SELECT {kcols}sum(s.weighted) FILTER (WHERE s.st NOT IN ('closed_won', 'closed_lost')) AS forecast,
       sum(d.amount) FILTER (WHERE d.is_won) AS actual,
       count(s.opportunity_id) AS n
FROM (SELECT *{", bs AS period_start" if q.req.grain else ""} FROM due) d
LEFT JOIN state_at_start s ON s.opportunity_id = d.opportunity_id{q.group_by()}"""
    # Without any history row before the period start, the pipeline as it stood then cannot
    # be rebuilt: the forecast is unknown (null), not 0.
    start = "i.period_start" if q.req.grain else bs
    has_hist = f"EXISTS (SELECT 1 FROM hist h0 WHERE h0.entered_at < {start})"
    return f"""SELECT {_select_keys(q)}
       CAST(1 - abs(f - actual) / nullif(actual, 0) AS DOUBLE) AS value,
       CAST(f AS DOUBLE) AS forecast, CAST(actual AS DOUBLE) AS actual, n
FROM (
    SELECT *, CASE WHEN {has_hist} THEN coalesce(forecast, 0) END AS f
    FROM (
{inner}
    ) i
) t{q.order_by()}"""


COMPILERS: dict[str, Callable[[Sql, Metric], str]] = {
    "measure": _measure,
    "per_rep": _revenue_per_rep,
    "velocity": _velocity,
    "quantile": _quantile,
    "ratio": _ratio,
    "growth": _growth,
    "quota": _quota,
    "stage_conversion": _stage_conversion,
    "time_in_stage": _time_in_stage,
    "aging": _aging,
    "stale": _stale,
    "forecast": _forecast,
}


def metric_dims(m: Metric) -> tuple[str, ...]:
    """Dimensions a metric can be grouped by (those every one of its relations carries)."""
    if m.kind in ("quota", "per_rep"):
        return REP_DIMS
    sides = [s for s in (m.measure, m.num, m.den) if s is not None]
    if sides:
        dims = set(OPP_DIMS)
        for s in sides:
            dims &= set(SOURCE_DIMS[s.source])
        return tuple(d for d in OPP_DIMS if d in dims)
    return OPP_DIMS


def compile_metric(metric_id: str, req: Request, stored: frozenset[str] = frozenset()) -> Compiled:
    """Compile ``metric_id`` for ``req`` into SQL, bound parameters and notes; ``stored``
    names the per-stage tables the dataset keeps (``Sql.stored``)."""
    m = get_metric(metric_id)
    q = Sql(req, stored=stored)
    allowed = metric_dims(m)
    bad = [d for d in req.by if d not in allowed]
    if bad:
        q.note(
            f"{m.name} cannot be grouped by {', '.join(bad)} "
            f"(available: {', '.join(allowed)}); shown as null."
        )
        cols = [f"CAST(NULL AS VARCHAR) AS {qi(d)}" for d in req.by]
        if req.grain:
            cols.append("CAST(NULL AS DATE) AS period_start")
        sql = "SELECT " + ", ".join(cols + ["CAST(NULL AS DOUBLE) AS value"]) + "\nWHERE FALSE\n"
        return Compiled(m.id, sql, [], q.keys(), q.notes)
    select = COMPILERS[m.kind](q, m)
    if m.requires:
        # table names validated by the catalog and predicates written in it, never user input
        have = " AND ".join(_exists(r) for r in m.requires)
        select = (
            f"SELECT * REPLACE (CASE WHEN {have} THEN value END AS value)\nFROM (\n{select}\n) "
            f"req_t{q.order_by()}"
        )
        q.note(
            f"{m.name}: n/a where {m.requires_note}."
            if m.requires_note
            else f"{m.name} needs {', '.join(m.requires)}: null when none is loaded."
        )
    if m.kind in ("aging", "stale") and (req.grain or req.period.bounded):
        q.note(
            f"{m.name} is a snapshot as of {req.as_of.isoformat()}; period and grain do not apply."
        )
    return Compiled(
        m.id, q.render(select), list(q.params), [k.strip('"') for k in q.keys()], q.notes
    )


def _exists(requirement: str) -> str:
    """``EXISTS`` for one ``requires`` entry of the catalog ("table" or "table WHERE ...")."""
    table = required_table(requirement)
    where = requirement.strip()[len(table) :].strip()
    return f'EXISTS (SELECT 1 FROM "{table}"' + (f" {where}" if where else "") + ")"


def unmet_requirement(con: duckdb.DuckDBPyConnection, metric: Metric) -> str | None:
    """Why ``metric`` is n/a on this dataset whatever the request, in words (its catalog
    ``requires_note``: a reason without a full stop), or None when every row it ``requires``
    exists."""
    for requirement in metric.requires:
        row = con.execute(f"SELECT {_exists(requirement)}").fetchone()
        if not (row and row[0]):
            default = f"{metric.name} needs {', '.join(metric.requires)}: none is loaded"
            return metric.requires_note or default
    return None
