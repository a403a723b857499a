"""What a caller asks the metric engine for: metrics, period, grain, group-by, filters, as-of.

Periods are half-open ``[start, end)`` calendar-date ranges. Labels accepted by
:func:`parse_period`: ``2026-Q3``, ``2026-07``, ``2026``, ``FY2026`` (fiscal year, by the
fiscal start month; FY2026 is the fiscal year that ends in 2026, or equals calendar 2026 when
the fiscal year starts in January), ``last-N-days`` (the N days ending on and including the
as-of date), ``all``, and explicit ``YYYY-MM-DD..YYYY-MM-DD`` (end exclusive).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.core.errors import UnknownName, WorkbenchError
from engine.semantic.model import DIMENSIONS as MODEL_DIMENSIONS

GRAINS = ("week", "month", "quarter", "year")

# Dimensions a request may group or filter by (the allow-list of identifiers): the
# semantic model's.
DIMENSIONS = MODEL_DIMENSIONS

PERIOD_FORMS = (
    "all, 2026, 2026-Q3, 2026-07, FY2026, last-90-days (any N), "
    "or YYYY-MM-DD..YYYY-MM-DD (end exclusive)"
)


class PeriodError(WorkbenchError):
    title = "Unknown period"


@dataclass(frozen=True)
class Period:
    """A half-open date range; ``start``/``end`` None means unbounded ('all')."""

    label: str
    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None and self.end is not None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    def shifted(self, n: int = 1) -> Period:
        """The period of the same length n steps later (next quarter, next month, ...)."""
        if not self.bounded:
            return self
        assert self.start is not None and self.end is not None
        months = _months_between(self.start, self.end)
        if months is not None:
            s = _add_months(self.start, months * n)
            e = _add_months(self.end, months * n)
        else:
            days = (self.end - self.start).days
            s = self.start + dt.timedelta(days=days * n)
            e = self.end + dt.timedelta(days=days * n)
        return Period(f"{s.isoformat()}..{e.isoformat()}", s, e)


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return (
        dt.date(d.year + y, m + 1, 1) if d.day == 1 else dt.date(d.year + y, m + 1, min(d.day, 28))
    )


def _months_between(a: dt.date, b: dt.date) -> int | None:
    if a.day != 1 or b.day != 1:
        return None
    return (b.year - a.year) * 12 + b.month - a.month


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# Periods lie within these years, so a period shifted a few steps (the previous, the next)
# stays a valid date: a link asking for year 9998 or 0001..9999 gets a clear error instead.
MIN_YEAR, MAX_YEAR = 1900, 2199


def parse_period(label: str | None, as_of: dt.date, fiscal_start_month: int = 1) -> Period:
    """Parse a period label (see the module docstring); a bad label raises :class:`PeriodError`."""
    period = _parse_period(label, as_of, fiscal_start_month)
    if period.start is not None and period.end is not None:
        if period.start.year < MIN_YEAR or period.end.year > MAX_YEAR:
            raise PeriodError(
                f"Period {period.label!r} is outside {MIN_YEAR}-{MAX_YEAR}; choose a period "
                "within those years."
            )
    return period


def _parse_period(label: str | None, as_of: dt.date, fiscal_start_month: int) -> Period:
    text = (label or "all").strip()
    low = text.lower()
    try:
        if low in ("all", ""):
            return Period("all")
        if m := re.fullmatch(r"(\d{4})", low):
            y = int(m[1])
            return Period(text, dt.date(y, 1, 1), dt.date(y + 1, 1, 1))
        if m := re.fullmatch(r"(\d{4})-q([1-4])", low):
            y, q = int(m[1]), int(m[2])
            s = dt.date(y, 3 * (q - 1) + 1, 1)
            return Period(text.upper(), s, _add_months(s, 3))
        if m := re.fullmatch(r"(\d{4})-(\d{2})", low):
            s = dt.date(int(m[1]), int(m[2]), 1)
            return Period(text, s, _add_months(s, 1))
        if m := re.fullmatch(r"fy(\d{4})", low):
            y = int(m[1])
            fsm = fiscal_start_month
            s = dt.date(y, 1, 1) if fsm == 1 else dt.date(y - 1, fsm, 1)
            return Period(text.upper(), s, _add_months(s, 12))
        if m := re.fullmatch(r"last-(\d{1,5})-days?", low):
            n = int(m[1])
            if n < 1:
                raise ValueError(n)
            end = as_of + dt.timedelta(days=1)
            return Period(low, end - dt.timedelta(days=n), end)
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})", low):
            s, e = _date(m[1]), _date(m[2])
            if e <= s:
                raise PeriodError(f"Period {text!r} ends before it starts.")
            return Period(text, s, e)
    except ValueError:
        pass
    raise PeriodError(f"Cannot read the period {text!r}. Accepted forms: {PERIOD_FORMS}.")


# Defaults of the request's rule parameters (docs/metrics.md): a rep's quota counts at
# RAMP_FACTOR in their first RAMP_MONTHS months; an open deal is stale after STALE_DAYS in its
# stage and aged past AGING_MULTIPLE times its stage's median.
RAMP_FACTOR = 0.7
RAMP_MONTHS = 12
STALE_DAYS = 60
AGING_MULTIPLE = 1.5


@dataclass(frozen=True)
class Request:
    """A metric request. Build with :func:`make_request` to validate names and parse the period."""

    metrics: tuple[str, ...]
    period: Period = Period("all")
    grain: str | None = None
    by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    as_of: dt.date = field(default_factory=dt.date.today)
    fiscal_start_month: int = 1
    exclude_flagged: bool = False
    ramp_factor: float = RAMP_FACTOR
    ramp_months: int = RAMP_MONTHS
    stale_days: int = STALE_DAYS
    aging_multiple: float = AGING_MULTIPLE
    exclude_outliers: bool = False

    @property
    def filter_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filters)

    def with_(self, **changes: object) -> Request:
        """A copy with fields replaced (re-validated)."""
        from dataclasses import asdict

        base = asdict(self)
        base["period"] = self.period
        base.update(changes)
        return make_request(**base)  # type: ignore[arg-type]


def check_dimension(name: str) -> str:
    if name not in DIMENSIONS:
        raise UnknownName("dimension", name, DIMENSIONS)
    return name


def make_request(
    metrics: Sequence[str] | str,
    period: Period | str | None = None,
    grain: str | None = None,
    by: Sequence[str] | str = (),
    filters: Mapping[str, Sequence[str] | str] | Sequence[tuple[str, Sequence[str]]] | None = None,
    as_of: dt.date | str | None = None,
    fiscal_start_month: int = 1,
    exclude_flagged: bool = False,
    ramp_factor: float = RAMP_FACTOR,
    ramp_months: int = RAMP_MONTHS,
    stale_days: int = STALE_DAYS,
    aging_multiple: float = AGING_MULTIPLE,
    exclude_outliers: bool = False,
) -> Request:
    """Validate and build a :class:`Request`; unknown metric/dimension/grain raise with hints."""
    from engine.semantic.catalog import CATALOG, get_metric

    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    ids = tuple(metrics) or tuple(CATALOG)
    for mid in ids:
        get_metric(mid)
    if as_of is None:
        as_of_d = dt.date.today()
    elif isinstance(as_of, str):
        try:
            as_of_d = dt.date.fromisoformat(as_of)
        except ValueError as e:
            raise WorkbenchError(f"as-of {as_of!r} is not a YYYY-MM-DD date.") from e
    else:
        as_of_d = as_of
    if not 1 <= int(fiscal_start_month) <= 12:
        raise WorkbenchError("The fiscal year start month must be 1-12.")
    if isinstance(period, Period):
        per = period
    else:
        per = parse_period(period, as_of_d, fiscal_start_month)
    if grain is not None and grain != "":
        if grain not in GRAINS:
            raise UnknownName("grain", grain, GRAINS)
    else:
        grain = None
    if isinstance(by, str):
        by = [b.strip() for b in by.split(",") if b.strip()]
    by_t = tuple(check_dimension(b) for b in by)
    if len(set(by_t)) != len(by_t):
        raise WorkbenchError("A dimension appears twice in group-by.")
    items = filters.items() if isinstance(filters, Mapping) else (filters or ())
    flt: list[tuple[str, tuple[str, ...]]] = []
    for dim, values in items:
        check_dimension(dim)
        vals = (values,) if isinstance(values, str) else tuple(str(v) for v in values)
        if vals:
            flt.append((dim, vals))
    if not 0 < float(ramp_factor) <= 1:
        raise WorkbenchError("The ramp factor must be in (0, 1].")
    return Request(
        metrics=ids,
        period=per,
        grain=grain,
        by=by_t,
        filters=tuple(sorted(flt)),
        as_of=as_of_d,
        fiscal_start_month=int(fiscal_start_month),
        exclude_flagged=bool(exclude_flagged),
        ramp_factor=float(ramp_factor),
        ramp_months=int(ramp_months),
        stale_days=int(stale_days),
        aging_multiple=float(aging_multiple),
        exclude_outliers=bool(exclude_outliers),
    )
