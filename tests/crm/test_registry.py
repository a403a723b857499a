"""The preset registry (engine/load/crm/__init__.py): every module found, each id once."""

from __future__ import annotations

import pkgutil

import engine.load.crm as crm
from engine.load.mapping import PRESETS


def test_every_preset_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(crm.__path__)} - {"base"}
    assert {p.id for p in crm.all_presets()} == modules
    assert PRESETS == tuple(p.id for p in crm.all_presets())
    assert len(set(PRESETS)) == len(PRESETS)


def test_detection_order_and_fallback() -> None:
    ranks = [p.rank for p in crm.all_presets()]
    assert ranks == sorted(ranks)
    assert crm.fallback() == "spreadsheet"
    assert crm.detect(["Amount", "Stage"]) is None


def test_every_stage_map_is_owned_once_and_used_by_its_presets() -> None:
    maps = crm.stage_maps()
    for p in crm.all_presets():
        if p.stage_map is not None:
            assert p.stage_map in maps, p.id
            assert crm.stage_map_of(p.id) == p.stage_map
    assert crm.stage_map_of("salesforce_export") == crm.stage_map_of("salesforce_report")
    assert crm.stage_map_of("spreadsheet") is None
