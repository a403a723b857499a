"""Leading indicators (docs/metrics.md, Leading indicators): which rep behaviours predict results
on this dataset, tested on a rep x period panel built from the metric catalog.

The panel has one row per rep and period (quarter by default) where the rep created or closed a
deal or logged an activity; every value is the catalog metric for that rep and period (the
number the other pages show). A sum or count with nothing to add up is 0 there; a ratio with a
zero denominator stays missing.

Per indicator x outcome x lag (0: same period; 1: indicator in t, outcome in t+1):

- ``rho``: ``scipy.stats.spearmanr`` over the rep-period rows where both values exist;
- ``ci_low``/``ci_high``: the 95% percentile interval of ``scipy.stats.bootstrap`` resampling
  reps (each resample gathers the chosen reps' rows), with a fixed seed;
- ``p_value``: two-sided, from the t distribution with n_reps - 2 degrees of freedom (reps, not
  rows, are the independent units); ``q_value``: ``scipy.stats.false_discovery_control``
  (Benjamini-Hochberg) across every test of the run;
- ``min_detectable``: the smallest |rho| significant at alpha 0.05 with n_reps reps;
- ``verdict``: ``predictive`` (interval excludes 0 and q < 0.05), ``no evidence``, or
  ``not enough data`` (fewer than :data:`MIN_REPS` reps or :data:`MIN_OBS` rep-periods).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from engine.semantic.catalog import get_metric
from engine.semantic.compile import unmet_requirement
from engine.semantic.compute import clean, compute, run_built
from engine.semantic.request import PERIOD_FORMS, Request, make_request
from engine.semantic.sql import Sql

INDICATORS = (
    "pipeline_created",
    "opportunities_created",
    "activity_count",
    "activities_per_opportunity",
    "discovery_score",
    "stage_conversion",
    "time_in_stage_days",
    "sales_cycle_days",
    "lead_response_hours",
)
OUTCOMES = (
    "win_rate",
    "won_revenue",
    "won_deals",
    "avg_deal_size",
    "quota_attainment",
    "ramp_adjusted_attainment",
)
LAGS = (0, 1)
KEY_COLUMNS = ("owner", "period", "segment", "ramping")
MIN_REPS = 8
MIN_OBS = 20
ALPHA = 0.05
CONFIDENCE = 0.95
N_RESAMPLES = 999
SEED = 20260101
RETEST_MONTHS = 6
PREDICTIVE, NO_EVIDENCE, NOT_ENOUGH = "predictive", "no evidence", "not enough data"
VERDICTS = (PREDICTIVE, NO_EVIDENCE, NOT_ENOUGH)
# Kinds whose empty value in an existing rep-period is a real 0 (docs/metrics.md).
ZERO_KINDS = ("sum", "count")
# Reps, rep-periods and scored activities a test needs; what to upload when they are missing.
NEEDS = {
    "activity_count": "activities (activities.csv)",
    "activities_per_opportunity": "activities (activities.csv)",
    "discovery_score": "activities with a discovery_score (activities.csv)",
    "time_in_stage_days": "stage history (stage_history.csv)",
    "lead_response_hours": "leads with an owner and a response (leads.csv)",
    "quota_attainment": "quotas (quotas.csv)",
    "ramp_adjusted_attainment": "quotas (quotas.csv)",
    "win_rate": "lost deals (a file of won deals only has no win rate)",
}


@dataclass
class Panel:
    """``frame``: owner, period (bucket start), segment, ramping and one column per metric."""

    frame: pd.DataFrame
    grain: str
    metrics: tuple[str, ...]
    missing: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value
    sql: str = ""
    params: list[Any] = field(default_factory=list)


@dataclass
class IndicatorTest:
    results: pd.DataFrame  # one row per indicator x outcome x lag
    panel: Panel
    tested_on: dt.date
    retest_by: dt.date
    notes: list[str] = field(default_factory=list)


def _periods_complete(frame: pd.DataFrame, grain: str, as_of: dt.date) -> pd.Series:
    """True for buckets that ended on or before the as-of date (a quarter still running is left
    out: its counts are not comparable with whole quarters)."""
    months = {"month": 1, "quarter": 3, "year": 12}.get(grain)
    starts = pd.to_datetime(frame["period"])
    if months is None:  # week
        ends = starts + pd.Timedelta(days=7)
    else:
        ends = starts + pd.DateOffset(months=months)
    return ends <= pd.Timestamp(as_of + dt.timedelta(days=1))


def _rep_attributes(con: duckdb.DuckDBPyConnection, request: Request) -> pd.DataFrame:
    q = Sql(request.with_(grain=None, by=(), filters=()))
    q.reps_d()
    return run_built(con, q, "SELECT owner, segment, hire_date FROM reps_d").frame


def build_panel(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    grain: str = "quarter",
    metrics: Sequence[str] = INDICATORS + OUTCOMES,
) -> Panel:
    """The rep x period panel from the catalog (``compute`` by owner with the grain)."""
    req = request.with_(metrics=tuple(metrics), by=("owner",), grain=grain)
    res = compute(con, req)
    parts = res.parts or {metrics[0]: res}
    keys: list[pd.DataFrame] = []
    values: dict[str, pd.Series] = {}
    missing: dict[str, str] = {}
    for mid in metrics:
        f = parts[mid].frame
        f = f[f["owner"].notna() & f["period_start"].notna()]
        s = f.set_index(["owner", "period_start"])["value"].astype(float)
        values[mid] = s
        why = unmet_requirement(con, get_metric(mid))
        if why or s.notna().sum() == 0:
            missing[mid] = why or f"no value on this dataset: needs {NEEDS.get(mid, 'deals')}"
    # A rep-period exists where the rep created or closed a deal or logged an activity.
    exist = [values["opportunities_created"]] if "opportunities_created" in values else []
    for mid, col in (("won_deals", "value"), ("win_rate", "denominator")):
        if mid in parts:
            f = parts[mid].frame
            if col in f.columns:
                exist.append(f.set_index(["owner", "period_start"])[col].astype(float))
    if "activity_count" in values:
        exist.append(values["activity_count"])
    for s in exist:
        keys.append(s[s.fillna(0) > 0].index.to_frame(index=False))
    if keys:
        idx = pd.MultiIndex.from_frame(pd.concat(keys).drop_duplicates())
    else:
        idx = pd.MultiIndex.from_tuples([], names=["owner", "period_start"])
    panel = pd.DataFrame(index=idx).sort_index()
    for mid in metrics:
        col = values[mid].reindex(panel.index)
        if get_metric(mid).kind in ZERO_KINDS and mid not in missing:
            col = col.fillna(0.0)
        panel[mid] = col
    panel = panel.reset_index().rename(columns={"period_start": "period"})
    panel["period"] = pd.to_datetime(panel["period"]).dt.date
    panel = panel[_periods_complete(panel, grain, request.as_of)].reset_index(drop=True)
    if request.period.bounded:
        inside = (panel["period"] >= request.period.start) & (panel["period"] < request.period.end)
        panel = panel[inside].reset_index(drop=True)
    reps = _rep_attributes(con, request)
    panel = panel.merge(reps, on="owner", how="left")
    hire = pd.to_datetime(panel["hire_date"])
    ramp_end = hire + pd.DateOffset(months=request.ramp_months)
    panel["ramping"] = (ramp_end > pd.to_datetime(panel["period"])).fillna(False).astype(bool)
    panel = panel.drop(columns=["hire_date"])
    cols = [*KEY_COLUMNS, *metrics]
    return Panel(panel[cols], grain, tuple(metrics), missing, res.sql, list(res.params))


def previous_bucket(period: dt.date, grain: str, n: int = 1) -> dt.date:
    """The start of the bucket ``n`` grain steps before ``period``."""
    if grain == "week":
        return period - dt.timedelta(days=7 * n)
    months = {"month": 1, "quarter": 3, "year": 12}[grain] * n
    return (pd.Timestamp(period) - pd.DateOffset(months=months)).date()


def _joined(
    panel: pd.DataFrame,
    indicators: Sequence[str],
    outcomes: Sequence[str],
    lag: int,
    grain: str,
) -> pd.DataFrame:
    """One row per rep-period t: owner, period, segment, each indicator in t (``x:<id>``) and
    each outcome in t (lag 0) or in the rep's next period t+1 (lag 1; ``y:<id>``)."""
    left = panel[["owner", "period", "segment", *indicators]]
    left = left.set_axis(["owner", "period", "segment", *(f"x:{i}" for i in indicators)], axis=1)
    right = panel[["owner", "period", *outcomes]]
    right = right.set_axis(["owner", "period", *(f"y:{o}" for o in outcomes)], axis=1)
    if lag:
        # the outcome's row moves back to the period before it, by calendar (each distinct
        # period is shifted once)
        shifted = {p: previous_bucket(p, grain, lag) for p in right["period"].unique()}
        right = right.assign(period=[shifted[p] for p in right["period"]])
    return left.merge(right, on=["owner", "period"], how="inner")


def pairs(
    panel: pd.DataFrame, indicator: str, outcome: str, lag: int, grain: str = "quarter"
) -> pd.DataFrame:
    """Rows (owner, period, segment, x, y) where both values exist: x the indicator in period t,
    y the outcome in t (lag 0) or in the rep's next period t+1 (lag 1; the next bucket by
    calendar, so a rep absent in t+1 gives no pair)."""
    if panel.empty:
        return pd.DataFrame(columns=["owner", "period", "segment", "x", "y"])
    joined = _joined(panel, [indicator], [outcome], lag, grain)
    cols = ["owner", "period", "segment", f"x:{indicator}", f"y:{outcome}"]
    out = joined[cols].set_axis(["owner", "period", "segment", "x", "y"], axis=1)
    return out.dropna(subset=["x", "y"]).reset_index(drop=True)


def min_detectable(n_reps: int, alpha: float = ALPHA) -> float | None:
    """The smallest |rho| a two-sided test at ``alpha`` can tell from 0 with ``n_reps``
    independent reps: t_c / sqrt(n - 2 + t_c^2), t_c = t.ppf(1 - alpha/2, n - 2)
    (docs/metrics.md, Leading indicators). 20 reps: 2.101 / sqrt(18 + 4.414) = 0.444."""
    if n_reps < 3:
        return None
    tc = float(stats.t.ppf(1 - alpha / 2, n_reps - 2))
    return tc / float(np.sqrt(n_reps - 2 + tc * tc))


def p_value(rho: float, n_reps: int) -> float | None:
    """Two-sided p of rho with n_reps - 2 degrees of freedom (reps are the independent units)."""
    if n_reps < 3 or not np.isfinite(rho):
        return None
    if abs(rho) >= 1:
        return 0.0
    t = rho * np.sqrt((n_reps - 2) / (1 - rho * rho))
    return float(2 * stats.t.sf(abs(t), n_reps - 2))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


# Codes below this sort as 16-bit integers (numpy's stable sort of int16 is a radix sort, several
# times faster than sorting floats); the largest int16 is the padding, ranked after every code.
PAD16 = int(np.iinfo(np.int16).max)
# Resamples are ranked and correlated a slice at a time: about CHUNK_CELLS ranks (4 MB of float64)
# for the indicators or the outcomes of a slice, with few enough slices that scipy's own
# overhead per call stays small (measured flat from 2^17 to 2^20 on the benchmark panel).
CHUNK_CELLS = 1 << 19
# Threads that rank and correlate slices of resamples at once.
WORKERS = min(4, os.cpu_count() or 1)


def rank_codes(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Each value replaced by its dense rank (``scipy.stats.rankdata(method="dense")``: 1 for the
    smallest, tied values share one), as int16, and the padding value that sorts after all of
    them; as float with +inf padding when there are 32,767 distinct values or more.

    Any selection of the codes, repeated or not, ranks exactly as the same selection of the
    values (order and ties are kept), so the resamples' average ranks are unchanged
    (tests/test_indicators.py compares them)."""
    dense = stats.rankdata(values, method="dense")
    if len(dense) == 0 or int(dense.max()) < PAD16:
        return dense.astype(np.int16), PAD16
    return dense.astype(float), float("inf")


class RepBootstrap:
    """Spearman's rho of resampled reps for every indicator x outcome pair measured on the same
    rep-period rows (one lag, the same rows with both values), for a batch of resamples at once.

    Each rep's rows are laid out in a block of the same width, so a resample of reps is one
    fancy index. The values are replaced by :func:`rank_codes` once; in each resample the codes
    are ranked with ``scipy.stats.rankdata`` (average ties, the padding ranked last, then set
    to the resample's mean rank, which adds nothing to the sums of ``scipy.stats.pearsonr``),
    and ``scipy.stats.pearsonr`` of the ranks of the real rows is Spearman's rho (the tests
    check it against ``spearmanr`` resample by resample).

    The pairs share their work: each indicator and each outcome is ranked once per resample,
    and one ``pearsonr`` call correlates every ranked indicator with every ranked outcome. The
    first call of :meth:`statistic` by ``scipy.stats.bootstrap`` computes every registered
    pair for the resamples it is given; the other pairs' calls, given the same resamples (the
    same seed and number of reps), take their column; other resamples are computed anew."""

    def __init__(self, codes: np.ndarray, n_reps: int) -> None:
        self.codes, self.n_reps = codes, n_reps
        self.x: dict[str, np.ndarray] = {}
        self.y: dict[str, np.ndarray] = {}
        self.pairs: list[tuple[str, str]] = []
        self._resamples: np.ndarray | None = None
        self._done: dict[tuple[str, str], np.ndarray] = {}

    def add(self, xkey: str, x: np.ndarray, ykey: str, y: np.ndarray) -> None:
        """Register one pair: x and y in the order of ``codes``."""
        self.x.setdefault(xkey, x)
        self.y.setdefault(ykey, y)
        self.pairs.append((xkey, ykey))

    def statistic(self, xkey: str, ykey: str) -> Any:
        def statistic(rep_idx: np.ndarray, axis: int = -1) -> np.ndarray:
            idx = np.asarray(rep_idx, dtype=int)
            if self._resamples is not None and np.array_equal(idx, self._resamples):
                return self._done[(xkey, ykey)]
            if self._resamples is not None:  # other resamples: only this pair
                return self._rho(idx, [(xkey, ykey)])[(xkey, ykey)]
            self._done = self._rho(idx, self.pairs)
            self._resamples = idx.copy()
            return self._done[(xkey, ykey)]

        return statistic

    def _blocks(self, values: list[np.ndarray]) -> np.ndarray:
        """(variables, reps, width): each variable's codes in its reps' blocks, padded."""
        codes = self.codes
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=self.n_reps)
        width = int(counts.max())
        pos = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
        ranked = [rank_codes(v) for v in values]
        if all(pad == PAD16 for _, pad in ranked):
            dtype: Any = np.int16
            pad: float = PAD16
        else:
            dtype, pad = float, float("inf")
        out = np.full((len(values), self.n_reps, width), pad, dtype=dtype)
        for k, (c, _) in enumerate(ranked):
            out[k, codes[order], pos] = c[order]
        return out

    def _rho(
        self, idx: np.ndarray, wanted: list[tuple[str, str]]
    ) -> dict[tuple[str, str], np.ndarray]:
        xkeys = list(dict.fromkeys(k for k, _ in wanted))
        ykeys = list(dict.fromkeys(k for _, k in wanted))
        bx = self._blocks([self.x[k] for k in xkeys])
        by = self._blocks([self.y[k] for k in ykeys])
        counts = np.bincount(self.codes, minlength=self.n_reps)
        real = np.arange(bx.shape[2]) < counts[:, None]  # (reps, width): a real row, not padding
        padded = not real.all()
        flat = idx.reshape(-1, idx.shape[-1])
        cells = bx.shape[1] * bx.shape[2]
        step = max(1, CHUNK_CELLS // (cells * max(len(xkeys), len(ykeys))))
        rho = np.empty((len(xkeys), len(ykeys), len(flat)))

        def run(start: int) -> None:
            part = flat[start : start + step]
            with np.errstate(invalid="ignore", divide="ignore"):
                rx = stats.rankdata(bx[:, part].reshape(len(xkeys), len(part), -1), axis=-1)
                ry = stats.rankdata(by[:, part].reshape(len(ykeys), len(part), -1), axis=-1)
                if padded:
                    pad = ~real[part].reshape(len(part), -1)
                    mean = (np.sum(~pad, axis=-1, keepdims=True) + 1) / 2
                    rx = np.where(pad, mean, rx)
                    ry = np.where(pad, mean, ry)
                rho[:, :, start : start + step] = stats.pearsonr(
                    rx[:, None], ry[None, :], axis=-1
                ).statistic

        starts = range(0, len(flat), step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            if WORKERS > 1 and len(starts) > 1:
                # numpy and scipy release the GIL while they sort and add: the slices are
                # independent and each writes its own columns of rho
                with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                    list(pool.map(run, starts))
            else:
                for start in starts:
                    run(start)
        shape = idx.shape[:-1]
        return {(xk, yk): rho[xkeys.index(xk), ykeys.index(yk)].reshape(shape) for xk, yk in wanted}


def correlate(
    df: pd.DataFrame,
    seed: int = SEED,
    n_resamples: int = N_RESAMPLES,
    statistic: Any = None,
) -> dict[str, Any]:
    """rho, the rep-bootstrap interval, p, n_reps, n_obs and the between/within views of the
    pairs ``df`` (columns owner, x, y). ``statistic``: the bootstrap statistic of these pairs
    from a :class:`RepBootstrap` shared with other pairs on the same rows (by default one of
    their own)."""
    n_obs = len(df)
    owners = df["owner"].to_numpy()
    codes, uniq = pd.factorize(owners)
    n_reps = len(uniq)
    out: dict[str, Any] = {
        "n_reps": n_reps,
        "n_obs": n_obs,
        "rho": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "min_detectable": min_detectable(n_reps),
        "between_rho": None,
        "within_rho": None,
    }
    if n_obs < 3:
        return out
    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    rho = _spearman(x, y)
    if not np.isfinite(rho):
        return out
    out["rho"] = rho
    out["p_value"] = p_value(rho, n_reps)
    means = df.assign(rep=codes).groupby("rep")[["x", "y"]].transform("mean")
    if n_reps >= 3:
        rep_means = df.groupby("owner")[["x", "y"]].mean()
        b = _spearman(rep_means["x"].to_numpy(), rep_means["y"].to_numpy())
        out["between_rho"] = b if np.isfinite(b) else None
    w = _spearman(x - means["x"].to_numpy(), y - means["y"].to_numpy())
    out["within_rho"] = w if np.isfinite(w) else None
    if n_reps < 3:
        return out
    if statistic is None:
        own = RepBootstrap(codes, n_reps)
        own.add("x", x, "y", y)
        statistic = own.statistic("x", "y")
    with warnings.catch_warnings():
        # a resample of one rep's rows has no rho: the interval is then missing, said as such
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap(
            (np.arange(n_reps),),
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    if np.isfinite(lo) and np.isfinite(hi):
        out["ci_low"], out["ci_high"] = lo, hi
    return out


def verdict(row: dict[str, Any]) -> str:
    if row["n_reps"] < MIN_REPS or row["n_obs"] < MIN_OBS or row["rho"] is None:
        return NOT_ENOUGH
    lo, hi, q = row.get("ci_low"), row.get("ci_high"), row.get("q_value")
    if lo is None or hi is None or q is None:
        return NOT_ENOUGH
    if (lo > 0 or hi < 0) and q < ALPHA:
        return PREDICTIVE
    return NO_EVIDENCE


def why_not_enough(row: dict[str, Any], missing: dict[str, str]) -> str:
    """What is missing for a ``not enough data`` test, in words."""
    if row["indicator"] in missing:  # said beside the indicator's name
        return missing[row["indicator"]]
    if row["outcome"] in missing:
        name, why = get_metric(row["outcome"]).name, missing[row["outcome"]]
        return why if why.startswith(name) else f"{name}: {why}"
    if row["n_reps"] < MIN_REPS or row["n_obs"] < MIN_OBS:
        return (
            f"{row['n_reps']} reps and {row['n_obs']} rep-periods with both values; the test "
            f"needs at least {MIN_REPS} reps and {MIN_OBS} rep-periods"
        )
    if row["rho"] is None:
        return "every value is the same, so there is nothing to rank"
    return ""


def _with_verdicts(rows: list[dict[str, Any]], missing: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["q_value"] = None
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None and r["n_reps"] >= MIN_REPS]
    tested = [i for i in tested if rows[i]["n_obs"] >= MIN_OBS]
    if tested:
        ps = np.array([rows[i]["p_value"] for i in tested], dtype=float)
        qs = stats.false_discovery_control(ps, method="bh")
        frame["q_value"] = frame["q_value"].astype(object)
        for i, q in zip(tested, qs, strict=True):
            frame.at[i, "q_value"] = float(q)
    records = frame.to_dict("records")
    frame["verdict"] = [verdict(r) for r in records]
    frame["why"] = [
        why_not_enough(r, missing) if v == NOT_ENOUGH else ""
        for r, v in zip(records, frame["verdict"], strict=True)
    ]
    return frame


def _tests(
    panel: Panel,
    indicators: Sequence[str],
    outcomes: Sequence[str],
    lags: Sequence[int],
    seed: int,
    n_resamples: int,
    rows_filter: pd.Series | None = None,
) -> list[dict[str, Any]]:
    """One row per outcome x lag x indicator (in that order). The pairs of one lag that keep
    the same rows share one :class:`RepBootstrap`, so each variable is ranked once per
    resample however many tests it is in; every test still gets its own seeded
    ``scipy.stats.bootstrap`` call and the interval it would get alone."""
    frame = panel.frame if rows_filter is None else panel.frame[rows_filter]
    done: dict[tuple[str, int, str], dict[str, Any]] = {}
    for lag in lags:
        if frame.empty:
            for outcome in outcomes:
                for ind in indicators:
                    df = pairs(frame, ind, outcome, lag, panel.grain)
                    done[(outcome, lag, ind)] = correlate(df, seed, n_resamples)
            continue
        inds, outs = list(dict.fromkeys(indicators)), list(dict.fromkeys(outcomes))
        joined = _joined(frame, inds, outs, lag, panel.grain)
        xs = {i: joined[f"x:{i}"].to_numpy(float) for i in inds}
        ys = {o: joined[f"y:{o}"].to_numpy(float) for o in outs}
        shared: dict[bytes, RepBootstrap] = {}
        todo = []
        for outcome in outs:
            for ind in inds:
                # the rows of pairs(): both values exist (only the columns correlate reads)
                rows = np.flatnonzero(~np.isnan(xs[ind]) & ~np.isnan(ys[outcome]))
                owner = joined["owner"].iloc[rows].reset_index(drop=True)
                df = pd.DataFrame({"owner": owner, "x": xs[ind][rows], "y": ys[outcome][rows]})
                boot = None
                if len(df) >= 3:
                    key = rows.tobytes()
                    if key not in shared:
                        codes, uniq = pd.factorize(df["owner"].to_numpy())
                        shared[key] = RepBootstrap(codes, len(uniq))
                    boot = shared[key]
                    boot.add(ind, xs[ind][rows], outcome, ys[outcome][rows])
                todo.append((outcome, ind, df, boot))
        for outcome, ind, df, boot in todo:
            statistic = boot.statistic(ind, outcome) if boot is not None else None
            done[(outcome, lag, ind)] = correlate(df, seed, n_resamples, statistic)
    return [
        {"indicator": ind, "outcome": outcome, "lag": lag} | done[(outcome, lag, ind)]
        for outcome in outcomes
        for lag in lags
        for ind in indicators
    ]


def test_indicators(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    grain: str = "quarter",
    outcomes: Sequence[str] = OUTCOMES,
    indicators: Sequence[str] = INDICATORS,
    lags: Sequence[int] = LAGS,
    seed: int = SEED,
    n_resamples: int = N_RESAMPLES,
    tested_on: dt.date | None = None,
) -> IndicatorTest:
    """Every indicator x outcome x lag on the panel; BH across all of them."""
    panel = build_panel(con, request, grain, tuple(indicators) + tuple(outcomes))
    return run_tests(panel, indicators, outcomes, lags, seed, n_resamples, tested_on)


test_indicators.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def run_tests(
    panel: Panel,
    indicators: Sequence[str] = INDICATORS,
    outcomes: Sequence[str] = OUTCOMES,
    lags: Sequence[int] = LAGS,
    seed: int = SEED,
    n_resamples: int = N_RESAMPLES,
    tested_on: dt.date | None = None,
) -> IndicatorTest:
    rows = _tests(panel, indicators, outcomes, lags, seed, n_resamples)
    results = _with_verdicts(rows, panel.missing)
    day = tested_on or dt.date.today()
    retest = (pd.Timestamp(day) + pd.DateOffset(months=RETEST_MONTHS)).date()
    return IndicatorTest(results, panel, day, retest, caveats(panel))


def by_segment(
    panel: Panel,
    outcome: str,
    lag: int,
    indicators: Sequence[str] = INDICATORS,
    seed: int = SEED,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """The test within each segment (the rep's segment) that has at least :data:`MIN_REPS`
    reps in the panel; BH across the tests of this table."""
    f = panel.frame
    counts = f.dropna(subset=["segment"]).groupby("segment")["owner"].nunique()
    frames = []
    for seg in sorted(counts[counts >= MIN_REPS].index):
        rows = _tests(panel, indicators, [outcome], [lag], seed, n_resamples, f["segment"] == seg)
        frames.append(pd.DataFrame(rows).assign(segment=seg))
    if not frames:
        return pd.DataFrame(columns=["segment", "indicator", "rho", "verdict"])
    rows_all = pd.concat(frames, ignore_index=True)
    out = _with_verdicts(rows_all.drop(columns=["segment"]).to_dict("records"), panel.missing)
    out.insert(0, "segment", rows_all["segment"])
    return out


def caveats(panel: Panel) -> list[str]:
    """The caveats that apply to this panel, in words."""
    f = panel.frame
    notes = [
        "Correlation is not causation: a predictive indicator is worth testing as a coaching "
        "lever, not proof that moving it moves the outcome."
    ]
    n_reps = f["owner"].nunique()
    if n_reps and n_reps < 20:
        md = min_detectable(n_reps)
        if md is not None:
            notes.append(
                f"Few reps ({n_reps}): only a correlation above {md:.2f} can be told apart "
                "from chance."
            )
    ramping = f.loc[f["ramping"], "owner"].nunique()
    if ramping:
        notes.append(
            f"{ramping} reps were ramping (in their first months) in some periods: new reps "
            "often have low numbers on both sides, which can make a correlation look stronger."
        )
    if len(f):
        last = f["period"].max()
        gone = f.groupby("owner")["period"].max()
        left = int((gone < last).sum())
        if left:
            notes.append(
                f"{left} reps have no activity or deals in the last period ({last}): if they "
                "left, the reps who stayed may differ from those who did not."
            )
    return notes


def predictive_for(result: IndicatorTest, indicator: str) -> list[dict[str, Any]]:
    """The predictive tests of one indicator (any outcome, any lag)."""
    r = result.results
    hit = r[(r["indicator"] == indicator) & (r["verdict"] == PREDICTIVE)]
    return hit.to_dict("records")


def _name(mid: str) -> str:
    return get_metric(mid).name


def _when(grain: str, lag: int) -> str:
    return f"next {grain}'s" if lag else f"the same {grain}'s"


def reading(
    result: IndicatorTest, outcomes: Sequence[str] = OUTCOMES, lags: Sequence[int] = LAGS
) -> list[str]:
    """The plain-language reading, one line per outcome and lag: what predicts (rho, interval,
    reps), what shows no evidence either way, and what could not be tested and why."""
    r = result.results
    grain = result.panel.grain
    lines = []
    for outcome in outcomes:
        for lag in lags:
            part = r[(r["outcome"] == outcome) & (r["lag"] == lag)]
            if part.empty:
                continue
            target = f"{_when(grain, lag)} {_name(outcome).lower()}"
            bits = []
            hits = part[part["verdict"] == PREDICTIVE].sort_values("rho", key=lambda s: -s.abs())
            for h in hits.to_dict("records"):
                sign = "predicts" if h["rho"] > 0 else "predicts (inversely)"
                bits.append(
                    f"{_name(h['indicator'])} {sign} {target}: rho {h['rho']:.2f}, "
                    f"95% {h['ci_low']:.2f} to {h['ci_high']:.2f}, {h['n_reps']} reps."
                )
            none = part[part["verdict"] == NO_EVIDENCE]["indicator"].tolist()
            if none:
                names = ", ".join(_name(i) for i in none)
                verb = "shows" if len(none) == 1 else "show"
                bits.append(f"{names} {verb} no evidence either way for {target}.")
            thin = part[part["verdict"] == NOT_ENOUGH]
            if len(thin):
                names = "; ".join(
                    f"{_name(t['indicator'])} ({t['why']})" for t in thin.to_dict("records")
                )
                bits.append(f"Not enough data to test against {target}: {names}.")
            lines.append(" ".join(bits))
    return lines


# --- command line ---------------------------------------------------------------------------

JSON_COLUMNS = (
    "indicator",
    "outcome",
    "lag",
    "rho",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "n_reps",
    "n_obs",
    "verdict",
    "min_detectable",
    "between_rho",
    "within_rho",
    "why",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", dest="as_of", help="as-of date YYYY-MM-DD (default: the dataset's latest event)"
    )
    parser.add_argument("--period", default="all", help=f"period: {PERIOD_FORMS}")
    parser.add_argument("--grain", choices=("month", "quarter"), default="quarter")
    parser.add_argument(
        "--outcome", choices=OUTCOMES, default=None, help="one outcome (default: every outcome)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def result_records(result: IndicatorTest) -> list[dict[str, Any]]:
    """The results as JSON-safe records (None for a missing number)."""
    frame = result.results.reindex(columns=list(JSON_COLUMNS))
    return [{k: clean(v) for k, v in r.items()} for r in frame.to_dict("records")]


def run_cli(con: duckdb.DuckDBPyConnection, args: argparse.Namespace, out: TextIO) -> int:
    as_of = getattr(args, "as_of", None)
    if not as_of:
        from engine.analyses.quality import dataset_profile

        as_of = dataset_profile(con).as_of
    req = make_request("won_revenue", period=args.period, as_of=as_of)
    outcomes = (args.outcome,) if args.outcome else OUTCOMES
    # every test is run (and corrected for) whatever --outcome shows: the same q everywhere
    result = test_indicators(con, req, grain=args.grain)
    records = [r for r in result_records(result) if r["outcome"] in outcomes]
    if args.json:
        payload = {
            "as_of": req.as_of.isoformat(),
            "period": req.period.as_dict(),
            "grain": args.grain,
            "tested_on": result.tested_on.isoformat(),
            "retest_by": result.retest_by.isoformat(),
            "n_reps": int(result.panel.frame["owner"].nunique()),
            "n_rep_periods": len(result.panel.frame),
            "missing": result.panel.missing,
            "caveats": result.notes,
            "results": records,
        }
        out.write(json.dumps(payload, allow_nan=False, default=str) + "\n")
        return 0
    for line in reading(result, outcomes):
        out.write(line + "\n")
    out.write("\n")
    for r in records:
        rho = "n/a" if r["rho"] is None else f"{r['rho']:+.2f}"
        ci = "" if r["ci_low"] is None else f" 95% {r['ci_low']:+.2f}..{r['ci_high']:+.2f}"
        q = "" if r["q_value"] is None else f" q={r['q_value']:.3f}"
        why = f" ({r['why']})" if r["why"] else ""
        out.write(
            f"{r['indicator']:<28} -> {r['outcome']:<25} lag {r['lag']}: rho {rho}{ci}{q} "
            f"reps={r['n_reps']} obs={r['n_obs']} {r['verdict']}{why}\n"
        )
    for note in result.notes:
        out.write(f"note: {note}\n")
    out.write(f"Tested on {result.tested_on}; test again by {result.retest_by}.\n")
    return 0
