"""Seeded generator of a realistic multi-table CRM export (``docs/data.md``, with funnel
rates inside the bands of ``docs/benchmarks.md``).

The dataset covers the two years up to ``as_of`` (default 2026-11-20) for 24 account executives
in four teams and writes one CSV per canonical table: opportunities, stage_history, activities,
reps, quotas and leads. Column headers are the canonical names of :mod:`engine.core.canonical`.

Everything is vectorised with numpy so ``--scale`` can produce benchmark-sized files (a million
opportunities with their history in seconds). The only source of randomness is
``numpy.random.Generator(PCG64(seed))``: the same seed gives byte-identical CSVs.

Two reps are planted for the coaching view (``docs/metrics.md``, Coaching scorecard and Alerts):

* ``BUSY_REP`` logs by far the most activity, 2-3x the median per opportunity, with the worst
  stage conversion and low discovery scores;
* ``QUIET_REP`` logs bottom-quartile activity with the best conversion and high discovery
  scores.

The leading-indicator test (``docs/metrics.md``, Leading indicators) finds planted structure
(:class:`IndicatorPlant`): discovery quality drives conversion, activity volume does not, and the
pipeline a rep creates in a quarter drives their won revenue in the next.

``write_dirty`` derives ``dirty/``: a smaller copy with injected data-quality problems, each
listed in ``dirty/PROBLEMS.md`` and counted per rule in ``dirty/expected.json``.

CLI::

    python -m sample_data.generate [--out DIR] [--seed N] [--scale K]
                                   [--opportunities N] [--activities N] [--leads N] [--dirty]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from schemas.rules import severity

AS_OF = date(2026, 11, 20)
HISTORY_DAYS = 730
DEFAULT_SEED = 42
DEFAULT_OPPORTUNITIES = 4000
DEFAULT_ACTIVITIES = 30000
DEFAULT_LEADS = 8000
SAMPLE_DIR = Path(__file__).resolve().parent

TABLE_ORDER = ("opportunities", "stage_history", "activities", "reps", "quotas", "leads")

# Salesforce standard stages (docs/data.md, Stage map): name, default probability.
STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
STAGE_PROBABILITY = np.array([10, 10, 20, 50, 60, 70, 75, 90, 100, 0], dtype=np.int64)
N_OPEN_STAGES = 8
FIRST_PROPOSAL = 6  # Proposal/Price Quote: first stage of the canonical `proposal` stage
WON, LOST = 8, 9

SEGMENTS: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
REGIONS: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
REGION_P = (0.5, 0.28, 0.14, 0.08)
LEAD_SOURCES: tuple[str, ...] = ("Inbound", "Outbound", "Partner", "Referral", "Event")
LEAD_SOURCE_P_LEADS = (0.45, 0.25, 0.08, 0.10, 0.12)
LEAD_SOURCE_P_OPPS = (0.20, 0.35, 0.18, 0.15, 0.12)
OPP_TYPES: tuple[str, ...] = ("New Business", "Expansion", "Renewal")
OPP_TYPE_P = (0.6, 0.25, 0.15)
PRODUCTS: tuple[str, ...] = (
    "Core Platform",
    "Analytics Suite",
    "Integration Hub",
    "Premium Support",
)
PRODUCT_AMOUNT_FACTOR = np.array([1.0, 0.8, 0.6, 0.35])
PRODUCT_P = (0.5, 0.22, 0.18, 0.10)
ACTIVITY_TYPES: tuple[str, ...] = ("call", "email", "meeting", "demo", "other")
ACTIVITY_TYPE_P = np.array([0.34, 0.36, 0.14, 0.08, 0.08])
BUSY_ACTIVITY_TYPE_P = np.array([0.46, 0.44, 0.05, 0.03, 0.02])
# Outcomes per activity type and their probabilities (rows follow ACTIVITY_TYPES).
OUTCOMES: tuple[tuple[str, ...], ...] = (
    ("Connected", "Voicemail", "No answer"),
    ("Sent", "Replied"),
    ("Held", "No-show", "Rescheduled"),
    ("Held", "Rescheduled"),
    ("Completed",),
)
OUTCOME_P: tuple[tuple[float, ...], ...] = (
    (0.45, 0.35, 0.20),
    (0.75, 0.25),
    (0.85, 0.07, 0.08),
    (0.88, 0.12),
    (1.0,),
)
LEAD_STATUSES: tuple[str, ...] = ("Lead", "SAL", "SQL", "Converted", "Disqualified")


@dataclass(frozen=True)
class SegmentProfile:
    """Targets for one segment, inside the benchmark bands of ``docs/benchmarks.md``."""

    opp_to_proposal: float  # probability a deal ever reaches the canonical proposal stage
    proposal_to_won: float  # probability a proposal-stage deal is won
    band_opp_to_proposal: tuple[float, float]
    band_proposal_to_won: tuple[float, float]
    days_opportunity: float  # median days in the canonical opportunity stage
    days_proposal: float  # median days in the canonical proposal stage
    amount_median: float
    amount_sigma: float
    amount_round: int
    lead_rates: tuple[float, float, float]  # lead->sal, sal->sql, sql->opportunity
    lead_days: tuple[float, float, float]  # median days as lead, SAL, SQL
    lead_share: float
    opp_rate: float  # relative number of deals a fully ramped rep creates
    activity_rate: float  # activities per active day of a deal
    quota_round: int


SEGMENT_PROFILES: dict[str, SegmentProfile] = {
    "SMB": SegmentProfile(
        opp_to_proposal=0.74,
        proposal_to_won=0.34,
        band_opp_to_proposal=(0.60, 0.80),
        band_proposal_to_won=(0.25, 0.40),
        days_opportunity=17.0,
        days_proposal=12.0,
        amount_median=12_000.0,
        amount_sigma=0.38,
        amount_round=100,
        lead_rates=(0.20, 0.60, 0.38),
        lead_days=(5.0, 7.0, 10.0),
        lead_share=0.55,
        opp_rate=1.0,
        activity_rate=0.20,
        quota_round=5_000,
    ),
    "Mid-Market": SegmentProfile(
        opp_to_proposal=0.64,
        proposal_to_won=0.29,
        band_opp_to_proposal=(0.50, 0.70),
        band_proposal_to_won=(0.20, 0.35),
        days_opportunity=32.0,
        days_proposal=30.0,
        amount_median=40_000.0,
        amount_sigma=0.35,
        amount_round=500,
        lead_rates=(0.16, 0.55, 0.32),
        lead_days=(16.0, 20.0, 28.0),
        lead_share=0.28,
        opp_rate=0.62,
        activity_rate=0.12,
        quota_round=10_000,
    ),
    "Enterprise": SegmentProfile(
        opp_to_proposal=0.54,
        proposal_to_won=0.245,
        band_opp_to_proposal=(0.40, 0.60),
        band_proposal_to_won=(0.15, 0.30),
        days_opportunity=45.0,
        days_proposal=65.0,
        amount_median=165_000.0,
        amount_sigma=0.42,
        amount_round=1_000,
        lead_rates=(0.115, 0.40, 0.20),
        lead_days=(14.0, 21.0, 30.0),
        lead_share=0.17,
        opp_rate=0.34,
        activity_rate=0.085,
        quota_round=25_000,
    ),
}


@dataclass(frozen=True)
class Rep:
    owner: str
    team: str
    segment: str
    role: str
    manager: str
    hire_date: date


BUSY_REP = "Derek Holloway"
QUIET_REP = "Priya Raman"

_TEAMS: tuple[tuple[str, str, str, tuple[tuple[str, str, date], ...]], ...] = (
    (
        "SMB East",
        "SMB",
        "Laura Mitchell",
        (
            ("Maya Patel", "AE", date(2021, 3, 15)),
            ("Jordan Reyes", "AE", date(2022, 6, 1)),
            ("Chloe Bennett", "AE", date(2023, 1, 9)),
            ("Marcus Webb", "AE", date(2020, 9, 14)),
            ("Hannah Cho", "AE", date(2024, 2, 5)),
            ("Tyler Brooks", "AE", date(2026, 2, 16)),
        ),
    ),
    (
        "SMB West",
        "SMB",
        "Brian Castillo",
        (
            ("Sofia Alvarez", "AE", date(2021, 8, 2)),
            ("Ethan Nakamura", "AE", date(2022, 11, 7)),
            ("Grace Okafor", "AE", date(2023, 5, 22)),
            ("Lucas Ferreira", "AE", date(2019, 10, 1)),
            ("Olivia Grant", "AE", date(2024, 4, 15)),
            ("Noah Fischer", "AE", date(2026, 6, 1)),
        ),
    ),
    (
        "Mid-Market",
        "Mid-Market",
        "Rachel Stein",
        (
            (BUSY_REP, "AE", date(2022, 4, 11)),
            (QUIET_REP, "Senior AE", date(2020, 7, 6)),
            ("Samuel Ortiz", "AE", date(2021, 11, 1)),
            ("Emily Larsen", "AE", date(2023, 3, 13)),
            ("Daniel Kim", "Senior AE", date(2019, 5, 20)),
            ("Aisha Mensah", "AE", date(2026, 4, 6)),
        ),
    ),
    (
        "Enterprise",
        "Enterprise",
        "Michael Harper",
        (
            ("Victoria Sterling", "Senior AE", date(2018, 2, 12)),
            ("James Whitfield", "Senior AE", date(2020, 1, 27)),
            ("Natalie Dubois", "AE", date(2022, 9, 19)),
            ("Robert Chen", "AE", date(2021, 6, 7)),
            ("Isabel Moreno", "AE", date(2025, 12, 1)),
            ("Kevin O'Brien", "AE", date(2026, 8, 3)),
        ),
    ),
)

REPS: tuple[Rep, ...] = tuple(
    Rep(name, team, segment, role, manager, hired)
    for team, segment, manager, members in _TEAMS
    for name, role, hired in members
)

_ACCOUNT_PREFIXES = (
    "Northwind",
    "Bluebird",
    "Summit",
    "Crescent",
    "Ironclad",
    "Brightline",
    "Harbor",
    "Evergreen",
    "Silverpeak",
    "Redwood",
    "Granite",
    "Lumen",
    "Cobalt",
    "Meridian",
    "Pioneer",
    "Quantum",
    "Atlas",
    "Beacon",
    "Cascade",
    "Driftwood",
    "Falcon",
    "Horizon",
    "Juniper",
    "Keystone",
    "Lakeshore",
    "Maple",
    "Nimbus",
    "Orchard",
    "Pinnacle",
    "Riverbend",
    "Sterling",
    "Tidewater",
    "Vantage",
    "Willow",
    "Zenith",
    "Aurora",
    "Bramble",
    "Copperleaf",
    "Delta",
    "Emberly",
    "Foxglove",
    "Golden Gate",
    "Highland",
    "Indigo",
    "Jade",
    "Kestrel",
    "Longview",
    "Mosaic",
)
_ACCOUNT_SUFFIXES = (
    "Logistics",
    "Analytics",
    "Systems",
    "Health",
    "Foods",
    "Manufacturing",
    "Capital",
    "Software",
    "Energy",
    "Retail",
    "Labs",
    "Partners",
    "Media",
    "Robotics",
    "Insurance",
    "Hospitality",
    "Biotech",
    "Freight",
    "Telecom",
    "Education",
    "Construction",
    "Outfitters",
    "Dental Group",
    "Consulting",
)
_ACCOUNT_FORMS = ("Inc.", "LLC", "Ltd", "Group", "Co.", "")

_EPOCH = date(1970, 1, 1)
_QUARTER_FACTOR_BY_TENURE = (0.25, 0.5, 0.75)


def _day(d: date) -> int:
    return (d - _EPOCH).days


def _to_date(days: int) -> date:
    return _EPOCH + timedelta(days=int(days))


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int
) -> np.ndarray:
    return np.asarray(median) * np.exp(rng.normal(0.0, sigma, n))


def _office_seconds(t: np.ndarray) -> np.ndarray:
    """Map fractional days to epoch seconds inside office hours (08:00-18:00), keeping order."""
    day = np.floor(t)
    seconds = np.round(8 * 3600 + (t - day) * 10 * 3600).astype(np.int64)
    return day.astype(np.int64) * 86_400 + seconds


def _choice_index(
    rng: np.random.Generator, p: tuple[float, ...] | np.ndarray, n: int
) -> np.ndarray:
    cum = np.cumsum(np.asarray(p, dtype=float))
    cum /= cum[-1]
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)


def _ids(prefix: str, n: int, width: int = 6) -> pl.Series:
    """``prefix`` + zero-padded 1..n, built in polars (fast for millions of rows)."""
    width = max(width, len(str(n)))
    return pl.select(
        pl.concat_str(pl.lit(prefix), pl.int_range(1, n + 1).cast(pl.Utf8).str.zfill(width))
    ).to_series()


def _pick(
    name: str, values: pl.Series, index: np.ndarray, valid: np.ndarray | None = None
) -> pl.Series:
    """``values[index]`` as a polars column named ``name``; null where ``valid`` is false."""
    out = values.gather(pl.Series(np.maximum(index, 0).astype(np.int64))).alias(name)
    if valid is not None:
        out = pl.select(pl.when(pl.Series(valid)).then(out).otherwise(None).alias(name)).to_series()
    return out


def _date_series(name: str, days: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(name, days.astype(np.int32)).cast(pl.Date)
    if valid is not None:
        s = pl.select(pl.when(pl.Series(valid)).then(s).otherwise(None).alias(name)).to_series()
    return s


def _ts_series(name: str, seconds: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    s = pl.from_epoch(pl.Series(name, seconds.astype(np.int64)), time_unit="s")
    if valid is not None:
        s = pl.select(pl.when(pl.Series(valid)).then(s).otherwise(None).alias(name)).to_series()
    return s


def _str_series(name: str, labels: tuple[str, ...] | np.ndarray, index: np.ndarray) -> pl.Series:
    """Categorical-style lookup ``labels[index]`` without a Python loop per row."""
    cats = pl.Series(name, list(labels), dtype=pl.Utf8)
    return cats.gather(pl.Series(index.astype(np.int64)))


def _accounts(rng: np.random.Generator, n: int) -> dict:
    combos = np.array(
        [f"{p} {s}" for p in _ACCOUNT_PREFIXES for s in _ACCOUNT_SUFFIXES], dtype=object
    )
    picked = combos[rng.permutation(len(combos))[: min(n, len(combos))]]
    if n > len(picked):
        extra = np.array(
            [f"{picked[i % len(picked)]} {i // len(picked) + 1}" for i in range(n - len(picked))],
            dtype=object,
        )
        picked = np.concatenate([picked, extra])
    forms = np.array(_ACCOUNT_FORMS, dtype=object)[rng.integers(0, len(_ACCOUNT_FORMS), n)]
    names = np.array([f"{a} {f}".strip() for a, f in zip(picked, forms, strict=True)], dtype=object)
    segment = _choice_index(rng, (0.55, 0.28, 0.17), n)
    return {
        "id": _ids("ACC-", n, 4),
        "name": pl.Series(names.astype(str)),
        "short": pl.Series(picked.astype(str)),
        "segment": segment,
        "region": _choice_index(rng, REGION_P, n),
        "weight": rng.pareto(1.6, n) + 0.2,
    }


def _rep_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    seg = np.array([SEGMENTS.index(r.segment) for r in REPS])
    hire = np.array([_day(r.hire_date) for r in REPS])
    n = len(REPS)
    prof = [SEGMENT_PROFILES[s] for s in SEGMENTS]
    base_pp = np.array([prof[s].opp_to_proposal for s in seg])
    base_pw = np.array([prof[s].proposal_to_won for s in seg])
    lo_pp = np.array([prof[s].band_opp_to_proposal[0] for s in seg]) + 0.03
    hi_pp = np.array([prof[s].band_opp_to_proposal[1] for s in seg]) - 0.03
    lo_pw = np.array([prof[s].band_proposal_to_won[0] for s in seg]) + 0.02
    hi_pw = np.array([prof[s].band_proposal_to_won[1] for s in seg]) - 0.02
    pp = np.clip(base_pp + rng.normal(0, 0.035, n), lo_pp, hi_pp)
    pw = np.clip(base_pw + rng.normal(0, 0.03, n), lo_pw, hi_pw)
    act = np.exp(rng.normal(0, 0.12, n))
    disc = np.clip(
        2.9 + 5.0 * (pp - base_pp) + 4.0 * (pw - base_pw) + rng.normal(0, 0.15, n), 2.2, 3.8
    )
    names = [r.owner for r in REPS]
    busy, quiet = names.index(BUSY_REP), names.index(QUIET_REP)
    pp[busy], pw[busy], act[busy], disc[busy] = 0.38, 0.2, 3.3, 1.5
    pp[quiet], pw[quiet], act[quiet], disc[quiet] = 0.88, 0.5, 0.45, 4.3
    return {"segment": seg, "hire": hire, "pp": pp, "pw": pw, "act": act, "disc": disc}


def _leads(
    rng: np.random.Generator, n: int, reps: dict[str, np.ndarray], start: int, cutoff: int
) -> dict[str, np.ndarray]:
    """Leads with an exact share reaching each funnel stage per segment, then cut at as_of."""
    seg = np.sort(_choice_index(rng, tuple(SEGMENT_PROFILES[s].lead_share for s in SEGMENTS), n))
    depth = np.zeros(n, dtype=np.int64)  # 0 lead, 1 SAL, 2 SQL, 3 converted
    for s, name in enumerate(SEGMENTS):
        idx = np.flatnonzero(seg == s)
        r1, r2, r3 = SEGMENT_PROFILES[name].lead_rates
        k1 = round(len(idx) * r1)
        k2 = round(k1 * r2)
        k3 = round(k2 * r3)
        perm = idx[rng.permutation(len(idx))]
        depth[perm[:k1]] = 1
        depth[perm[:k2]] = 2
        depth[perm[:k3]] = 3
    created = start + rng.random(n) * (cutoff - start)
    owner = _assign_owner(rng, seg, created, reps)
    days = np.array([SEGMENT_PROFILES[s].lead_days for s in SEGMENTS])[seg]
    sal = created + days[:, 0] * np.exp(rng.normal(0, 0.45, n))
    sql = sal + days[:, 1] * np.exp(rng.normal(0, 0.45, n))
    conv = sql + days[:, 2] * np.exp(rng.normal(0, 0.45, n))
    reached = (
        ((depth >= 1) & (sal < cutoff)).astype(np.int64)
        + ((depth >= 2) & (sql < cutoff))
        + ((depth >= 3) & (conv < cutoff))
    )
    last_entry = np.choose(np.minimum(reached, 3), [created, sal, sql, conv])
    stopped = (reached == depth) & (reached < 3)
    disqualified = stopped & (cutoff - last_entry > 30) & (rng.random(n) < 0.85)
    status = np.where(disqualified, 4, reached)
    response_h = np.exp(np.log(8.5) + rng.normal(0, 1.3, n))
    response = created + response_h / 24.0
    responded = (rng.random(n) >= 0.06) & (response < cutoff)
    source = _choice_index(rng, LEAD_SOURCE_P_LEADS, n)
    order = np.argsort(created, kind="stable")
    out = {
        "segment": seg,
        "created": created,
        "owner": owner,
        "sal": sal,
        "sql": sql,
        "conv": conv,
        "reached": reached,
        "status": status,
        "response": response,
        "responded": responded,
        "source": source,
    }
    return {k: v[order] for k, v in out.items()}


def _assign_owner(
    rng: np.random.Generator, seg: np.ndarray, t: np.ndarray, reps: dict[str, np.ndarray]
) -> np.ndarray:
    """A rep of the row's segment who was already hired (and past a 14-day onboarding) at t."""
    owner = np.full(len(seg), -1, dtype=np.int64)
    members = [np.flatnonzero(reps["segment"] == s) for s in range(len(SEGMENTS))]
    todo = np.arange(len(seg))
    for _ in range(30):
        if len(todo) == 0:
            break
        pick = np.empty(len(todo), dtype=np.int64)
        for s, m in enumerate(members):
            mask = seg[todo] == s
            pick[mask] = m[rng.integers(0, len(m), int(mask.sum()))]
        ok = reps["hire"][pick] + 14 <= t[todo]
        owner[todo[ok]] = pick[ok]
        todo = todo[~ok]
    if len(todo):
        senior = [m[np.argmin(reps["hire"][m])] for m in members]
        owner[todo] = np.array(senior)[seg[todo]]
    return owner


@dataclass(frozen=True)
class IndicatorPlant:
    """Rep x calendar-quarter structure planted for the leading-indicator test
    (docs/metrics.md, Leading indicators): ``form`` (standard normal, persistent from one quarter
    to the next) lifts both the discovery scores of a deal's activities and the deal's chances to
    reach proposal and to win, by the quarter the deal was created in; ``push`` (log-normal,
    independent of form, persistent) scales how many deals a rep creates in a quarter and, as
    push ** SIZE, how big they are, so the pipeline created in a quarter shows up as won revenue
    in the next one. Both are centred per rep: a rep's own totals, rates and deal sizes stay
    where they were. Activity volume gets neither: it follows the deals, never the conversion."""

    q0: int  # quarter index (months since 1970 // 3) of column 0
    form: np.ndarray  # (reps, quarters)
    push: np.ndarray  # (reps, quarters)

    FORM_PP = 0.08  # added to the rep's opportunity -> proposal probability per unit of form
    FORM_PW = 0.18  # added to the rep's proposal -> won probability per unit of form
    FORM_DISC = 1.2  # added to the mean discovery score per unit of form
    SIZE = 0.5  # deal size ~ push ** SIZE

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last-plus-one day of each quarter column."""
        months = np.arange(self.form.shape[1] + 1) * 3 + 3 * self.q0
        days = months.astype("datetime64[M]").astype("datetime64[D]").astype("int64")
        return days[:-1].astype(float), days[1:].astype(float)

    def column(self, days: np.ndarray) -> np.ndarray:
        months = np.floor(days).astype("int64").astype("datetime64[D]").astype("datetime64[M]")
        q = months.astype("int64") // 3 - self.q0
        return np.clip(q, 0, self.form.shape[1] - 1)


def _indicator_plant(seed: int, n_reps: int, start: int, cutoff: int) -> IndicatorPlant:
    """Its own generator (seed + 1), so the plant is the same whatever else is drawn."""
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    first = np.array([start], dtype="int64").astype("datetime64[D]").astype("datetime64[M]")
    last = np.array([cutoff], dtype="int64").astype("datetime64[D]").astype("datetime64[M]")
    q0 = int(first.astype("int64")[0] // 3)
    n_q = int(last.astype("int64")[0] // 3) - q0 + 1
    form = np.zeros((n_reps, n_q))
    form[:, 0] = rng.normal(0, 1, n_reps)
    for q in range(1, n_q):  # AR(1), 0.5 carried over, unit variance
        form[:, q] = 0.5 * form[:, q - 1] + math.sqrt(0.75) * rng.normal(0, 1, n_reps)
    z = np.zeros((n_reps, n_q))
    z[:, 0] = rng.normal(0, 1, n_reps)
    for q in range(1, n_q):  # AR(1), 0.8 carried over: a push lasts a few quarters
        z[:, q] = 0.8 * z[:, q - 1] + 0.6 * rng.normal(0, 1, n_reps)
    push = np.exp(2.0 * z)
    return IndicatorPlant(q0, form, push)


def generate(
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    as_of: date = AS_OF,
    n_opportunities: int | None = None,
    n_activities: int | None = None,
    n_leads: int | None = None,
) -> dict[str, pl.DataFrame]:
    """Build the six canonical tables; same arguments -> identical tables."""
    rng = np.random.Generator(np.random.PCG64(seed))
    as_of_day = _day(as_of)
    start = as_of_day - HISTORY_DAYS
    cutoff = as_of_day + 1  # events strictly before the end of the as_of day are observed
    n_opps_target = (
        n_opportunities if n_opportunities is not None else round(DEFAULT_OPPORTUNITIES * scale)
    )
    n_acts_target = n_activities if n_activities is not None else round(DEFAULT_ACTIVITIES * scale)
    n_leads = n_leads if n_leads is not None else round(DEFAULT_LEADS * scale)

    reps = _rep_arrays(rng)
    plant = _indicator_plant(seed, len(REPS), start, cutoff)
    n_accounts = 400 * max(
        1, math.ceil(math.sqrt(max(scale, n_opps_target / DEFAULT_OPPORTUNITIES)))
    )
    accounts = _accounts(rng, n_accounts)
    leads = _leads(rng, n_leads, reps, start, cutoff)

    # --- opportunities: converted leads plus deals from other sources --------------------------
    lead_conv = np.flatnonzero(leads["reached"] == 3)
    n_other = max(n_opps_target - len(lead_conv), 0)
    prof = [SEGMENT_PROFILES[s] for s in SEGMENTS]
    rep_start = np.maximum(start, reps["hire"] + 14)
    # each deal falls in a rep x quarter cell weighted by the rep's rate, the days the rep was
    # active in that quarter and the rep's push there; then uniformly inside the cell
    q_lo, q_hi = plant.bounds()
    lo = np.maximum(q_lo[None, :], rep_start[:, None])
    hi = np.minimum(q_hi[None, :], float(cutoff))
    span = np.clip(hi - lo, 0, None)
    rate = np.array([prof[s].opp_rate for s in reps["segment"]])
    # push moves a rep's deals between quarters, never between reps: its span-weighted mean is 1
    push = plant.push / ((plant.push * span).sum(1) / np.maximum(span.sum(1), 1))[:, None]
    cell_w = (rate[:, None] * span * push).ravel()
    cell = _choice_index(rng, cell_w, n_other)
    other_rep = cell // len(q_lo)
    other_t = lo.ravel()[cell] + rng.random(n_other) * span.ravel()[cell]
    rep_idx = np.concatenate([leads["owner"][lead_conv], other_rep])
    t0 = np.concatenate([leads["conv"][lead_conv], other_t])
    source = np.concatenate(
        [leads["source"][lead_conv], _choice_index(rng, LEAD_SOURCE_P_OPPS, n_other)]
    )
    opp_type = np.concatenate(
        [np.zeros(len(lead_conv), dtype=np.int64), _choice_index(rng, OPP_TYPE_P, n_other)]
    )
    from_lead = np.concatenate([lead_conv, np.full(n_other, -1, dtype=np.int64)])
    order = np.argsort(t0, kind="stable")
    rep_idx, t0, source, opp_type, from_lead = (
        a[order] for a in (rep_idx, t0, source, opp_type, from_lead)
    )
    n = len(t0)
    seg = reps["segment"][rep_idx]
    opp_ids = _ids("OPP-", n)

    account = np.empty(n, dtype=np.int64)
    for s in range(len(SEGMENTS)):
        mask = seg == s
        pool = np.flatnonzero(accounts["segment"] == s)
        w = accounts["weight"][pool]
        account[mask] = pool[_choice_index(rng, w, int(mask.sum()))]
    product = _choice_index(rng, PRODUCT_P, n)
    median = np.array([p.amount_median for p in prof])[seg] * PRODUCT_AMOUNT_FACTOR[product]
    sigma = np.array([p.amount_sigma for p in prof])[seg]
    step = np.array([p.amount_round for p in prof])[seg]
    # a pushing rep also opens bigger deals: the deal's size follows the push of its quarter
    size = np.exp(plant.SIZE * np.log(plant.push[rep_idx, plant.column(t0)]))
    for r in range(len(REPS)):  # the rep's mean deal size stays where it was
        mine = rep_idx == r
        if mine.any():
            size[mine] /= size[mine].mean()
    final_amount = (
        np.maximum(np.round(size * median * np.exp(rng.normal(0, 1, n) * sigma) / step), 1) * step
    )
    est_amount = (
        np.maximum(np.round(final_amount * np.exp(rng.normal(0, 0.12, n)) / step), 1) * step
    )

    # --- stage path, dwell times and the cut at as_of ------------------------------------------
    entry = np.where(rng.random(n) < 0.2, 1, 0)
    form = plant.form[rep_idx, plant.column(t0)]
    for r in range(len(REPS)):  # centred per rep: each rep's own rates stay where they were
        mine = rep_idx == r
        if mine.any():
            form[mine] -= form[mine].mean()
    reach = rng.random(n) < np.clip(reps["pp"][rep_idx] + plant.FORM_PP * form, 0.05, 0.97)
    won = reach & (rng.random(n) < np.clip(reps["pw"][rep_idx] + plant.FORM_PW * form, 0.03, 0.9))
    lost_early = entry + np.floor(rng.random(n) ** 1.4 * (FIRST_PROPOSAL - entry)).astype(np.int64)
    final = np.where(
        won,
        np.where(rng.random(n) < 0.85, 7, 6),
        np.where(reach, np.where(rng.random(n) < 0.55, 6, 7), lost_early),
    )
    cols = np.arange(N_OPEN_STAGES)
    inc = (cols >= entry[:, None]) & (cols <= final[:, None])
    skippable = (cols > entry[:, None]) & (cols < final[:, None])
    inc &= ~(skippable & (rng.random((n, N_OPEN_STAGES)) < 0.35))
    t_opp = _lognormal(rng, np.array([p.days_opportunity for p in prof])[seg], 0.38, n)
    t_prop = _lognormal(rng, np.array([p.days_proposal for p in prof])[seg], 0.38, n)
    w = rng.gamma(2.0, 1.0, (n, N_OPEN_STAGES)) * inc
    w_opp = w[:, :FIRST_PROPOSAL].sum(1)
    w_prop = w[:, FIRST_PROPOSAL:].sum(1)
    dwell = np.zeros((n, N_OPEN_STAGES))
    dwell[:, :FIRST_PROPOSAL] = (
        w[:, :FIRST_PROPOSAL] * (t_opp / np.where(w_opp > 0, w_opp, 1))[:, None]
    )
    dwell[:, FIRST_PROPOSAL:] = (
        w[:, FIRST_PROPOSAL:] * (t_prop / np.where(w_prop > 0, w_prop, 1))[:, None]
    )
    dwell = np.where(inc, np.maximum(dwell, 0.05), 0.0)
    stalled = rng.random(n) < 0.09
    stall_col = np.argmax(rng.random((n, N_OPEN_STAGES)) * inc, axis=1)
    dwell[np.flatnonzero(stalled), stall_col[stalled]] += rng.uniform(60, 240, int(stalled.sum()))
    cum = np.cumsum(dwell, axis=1)
    enter = t0[:, None] + cum - dwell
    close_t = t0 + cum[:, -1]
    closed = close_t < cutoff
    seen = inc & (enter < cutoff)
    current = np.where(closed, np.where(won, WON, LOST), (seen * (cols + 1)).max(1) - 1)
    reached_proposal_now = (seen[:, FIRST_PROPOSAL:]).any(1)
    amount = np.where(reached_proposal_now, final_amount, est_amount).astype(np.int64)

    created_day = np.floor(t0).astype(np.int64)
    cycle_median = np.array([p.days_opportunity + p.days_proposal for p in prof])[seg]
    planned = np.where(
        stalled,
        t0 + cycle_median * np.exp(rng.normal(0, 0.3, n)),
        close_t + rng.normal(0, 5, n),
    )
    push = stalled & (planned < cutoff) & (rng.random(n) < 0.4)
    planned = np.where(push, as_of_day + rng.uniform(7, 75, n), planned)
    close_day = np.where(
        closed, np.floor(close_t), np.maximum(np.floor(planned), created_day)
    ).astype(np.int64)

    cur_enter = enter[np.arange(n), np.minimum(current, N_OPEN_STAGES - 1)]
    days_in_stage = cutoff - cur_enter
    forecast_idx = np.zeros(n, dtype=np.int64)  # 0 Pipeline 1 Best Case 2 Commit 3 Closed 4 Omitted
    u = rng.random(n)
    forecast_idx = np.where(current == 5, np.where(u < 0.4, 1, 0), forecast_idx)
    forecast_idx = np.where(
        current == 6, np.where(u < 0.15, 0, np.where(u < 0.8, 1, 2)), forecast_idx
    )
    forecast_idx = np.where(current == 7, np.where(u < 0.7, 2, 1), forecast_idx)
    forecast_idx = np.where(
        (current < WON) & (days_in_stage > 90) & (rng.random(n) < 0.35), 4, forecast_idx
    )
    forecast_idx = np.where(current == WON, 3, np.where(current == LOST, 4, forecast_idx))

    rep_names = pl.Series([r.owner for r in REPS])
    opp_names = pl.select(
        pl.concat_str(
            _pick("a", accounts["short"], account),
            pl.lit(" - "),
            _str_series("p", PRODUCTS, product),
        ).alias("opportunity_name")
    ).to_series()
    opportunities = pl.DataFrame(
        [
            opp_ids.alias("opportunity_id"),
            _pick("owner", rep_names, rep_idx),
            _str_series("stage", STAGES, current),
            pl.Series("amount", amount),
            _date_series("created_date", created_day),
            _date_series("close_date", close_day),
            _pick("account_id", accounts["id"], account),
            _pick("account_name", accounts["name"], account),
            opp_names,
            _str_series("segment", SEGMENTS, seg),
            _str_series("region", REGIONS, accounts["region"][account]),
            _str_series("lead_source", LEAD_SOURCES, source),
            _str_series("opportunity_type", OPP_TYPES, opp_type),
            _str_series("product", PRODUCTS, product),
            pl.Series("probability", STAGE_PROBABILITY[current]),
            _str_series(
                "forecast_category",
                ("Pipeline", "Best Case", "Commit", "Closed", "Omitted"),
                forecast_idx,
            ),
            pl.Series("is_closed", closed),
            pl.Series("is_won", closed & won),
        ]
    )

    # --- stage_history: every observed stage entry, then the closing entry ----------------------
    hi, hs = np.nonzero(seen)
    ci = np.flatnonzero(closed)
    h_opp = np.concatenate([hi, ci])
    h_stage = np.concatenate([hs, np.where(won[ci], WON, LOST)])
    h_t = np.concatenate([enter[hi, hs], close_t[ci]])
    h_amount = np.concatenate(
        [np.where(hs >= FIRST_PROPOSAL, final_amount[hi], est_amount[hi]), amount[ci]]
    ).astype(np.int64)
    h_order = np.lexsort((h_t, h_opp))
    h_opp, h_stage, h_t, h_amount = (
        h_opp[h_order],
        h_stage[h_order],
        h_t[h_order],
        h_amount[h_order],
    )
    stage_history = pl.DataFrame(
        [
            _pick("opportunity_id", opp_ids, h_opp),
            _str_series("stage", STAGES, h_stage),
            _ts_series("entered_at", _office_seconds(h_t)),
            pl.Series("amount", h_amount),
            pl.Series("probability", STAGE_PROBABILITY[h_stage]),
        ]
    )

    # --- activities: spread over each deal's active window, plus first touches on leads ----------
    win_end = np.where(closed, close_t, cutoff)
    stall_enter = enter[np.arange(n), stall_col]
    win_end = np.where(stalled, np.minimum(win_end, stall_enter + 7), win_end)
    win_end = np.maximum(win_end, t0 + 0.5)
    win_end = np.minimum(win_end, cutoff - 1e-6)
    active_days = np.clip(win_end - t0, 0.5, 150)
    lam = reps["act"][rep_idx] * (
        1.5 + active_days * np.array([p.activity_rate for p in prof])[seg]
    )
    lead_touch = np.flatnonzero(leads["responded"] & (rng.random(n_leads) < 0.15))
    lam *= max(n_acts_target - len(lead_touch), 0) / max(lam.sum(), 1e-9)
    per_opp = rng.poisson(lam)
    a_opp = np.repeat(np.arange(n), per_opp)
    m = len(a_opp)
    a_t = t0[a_opp] + rng.random(m) * (win_end - t0)[a_opp]
    a_rep = rep_idx[a_opp]
    type_p = np.tile(ACTIVITY_TYPE_P, (len(REPS), 1))
    type_p[[r.owner for r in REPS].index(BUSY_REP)] = BUSY_ACTIVITY_TYPE_P
    type_cum = np.cumsum(type_p, axis=1)
    a_type = np.minimum((rng.random(m)[:, None] > type_cum[a_rep]).sum(1), len(ACTIVITY_TYPES) - 1)
    outcome_bonus = np.where(closed & won, 0.3, np.where(closed, -0.1, 0.0))[a_opp]
    disc_mean = reps["disc"][a_rep] + outcome_bonus + plant.FORM_DISC * form[a_opp]

    lr = leads["owner"][lead_touch]
    l_type = np.where(rng.random(len(lead_touch)) < 0.5, 0, 1)
    all_t = np.concatenate([a_t, leads["response"][lead_touch]])
    all_type = np.concatenate([a_type, l_type])
    all_rep = np.concatenate([a_rep, lr])
    all_disc = np.concatenate([disc_mean, reps["disc"][lr]])
    all_opp = np.concatenate([a_opp, np.full(len(lead_touch), -1)])
    all_lead = np.concatenate([np.full(m, -1), lead_touch])
    k = len(all_t)
    outcome_labels: list[str] = []
    outcome_offset = []
    for labels in OUTCOMES:
        outcome_offset.append(len(outcome_labels))
        outcome_labels.extend(labels)
    u = rng.random(k)
    local = np.zeros(k, dtype=np.int64)
    for ti, probs in enumerate(OUTCOME_P):
        mask = all_type == ti
        local[mask] = np.minimum(
            np.searchsorted(np.cumsum(probs), u[mask], side="right"), len(probs) - 1
        )
    outcome = np.array(outcome_offset)[all_type] + local
    is_conversation = ((all_type == 0) & (local == 0)) | ((all_type == 2) & (local == 0))
    duration = np.select(
        [
            (all_type == 0) & (local == 0),
            all_type == 0,
            (all_type == 2) & (local == 0),
            (all_type == 3) & (local == 0),
            all_type == 4,
        ],
        [
            np.clip(np.round(14 * np.exp(rng.normal(0, 0.5, k))), 2, 90),
            1,
            np.array([30, 45, 60])[rng.integers(0, 3, k)],
            np.array([45, 60, 90])[rng.integers(0, 3, k)],
            15,
        ],
        default=-1,
    ).astype(np.int64)
    score = np.clip(np.round(all_disc + rng.normal(0, 0.8, k)), 0, 5).astype(np.int64)
    a_day = np.floor(all_t).astype(np.int64)
    a_order = np.lexsort((all_lead, all_opp, a_day))
    a_day, all_type, all_rep, all_opp, all_lead, outcome, duration, score, is_conversation = (
        x[a_order]
        for x in (
            a_day,
            all_type,
            all_rep,
            all_opp,
            all_lead,
            outcome,
            duration,
            score,
            is_conversation,
        )
    )
    has_opp = all_opp >= 0
    has_lead = all_lead >= 0
    lead_ids = _ids("LEAD-", n_leads)
    activities = pl.DataFrame(
        [
            _ids("ACT-", k).alias("activity_id"),
            _pick("owner", rep_names, all_rep),
            _str_series("activity_type", ACTIVITY_TYPES, all_type),
            _date_series("activity_date", a_day),
            _pick("opportunity_id", opp_ids, all_opp, has_opp),
            _pick("lead_id", lead_ids, all_lead, has_lead),
            _pick("account_id", accounts["id"], account[np.maximum(all_opp, 0)], has_opp),
            pl.Series("duration_minutes", duration),
            _str_series("outcome", tuple(outcome_labels), outcome),
            pl.Series("discovery_score", score),
        ]
    ).with_columns(
        pl.when(pl.col("duration_minutes") >= 0)
        .then(pl.col("duration_minutes"))
        .alias("duration_minutes"),
        pl.when(pl.Series(is_conversation))
        .then(pl.col("discovery_score"))
        .alias("discovery_score"),
    )

    # --- leads ---------------------------------------------------------------------------------
    conv_opp = np.full(n_leads, -1, dtype=np.int64)
    lead_rows = from_lead >= 0
    conv_opp[from_lead[lead_rows]] = np.flatnonzero(lead_rows)
    reached = leads["reached"]
    leads_df = pl.DataFrame(
        [
            lead_ids.alias("lead_id"),
            _ts_series("created_date", _office_seconds(leads["created"])),
            _str_series("lead_source", LEAD_SOURCES, leads["source"]),
            _pick("owner", rep_names, leads["owner"]),
            _str_series("segment", SEGMENTS, leads["segment"]),
            _str_series("status", LEAD_STATUSES, leads["status"]),
            _date_series("sal_date", np.floor(leads["sal"]), reached >= 1),
            _date_series("sql_date", np.floor(leads["sql"]), reached >= 2),
            _date_series("converted_date", np.floor(leads["conv"]), reached >= 3),
            _pick("converted_opportunity_id", opp_ids, conv_opp, conv_opp >= 0),
            _ts_series("first_response_at", _office_seconds(leads["response"]), leads["responded"]),
        ]
    )

    reps_df = pl.DataFrame(
        {
            "owner": [r.owner for r in REPS],
            "team": [r.team for r in REPS],
            "segment": [r.segment for r in REPS],
            "role": [r.role for r in REPS],
            "manager": [r.manager for r in REPS],
            "hire_date": [r.hire_date for r in REPS],
        }
    )
    quotas = _quotas(opportunities, reps, as_of)
    return {
        "opportunities": opportunities,
        "stage_history": stage_history,
        "activities": activities,
        "reps": reps_df,
        "quotas": quotas,
        "leads": leads_df,
    }


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _next_quarter(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month == 10 else date(d.year, d.month + 3, 1)


def _quotas(opportunities: pl.DataFrame, reps: dict[str, np.ndarray], as_of: date) -> pl.DataFrame:
    """One quota per rep and calendar quarter, through the quarter after as_of.

    A ramped rep's quota is what ramped reps of the segment won on average per complete
    quarter, rounded; in the hire quarter and the two after it the quota is 25/50/75% of that.
    """
    first = _quarter_start(as_of - timedelta(days=HISTORY_DAYS))
    last = _next_quarter(_quarter_start(as_of))
    starts = [first]
    while starts[-1] < last:
        starts.append(_next_quarter(starts[-1]))
    bounds = np.array([_day(d) for d in starts + [_next_quarter(starts[-1])]])
    won = opportunities.filter(pl.col("is_won"))
    close = won["close_date"].cast(pl.Int32).to_numpy()
    q = np.searchsorted(bounds, close, side="right") - 1
    owner_index = {r.owner: i for i, r in enumerate(REPS)}
    rep_i = np.array([owner_index[o] for o in won["owner"].to_list()], dtype=np.int64)
    revenue = np.zeros((len(REPS), len(starts)))
    np.add.at(revenue, (rep_i, q), won["amount"].to_numpy().astype(float))
    complete = bounds[1:] <= _day(as_of)
    rows: dict[str, list] = {"owner": [], "period_start": [], "period_end": [], "quota_amount": []}
    base: dict[int, float] = {}
    for s, name in enumerate(SEGMENTS):
        ramped = (reps["segment"] == s)[:, None] & (
            reps["hire"][:, None] + 365 <= bounds[None, :-1]
        )
        values = revenue[ramped & complete[None, :]]
        step = SEGMENT_PROFILES[name].quota_round
        base[s] = max(step, round(float(values.mean()) / step) * step) if len(values) else step
    for i, r in enumerate(REPS):
        hire_q = _quarter_start(r.hire_date)
        for qi, qs in enumerate(starts):
            qe = _day(starts[qi + 1]) if qi + 1 < len(starts) else _day(_next_quarter(qs))
            if qe <= _day(r.hire_date):
                continue
            tenure = (qs.year - hire_q.year) * 4 + (qs.month - hire_q.month) // 3
            factor = _QUARTER_FACTOR_BY_TENURE[tenure] if tenure < 3 else 1.0
            step = SEGMENT_PROFILES[r.segment].quota_round
            rows["owner"].append(r.owner)
            rows["period_start"].append(qs)
            rows["period_end"].append(_to_date(qe))
            rows["quota_amount"].append(
                int(round(base[int(reps["segment"][i])] * factor / step) * step)
            )
    return pl.DataFrame(
        rows,
        schema={
            "owner": pl.Utf8,
            "period_start": pl.Date,
            "period_end": pl.Date,
            "quota_amount": pl.Int64,
        },
    )


def write_csvs(tables: dict[str, pl.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """Write one ``<table>.csv`` per table; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in TABLE_ORDER:
        if name not in tables:
            continue
        path = out / f"{name}.csv"
        tables[name].write_csv(
            path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S", line_terminator="\n"
        )
        paths[name] = path
    return paths


# --------------------------------------------------------------------------------------------
# A second snapshot (docs/metrics.md, Pipeline changes)
# --------------------------------------------------------------------------------------------

SNAPSHOT_DAYS = 14
SNAPSHOT_DIR = "snapshots"
SNAPSHOT_HISTORY_ADDED = "stage_history_added.csv"
# Deals per bucket of docs/metrics.md, Pipeline changes, between the export two weeks before
# ``as_of`` and the sample itself (for the quarter holding ``as_of``).
SNAPSHOT_MOVES = {
    "new": 10,
    "pulled_in": 6,
    "pushed_in": 4,
    "reopened": 2,
    "won": 14,
    "lost": 10,
    "removed": 3,
    "pushed_out": 8,
    "pulled_out": 1,
    "amount_increased": 8,
    "amount_decreased": 6,
    "transferred": 4,
    "advanced": 12,
    "regressed": 2,
}


def snapshot_day(as_of: date = AS_OF) -> date:
    """The day of the sample's earlier export: two weeks before ``as_of``."""
    return as_of - timedelta(days=SNAPSHOT_DAYS)


def write_snapshot(
    tables: dict[str, pl.DataFrame],
    out_dir: str | Path,
    seed: int = DEFAULT_SEED,
    as_of: date = AS_OF,
) -> dict[str, Path]:
    """The same CRM exported two weeks before ``as_of``: the sample as it stood then, so the
    sample dataset has two snapshots and the Pipeline changes page shows every bucket on first
    start, while every other page keeps analysing the sample itself (the latest snapshot).

    Writes ``OUT/snapshots/<day>/opportunities.csv`` and ``stage_history_added.csv`` (the rows
    of deals that existed then and are gone from the sample); that day's stage history export is
    the sample's rows entered by then plus these (``engine/load/samples.py`` puts it together),
    and the other tables are the sample's. From that export to the sample, ``SNAPSHOT_MOVES``
    deals each were created, won, lost, removed, pushed, pulled, re-priced, handed to a rep of
    another team or moved a stage."""
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    day = snapshot_day(as_of)
    q_start = _quarter_start(as_of)
    q_end = _next_quarter(q_start)
    opps = tables["opportunities"]
    hist = tables["stage_history"]
    team_of = dict(
        zip(tables["reps"]["owner"].to_list(), tables["reps"]["team"].to_list(), strict=True)
    )
    owners = sorted(team_of)
    prob_of = {s: int(p) for s, p in zip(STAGES, STAGE_PROBABILITY, strict=True)}
    rows = {r["opportunity_id"]: dict(r) for r in opps.iter_rows(named=True)}
    order = list(rows)
    touched: set[str] = set()

    def pick(n: int, ok: Callable[[dict], bool]) -> list[str]:
        ids = [i for i in order if i not in touched and ok(rows[i])]
        chosen = [ids[j] for j in sorted(rng.permutation(len(ids))[:n])]
        touched.update(chosen)
        return chosen

    def due(r: dict) -> bool:
        close = r["close_date"]
        return not r["is_closed"] and close is not None and q_start <= close < q_end

    def in_q(low: int = 1, high: int = 40) -> date:
        return q_end - timedelta(days=int(rng.integers(low, high)))

    def reopen(i: str) -> None:
        stage = "Negotiation/Review"
        rows[i] |= {
            "stage": stage,
            "is_closed": False,
            "is_won": False,
            "close_date": in_q(),
            "probability": prob_of[stage],
            "forecast_category": "Pipeline",
        }

    recent = lambda r: r["close_date"] is not None and day < r["close_date"] <= as_of  # noqa: E731
    # Then -> now. "new": not in the earlier export.
    absent = pick(SNAPSHOT_MOVES["new"], lambda r: due(r) and r["created_date"] > day)
    for i in pick(SNAPSHOT_MOVES["won"], lambda r: bool(r["is_won"]) and recent(r)):
        reopen(i)  # open and due in the quarter then, won since
    for i in pick(
        SNAPSHOT_MOVES["lost"], lambda r: r["is_closed"] and not r["is_won"] and recent(r)
    ):
        reopen(i)
    for i in pick(
        SNAPSHOT_MOVES["pushed_out"],
        lambda r: not r["is_closed"] and r["close_date"] is not None and r["close_date"] >= q_end,
    ):
        rows[i]["close_date"] = in_q()
    for i in pick(
        SNAPSHOT_MOVES["pulled_out"],
        lambda r: not r["is_closed"] and r["close_date"] is not None and r["close_date"] < q_start,
    ):
        rows[i]["close_date"] = in_q()
    for i in pick(SNAPSHOT_MOVES["pulled_in"], due):
        rows[i]["close_date"] = q_end + timedelta(days=int(rng.integers(5, 60)))
    for i in pick(SNAPSHOT_MOVES["pushed_in"], due):
        rows[i]["close_date"] = q_start - timedelta(days=int(rng.integers(3, 40)))
    for i in pick(SNAPSHOT_MOVES["reopened"], due):
        rows[i] |= {
            "stage": "Closed Lost",
            "is_closed": True,
            "is_won": False,
            "close_date": day - timedelta(days=int(rng.integers(1, 20))),
            "probability": 0,
            "forecast_category": "Omitted",
        }
    for i in pick(SNAPSHOT_MOVES["amount_increased"], due):
        rows[i]["amount"] = int(round(rows[i]["amount"] * float(rng.uniform(0.6, 0.9)), -2))
    for i in pick(SNAPSHOT_MOVES["amount_decreased"], due):
        rows[i]["amount"] = int(round(rows[i]["amount"] * float(rng.uniform(1.1, 1.5)), -2))
    for i in pick(SNAPSHOT_MOVES["transferred"], due):
        others = [o for o in owners if team_of[o] != team_of.get(rows[i]["owner"])]
        rows[i]["owner"] = others[int(rng.integers(0, len(others)))]
    for step, key in ((-1, "advanced"), (1, "regressed")):

        def can(r: dict, step: int = step) -> bool:
            if not due(r) or r["stage"] not in STAGES[:N_OPEN_STAGES]:
                return False
            return 0 <= STAGES.index(r["stage"]) + step < N_OPEN_STAGES

        for i in pick(SNAPSHOT_MOVES[key], can):
            stage = STAGES[STAGES.index(rows[i]["stage"]) + step]
            rows[i] |= {"stage": stage, "probability": prob_of[stage]}
    # "removed": deals in the earlier export that are gone from the sample.
    template = opps.row(0, named=True)
    gone = []
    for k in range(SNAPSHOT_MOVES["removed"]):
        oid = f"OPP-9{k + 1:05d}"
        stage = STAGES[int(rng.integers(0, N_OPEN_STAGES))]
        rows[oid] = dict(template) | {
            "opportunity_id": oid,
            "owner": owners[int(rng.integers(0, len(owners)))],
            "stage": stage,
            "amount": int(rng.integers(20, 300)) * 100,
            "created_date": day - timedelta(days=int(rng.integers(20, 90))),
            "close_date": in_q(),
            "opportunity_name": f"Duplicate deal {k + 1}",
            "probability": prob_of[stage],
            "forecast_category": "Pipeline",
            "is_closed": False,
            "is_won": False,
        }
        gone.append(oid)
    then = [rows[i] for i in [*order, *gone] if i not in absent]
    out = Path(out_dir) / SNAPSHOT_DIR / day.isoformat()
    paths = write_csvs({"opportunities": pl.DataFrame(then, schema=opps.schema)}, out)
    added = pl.DataFrame(
        {
            "opportunity_id": gone,
            "stage": [rows[i]["stage"] for i in gone],
            "entered_at": [
                datetime.combine(rows[i]["created_date"], datetime.min.time()) + timedelta(hours=10)
                for i in gone
            ],
            "amount": [rows[i]["amount"] for i in gone],
            "probability": [rows[i]["probability"] for i in gone],
        },
        schema=hist.schema,
    )
    paths["stage_history_added"] = out / SNAPSHOT_HISTORY_ADDED
    added.write_csv(
        paths["stage_history_added"], datetime_format="%Y-%m-%d %H:%M:%S", line_terminator="\n"
    )
    return paths


# --------------------------------------------------------------------------------------------
# Dirty variant
# --------------------------------------------------------------------------------------------

DIRTY_OPEN_CLOSE_FLOOR = date(2027, 4, 1)


@dataclass
class _Problem:
    file: str
    id: str
    rule: str
    severity: str
    column: str
    value: str
    note: str
    line: int = 0


def _as_text_rows(df: pl.DataFrame) -> list[dict[str, str]]:
    text = df.with_columns(
        [
            pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S")
            if dt == pl.Datetime
            else pl.col(c).dt.strftime("%Y-%m-%d")
            if dt == pl.Date
            else pl.col(c).cast(pl.Utf8)
            for c, dt in df.schema.items()
        ]
    ).fill_null("")
    return text.to_dicts()


def _money(rng: np.random.Generator, value: int) -> str:
    style = int(rng.integers(0, 4))
    if style == 0:
        return str(value)
    if style == 1:
        return f"{value:,.2f}"
    if style == 2:
        return f"${value:,.2f}"
    return f"USD {value}"


def write_dirty(
    tables: dict[str, pl.DataFrame],
    out_dir: str | Path,
    seed: int = DEFAULT_SEED,
    as_of: date = AS_OF,
) -> dict:
    """Write a small copy of ``tables`` with injected row problems, PROBLEMS.md and expected.json.

    Every problem sits on its own row so each row fires exactly one rule. Rows that must be
    quarantined are extra rows with fresh ids (``OPP-9xxxxx``, ``ACT-9xxxxxx``), so no activity
    or history row depends on a quarantined deal. Open deals' future close dates are moved to
    2027-04-01 or later, so the ``slipped`` count holds for any load date before then.
    """
    rng = np.random.Generator(np.random.PCG64(seed + 7919))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opps_df = tables["opportunities"].gather_every(10)
    keep = set(opps_df["opportunity_id"].to_list())
    hist_df = tables["stage_history"].filter(pl.col("opportunity_id").is_in(keep))
    acts_df = tables["activities"].filter(pl.col("opportunity_id").is_in(keep))
    as_of_s = as_of.isoformat()
    shift = (DIRTY_OPEN_CLOSE_FLOOR - as_of).days

    opps = _as_text_rows(opps_df)
    for r in opps:
        if r["is_closed"] == "false" and r["close_date"] >= as_of_s:
            r["close_date"] = (
                date.fromisoformat(r["close_date"]) + timedelta(days=shift)
            ).isoformat()
    problems: list[_Problem] = []
    f_opp, f_act, f_hist = "opportunities.csv", "activities.csv", "stage_history.csv"

    open_future = [
        i for i, r in enumerate(opps) if r["is_closed"] == "false" and r["close_date"] >= as_of_s
    ]
    closed_rows = [i for i, r in enumerate(opps) if r["is_closed"] == "true"]
    natural_slipped = [
        i for i, r in enumerate(opps) if r["is_closed"] == "false" and r["close_date"] < as_of_s
    ]
    rng.shuffle(open_future)
    rng.shuffle(closed_rows)

    def take(pool: list[int], k: int) -> list[int]:
        picked, pool[:] = pool[:k], pool[k:]
        return picked

    def warn(i: int, rule: str, column: str, value: str, note: str) -> None:
        opps[i][column] = value
        problems.append(
            _Problem(f_opp, opps[i]["opportunity_id"], rule, "warning", column, value, note)
        )

    for i in take(closed_rows, 3):
        warn(i, "missing_created_date", "created_date", "", "created_date left empty")
    for i in take(closed_rows, 2):
        warn(i, "missing_owner", "owner", "", "owner left empty")
    for i in take(open_future, 3):
        warn(i, "missing_amount", "amount", "", "amount left empty on an open deal")
    for i in take(open_future, 2):
        warn(
            i, "open_without_close_date", "close_date", "", "open deal without expected close date"
        )
    # a deal created after its new past close date would also fire close_before_created
    made_early = (as_of - timedelta(days=45)).isoformat()
    old_open = [i for i in open_future if opps[i]["created_date"] < made_early][:2]
    open_future[:] = [i for i in open_future if i not in old_open]
    for i, days in zip(old_open, (20, 45), strict=True):
        warn(
            i,
            "slipped",
            "close_date",
            (as_of - timedelta(days=days)).isoformat(),
            "open deal, close_date moved into the past",
        )
    for i, stage in zip(take(open_future, 2), ("Verbal Commit", "On Hold"), strict=True):
        warn(i, "unknown_stage", "stage", stage, "stage name not in the Salesforce stage map")
    for i, value in zip(take(open_future, 2), ("0", "$0.00"), strict=True):
        opps[i]["stage"], opps[i]["probability"] = "Proposal/Price Quote", "75"
        warn(
            i,
            "zero_amount_proposal",
            "amount",
            value,
            "open Proposal/Price Quote deal with amount 0",
        )
    for i in natural_slipped:
        problems.append(
            _Problem(
                f_opp,
                opps[i]["opportunity_id"],
                "slipped",
                "warning",
                "close_date",
                opps[i]["close_date"],
                "generated: open deal whose expected close date has passed",
            )
        )

    # Format noise that must not fire any rule: amount styles on every row, trailing spaces.
    for r in opps:
        if r["amount"] not in ("", "0", "$0.00"):
            r["amount"] = _money(rng, int(r["amount"]))
    noise_ids = []
    for i, col in zip(take(closed_rows, 6), ("owner", "stage", "account_name") * 2, strict=True):
        opps[i][col] = opps[i][col] + " "
        noise_ids.append((opps[i]["opportunity_id"], col))

    # Error rows: fresh ids (or repeated ids) inserted among the clean rows.
    next_id = iter(range(900001, 999999))
    templates_closed = [opps[i] for i in take(closed_rows, 12)]
    templates_open = [opps[i] for i in take(open_future, 2)]
    inserts: list[tuple[dict[str, str], _Problem]] = []

    def fresh(
        tpl: dict[str, str], rule: str, column: str, value: str, note: str, new_id: bool = True
    ) -> None:
        row = dict(tpl)
        if new_id:
            row["opportunity_id"] = f"OPP-{next(next_id)}"
        row[column] = value
        sev = severity(rule)  # close_before_created loads and is flagged (a warning)
        inserts.append(
            (row, _Problem(f_opp, row["opportunity_id"], rule, sev, column, value, note))
        )

    tc = iter(templates_closed)
    fresh(next(tc), "empty_id", "opportunity_id", "", "opportunity_id empty")
    fresh(next(tc), "unparseable_value", "created_date", "2025-02-30", "date that does not exist")
    fresh(next(tc), "unparseable_value", "created_date", "Q3 2025", "date that is not a date")
    fresh(next(tc), "unparseable_value", "amount", "approx 40k", "amount that is not a number")
    fresh(next(tc), "unparseable_value", "amount", "12k-15k", "amount that is a range")
    fresh(next(tc), "negative_amount", "amount", "-4500", "negative amount")
    fresh(next(tc), "negative_amount", "amount", "(1,200.00)", "negative amount, accounting style")
    fresh(
        next(tc), "closed_without_close_date", "close_date", "", "closed deal with empty close_date"
    )
    fresh(
        next(tc), "closed_without_close_date", "close_date", "", "closed deal with empty close_date"
    )
    for _ in range(2):
        tpl = next(tc)
        before = (date.fromisoformat(tpl["created_date"]) - timedelta(days=30)).isoformat()
        fresh(
            tpl,
            "close_before_created",
            "close_date",
            before,
            "close_date 30 days before created_date",
        )
    fresh(
        templates_open[0], "probability_out_of_range", "probability", "150", "probability above 100"
    )
    fresh(
        templates_open[1], "probability_out_of_range", "probability", "-10", "probability below 0"
    )
    for i in sorted(closed_rows[:3]):
        fresh(
            opps[i],
            "duplicate_id",
            "opportunity_id",
            opps[i]["opportunity_id"],
            "repeats an earlier row exactly",
            new_id=False,
        )
    dup = dict(opps[closed_rows[3]])
    inserts.append(
        (
            dict(dup, amount="99,999.00"),
            _Problem(
                f_opp,
                dup["opportunity_id"],
                "duplicate_id",
                "error",
                "opportunity_id",
                dup["opportunity_id"],
                "same id as an earlier row, different amount",
            ),
        )
    )
    opp_rows, opp_problems = _insert_rows(rng, opps, inserts, "opportunity_id", problems)

    # --- activities ------------------------------------------------------------------------------
    acts = _as_text_rows(acts_df)
    a_pool = list(rng.permutation(len(acts)))
    a_problems: list[_Problem] = []
    for n_, i in enumerate(a_pool[:4]):
        acts[i]["opportunity_id"] = f"OPP-99{n_ + 1:04d}"
        a_problems.append(
            _Problem(
                f_act,
                acts[i]["activity_id"],
                "unknown_opportunity",
                "warning",
                "opportunity_id",
                acts[i]["opportunity_id"],
                "opportunity_id not in opportunities.csv",
            )
        )
    for i in a_pool[4:6]:
        acts[i]["owner"] = ""
        a_problems.append(
            _Problem(
                f_act,
                acts[i]["activity_id"],
                "missing_owner",
                "warning",
                "owner",
                "",
                "owner left empty",
            )
        )
    for i in a_pool[6:12]:
        acts[i]["owner"] = acts[i]["owner"] + " "
    a_next = iter(range(9000001, 9999999))
    a_inserts: list[tuple[dict[str, str], _Problem]] = []
    calls = [i for i in a_pool[12:] if acts[int(i)]["discovery_score"] != ""]

    def fresh_act(
        tpl: dict[str, str], rule: str, column: str, value: str, note: str, new_id: bool = True
    ) -> None:
        row = dict(tpl)
        if new_id:
            row["activity_id"] = f"ACT-{next(a_next)}"
        row[column] = value
        a_inserts.append(
            (row, _Problem(f_act, row["activity_id"], rule, "error", column, value, note))
        )

    tpls = [acts[int(i)] for i in calls[:8]]
    fresh_act(tpls[0], "empty_id", "activity_id", "", "activity_id empty")
    fresh_act(
        tpls[1], "unparseable_value", "activity_date", "2025-02-30", "date that does not exist"
    )
    fresh_act(tpls[2], "unparseable_value", "activity_date", "yesterday", "date that is not a date")
    fresh_act(
        tpls[3], "unparseable_value", "duration_minutes", "thirty", "duration that is not a number"
    )
    fresh_act(tpls[4], "score_out_of_range", "discovery_score", "7", "discovery_score above 5")
    fresh_act(tpls[5], "negative_duration", "duration_minutes", "-15", "negative duration")
    for i in sorted(int(j) for j in calls[8:11]):
        fresh_act(
            acts[i],
            "duplicate_id",
            "activity_id",
            acts[i]["activity_id"],
            "repeats an earlier row exactly",
            new_id=False,
        )
    act_rows, act_problems = _insert_rows(rng, acts, a_inserts, "activity_id", a_problems)

    # --- stage_history ---------------------------------------------------------------------------
    hist = _as_text_rows(hist_df)
    h_inserts: list[tuple[dict[str, str], _Problem]] = []
    for n_ in range(3):
        row = dict(hist[int(rng.integers(0, len(hist)))], opportunity_id=f"OPP-98{n_ + 1:04d}")
        h_inserts.append(
            (
                row,
                _Problem(
                    f_hist,
                    row["opportunity_id"],
                    "unknown_opportunity",
                    "warning",
                    "opportunity_id",
                    row["opportunity_id"],
                    "opportunity_id not in opportunities.csv",
                ),
            )
        )
    row = dict(hist[int(rng.integers(0, len(hist)))], entered_at="2025-13-01 10:00:00")
    h_inserts.append(
        (
            row,
            _Problem(
                f_hist,
                row["opportunity_id"],
                "unparseable_value",
                "error",
                "entered_at",
                row["entered_at"],
                "timestamp with month 13",
            ),
        )
    )
    hist_rows, hist_problems = _insert_rows(rng, hist, h_inserts, None, [])

    files = {
        f_opp: (opp_rows, opp_problems, list(opps_df.columns)),
        f_act: (act_rows, act_problems, list(acts_df.columns)),
        f_hist: (hist_rows, hist_problems, list(hist_df.columns)),
    }
    expected: dict = {"as_of": as_of_s, "seed": seed, "files": {}}
    for fname, (rows, probs, columns) in files.items():
        with open(out / fname, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        errors: dict[str, int] = {}
        warnings: dict[str, int] = {}
        for p in probs:
            bucket = errors if p.severity == "error" else warnings
            bucket[p.rule] = bucket.get(p.rule, 0) + 1
        quarantined = len({p.line for p in probs if p.severity == "error"})
        expected["files"][fname] = {
            "table": fname.removesuffix(".csv"),
            "rows_in": len(rows),
            "rows_loaded": len(rows) - quarantined,
            "rows_quarantined": quarantined,
            "errors": dict(sorted(errors.items())),
            "warnings": dict(sorted(warnings.items())),
            "problems": [
                {
                    "line": p.line,
                    "id": p.id,
                    "rule": p.rule,
                    "severity": p.severity,
                    "column": p.column,
                    "value": p.value,
                }
                for p in sorted(probs, key=lambda p: p.line)
            ],
        }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    (out / "PROBLEMS.md").write_text(_problems_md(expected, files, noise_ids), encoding="utf-8")
    return expected


def _insert_rows(
    rng: np.random.Generator,
    rows: list[dict[str, str]],
    inserts: list[tuple[dict[str, str], _Problem]],
    id_col: str | None,
    problems: list[_Problem],
) -> tuple[list[dict[str, str]], list[_Problem]]:
    """Insert each extra row at a random place (a duplicate always after its first occurrence).

    Returns the final rows and the problems with their 1-based CSV line numbers (header = 1).
    """
    tagged: list[tuple[dict[str, str], _Problem | None]] = [(r, None) for r in rows]
    by_row = {
        id(r): p
        for p in problems
        for r in rows
        if id_col and r[id_col] == p.id and p.rule != "duplicate_id"
    }
    for row, extra in inserts:
        lo = 1
        if extra.rule == "duplicate_id" and id_col:
            lo = next(i for i, (r, _) in enumerate(tagged) if r[id_col] == row[id_col]) + 1
        pos = int(rng.integers(lo, len(tagged) + 1))
        tagged.insert(pos, (row, extra))
    out_rows: list[dict[str, str]] = []
    out_problems: list[_Problem] = []
    for line, (row, found) in enumerate(tagged, start=2):
        out_rows.append(row)
        prob = found if found is not None else by_row.get(id(row))
        if prob is not None:
            prob.line = line
            out_problems.append(prob)
    return out_rows, out_problems


def _problems_md(expected: dict, files: dict, noise: list[tuple[str, str]]) -> str:
    lines = [
        "# Injected problems in `sample_data/dirty/`",
        "",
        "Generated by `python -m sample_data.generate --dirty` from the clean sample (every 10th",
        "opportunity, with its stage history and activities). Rule ids follow `schemas/rules.py`",
        "(`docs/data.md`, Row rules). Each problem sits on its own row, so each listed row fires",
        "exactly one rule. Line numbers count the header as line 1. `expected.json` holds the",
        "same list and the counts a validator should report.",
        "",
        f"`slipped` is relative to a load date between {expected['as_of']} and "
        f"{(DIRTY_OPEN_CLOSE_FLOOR - timedelta(days=1)).isoformat()}: every open deal's",
        f"future close date was moved to {DIRTY_OPEN_CLOSE_FLOOR.isoformat()} or later.",
        "",
        "Format noise that must fire no rule: amounts in opportunities.csv mix `12500`,",
        "`12,500.00`, `$12,500.00` and `USD 12500`; these values carry a trailing space (trim",
        "before matching): "
        + ", ".join(f"{i} `{c}`" for i, c in noise)
        + "; six activities have a trailing space after the owner name.",
        "",
    ]
    for fname, spec in expected["files"].items():
        lines += [
            f"## {fname}",
            "",
            f"rows_in {spec['rows_in']}, rows_loaded {spec['rows_loaded']}, "
            f"rows_quarantined {spec['rows_quarantined']}.",
            "",
            "| line | id | severity | rule | column | value |",
            "|---:|---|---|---|---|---|",
        ]
        for p in spec["problems"]:
            value = p["value"].replace("|", "\\|") if p["value"] else "(empty)"
            lines.append(
                f"| {p['line']} | {p['id'] or '(empty)'} | {p['severity']} | {p['rule']} | {p['column']} | `{value}` |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every row count")
    parser.add_argument("--opportunities", type=int, default=None, help="about this many deals")
    parser.add_argument("--activities", type=int, default=None, help="about this many activities")
    parser.add_argument("--leads", type=int, default=None, help="exactly this many leads")
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF, help="YYYY-MM-DD")
    parser.add_argument("--dirty", action="store_true", help="also write OUT/dirty/")
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="do not write OUT/snapshots/ (the same CRM exported two weeks later)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    tables = generate(
        args.seed, args.scale, args.as_of, args.opportunities, args.activities, args.leads
    )
    paths = write_csvs(tables, args.out)
    for name, path in paths.items():
        print(f"{path}: {tables[name].height:,} rows, {path.stat().st_size / 1e6:.2f} MB")
    if args.snapshot:
        for path in write_snapshot(tables, args.out, args.seed, args.as_of).values():
            print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    if args.dirty:
        expected = write_dirty(tables, args.out / "dirty", args.seed, args.as_of)
        for fname, spec in expected["files"].items():
            print(
                f"{args.out / 'dirty' / fname}: {spec['rows_in']} rows, {spec['rows_quarantined']} to quarantine"
            )
    print(f"done in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
