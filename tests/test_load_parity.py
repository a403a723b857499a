"""Every file of the sample, the dirty sample and the bad-input corpus loads to exactly what
``tests/parity/golden.json`` records (each stored table's rows, the quarantine, the warnings,
the load report), so a change to the load path proves it stores the same rows. After a change
that is meant to alter what loads, rewrite the record with ``python -m tests.parity --update``
and say in the commit which cases changed and why."""

from __future__ import annotations

import json

from tests.parity.capture import GOLDEN, capture, differences, project_cases


def test_every_project_file_loads_to_what_was_recorded() -> None:
    recorded = json.loads(GOLDEN.read_text())
    cases = project_cases()
    assert set(cases) == set(recorded)  # a new corpus file needs --update too
    got = capture(cases)
    assert differences(recorded, got) == []


def test_the_record_covers_loads_and_refusals() -> None:
    recorded = json.loads(GOLDEN.read_text())
    # the sample loads every table it ships; a binary file is refused with its message
    assert recorded["sample"]["tables"]["opportunities"]["rows"] == 4000
    assert recorded["bad_inputs/binary_junk.csv"]["error"] == "InputError"
    assert recorded["bad_inputs/header_only.csv"]["message"].startswith("header_only.csv: only")
