"""The funnel view: conversion per transition (leads and deals), time in stage, leakage, and
conversion by created-period cohort. Every function is one statement; benchmark bands are
added beside the rates (docs/benchmarks.md, by the row's segment when grouped by segment)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from engine.core.canonical import FUNNEL, FUNNEL_RANK
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS, Benchmarks
from engine.semantic.compile import DEAL_STAGES_SQL, reach_cte, visits_cte
from engine.semantic.compute import Result, compute, run_built
from engine.semantic.request import Request
from engine.semantic.sql import LEAD_DIMS, NO_CYCLE_DEALS, Sql, qi, quartiles, stage_rank

# The lead stages come from the leads table, the deal stages from opportunities and history;
# the two chains meet at "opportunity" (a converted lead).
LEAD_CHAIN = FUNNEL[: FUNNEL.index("opportunity") + 1]
DEAL_CHAIN = FUNNEL[FUNNEL.index("opportunity") :]
# What marks a lead stage in a row of leads (its date, or the status naming it).
_LEAD_MARKS = {
    "lead": "TRUE",
    "sal": "sal_date IS NOT NULL OR status = 'SAL'",
    "sql": "sql_date IS NOT NULL OR status = 'SQL'",
    "opportunity": (
        "converted_date IS NOT NULL OR converted_opportunity_id IS NOT NULL OR status = 'Converted'"
    ),
}
_LEAD_MISSING = {
    "lead": "no leads table",
    "sal": "no SAL dates",
    "sql": "no SQL dates",
    "opportunity": "no converted date, converted opportunity or Converted status",
}


# Key in FunnelPath.missing for a leads table whose leads never convert (the lead side of
# "opportunity"; the deal side is reached by any deal).
CONVERTED = "converted"


@dataclass(frozen=True)
class Transition:
    """One step of the funnel a dataset shows: from one reached stage to the next reached one;
    ``skipped`` are the canonical stages between them that the data never reaches."""

    frm: str
    to: str
    src: str  # "lead" (leads table) or "opp" (opportunities)
    skipped: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.frm}_to_{self.to}"


@dataclass(frozen=True)
class FunnelPath:
    """The transitions the data reaches, in funnel order, and why each other stage is not
    on the path (stage -> reason, e.g. ``{"sal": "no SAL dates"}``)."""

    transitions: tuple[Transition, ...]
    missing: dict[str, str]

    def get(self, frm: str, to: str) -> Transition | None:
        return next((t for t in self.transitions if (t.frm, t.to) == (frm, to)), None)

    def why_not(self, frm: str, to: str) -> str:
        """Why the transition ``frm -> to`` has no rate ("" when it is on the path)."""
        if self.get(frm, to):
            return ""
        if frm in self.missing:
            return self.missing[frm]
        if to == "opportunity" and CONVERTED in self.missing:
            return self.missing[CONVERTED]
        if to in self.missing:
            return self.missing[to]
        spanning = [t for t in self.transitions if frm in (t.frm, *t.skipped)]
        if spanning:
            t = spanning[0]
            return f"the funnel runs {t.frm} -> {t.to} ({', '.join(t.skipped)} not reached)"
        return "not reached by this data"


def _chain(chain: tuple[str, ...], reached: set[str], src: str) -> list[Transition]:
    stages = [s for s in chain if s in reached]
    out = []
    for a, b in zip(stages, stages[1:], strict=False):
        between = chain[chain.index(a) + 1 : chain.index(b)]
        out.append(Transition(a, b, src, tuple(between)))
    return out


def funnel_path(con: duckdb.DuckDBPyConnection) -> FunnelPath:
    """The canonical stages this dataset's data reaches (docs/metrics.md, "Funnel").

    A deal stage is reached when a CRM stage of the stage map, a deal's stage or a history row
    maps to it ("opportunity" whenever there is a deal: every deal reaches it); a lead stage
    when some lead carries its mark (:data:`_LEAD_MARKS`). An unreached stage is skipped: the
    transition runs from the reached stage before it to the reached stage after it."""
    marks = ", ".join(
        f"count(*) FILTER (WHERE {_LEAD_MARKS[s]}) AS {qi_stage(s)}" for s in LEAD_CHAIN
    )
    counts = con.execute(f"SELECT {marks} FROM leads").fetchone() or ()
    lead_reached = {s for s, n in zip(LEAD_CHAIN, counts, strict=True) if n}
    if "lead" not in lead_reached:
        lead_reached = set()
    has_proposal, has_won = con.execute(DEAL_STAGES_SQL).fetchone() or (None, None)
    deals, not_won = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT coalesce(is_won, false)) FROM opportunities"
    ).fetchone() or (0, 0)
    has_deals = bool(deals)
    # Deals recorded only when won (a lead outcomes file) convert at 100% by construction:
    # the deal stages have no conversion to measure (the stage_conversion metric's requires).
    won_only = has_deals and not not_won
    deal_reached: set[str] = set()
    if has_deals:
        deal_reached.add("opportunity")
        if has_proposal and not won_only:
            deal_reached.add("proposal")
        if has_won and not won_only:
            deal_reached.add("closed_won")
    missing: dict[str, str] = {}
    for s in LEAD_CHAIN[:-1]:
        if s not in lead_reached:
            missing[s] = _LEAD_MISSING["lead"] if not lead_reached else _LEAD_MISSING[s]
    if lead_reached and "opportunity" not in lead_reached:
        missing[CONVERTED] = _LEAD_MISSING["opportunity"]
    for s in DEAL_CHAIN:
        if s not in deal_reached:
            missing[s] = (
                "no deals"
                if not has_deals
                else "every deal is won (won deals only): no conversion to measure"
                if won_only
                else f"no CRM stage maps to {s}"
            )
    if not has_deals:
        missing["opportunity"] = "no deals"
    transitions = _chain(LEAD_CHAIN, lead_reached, "lead") + _chain(DEAL_CHAIN, deal_reached, "opp")
    return FunnelPath(tuple(transitions), missing)


def qi_stage(stage: str) -> str:
    """A stage name as a column alias (stage names are the fixed canonical set)."""
    assert stage in FUNNEL_RANK
    return '"' + stage + '"'


def _segment_of(row: pd.Series, req: Request) -> str | None:
    if "segment" in row.index and isinstance(row["segment"], str):
        return row["segment"]
    seg = req.filter_map.get("segment")
    return seg[0] if seg and len(seg) == 1 else None


def _lead_reach(q: Sql) -> str:
    src = q.lead()
    dims = [qi(d) if d in LEAD_DIMS else f"CAST(NULL AS VARCHAR) AS {qi(d)}" for d in q.req.by]
    for d in q.req.by:
        if d not in LEAD_DIMS:
            q.note(f"Leads have no {d}: lead transitions are shown under an empty {d}.")
    cols = ", ".join(dims + ["created_date"])
    return q.cte(
        "lead_reach",
        f"""SELECT {cols}, CASE
         WHEN converted_date IS NOT NULL OR converted_opportunity_id IS NOT NULL
              OR status = 'Converted' THEN 3
         WHEN sql_date IS NOT NULL OR status = 'SQL' THEN 2
         WHEN sal_date IS NOT NULL OR status = 'SAL' THEN 1
         ELSE 0 END AS reached
FROM {src}""",
    )


def _lead_visits(q: Sql) -> str:
    """Completed lead-stage visits from the leads table: lead = created_date -> sal_date,
    sal = sal_date -> sql_date, sql = sql_date -> converted_date. A visit counts when both
    dates are present and the later is not before the earlier (a negative gap is a data error
    left out); a skipped stage has no visit."""
    src = q.lead()
    dims = [qi(d) if d in LEAD_DIMS else f"CAST(NULL AS VARCHAR) AS {qi(d)}" for d in q.req.by]
    for d in q.req.by:
        if d not in LEAD_DIMS:
            q.note(f"Leads have no {d}: lead stages are shown under an empty {d}.")
    cols = "".join(f"{c}, " for c in dims)
    steps = (
        ("lead", "created_date", "sal_date"),
        ("sal", "sal_date", "sql_date"),
        ("sql", "sql_date", "converted_date"),
    )
    parts = "\nUNION ALL\n".join(
        f"""SELECT {cols}'{stage}' AS stage_canonical, CAST({a} AS TIMESTAMP) AS entered_at,
       date_diff('second', CAST({a} AS TIMESTAMP), CAST({b} AS TIMESTAMP)) / 86400.0 AS days
FROM {src}
WHERE {a} IS NOT NULL AND {b} IS NOT NULL AND CAST({b} AS TIMESTAMP) >= CAST({a} AS TIMESTAMP)"""
        for stage, a, b in steps
    )
    return q.cte("lead_visits", parts)


def conversion(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    benchmarks: Benchmarks = DEFAULT_BENCHMARKS,
    path: FunnelPath | None = None,
) -> Result:
    """Per transition of the dataset's funnel (:func:`funnel_path`): from, to, ``transition``
    (``<from>_to_<to>``), ``skipped`` stages, reached_from, reached_to, rate and the band.

    Cohorts: leads and opportunities created in the period, grouped by ``request.by``. A lead
    reached SAL/SQL/opportunity when it has that date, a later one, or the status (skipped
    stages count as passed); deals follow docs/metrics.md, Funnel metrics
    (``stage_conversion``). A transition that spans a skipped stage has no benchmark band (the
    published bands are per single stage). ``extras["path"]`` holds the path,
    ``extras["missing"]`` why each other stage is not on it."""
    path = path or funnel_path(con)
    q = Sql(request.with_(grain=None))
    reach_cte(q)
    _lead_reach(q)
    by = [qi(d) for d in request.by]
    keys = "".join(f"{k}, " for k in by)
    if not path.transitions:
        cols = [*request.by, "from_stage", "to_stage", "transition", "skipped"]
        frame = pd.DataFrame(
            columns=[*cols, "reached_from", "reached_to", "rate", "band_low", "band_high"]
        )
        res = Result(frame, "", [])
        res.extras = {"path": path, "missing": dict(path.missing)}
        return res
    values = ", ".join(
        f"('{t.frm}', '{t.to}', '{t.id}', '{', '.join(t.skipped)}', {FUNNEL_RANK[t.frm]}, "
        f"{FUNNEL_RANK[t.to]}, '{t.src}', {i})"
        for i, t in enumerate(path.transitions)
    )
    select = f"""SELECT {keys}t.from_stage, t.to_stage, t.transition, t.skipped,
       count(x.reached) FILTER (WHERE x.reached >= t.from_rank) AS reached_from,
       count(x.reached) FILTER (WHERE x.reached >= t.to_rank) AS reached_to,
       CAST(count(x.reached) FILTER (WHERE x.reached >= t.to_rank) AS DOUBLE)
         / nullif(count(x.reached) FILTER (WHERE x.reached >= t.from_rank), 0) AS rate
FROM (VALUES {values}) t(from_stage, to_stage, transition, skipped, from_rank, to_rank, src, ord)
LEFT JOIN (
    SELECT {keys}'lead' AS src, reached FROM lead_reach WHERE {q.period("created_date")}
    UNION ALL
    SELECT {keys}'opp' AS src, reached FROM reach WHERE {q.period("created_date")}
) x ON x.src = t.src
GROUP BY ALL
ORDER BY {keys}min(t.ord)"""
    res = run_built(con, q, select)
    f = res.frame
    lows, highs = [], []
    for _, row in f.iterrows():
        band = (
            None
            if row["skipped"]
            else benchmarks.conversion_band(
                row["from_stage"], row["to_stage"], _segment_of(row, request)
            )
        )
        lows.append(band.low if band else None)
        highs.append(band.high if band else None)
    res.frame = f.assign(band_low=lows, band_high=highs)
    res.extras = {"path": path, "missing": dict(path.missing)}
    return res


def history_left_out(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(deals whose stage history is left out of time in stage because they closed before
    they were created, deals with stage history): the reason an empty time-in-stage view
    gives."""
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE opportunity_id IN ({NO_CYCLE_DEALS})), count(*)
FROM (SELECT DISTINCT opportunity_id FROM stage_history)"""
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def time_in_stage(
    con: duckdb.DuckDBPyConnection, request: Request, benchmarks: Benchmarks = DEFAULT_BENCHMARKS
) -> Result:
    """Per canonical stage: mean, median, p25, p75 and n days (completed visits entered in the
    period), with the band of docs/benchmarks.md. Deal stages come from stage_history; the lead
    stages (lead, sal, sql) from the leads table's dates (see :func:`_lead_visits`)."""
    q = Sql(request.with_(grain=None))
    visits_cte(q)
    _lead_visits(q)
    keys = "".join(f"{qi(d)}, " for d in request.by)
    select = f"""SELECT {keys}stage_canonical AS stage, avg(days) AS mean,
       {", ".join(quartiles("days"))}, count(*) AS n
FROM (
    SELECT {keys}stage_canonical, entered_at, days FROM visits
    UNION ALL
    SELECT {keys}stage_canonical, entered_at, days FROM lead_visits
) v
WHERE {q.period("entered_at")}
GROUP BY ALL
ORDER BY {keys}min({stage_rank("stage_canonical")})"""
    res = run_built(con, q, select)
    lows, highs = [], []
    for _, row in res.frame.iterrows():
        band = benchmarks.stage_band(row["stage"], _segment_of(row, request))
        lows.append(band.low if band else None)
        highs.append(band.high if band else None)
    res.frame = res.frame.assign(band_low=lows, band_high=highs)
    return res


def leakage(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """Where deals created in the period leak: per canonical stage, deals lost after reaching it
    as their furthest stage, and open deals stalled in it (more than ``stale_days`` in stage)."""
    q = Sql(request.with_(grain=None))
    reach_cte(q)
    src = q.open_age()
    days = q.p(request.stale_days)
    select = f"""SELECT stage, sum(lost) AS lost, sum(stalled) AS stalled, sum(open) AS open
FROM (
    SELECT CASE reached WHEN 3 THEN 'opportunity' WHEN 4 THEN 'proposal' ELSE 'other' END AS stage,
           1 AS lost, 0 AS stalled, 0 AS open
    FROM reach
    WHERE stage_canonical = 'closed_lost' AND {q.period("created_date")}
    UNION ALL
    SELECT stage_canonical, 0, CASE WHEN days_in_stage > {days} THEN 1 ELSE 0 END, 1
    FROM {src}
    WHERE {q.period("created_date")}
) x
GROUP BY stage
ORDER BY {stage_rank("stage")}"""
    return run_built(con, q, select)


def conversion_trend(con: duckdb.DuckDBPyConnection, request: Request) -> Result:
    """stage_conversion per created-period cohort (the request's grain, monthly by default)."""
    return compute(
        con, request.with_(metrics=("stage_conversion",), grain=request.grain or "month")
    )
