"""Any other file that maps: canonical names in any case and the shared synonyms."""

from __future__ import annotations

from engine.load.crm.base import Preset

PRESET = Preset(id="spreadsheet", label="Spreadsheet", rank=1000, fallback=True)
