"""The CRM presets: one module per export style, collected here.

Each module of this package defines ``PRESET``, a :class:`~engine.load.crm.base.Preset`. Adding a
CRM is adding one module: the registry finds it (docs/data.md, Column mapping).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Sequence

from engine.load.crm.base import Preset, StageRow, normalise_header

__all__ = [
    "PRESETS",
    "Preset",
    "StageRow",
    "all_presets",
    "detect",
    "fallback",
    "get",
    "normalise_header",
    "stage_map_of",
    "stage_maps",
    "wide_stage_patterns",
]


def _discover() -> tuple[Preset, ...]:
    found: list[Preset] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        preset = getattr(module, "PRESET", None)
        if isinstance(preset, Preset):
            found.append(preset)
    ids = [p.id for p in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuntimeError(f"CRM presets defined twice: {', '.join(dupes)}")
    return tuple(sorted(found, key=lambda p: (p.rank, p.id)))


_PRESETS: tuple[Preset, ...] = _discover()
_BY_ID: dict[str, Preset] = {p.id: p for p in _PRESETS}

# Every preset id, in detection order.
PRESETS: tuple[str, ...] = tuple(p.id for p in _PRESETS)


def all_presets() -> tuple[Preset, ...]:
    """Every preset, in detection order."""
    return _PRESETS


def fallback() -> str | None:
    """The id of the style given to a file that maps but matches no other preset."""
    return next((p.id for p in _PRESETS if p.fallback), None)


def get(preset_id: str | None) -> Preset | None:
    """The preset called ``preset_id``, or None."""
    return _BY_ID.get(preset_id or "")


def detect(headers: Sequence[str]) -> str | None:
    """The id of the first preset (by rank) whose ``detect`` accepts the headers, or None."""
    for p in _PRESETS:
        if p.detect(headers):
            return p.id
    return None


def stage_maps() -> dict[str, tuple[StageRow, ...]]:
    """Built-in stage maps: name -> rows, in ``stage_map_rank`` order."""
    owners = sorted(
        (p for p in _PRESETS if p.stage_map and p.stages), key=lambda p: p.stage_map_rank
    )
    out: dict[str, tuple[StageRow, ...]] = {}
    for p in owners:
        assert p.stage_map is not None
        if p.stage_map in out:
            raise RuntimeError(f"The stage map {p.stage_map!r} is defined twice.")
        out[p.stage_map] = p.stages
    return out


def stage_map_of(preset_id: str | None) -> str | None:
    """The name of the built-in stage map a preset uses (its id also names its map)."""
    p = get(preset_id)
    if p is not None:
        return p.stage_map
    return preset_id if preset_id in stage_maps() else None


def wide_stage_patterns() -> tuple[re.Pattern[str], ...]:
    """Patterns of per-stage date columns, from every preset that has them."""
    return tuple(p.wide_stage_columns for p in _PRESETS if p.wide_stage_columns is not None)
