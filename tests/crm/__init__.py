"""One test file per CRM preset (engine/load/crm/<preset>.py): its headers, its table, its stages."""

from __future__ import annotations

from collections.abc import Sequence

from engine.load.mapping import Mapping, detect_preset, recognise
from engine.load.stagemap import guess_stage_map


def recognised(
    headers: Sequence[str], preset: str, table: str, filename: str | None = None
) -> Mapping:
    """The mapping of ``headers``, after checking it is ``preset``'s ``table``."""
    assert detect_preset(headers) == preset
    m = recognise(headers, filename)
    assert (m.preset, m.table) == (preset, table)
    assert m.missing_required() == []
    return m


def stage_rows(stages: Sequence[str], preset: str) -> list[tuple[str, str, int, float, bool]]:
    """(stage, canonical, order, probability, guessed) of the stage map guessed for ``stages``."""
    smap = guess_stage_map(stages, preset)
    return [(e.stage, e.canonical, e.order, e.probability, e.guessed) for e in smap]
