"""HubSpot exports (deals, contacts, companies).

Deal exports hold stage history as wide ``Date entered "<stage>"`` columns, which become
stage_history rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.load.crm.base import Preset, StageRow, count_keys, header_keys

# Date entered "Appointment Scheduled (Sales Pipeline)". Other per-stage columns (Date exited,
# Cumulative time in, Latest time in) are not stage entries and stay unmapped.
DATE_ENTERED = re.compile(r'^\s*date\s+entered\s+["\u201c\u201d\'](.+)["\u201c\u201d\']\s*$', re.I)

MARKERS = header_keys(
    (
        "Record ID",
        "Deal Name",
        "Deal Stage",
        "Deal owner",
        "Create Date",
        "Pipeline",
        "Deal Type",
        "Associated Company",
        "Contact owner",
    )
)

# Display labels as they appear in exports. The internal ids (appointmentscheduled,
# qualifiedtobuy, ..., closedwon, closedlost) have the same stage key, so a lookup finds them
# too.
STAGES: tuple[StageRow, ...] = (
    ("Appointment Scheduled", "opportunity", 20),
    ("Qualified To Buy", "opportunity", 40),
    ("Presentation Scheduled", "opportunity", 60),
    ("Decision Maker Bought-In", "proposal", 80),
    ("Contract Sent", "proposal", 90),
    ("Closed Won", "closed_won", 100),
    ("Closed Lost", "closed_lost", 0),
)


def detect(headers: Sequence[str]) -> bool:
    return any(DATE_ENTERED.match(h) for h in headers) or count_keys(headers, MARKERS) >= 2


PRESET = Preset(
    id="hubspot",
    label="HubSpot",
    rank=20,
    detect=detect,
    stage_map="hubspot",
    stages=STAGES,
    stage_map_rank=20,
    wide_stage_columns=DATE_ENTERED,
)
