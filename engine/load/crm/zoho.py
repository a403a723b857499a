"""Zoho CRM exports (Deals module: ``Record Id``, ``Deal Owner``, ``Closing Date``,
``Created Time``, ``Probability (%)``).

Zoho names its timestamps ``... Time`` and a deal's expected close ``Closing Date``; two of its
own headers are needed, because ``Record Id``, ``Deal Name`` and ``Deal Owner`` are HubSpot's
spellings too. The stage map is Zoho's default pipeline with its default probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from engine.load.crm.base import Preset, StageRow, count_keys, header_keys

MARKERS = header_keys(
    (
        "Created Time",
        "Modified Time",
        "Closing Date",
        "Last Activity Time",
        "Expected Revenue",
        "Campaign Source",
    )
)

STAGES: tuple[StageRow, ...] = (
    ("Qualification", "opportunity", 10),
    ("Needs Analysis", "opportunity", 20),
    ("Value Proposition", "opportunity", 40),
    ("Identify Decision Makers", "opportunity", 60),
    ("Proposal/Price Quote", "proposal", 75),
    ("Negotiation/Review", "proposal", 90),
    ("Closed Won", "closed_won", 100),
    ("Closed Lost", "closed_lost", 0),
    ("Closed Lost to Competition", "closed_lost", 0),
)


def detect(headers: Sequence[str]) -> bool:
    return count_keys(headers, MARKERS) >= 2


PRESET = Preset(
    id="zoho",
    label="Zoho CRM",
    rank=15,  # before HubSpot, which shares Record Id, Deal Name and Deal Owner
    detect=detect,
    synonyms=MappingProxyType({"opportunities": {"created_date": ("created time",)}}),
    stage_map="zoho",
    stages=STAGES,
    stage_map_rank=40,
)
