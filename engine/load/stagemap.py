"""Stage maps: every CRM stage name -> canonical funnel stage, order and default probability.

The canonical funnel is ``engine.core.canonical.FUNNEL`` (lead -> sal -> sql -> opportunity ->
proposal -> closed_won, plus closed_lost). A :class:`StageMap` holds one entry per CRM stage
name found in a dataset. :func:`guess_stage_map` proposes one from the built-in maps of
``docs/data.md``, Stage map (the default stages of the CRMs in ``engine.load.crm``) and, for other
names, from keywords; guessed entries are marked so the app can ask the user to confirm them. A stage the
map does not know is a data-quality finding (:meth:`StageMap.unknown`), never a crash.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

from engine.core.canonical import CANONICAL_STAGES, FUNNEL_RANK
from engine.core.errors import MappingError, UnknownName
from engine.load import crm


def stage_key(stage: str) -> str:
    """Comparison key of a stage name: case, spaces and punctuation do not matter.

    This makes HubSpot's display labels and internal ids one key: "Closed Won" and
    "closedwon", "Decision Maker Bought-In" and "decisionmakerboughtin".
    """
    return "".join(ch for ch in stage.casefold() if ch.isalnum())


@dataclass(frozen=True)
class StageMapEntry:
    """One CRM stage: its canonical stage, funnel order (1..n) and default probability (0-100).

    ``guessed`` is true when the entry came from keywords rather than a built-in map or the
    user, so the app asks for confirmation.
    """

    stage: str
    canonical: str
    order: int
    probability: float
    guessed: bool = False

    def __post_init__(self) -> None:
        if not self.stage.strip():
            raise MappingError("A stage map entry needs a stage name.")
        if self.canonical not in CANONICAL_STAGES:
            raise UnknownName("canonical stage", self.canonical, CANONICAL_STAGES)
        if not 0 <= self.probability <= 100:
            raise MappingError(
                f"The probability of stage {self.stage!r} is {self.probability}; "
                "it must be between 0 and 100."
            )

    @property
    def is_closed(self) -> bool:
        return self.canonical in ("closed_won", "closed_lost")

    @property
    def is_won(self) -> bool:
        return self.canonical == "closed_won"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: AbcMapping[str, Any]) -> StageMapEntry:
        return cls(
            stage=str(data["stage"]),
            canonical=str(data["canonical"]),
            order=int(data["order"]),
            probability=float(data["probability"]),
            guessed=bool(data.get("guessed", False)),
        )


def _funnel_key(canonical: str) -> tuple[int, int]:
    # closed_lost shares closed_won's rank; won is listed first.
    return FUNNEL_RANK[canonical], int(canonical == "closed_lost")


@dataclass(frozen=True)
class StageMap:
    """Entries in funnel order; ``order`` runs 1..n and never goes against the funnel."""

    entries: tuple[StageMapEntry, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for e in self.entries:
            k = stage_key(e.stage)
            if k in seen:
                raise MappingError(
                    f"The stage {e.stage!r} is listed twice in the stage map (also as {seen[k]!r})."
                )
            seen[k] = e.stage
        object.__setattr__(self, "_index", {stage_key(e.stage): e for e in self.entries})

    @classmethod
    def build(cls, entries: Iterable[StageMapEntry]) -> StageMap:
        """A map of ``entries`` sorted into funnel order (stable) and numbered 1..n."""
        ordered = sorted(entries, key=lambda e: (_funnel_key(e.canonical), e.order))
        return cls(tuple(dataclasses.replace(e, order=i) for i, e in enumerate(ordered, start=1)))

    def __iter__(self) -> Any:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def stages(self) -> list[str]:
        return [e.stage for e in self.entries]

    def lookup(self, stage: str | None) -> StageMapEntry | None:
        """The entry for ``stage`` (case-, space- and punctuation-insensitive), or None."""
        if stage is None:
            return None
        index: dict[str, StageMapEntry] = self.__dict__["_index"]
        return index.get(stage_key(stage))

    def unknown(self, stages: Iterable[str | None]) -> list[str]:
        """Distinct non-empty stages the map does not know, in order of first appearance."""
        out: list[str] = []
        seen: set[str] = set()
        for s in stages:
            if s is None or not str(s).strip():
                continue
            k = stage_key(str(s))
            if k in seen:
                continue
            seen.add(k)
            if self.lookup(str(s)) is None:
                out.append(str(s))
        return out

    def with_entry(
        self,
        stage: str,
        canonical: str | None = None,
        order: int | None = None,
        probability: float | None = None,
    ) -> StageMap:
        """A copy with ``stage`` added or changed, and confirmed (``guessed=False``).

        A new stage needs ``canonical``; its probability defaults to the canonical stage's
        default. ``order`` (1-based) places the stage at that position before the map is
        re-sorted by funnel stage, so it moves within its canonical group, never across groups.
        """
        current = self.lookup(stage)
        if current is None and canonical is None:
            raise MappingError(f"Say which canonical stage {stage!r} belongs to.")
        canon = canonical or (current.canonical if current else "opportunity")
        if canon not in CANONICAL_STAGES:
            raise UnknownName("canonical stage", canon, CANONICAL_STAGES)
        if probability is not None:
            prob = float(probability)
        elif current is not None and (canonical is None or canonical == current.canonical):
            prob = current.probability
        else:
            prob = DEFAULT_PROBABILITY[canon]
        others = [e for e in self.entries if e is not current]
        # Work in half-steps so the edited entry lands exactly at the requested position.
        ranked = [(2.0 * i, e) for i, e in enumerate(others, start=1)]
        if order is not None:
            pos = 2.0 * order - 1
        elif current is not None and canonical in (None, current.canonical):
            pos = 2.0 * current.order - 1
        else:
            pos = 2.0 * len(self.entries) + 1  # new or moved: last of its canonical group
        name = current.stage if current is not None else stage
        edited = StageMapEntry(name, canon, 0, prob, guessed=False)
        ranked.append((pos, edited))
        ranked.sort(key=lambda pe: (_funnel_key(pe[1].canonical), pe[0]))
        return StageMap(
            tuple(dataclasses.replace(e, order=i) for i, (_, e) in enumerate(ranked, start=1))
        )

    def without(self, stage: str) -> StageMap:
        """A copy without ``stage`` (renumbered)."""
        return StageMap.build(e for e in self.entries if stage_key(e.stage) != stage_key(stage))

    def rows(self) -> list[tuple[str, str, int, float]]:
        """(stage, canonical, stage_order, probability) rows for the dataset's stage_map table."""
        return [(e.stage, e.canonical, e.order, e.probability) for e in self.entries]

    def to_dict(self) -> dict[str, Any]:
        return {"entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: AbcMapping[str, Any]) -> StageMap:
        try:
            return cls.build(StageMapEntry.from_dict(e) for e in data["entries"])
        except (KeyError, TypeError, ValueError) as e:
            raise MappingError(f"A saved stage map is not readable ({e}).") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> StageMap:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise MappingError(f"A saved stage map is not valid JSON ({e}).") from e
        if not isinstance(data, dict):
            raise MappingError("A saved stage map must be a JSON object.")
        return cls.from_dict(data)


# Default probability of a stage added by hand, per canonical stage.
DEFAULT_PROBABILITY: dict[str, float] = {
    "lead": 0.0,
    "sal": 5.0,
    "sql": 10.0,
    "opportunity": 10.0,
    "proposal": 75.0,
    "closed_won": 100.0,
    "closed_lost": 0.0,
}


def _builtin(rows: Sequence[tuple[str, str, float]]) -> StageMap:
    return StageMap.build(
        StageMapEntry(stage, canonical, i, prob)
        for i, (stage, canonical, prob) in enumerate(rows, start=1)
    )


# Built-in stage maps, one per CRM that ships default stages (engine.load.crm): name -> map, in
# the order a tie between maps is settled when no preset is preferred.
BUILTIN_STAGE_MAPS: dict[str, StageMap] = {
    name: _builtin(rows) for name, rows in crm.stage_maps().items()
}
SALESFORCE_STAGES = BUILTIN_STAGE_MAPS["salesforce"]
HUBSPOT_STAGES = BUILTIN_STAGE_MAPS["hubspot"]
PIPEDRIVE_STAGES = BUILTIN_STAGE_MAPS["pipedrive"]

_WON = re.compile(r"\bwon\b|closedwon")
_LOST = re.compile(r"\blost\b|closedlost|disqualified|unqualified")
_PROPOSAL = re.compile(r"proposal|quot|negotiat|contract")


def guess_canonical(stage: str) -> str:
    """The keyword guess for a stage name outside the built-in maps."""
    s = stage.casefold()
    if _LOST.search(s):
        return "closed_lost"
    if _WON.search(s):
        return "closed_won"
    if _PROPOSAL.search(s):
        return "proposal"
    return "opportunity"


def _pick_builtin(keys: list[str], preset: str | None) -> StageMap | None:
    preferred = crm.stage_map_of(preset)
    best: tuple[int, int] = (0, 0)
    chosen: StageMap | None = None
    for name, smap in BUILTIN_STAGE_MAPS.items():
        hits = sum(1 for k in keys if smap.lookup(k) is not None)
        score = (hits, int(name == preferred))
        if hits and score > best:
            best, chosen = score, smap
    return chosen


def guess_stage_map(stages: Sequence[str | None], preset: str | None = None) -> StageMap:
    """A first stage map for these stage names (in order of first appearance).

    The built-in map with the most matching names (the preset's map on a tie) supplies those
    stages as they are; every other name gets a keyword guess marked ``guessed``: won / closed
    won -> closed_won (100), lost / closed lost / disqualified -> closed_lost (0), proposal /
    quote / negotiation / contract -> proposal (75), anything else -> opportunity. Entries are
    sorted by funnel stage; within a stage, built-in stages keep their built-in order and come
    before guessed ones, which keep their order of first appearance. Guessed opportunity
    stages get probabilities spread from 10 to 60 by their position among the map's
    opportunity stages.
    """
    names: list[str] = []
    seen: set[str] = set()
    for s in stages:
        if s is None or not str(s).strip():
            continue
        k = stage_key(str(s))
        if k not in seen:
            seen.add(k)
            names.append(str(s).strip())
    builtin = _pick_builtin(names, preset)

    ranked: list[tuple[tuple[int, int, int, int], StageMapEntry]] = []
    for i, name in enumerate(names):
        known = builtin.lookup(name) if builtin is not None else None
        if known is not None:
            entry = StageMapEntry(name, known.canonical, 0, known.probability)
            ranked.append(((*_funnel_key(known.canonical), 0, known.order), entry))
        else:
            canon = guess_canonical(name)
            entry = StageMapEntry(name, canon, 0, DEFAULT_PROBABILITY[canon], guessed=True)
            ranked.append(((*_funnel_key(canon), 1, i), entry))
    ranked.sort(key=lambda r: r[0])
    entries = [dataclasses.replace(e, order=i) for i, (_, e) in enumerate(ranked, start=1)]

    open_stages = [e for e in entries if e.canonical == "opportunity"]
    n = len(open_stages)
    spread: dict[str, float] = {}
    for pos, e in enumerate(open_stages):
        if e.guessed:
            spread[e.stage] = 10.0 if n == 1 else round(10 + 50 * pos / (n - 1), 1)
    entries = [
        dataclasses.replace(e, probability=spread[e.stage]) if e.stage in spread else e
        for e in entries
    ]
    return StageMap(tuple(entries))
