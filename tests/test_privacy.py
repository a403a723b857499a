"""Email and phone columns are found by name and by content and masked (SECURITY.md)."""

from __future__ import annotations

import json

import pandas as pd

from engine.core import privacy


def test_masks() -> None:
    assert privacy.mask_email("john.doe@example.com") == "j***@example.com"
    assert privacy.mask_phone("+1 (555) 867-1234") == "***-***-1234"
    assert privacy.mask_phone("555.123.9876") == "***-***-9876"


def test_detects_by_name_and_content() -> None:
    frame = pd.DataFrame(
        {
            "Contact Email": ["a@b.io", None],
            "reach": ["+44 20 7946 0958", "+1 555 010 9999"],
            "who": ["ann@corp.com", "bob@corp.com"],
            "amount": ["12500.00", "300.00"],
            "close": ["2026-01-15", "2026-02-01"],
            "Mobile": ["07700 900123", ""],
        }
    )
    assert privacy.personal_columns(frame) == {
        "Contact Email": "email",
        "reach": "phone",
        "who": "email",
        "Mobile": "phone",
    }


def test_mask_frame_masks_values_text_and_json() -> None:
    frame = pd.DataFrame(
        {
            "email": ["john.doe@example.com"],
            "note": ["call jane@x.org today"],
            "original": [json.dumps({"Phone": "555-123-4567", "Stage": "Won"})],
            "amount": [-5.0],
        }
    )
    masked, kinds = privacy.mask_frame(frame, json_columns=("original",))
    assert kinds == {"email": "email"}
    assert masked.loc[0, "email"] == "j***@example.com"
    assert masked.loc[0, "note"] == "call j***@x.org today"
    assert json.loads(masked.loc[0, "original"]) == {"Phone": "***-***-4567", "Stage": "Won"}
    assert masked.loc[0, "amount"] == -5.0
    assert frame.loc[0, "email"] == "john.doe@example.com"
