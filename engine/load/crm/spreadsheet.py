"""Any other file that maps: canonical names in any case and the shared synonyms."""

from __future__ import annotations

from engine.load.crm.base import WON_LOST_OPEN, Preset

# A "Status" column of open / won / lost deals decides closed and won (docs/data.md).
PRESET = Preset(
    id="spreadsheet",
    label="Spreadsheet",
    rank=1000,
    fallback=True,
    status_outcomes=WON_LOST_OPEN,
)
