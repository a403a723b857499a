"""SQL building blocks: bound parameters, allow-listed identifiers and the base relations.

Every user value (filter values, dates, thresholds) goes through :meth:`Sql.p` and becomes a
numbered DuckDB parameter (``$1``, ``$2``, ...); identifiers come only from the allow-lists in
this module and are quoted by :func:`qi`. The base relations (CTEs) join each canonical table
with the rep attributes and apply the request's filters and the flagged-row switch.

Dimension attribution (docs/data.md, "Where a deal's dimensions come from"): a deal joins its
account by account_id, else by account_name (case and surrounding spaces ignored), and its rep
by owner. ``segment`` is the deal's own, else the account's, else derived from the account's
employees (thresholds from the dataset's ``_meta``), else the rep's; ``industry`` is the
account's; ``team``, ``role`` and ``manager`` are the rep's; ``region`` is the deal's, else the
rep's (the sales territory), else the account's. ``segment_source``, ``industry_source`` and
``region_source`` say which (``deal``, ``account``, ``account_employees``, ``rep``).
Relations that carry only an owner (activities, quotas) and the quota-based metrics use the
rep's segment (the ``opp_r`` relation), so numerator and denominator are cut the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core.canonical import (
    DEFAULT_SEGMENT_THRESHOLDS,
    FUNNEL,
    FUNNEL_RANK,
    SEGMENT_THRESHOLDS_KEY,
    SEGMENTS,
)
from engine.semantic.model import MEASURES, RELATIONS
from engine.semantic.request import DIMENSIONS, Request

# What each relation can be grouped and filtered by (model.toml).
SOURCE_DIMS: dict[str, tuple[str, ...]] = {r.id: r.dimensions for r in RELATIONS.values()}
SOURCE_LABEL = {r.id: r.label for r in RELATIONS.values()}
REP_DIMS = SOURCE_DIMS["quota"]
LEAD_DIMS = SOURCE_DIMS["lead"]
OPP_DIMS = SOURCE_DIMS["opp"]

# Thin views over one stored table: re-scanning them is cheaper than materialising millions of
# rows with every column when several CTEs read them (DuckDB materialises a CTE referenced
# twice), and inlining lets projections and filters reach the table scan.
INLINE_CTES = frozenset({"hist", "opp_all"})

_IDENTIFIERS = frozenset(DIMENSIONS) | {"period_start", "stage_canonical"}

GRAIN_STEP = {
    "week": "INTERVAL 7 DAY",
    "month": "INTERVAL 1 MONTH",
    "quarter": "INTERVAL 3 MONTH",
    "year": "INTERVAL 12 MONTH",
}

# The funnel rank of a canonical stage in SQL, from engine.core.canonical.FUNNEL_RANK: a lost deal
# ranks -1 here (it reached no stage by being lost) and an unmapped stage counts as an open
# opportunity.
OPPORTUNITY_RANK = FUNNEL_RANK["opportunity"]
LOST_RANK = -1
STAGE_RANK_SQL = (
    "CASE {c} "
    + " ".join(f"WHEN '{s}' THEN {FUNNEL_RANK[s]}" for s in FUNNEL)
    + f" WHEN 'closed_lost' THEN {LOST_RANK} ELSE {OPPORTUNITY_RANK} END"
)

# A deal's cycle (created -> close) is measured only when both dates are known and close is
# not before created: a close_before_created deal counts everywhere else (docs/metrics.md).
# Both pieces are the model's cycle_days measure.
CYCLE_DAYS = MEASURES["cycle_days"].expr
# The won deals whose cycle is measured (the cycle rule above).
WON_WITH_CYCLE = MEASURES["cycle_days"].where

# Tukey's fences: a value below p25 - 1.5 IQR or above p75 + 1.5 IQR of its group is an outlier.
IQR_K = 1.5


def quartiles(x: str, over: str = "", cast: bool = False) -> list[str]:
    """SELECT items ``median``, ``p25`` and ``p75`` of ``x`` (``over``: a window such as
    ``" OVER ()"``; ``cast``: as DOUBLE)."""
    items = [
        (f"median({x}){over}", "median"),
        (f"quantile_cont({x}, 0.25){over}", "p25"),
        (f"quantile_cont({x}, 0.75){over}", "p75"),
    ]
    return [f"CAST({e} AS DOUBLE) AS {a}" if cast else f"{e} AS {a}" for e, a in items]


def iqr_outlier(v: str, p25: str, p75: str) -> str:
    """SQL that is true when ``v`` lies outside Tukey's fences of quartiles ``p25``/``p75``."""
    return f"{v} < {p25} - {IQR_K} * ({p75} - {p25}) OR {v} > {p75} + {IQR_K} * ({p75} - {p25})"


# Deals whose history is left out of time in stage for the same reason.
NO_CYCLE_DEALS = "SELECT opportunity_id FROM opportunities WHERE close_date < created_date"
# Per-stage tables stored with a dataset when it is written (engine/semantic/facts.py).
STAGE_VISITS = "_stage_visits"
STAGE_MEDIANS = "_stage_medians"
STORED_TABLES = (STAGE_VISITS, STAGE_MEDIANS)


def qi(name: str) -> str:
    """Quote an identifier from the allow-list; anything else is a programming error."""
    if name not in _IDENTIFIERS:
        raise ValueError(f"identifier {name!r} is not allow-listed")
    return '"' + name + '"'


def stage_rank(col: str) -> str:
    return STAGE_RANK_SQL.format(c=col)


@dataclass
class Sql:
    """Collects CTEs and bound parameters for one statement."""

    req: Request
    params: list[Any] = field(default_factory=list)
    ctes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Tables stored with the dataset when it was written (engine/semantic/facts.py) that this
    # statement may read instead of deriving them; empty: everything derived here.
    stored: frozenset[str] = frozenset()

    def uses_stored(self, table: str) -> bool:
        """Read ``table`` as stored? Only when the file has it and every row counts (stored
        tables are derived from every row; a request without flagged rows derives its own)."""
        return table in self.stored and not self.req.exclude_flagged

    def p(self, value: Any) -> str:
        """Bind ``value`` and return its placeholder (equal values share one)."""
        for i, v in enumerate(self.params):
            if type(v) is type(value) and v == value:
                return f"${i + 1}"
        self.params.append(value)
        return f"${len(self.params)}"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def cte(self, name: str, body: str) -> str:
        if name not in self.ctes:
            self.ctes[name] = body
        return name

    def render(self, select: str) -> str:
        if not self.ctes:
            return select.strip() + "\n"
        body = ",\n".join(
            f"{n} AS {'NOT MATERIALIZED ' if n in INLINE_CTES else ''}(\n{b.strip()}\n)"
            for n, b in self.ctes.items()
        )
        return f"WITH\n{body}\n{select.strip()}\n"

    # -- request pieces -------------------------------------------------------------------

    def flag(self, alias: str) -> str:
        return f"NOT coalesce({alias}._flagged, false)" if self.req.exclude_flagged else "TRUE"

    def period(self, col: str) -> str:
        per = self.req.period
        if per.start is None or per.end is None:
            return "TRUE"
        return f"{col} >= {self.p(per.start)} AND {col} < {self.p(per.end)}"

    def bucket(self, col: str) -> str:
        g = self.req.grain
        if g in ("week", "month"):
            return f"CAST(date_trunc('{g}', {col}) AS DATE)"
        if g in ("quarter", "year"):
            k = self.p(self.req.fiscal_start_month - 1)
            return f"CAST(date_trunc('{g}', {col} - to_months({k})) + to_months({k}) AS DATE)"
        raise ValueError("no grain")

    @property
    def step(self) -> str:
        return GRAIN_STEP[self.req.grain or "month"]

    def keys(self) -> list[str]:
        return [qi(d) for d in self.req.by] + (["period_start"] if self.req.grain else [])

    def key_cols(self, date_col: str | None) -> list[str]:
        """SELECT items for the group keys; the bucket is computed from ``date_col``."""
        cols = [qi(d) for d in self.req.by]
        if self.req.grain:
            cols.append(
                f"{self.bucket(date_col)} AS period_start"
                if date_col
                else "NULL::DATE AS period_start"
            )
        return cols

    def group_by(self) -> str:
        return "\nGROUP BY ALL" if self.keys() else ""

    def order_by(self) -> str:
        k = self.keys()
        return ("\nORDER BY " + ", ".join(f"{c} NULLS LAST" for c in k)) if k else ""

    def filters(self, source: str) -> str:
        conds = []
        for dim, values in self.req.filters:
            if dim in SOURCE_DIMS[source]:
                ph = ", ".join(self.p(v) for v in values)
                conds.append(f"{qi(dim)} IN ({ph})")
            else:
                self.note(
                    f"Filter on {dim} does not apply to {SOURCE_LABEL[source]} "
                    f"(it has no {dim}); that side is unfiltered."
                )
        return " AND ".join(conds) if conds else "TRUE"

    # -- base relations ---------------------------------------------------------------------

    def reps_d(self) -> str:
        return self.cte(
            "reps_d",
            f"""SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
FROM reps r
WHERE {self.flag("r")}
GROUP BY owner""",
        )

    def seg_bounds(self) -> str:
        """One row: the employee counts where Mid-Market and Enterprise start (the dataset's
        stored thresholds, else the defaults)."""
        # Constants of the code, not user values: written as literals.
        mid = repr(float(DEFAULT_SEGMENT_THRESHOLDS["mid_market_min"]))
        ent = repr(float(DEFAULT_SEGMENT_THRESHOLDS["enterprise_min"]))
        key = "'" + SEGMENT_THRESHOLDS_KEY + "'"
        return self.cte(
            "seg_bounds",
            f"""SELECT coalesce(max(TRY_CAST(json_extract_string(value, '$.mid_market_min') AS DOUBLE)), {mid}) AS mid_min,
       coalesce(max(TRY_CAST(json_extract_string(value, '$.enterprise_min') AS DOUBLE)), {ent}) AS ent_min
FROM _meta
WHERE key = {key}""",
        )

    def accounts_d(self) -> None:
        """Accounts by id and by name key, each attribute once (segment derived here)."""
        self.seg_bounds()
        attrs = """min(industry) AS industry, min(segment) AS segment, min(region) AS region,
       min(employees) AS employees"""
        self.cte(
            "acc_id",
            f"""SELECT account_id, {attrs}
FROM accounts a
WHERE {self.flag("a")} AND account_id IS NOT NULL
GROUP BY account_id""",
        )
        self.cte(
            "acc_name",
            f"""SELECT lower(trim(account_name)) AS name_key, {attrs}
FROM accounts a
WHERE {self.flag("a")} AND account_name IS NOT NULL
GROUP BY name_key""",
        )

    def opp_all(self) -> str:
        self.reps_d()
        self.accounts_d()
        # The labels are bound like user values: a segment filter names the same strings.
        smb, mid, ent = (self.p(s) for s in SEGMENTS)
        derived = f"""CASE WHEN a.employees IS NULL THEN NULL
            WHEN a.employees >= b.ent_min THEN {ent}
            WHEN a.employees >= b.mid_min THEN {mid}
            ELSE {smb} END"""
        return self.cte(
            "opp_all",
            f"""SELECT o.opportunity_id, o.opportunity_name, o.owner, r.team,
       coalesce(o.segment, a.segment, {derived}, r.segment) AS segment,
       CASE WHEN o.segment IS NOT NULL THEN 'deal' WHEN a.segment IS NOT NULL THEN 'account'
            WHEN a.employees IS NOT NULL THEN 'account_employees'
            WHEN r.segment IS NOT NULL THEN 'rep' END AS segment_source,
       r.segment AS rep_segment, r.role, r.manager,
       coalesce(o.region, r.region, a.region) AS region,
       CASE WHEN o.region IS NOT NULL THEN 'deal' WHEN r.region IS NOT NULL THEN 'rep'
            WHEN a.region IS NOT NULL THEN 'account' END AS region_source,
       a.industry, CASE WHEN a.industry IS NOT NULL THEN 'account' END AS industry_source,
       o.lead_source, o.opportunity_type, o.product, o.stage,
       coalesce(o.stage_canonical, 'opportunity') AS stage_canonical, o.stage_order, o.amount,
       o.created_date, o.close_date, coalesce(o.is_closed, false) AS is_closed,
       coalesce(o.is_won, false) AS is_won, o.probability, o.stage_probability
FROM opportunities o
LEFT JOIN reps_d r ON r.owner = o.owner
LEFT JOIN acc_id ai ON ai.account_id = o.account_id
LEFT JOIN acc_name an ON ai.account_id IS NULL AND an.name_key = lower(trim(o.account_name))
CROSS JOIN seg_bounds b
CROSS JOIN LATERAL (
    SELECT coalesce(ai.industry, an.industry) AS industry,
           coalesce(ai.segment, an.segment) AS segment,
           coalesce(ai.region, an.region) AS region,
           coalesce(ai.employees, an.employees) AS employees
) a
WHERE {self.flag("o")}""",
        )

    def opp(self) -> str:
        self.opp_all()
        return self.cte("opp", f"SELECT * FROM opp_all\nWHERE {self.filters('opp')}")

    def opp_r(self) -> str:
        self.opp_all()
        # Filter after the replacement, so a segment filter means the rep's segment here too.
        inner = "SELECT * REPLACE (rep_segment AS segment) FROM opp_all"
        return self.cte("opp_r", f"SELECT * FROM (\n{inner}\n) WHERE {self.filters('opp_r')}")

    def act(self) -> str:
        self.reps_d()
        inner = f"""SELECT a.activity_id, a.owner, r.team, r.segment, r.role, r.manager, a.activity_type,
       a.activity_date, a.opportunity_id, a.lead_id, a.discovery_score
FROM activities a
LEFT JOIN reps_d r ON r.owner = a.owner
WHERE {self.flag("a")}"""
        return self.cte("act", f"SELECT * FROM (\n{inner}\n) WHERE {self.filters('act')}")

    def lead(self) -> str:
        self.reps_d()
        inner = f"""SELECT l.lead_id, l.owner, r.team, coalesce(l.segment, r.segment) AS segment,
       r.role, r.manager, l.lead_source, l.status, l.created_date, l.sal_date, l.sql_date,
       l.converted_date, l.converted_opportunity_id,
       CASE WHEN l.first_response_at IS NOT NULL
            THEN date_diff('second', l.created_date, l.first_response_at) / 3600.0
            WHEN fa.first_activity IS NOT NULL
            THEN greatest(0, date_diff('second', l.created_date,
                                       CAST(fa.first_activity AS TIMESTAMP)) / 3600.0)
       END AS response_hours
FROM leads l
LEFT JOIN reps_d r ON r.owner = l.owner
LEFT JOIN (
    SELECT lead_id, min(activity_date) AS first_activity
    FROM activities a
    WHERE lead_id IS NOT NULL AND {self.flag("a")}
    GROUP BY lead_id
) fa ON fa.lead_id = l.lead_id
WHERE {self.flag("l")}"""
        return self.cte("lead", f"SELECT * FROM (\n{inner}\n) WHERE {self.filters('lead')}")

    def quota(self) -> str:
        self.reps_d()
        # Filters name bare columns (owner, team...), so they apply to the joined rows in an
        # outer select, where each name is unambiguous (as in ``lead``).
        inner = f"""SELECT q.owner, r.team, r.segment, r.role, r.manager, r.hire_date, q.period_start,
       q.period_end, q.quota_amount
FROM quotas q
LEFT JOIN reps_d r ON r.owner = q.owner
WHERE {self.flag("q")}"""
        return self.cte("quota", f"SELECT * FROM (\n{inner}\n) WHERE {self.filters('quota')}")

    def quota_clipped(self, ramp: bool) -> str:
        """Quota rows prorated by the days they overlap the period (and each grain bucket)."""
        self.quota()
        per = self.req.period
        lo = ["period_start"]
        hi = ["period_end"]
        where = ["quota_amount IS NOT NULL", "period_end > period_start"]
        if per.start is not None and per.end is not None:
            s, e = self.p(per.start), self.p(per.end)
            lo.append(s)
            hi.append(e)
            where += [f"period_start < {e}", f"period_end > {s}"]
        ramp_sql = "1.0"
        if ramp:
            ramp_sql = (
                f"CASE WHEN hire_date IS NOT NULL AND period_start < hire_date + "
                f"to_months({self.p(self.req.ramp_months)}) "
                f"THEN {self.p(self.req.ramp_factor)} ELSE 1.0 END"
            )
        name = "quota_r" if ramp else "quota_c"
        dims = "owner, team, segment, role, manager"
        if self.req.grain:
            lo_b = f"greatest({', '.join(lo)}, b)"
            hi_b = f"least({', '.join(hi)}, CAST(b + {self.step} AS DATE))"
            start = f"greatest({', '.join(lo)})"
            end = f"least({', '.join(hi)})"
            body = f"""SELECT {dims}, b AS period_start,
       quota_amount * date_diff('day', {lo_b}, {hi_b})
         / date_diff('day', period_start, period_end) * {ramp_sql} AS quota
FROM (
    SELECT *, CAST(unnest(generate_series({self.bucket(start)}, {end} - INTERVAL 1 DAY,
                                          {self.step})) AS DATE) AS b
    FROM quota
    WHERE {" AND ".join(where)}
)"""
        else:
            body = f"""SELECT {dims},
       quota_amount * date_diff('day', greatest({", ".join(lo)}), least({", ".join(hi)}))
         / date_diff('day', period_start, period_end) * {ramp_sql} AS quota
FROM quota
WHERE {" AND ".join(where)}"""
        return self.cte(name, body)

    def hist(self) -> str:
        """Every stage history row with an entry time (the flagged-row switch applied)."""
        return self.cte(
            "hist",
            f"""SELECT h.opportunity_id, h.stage, coalesce(h.stage_canonical, 'opportunity') AS stage_canonical,
       h.stage_order, h.entered_at, h.amount, h.probability, h.stage_probability
FROM stage_history h
WHERE {self.flag("h")} AND h.entered_at IS NOT NULL""",
        )

    def open_entry(self) -> str:
        """Open deals with days in their current CRM stage, unfiltered by the request.

        The stage was entered at the latest history row for it, else at created_date. History
        is joined to the open deals on (deal, stage) before it is grouped, so only the rows of
        open deals' current stages are aggregated (not every (deal, stage) pair).
        """
        self.opp_all()
        self.hist()
        as_of = self.p(self.req.as_of)
        self.cte(
            "open_entry",
            """SELECT o.opportunity_id, max(h.entered_at) AS entered
FROM opp_all o
JOIN hist h ON h.opportunity_id = o.opportunity_id AND h.stage = o.stage
WHERE NOT o.is_closed
GROUP BY o.opportunity_id""",
        )
        return self.cte(
            "open_age_all",
            f"""SELECT o.opportunity_id, o.stage,
       date_diff('day', coalesce(CAST(e.entered AS DATE), o.created_date), {as_of}) AS days_in_stage
FROM opp_all o
LEFT JOIN open_entry e ON e.opportunity_id = o.opportunity_id
WHERE NOT o.is_closed""",
        )

    def open_age(self) -> str:
        """Open deals (request filters applied) with days in their current CRM stage."""
        self.opp()
        self.open_entry()
        return self.cte(
            "open_age",
            """SELECT o.*, a.days_in_stage
FROM opp o
JOIN open_age_all a ON a.opportunity_id = o.opportunity_id
WHERE a.days_in_stage IS NOT NULL""",
        )

    def stage_age(self) -> str:
        """Open deals with days in their current CRM stage and that stage's median."""
        self.open_age()
        if self.uses_stored(STAGE_MEDIANS):
            self.cte("stage_median", f"SELECT stage, med FROM {STAGE_MEDIANS}")
        else:
            self.stage_medians()
        self.cte(
            "stage_norm",
            """SELECT a.stage, coalesce(any_value(m.med), median(a.days_in_stage)) AS stage_median
FROM open_age_all a
LEFT JOIN stage_median m ON m.stage = a.stage
WHERE a.days_in_stage IS NOT NULL
GROUP BY a.stage""",
        )
        return self.cte(
            "stage_age",
            """SELECT a.*, n.stage_median
FROM open_age a
LEFT JOIN stage_norm n ON n.stage = a.stage""",
        )

    def stage_medians(self) -> str:
        """Per CRM stage, the median days from entering it to the deal's next history row
        (deals that closed before they were created left out): what :data:`STAGE_MEDIANS`
        stores."""
        self.hist()
        self.cte(
            "hist_next",
            f"""SELECT stage, entered_at,
       lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY entered_at, stage_order) AS next_at
FROM hist
WHERE opportunity_id NOT IN ({NO_CYCLE_DEALS})""",
        )
        return self.cte(
            "stage_median",
            """SELECT stage, median(date_diff('second', entered_at, next_at) / 86400.0) AS med
FROM hist_next
WHERE next_at IS NOT NULL
GROUP BY stage""",
        )


def state_as_of(
    due: str = "due",
    day: str = "d.bs",
    cols: tuple[str, ...] = ("d.opportunity_id", "d.bs"),
    per: tuple[str, ...] = ("d.opportunity_id",),
) -> str:
    """The as-of reconstruction (docs/metrics.md, "Forecast backtest"): for every row of
    ``due`` (a relation with ``opportunity_id`` and ``amount``), the deal's latest
    stage_history row entered before ``day`` (a column of ``due``); deals with none are left
    out. ``st`` is that row's canonical stage; ``weighted`` its amount (else the deal's) times
    its probability (else the stage default) / 100. ``cols`` are the other items selected and
    ``per`` the partition (a deal due at several days is rebuilt at each). forecast_accuracy
    and the backtest both read this one fragment, so the CRM-probability forecast at a
    quarter's start equals forecast_accuracy's by construction."""
    items = ", ".join(cols)
    return f"""SELECT {items}, h.stage_canonical AS st,
       coalesce(h.amount, d.amount) * coalesce(h.probability, h.stage_probability) / 100.0 AS weighted
FROM {due} d
JOIN hist h ON h.opportunity_id = d.opportunity_id AND h.entered_at < {day}
QUALIFY row_number() OVER (PARTITION BY {", ".join(per)} ORDER BY h.entered_at DESC, h.stage_order DESC) = 1"""
