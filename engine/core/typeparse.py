"""Parse text columns into typed values, one whole column at a time.

``engine.load.ingest`` reads every upload as strings; once a column is mapped onto a canonical
column its kind is known (``canonical.Kind``) and :func:`parse_column` turns the strings into
Float64, Date, Datetime(us), Boolean or trimmed text with polars expressions (no Python loop
per value).

A format is chosen per column, never per value: a date column is read either month-first or
day-first throughout, an amount column with a decimal point or a decimal comma throughout.
Values that do not fit the chosen format are flagged in ``ParseResult.failed`` (the caller
quarantines those rows) rather than guessed. The choice is explained in ``ParseResult.note``
when it was not obvious.

Accepted forms
- dates / timestamps: ``2024-03-15``, ``2024-03-15 14:30:00`` (also with ``T``, fractional
  seconds, ``Z`` or a UTC offset, which is converted to UTC), ``03/15/2024``, ``3/5/24``,
  ``15/03/2024``, ``15-03-2024``, ``15.03.2024``, ``15-03-2024 14:30``, ``3/15/2024 2:30 PM``,
  ``15-Mar-2024``, ``Mar 15, 2024``. A date column given timestamps keeps the date part.
- amounts: ``12500``, ``12,500.00``, ``$12,500.00``, ``USD 12500``, ``12 500``,
  ``€1.234,56``, ``(1,200)`` and ``-1200`` (both -1200), ``1.5e3``. Suffixes such as ``1.2k``
  are not guessed at: they fail.
- numbers: as amounts, plus a trailing ``%`` (``75%`` is 75).
- booleans: true/false, t/f, yes/no, y/n, 1/0, 1.0/0.0, any case.
- text: outer whitespace trimmed; empty text is null.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

__all__ = ["ParseResult", "parse_column", "KINDS", "DATE_HINTS", "DECIMAL_HINTS"]

KINDS: tuple[str, ...] = ("text", "amount", "number", "date", "timestamp", "bool")

# Hints a caller (the user, via the mapping screen) can give to override the column-level guess.
DATE_HINTS: dict[str, str] = {
    "month-first": "mdy",
    "mdy": "mdy",
    "us": "mdy",
    "day-first": "dmy",
    "dmy": "dmy",
    "iso": "ymd",
    "ymd": "ymd",
}
DECIMAL_HINTS: dict[str, str] = {
    "decimal-point": "point",
    "point": "point",
    "us": "point",
    "decimal-comma": "comma",
    "comma": "comma",
    "eu": "comma",
}


@dataclass(frozen=True)
class ParseResult:
    """A parsed column.

    ``values`` is typed (Float64, Date, Datetime("us"), Boolean or String) and null where the
    input was empty or could not be parsed; ``failed`` is True exactly where a non-empty input
    could not be parsed; ``note`` explains a non-obvious choice; ``fmt`` names the format used.
    """

    values: pl.Series
    failed: pl.Series
    note: str | None = None
    fmt: str | None = None

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())


def parse_column(values: pl.Series, kind: str, hint: str | None = None) -> ParseResult:
    """Parse a column of strings as ``kind`` (one of :data:`KINDS`).

    ``hint`` overrides the guess: for dates ``"month-first"``, ``"day-first"`` or ``"iso"``
    (or a strptime-style format starting with ``%m``, ``%d`` or ``%Y``); for amounts and
    numbers ``"decimal-point"`` or ``"decimal-comma"``.
    """
    text = _clean(values)
    if kind == "text":
        return ParseResult(text, pl.Series(values.name, [False] * len(text), pl.Boolean))
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    # Parse each distinct value once: CRM columns repeat (dates, stages, round amounts), and
    # the format choice weighs every distinct value by how often it occurs.
    head = text.head(_DEDUPE_PROBE).drop_nulls()
    mostly_distinct = len(head) > 1000 and head.n_unique() > 0.5 * len(head)
    dedupe = False
    if not mostly_distinct:
        counts = text.drop_nulls().value_counts(name="__n")
        distinct = counts[:, 0].rename(text.name)
        dedupe = len(distinct) <= 0.5 * len(text)
    if dedupe:
        subject, weights = distinct, counts["__n"]
    else:
        subject = text
        weights = pl.repeat(1, len(text), dtype=pl.UInt32, eager=True)
    if kind in ("date", "timestamp"):
        result = _parse_dates(subject, weights, kind, hint)
    elif kind in ("amount", "number"):
        result = _parse_numbers(subject, weights, allow_percent=kind == "number", hint=hint)
    else:
        result = _parse_bools(subject)
    if dedupe:
        mapped = text.replace_strict(
            distinct, result.values, default=None, return_dtype=result.values.dtype
        )
        result = ParseResult(mapped, mapped, result.note, result.fmt)
    failed = (text.is_not_null() & result.values.is_null()).alias(values.name)
    return ParseResult(result.values.alias(values.name), failed, result.note, result.fmt)


def _clean(values: pl.Series) -> pl.Series:
    s = values if values.dtype == pl.String else values.cast(pl.String)
    s = s.str.strip_chars()
    return pl.select(pl.when(s.str.len_bytes() > 0).then(s)).to_series().alias(values.name)


# --------------------------------------------------------------------------- booleans

_TRUE = ("true", "t", "yes", "y", "1", "1.0")
_FALSE = ("false", "f", "no", "n", "0", "0.0")


def _parse_bools(text: pl.Series) -> ParseResult:
    mapping = {v: True for v in _TRUE} | {v: False for v in _FALSE}
    out = text.str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.Boolean)
    return ParseResult(out, out, None, "true/false")


# --------------------------------------------------------------------------- numbers

_DEDUPE_PROBE = 50_000

_SIGN = "[-+\u2212]"
_CURRENCY = r"(?:[A-Z]{3}|[A-Z]{0,2}\$|[€£¥₹])"
_GROUP_SPACE = "[ \u00a0\u202f']"
_NUMBER_RE = (
    rf"^(?<s1>{_SIGN})?\s*(?<c1>{_CURRENCY})?\s*(?<s2>{_SIGN})?\s*"
    r"(?<num>(?:\d[\d.,' \x{00a0}\x{202f}]*|[.,]\d+)(?:[eE][-+]?\d+)?)"
    rf"\s*(?<c2>{_CURRENCY}|%)?\s*(?<s3>-)?$"
)
_POINT_RE = r"^(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$"
_COMMA_RE = r"^(?:(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d*)?|,\d+)$"
_SPACED_RE = rf"^\d{{1,3}}(?:{_GROUP_SPACE}\d{{3}})+(?:[.,]\d+)?$"
_AMBIGUOUS_POINT_RE = r"^\d{1,3}\.\d{3}$"


def _parse_numbers(
    text: pl.Series, weights: pl.Series, allow_percent: bool, hint: str | None
) -> ParseResult:
    df = pl.DataFrame({"v": text, "w": weights})
    inner = pl.col("v").str.extract(r"^\((.*)\)$", 1)
    paren = inner.is_not_null()
    df = df.with_columns(
        paren.alias("paren"),
        pl.coalesce(inner.str.strip_chars(), pl.col("v")).str.extract_groups(_NUMBER_RE).alias("g"),
    ).unnest("g")
    num = pl.col("num").str.strip_chars()
    point_ok = num.str.contains(_POINT_RE)
    comma_ok = num.str.contains(_COMMA_RE)
    spaced_ok = num.str.contains(_SPACED_RE)
    df = df.with_columns(
        point_ok.fill_null(False).alias("point_ok"),
        comma_ok.fill_null(False).alias("comma_ok"),
        spaced_ok.fill_null(False).alias("spaced_ok"),
    )

    note = None
    decimal = DECIMAL_HINTS.get(hint.lower()) if hint else None
    if decimal is None:
        evidence = df.select(
            pl.col("w").filter(pl.col("point_ok") & ~pl.col("comma_ok")).sum().alias("point"),
            pl.col("w").filter(pl.col("comma_ok") & ~pl.col("point_ok")).sum().alias("comma"),
            pl.col("w").filter(num.str.contains(_AMBIGUOUS_POINT_RE)).sum().alias("dot3"),
        ).row(0, named=True)
        decimal = "comma" if evidence["comma"] > evidence["point"] else "point"
        if decimal == "comma":
            note = "amounts read with a decimal comma (European style, e.g. 1.234,56)"
        elif evidence["point"] == 0 and evidence["dot3"] > 0:
            note = (
                "values such as 1.500 are ambiguous; read with a decimal point (1.5). "
                "Choose decimal comma if they mean 1,500"
            )

    if decimal == "comma":
        body_ok = pl.col("comma_ok")
        digits = num.str.replace_all(r"[.' \x{00a0}\x{202f}]", "").str.replace(",", ".")
    else:
        body_ok = pl.col("point_ok")
        digits = num.str.replace_all(r"[,' \x{00a0}\x{202f}]", "")
    spaced_digits = num.str.replace_all(r"[' \x{00a0}\x{202f}]", "").str.replace(",", ".")
    magnitude = (
        pl.when(body_ok)
        .then(digits)
        .when(pl.col("spaced_ok"))
        .then(spaced_digits)
        .otherwise(None)
        .cast(pl.Float64, strict=False)
    )
    n_signs = (
        pl.col("s1").is_not_null().cast(pl.Int8)
        + pl.col("s2").is_not_null().cast(pl.Int8)
        + pl.col("s3").is_not_null().cast(pl.Int8)
        + pl.col("paren").cast(pl.Int8)
    )
    sign_text = pl.coalesce("s1", "s2", "s3")
    negative = pl.col("paren") | sign_text.is_in(["-", "\u2212"]).fill_null(False)
    percent = pl.col("c2") == "%"
    valid = (n_signs <= 1) & (pl.col("c1").is_null() | pl.col("c2").is_null())
    if not allow_percent:
        valid = valid & ~percent.fill_null(False)
    value = pl.when(valid).then(pl.when(negative).then(-magnitude).otherwise(magnitude))
    out = df.select(value.alias("x")).to_series()
    fmt = "1.234,56" if decimal == "comma" else "1,234.56"
    return ParseResult(out, out, note, fmt)


# --------------------------------------------------------------------------- dates

_TIME = (
    r"(?:[T ]+(?<H>\d{1,2}):(?<M>\d{2})(?::(?<S>\d{2})(?:[.,](?<f>\d{1,9}))?)?"
    r"\s*(?<ampm>[AaPp]\.?[Mm]\.?)?)?"
)
_TZ = r"\s*(?<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
_YMD_RE = rf"^(?<y>\d{{4}})(?<sep>[-/.])(?<m>\d{{1,2}})[-/.](?<d>\d{{1,2}}){_TIME}{_TZ}"
_NUMERIC_RE = rf"^(?<a>\d{{1,2}})(?<sep>[-/.])(?<b>\d{{1,2}})[-/.](?<y>\d{{4}}|\d{{2}}){_TIME}{_TZ}"
_DAY_NAMED_RE = (
    rf"^(?<d>\d{{1,2}})[ -]+(?<mon>[A-Za-z]{{3,9}})\.?[ ,-]+(?<y>\d{{4}}|\d{{2}}){_TIME}{_TZ}"
)
_MONTH_NAMED_RE = (
    r"^(?:[A-Za-z]{3,9},?\s+)?(?<mon>[A-Za-z]{3,9})\.?\s+(?<d>\d{1,2})(?:st|nd|rd|th)?,?\s+"
    rf"(?<y>\d{{4}}){_TIME}{_TZ}"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

_FAMILIES = ("ymd", "mdy", "dmy", "named")
_FAMILY_FMT = {"ymd": "%Y-%m-%d", "mdy": "%m/%d/%Y", "dmy": "%d/%m/%Y", "named": "%d %b %Y"}
_TIME_FMT = " %H:%M:%S"
_SCORE_SAMPLE = 20_000
_FMT_WORDS = {
    "%Y": "year",
    "%m": "month",
    "%d": "day",
    "%b": "month name",
    "%H": "hour",
    "%M": "minute",
    "%S": "second",
}


def format_in_words(fmt: str) -> str:
    """A date format as a person reads it: ``%m/%d/%Y`` -> ``month/day/year``."""
    out = fmt
    for code, word in _FMT_WORDS.items():
        out = out.replace(code, word)
    return out


def _components(text: pl.Series, family: str) -> pl.DataFrame:
    """Year, month, day, time and offset fields (strings or ints) for one date family."""
    df = pl.DataFrame({"v": text})
    if family == "ymd":
        return df.select(pl.col("v").str.extract_groups(_YMD_RE).alias("g")).unnest("g")
    if family in ("mdy", "dmy"):
        g = df.select(pl.col("v").str.extract_groups(_NUMERIC_RE).alias("g")).unnest("g")
        first, second = ("a", "b") if family == "mdy" else ("b", "a")
        return g.rename({first: "m", second: "d"})
    g1 = df.select(pl.col("v").str.extract_groups(_DAY_NAMED_RE).alias("g")).unnest("g")
    g2 = df.select(pl.col("v").str.extract_groups(_MONTH_NAMED_RE).alias("g")).unnest("g")
    merged = pl.DataFrame({c: pl.select(pl.coalesce(g1[c], g2[c])).to_series() for c in g2.columns})
    month = (
        merged["mon"]
        .str.to_lowercase()
        .str.slice(0, 3)
        .replace_strict(_MONTHS, default=None, return_dtype=pl.Int32)
    )
    # Reject words that merely start like a month ("Marketing 5 2024").
    full_ok = (
        merged["mon"]
        .str.to_lowercase()
        .str.contains(
            r"^(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
            r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)$"
        )
    )
    month = pl.select(pl.when(full_ok).then(month)).to_series()
    return merged.with_columns(month.alias("m")).drop("mon")


def _days_from_civil(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 for a proleptic Gregorian date, in integer arithmetic."""
    y = y - (m <= 2).cast(pl.Int64)
    era = y.floordiv(400)
    yoe = y - era * 400
    doy = (153 * (m + pl.when(m > 2).then(-3).otherwise(9)) + 2).floordiv(5) + d - 1
    doe = yoe * 365 + yoe.floordiv(4) - yoe.floordiv(100) + doy
    return era * 146097 + doe - 719468


def _to_datetimes(comp: pl.DataFrame) -> pl.Series:
    """Build Datetime(us) values, converted to UTC where an offset was given."""
    raw_y = pl.col("y")
    y = raw_y.cast(pl.Int64, strict=False)
    y = (
        pl.when(raw_y.str.len_bytes() == 2)
        .then(pl.when(y < 69).then(y + 2000).otherwise(y + 1900))
        .otherwise(y)
    )
    m = pl.col("m").cast(pl.Int64, strict=False)
    d = pl.col("d").cast(pl.Int64, strict=False)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = (
        pl.when(m == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(m.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    date_ok = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= month_days)
    micros = _days_from_civil(y, m, d) * 86_400_000_000

    def present(name: str) -> bool:
        return comp[name].null_count() < comp.height

    ok = date_ok
    if present("H"):
        hour = pl.col("H").cast(pl.Int64, strict=False)
        minute = pl.col("M").cast(pl.Int64, strict=False).fill_null(0)
        second = pl.col("S").cast(pl.Int64, strict=False).fill_null(0)
        if present("ampm"):
            ampm = pl.col("ampm").str.to_lowercase().str.slice(0, 1)
            hour_ok = (
                pl.when(ampm.is_null())
                .then(hour.is_null() | (hour <= 23))
                .otherwise(hour.is_not_null() & (hour >= 1) & (hour <= 12))
            )
            hour = (
                pl.when(ampm == "p")
                .then(pl.when(hour == 12).then(12).otherwise(hour + 12))
                .when(ampm == "a")
                .then(pl.when(hour == 12).then(0).otherwise(hour))
                .otherwise(hour)
            )
        else:
            hour_ok = hour.is_null() | (hour <= 23)
        ok = ok & hour_ok & (minute <= 59) & (second <= 59)
        micros = micros + (hour.fill_null(0) * 3600 + minute * 60 + second) * 1_000_000
        if present("f"):
            fraction = pl.col("f").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False)
            micros = micros + fraction.fill_null(0)
    if present("tz"):
        tz = pl.col("tz")
        tz_sign = pl.when(tz.str.starts_with("-")).then(-1).otherwise(1)
        tz_digits = tz.str.replace_all(r"[^0-9]", "")
        tz_minutes = (
            tz_digits.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0) * 60
            + tz_digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0)
        ) * tz_sign
        micros = micros - tz_minutes * 60_000_000
    stamp = pl.when(ok).then(micros).cast(pl.Datetime("us"))
    return comp.select(stamp.alias("ts")).to_series()


def _date_family(hint: str | None) -> str | None:
    if not hint:
        return None
    h = hint.strip().lower()
    if h in DATE_HINTS:
        return DATE_HINTS[h]
    if h.startswith("%m"):
        return "mdy"
    if h.startswith("%d"):
        return "dmy"
    if h.startswith("%y"):
        return "ymd"
    return None


def _parse_dates(text: pl.Series, weights: pl.Series, kind: str, hint: str | None) -> ParseResult:
    forced = _date_family(hint)
    # Choose the family on at most _SCORE_SAMPLE distinct values, then parse every value.
    sample, sample_w = text, weights
    if len(text) > _SCORE_SAMPLE:
        step = len(text) // _SCORE_SAMPLE + 1
        sample, sample_w = text.gather_every(step), weights.gather_every(step)
    scores: dict[str, int] = {}
    ambiguous = False
    for family in _FAMILIES:
        if forced is not None and family != forced:
            continue
        comp = _components(sample, family)
        ts = _to_datetimes(comp)
        scores[family] = int(sample_w.filter(ts.is_not_null()).sum()) if len(ts) else 0
        if family == "mdy":
            a = comp["m"].cast(pl.Int32, strict=False)
            b = comp["d"].cast(pl.Int32, strict=False)
            ambiguous = bool(((a <= 12) & (b <= 12) & (a != b)).any())

    if forced is not None:
        family = forced
    else:
        # max() keeps the first of equal scores, and _FAMILIES lists month-first before
        # day-first: a tie between them is read month-first, as US exports are.
        family = max(_FAMILIES, key=lambda f: scores[f])
    comp = _components(text, family)
    ts = _to_datetimes(comp)
    if forced is None and sample is not text and family in ("mdy", "dmy"):
        # The sample may have missed the few values that settle month-first vs day-first.
        failed = int(weights.filter(text.is_not_null() & ts.is_null()).sum())
        if failed:
            other = "dmy" if family == "mdy" else "mdy"
            other_comp = _components(text, other)
            other_ts = _to_datetimes(other_comp)
            if int(weights.filter(text.is_not_null() & other_ts.is_null()).sum()) < failed:
                family, comp, ts = other, other_comp, other_ts
                scores[family] = scores.get(family, 0) + 1

    note = None
    if forced is None and scores.get(family, 0) > 0:
        if family == "dmy":
            note = "dates read as day-first (DD/MM/YYYY)"
        elif family == "mdy" and ambiguous and scores["mdy"] == scores["dmy"]:
            note = (
                "ambiguous dates (every day and month is 12 or less): read as month-first "
                "(MM/DD/YYYY)"
            )
    if comp["tz"].drop_nulls().len() and kind == "timestamp":
        offset_note = "times with a UTC offset were converted to UTC"
        note = f"{note}; {offset_note}" if note else offset_note

    fmt = _FAMILY_FMT[family]
    sep = comp["sep"].drop_nulls().mode() if "sep" in comp.columns else pl.Series([])
    if len(sep) and family != "named":
        fmt = fmt.replace("/", sep[0]).replace("-", sep[0])
    if kind == "timestamp":
        fmt += _TIME_FMT
    out = ts if kind == "timestamp" else ts.dt.date()
    return ParseResult(out, out, note, fmt)
