"""Personal data in views: find email- and phone-looking columns and mask their values.

``SECURITY.md``, What is masked: columns that look like email or phone are masked in views
by default. A column counts as personal when its *name* says so (``email``, ``phone``,
``mobile`` ...) or when most of its sampled *values* look like emails or phone numbers.
Masks keep just enough to recognise a value: ``j***@example.com``, ``***-***-1234``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:  # pandas is imported where a frame is masked: the command line never needs it
    import pandas as pd

Kind = Literal["email", "phone"]

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_ANYWHERE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"^\+?[\d\s().\-/]{7,}(?:\s*(?:x|ext\.?)\s*\d+)?$", re.IGNORECASE)
DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T].*)?$")
EMAIL_NAMES = re.compile(r"e-?mail", re.IGNORECASE)
PHONE_NAMES = re.compile(r"phone|mobile|cell|\btel\b|telephone|\bfax\b", re.IGNORECASE)
SAMPLE = 200
SHARE = 0.5


def looks_like_email(value: str) -> bool:
    return bool(EMAIL_RE.match(value.strip()))


def looks_like_phone(value: str) -> bool:
    """A phone number: 7-15 digits written with phone punctuation, not a date or an amount."""
    text = value.strip()
    if not PHONE_RE.match(text) or DATE_LIKE.match(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    if not 7 <= digits <= 15:
        return False
    return text.startswith("+") or any(ch in text for ch in " ()-/.") and "." not in text[-3:]


def kind_by_name(name: str) -> Kind | None:
    if EMAIL_NAMES.search(name):
        return "email"
    if PHONE_NAMES.search(name):
        return "phone"
    return None


def kind_by_values(values: Iterable[Any]) -> Kind | None:
    """email or phone when at least half of the (up to 200) non-empty sampled values fit."""
    sample = [str(v) for v in values if isinstance(v, str) and v.strip()][:SAMPLE]
    if not sample:
        return None
    if sum(looks_like_email(v) for v in sample) >= SHARE * len(sample):
        return "email"
    if sum(looks_like_phone(v) for v in sample) >= SHARE * len(sample):
        return "phone"
    return None


def mask_email(value: str) -> str:
    """``john.doe@example.com`` -> ``j***@example.com``."""
    local, _, domain = value.strip().partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """Any phone number -> ``***-***-`` and its last four digits."""
    digits = [ch for ch in value if ch.isdigit()]
    return "***-***-" + "".join(digits[-4:]) if len(digits) >= 4 else "***"


def mask_value(value: Any, kind: Kind) -> Any:
    if not isinstance(value, str) or not value.strip():
        return value
    return mask_email(value) if kind == "email" else mask_phone(value)


def mask_if_personal(value: Any) -> Any:
    """A single value masked when it looks like an email or a phone number (labels, options)."""
    if not isinstance(value, str):
        return value
    if looks_like_email(value):
        return mask_email(value)
    if looks_like_phone(value):
        return mask_phone(value)
    return value


def mask_emails_in_text(text: str) -> str:
    """Mask every email address inside free text (reasons, notes, JSON)."""
    return EMAIL_ANYWHERE.sub(lambda m: mask_email(m.group(0)), text)


def personal_columns(frame: pd.DataFrame | pl.DataFrame) -> dict[str, Kind]:
    """Column -> kind for every column that looks like email or phone, by name or content."""
    import pandas as pd

    df = frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame
    found: dict[str, Kind] = {}
    for col in df.columns:
        kind = kind_by_name(str(col))
        series = df[col]
        if kind is None and not pd.api.types.is_numeric_dtype(series):
            kind = kind_by_values(series.dropna().head(SAMPLE * 5).tolist())
        if kind is not None:
            found[str(col)] = kind
    return found


def mask_json_text(text: Any) -> Any:
    """Mask personal values inside a JSON object text (a quarantined row's original)."""
    if not isinstance(text, str):
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        return mask_emails_in_text(text)
    if not isinstance(obj, dict):
        return mask_emails_in_text(text)
    out = {}
    for key, value in obj.items():
        kind = kind_by_name(str(key)) or (kind_by_values([value]) if value else None)
        if kind:
            out[key] = mask_value(value, kind)
        else:  # free text (a Notes cell) may still hold an address
            out[key] = mask_emails_in_text(value) if isinstance(value, str) else value
    return json.dumps(out, ensure_ascii=False)


def mask_frame(
    frame: pd.DataFrame | pl.DataFrame, json_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, dict[str, Kind]]:
    """A masked pandas copy and which columns were masked as what.

    Personal columns are masked whole; in every other text column, emails inside free text
    are masked too; ``json_columns`` hold JSON objects whose personal fields are masked.
    """
    import pandas as pd

    df = (frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame).copy()
    kinds = personal_columns(df.drop(columns=[c for c in json_columns if c in df.columns]))
    for col in df.columns:
        series = df[col]
        if col in json_columns:
            df[col] = series.map(mask_json_text, na_action="ignore")
        elif col in kinds:
            kind = kinds[col]
            df[col] = series.map(lambda v, k=kind: mask_value(v, k), na_action="ignore")
        elif not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            if pd.api.types.is_datetime64_any_dtype(series):
                continue
            df[col] = series.map(
                lambda v: mask_emails_in_text(v) if isinstance(v, str) else v, na_action="ignore"
            )
    return df, kinds


ALIAS_PREFIX = "~"


def link_alias(value: str, key: str) -> str:
    """How a link carries a filter value: an email or phone as a keyed digest, else as is.

    ``SECURITY.md``, What is masked: the raw value never appears in a shared link. The key is the
    dataset token, so the digest means nothing without the dataset and cannot be looked up
    in a list of known addresses.
    """
    if not (looks_like_email(value) or looks_like_phone(value)):
        return value
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:20]
    return ALIAS_PREFIX + digest


def resolve_aliases(values: Sequence[str], key: str, known: Iterable[str]) -> list[str]:
    """The known value each link alias stands for (a value that is not an alias stays as it
    is). The known values are digested once, however many aliases the link carries."""
    if not any(v.startswith(ALIAS_PREFIX) for v in values):
        return list(values)
    by_alias = {link_alias(k, key): k for k in known}
    return [by_alias.get(v, v) if v.startswith(ALIAS_PREFIX) else v for v in values]


def mask_structure(value: Any, rows: bool = False) -> Any:
    """A JSON-like structure (a chart spec, a report) with personal values masked: every email
    inside any text, and with ``rows`` (or below a ``datasets``/``values`` key: a chart's data)
    every whole value that is an email or a phone number."""
    if isinstance(value, dict):
        return {k: mask_structure(v, rows or k in ("datasets", "values")) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_structure(v, rows) for v in value]
    if isinstance(value, str):
        return mask_emails_in_text(mask_if_personal(value) if rows else value)
    return value


class MaskedWriter:
    """A text stream that masks every email written through it: the command line's one
    masking point (SECURITY.md, What is masked), for tables, JSON and messages alike."""

    def __init__(self, out: Any) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(mask_emails_in_text(text))
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)
