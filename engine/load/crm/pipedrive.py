"""Pipedrive exports: every header is prefixed with its object (``Deal - Value``).

Won and lost are not stages in Pipedrive: they come from the deal's status column, and the
actual close date of a won or lost deal from ``Won time`` / ``Lost time``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.load.crm.base import WON_LOST_OPEN, Preset, StageRow

PREFIX = re.compile(r"^\s*(Deal|Person|Organization|Activity|Lead|Product) - ", re.I)

# Pipedrive's default pipeline. Pipedrive itself defaults every stage to 100% deal
# probability, which says nothing; these rise with the funnel (10/20/40/60/80) so weighted
# pipeline is meaningful until the user sets their own.
STAGES: tuple[StageRow, ...] = (
    ("Qualified", "opportunity", 10),
    ("Contact Made", "opportunity", 20),
    ("Demo Scheduled", "opportunity", 40),
    ("Proposal Made", "proposal", 60),
    ("Negotiations Started", "proposal", 80),
)


def detect(headers: Sequence[str]) -> bool:
    return sum(1 for h in headers if PREFIX.match(h)) >= 2


PRESET = Preset(
    id="pipedrive",
    label="Pipedrive",
    rank=10,
    detect=detect,
    stage_map="pipedrive",
    stages=STAGES,
    stage_map_rank=30,
    status_outcomes=WON_LOST_OPEN,  # the deal's status decides closed and won
)
