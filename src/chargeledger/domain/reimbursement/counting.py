"""Which sessions count for a driver, under the tenant's policy.

- A session of a car assigned to the driver on the local date it started counts when it is
  matched to the Home location (the policy's label) with at least the policy's accuracy.
- A session of a home charge point assigned to the driver counts unless it was started by a
  tag assigned, on that date, to another driver (a visitor's or a colleague's car). A tag
  nobody is assigned (the charger's own free-charging tag) does not take the session away.
- A car session and a charge point session that overlap in time are one charge: it counts
  once, from the strongest evidence (domain/reimbursement/evidence), the other is named.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from chargeledger.domain.reimbursement.evidence import EntityKind, Evidence, evidence_of, rank
from chargeledger.domain.reimbursement.registers import Registers

DEFAULT_HOME_LABEL = "Home"
DEFAULT_MINIMUM_ACCURACY = Decimal("0.5")
DEFAULT_TIME_ZONE = "Europe/Brussels"
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class Policy:
    time_zone: str = DEFAULT_TIME_ZONE
    currency: str = DEFAULT_CURRENCY  # of a statement with no priced line
    home_location_label: str = DEFAULT_HOME_LABEL
    minimum_accuracy: Decimal = DEFAULT_MINIMUM_ACCURACY
    count_car_at_home: bool = True
    count_home_charge_point: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class AssignmentKind(StrEnum):
    CAR = "car"
    HOME_CHARGE_POINT = "homeChargePoint"
    ID_TAG = "idTag"


@dataclass(frozen=True, slots=True)
class Assignment:
    driver_id: UUID
    kind: AssignmentKind
    valid_from: date
    valid_to: date | None  # first day no longer included
    entity_id: UUID | None = None
    id_tag: str | None = None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


class CountedAs(StrEnum):
    CAR_AT_HOME = "carAtHome"
    HOME_CHARGE_POINT = "homeChargePoint"


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What reimbursement needs of a stored session."""

    entity_id: UUID
    session_id: UUID
    version: int
    entity_kind: EntityKind
    start_ms: int
    end_ms: int
    energy_kwh: Registers  # per register; exact decimals of the stored Wh
    uncertainty_kwh: Decimal | None
    source: str
    energy_method: str | None
    meter_evidence: str | None
    id_tag: str | None
    matches: tuple[tuple[str, float], ...]  # (location label, accuracy), best first
    address: str | None
    latitude: float | None
    longitude: float | None

    @property
    def evidence(self) -> Evidence:
        return evidence_of(
            entity_kind=self.entity_kind,
            source=self.source,
            energy_method=self.energy_method,
            meter_evidence=self.meter_evidence,
        )


@dataclass(frozen=True, slots=True)
class AlsoSeen:
    entity_id: UUID
    session_id: UUID
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class CountedSession:
    facts: SessionFacts
    counted_as: CountedAs
    also_seen: tuple[AlsoSeen, ...] = field(default=())

    @property
    def evidence(self) -> Evidence:
        return self.facts.evidence


def local_date(instant_ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(instant_ms / 1000, tz=UTC).astimezone(zone).date()


def _counts(
    session: SessionFacts,
    driver_id: UUID,
    assignments: Sequence[Assignment],
    tag_holders: Mapping[str, Sequence[Assignment]],
    policy: Policy,
) -> CountedAs | None:
    day = local_date(session.start_ms, policy.zone)
    held = [a for a in assignments if a.entity_id == session.entity_id and a.covers(day)]
    if session.entity_kind is EntityKind.CAR:
        if not policy.count_car_at_home or not any(a.kind is AssignmentKind.CAR for a in held):
            return None
        label = policy.home_location_label.casefold()
        at_home = any(
            matched.casefold() == label and Decimal(repr(accuracy)) >= policy.minimum_accuracy
            for matched, accuracy in session.matches
        )
        return CountedAs.CAR_AT_HOME if at_home else None
    if not policy.count_home_charge_point or not any(
        a.kind is AssignmentKind.HOME_CHARGE_POINT for a in held
    ):
        return None
    if session.id_tag is not None:
        holders = {a.driver_id for a in tag_holders.get(session.id_tag, ()) if a.covers(day)}
        if holders and driver_id not in holders:
            return None
    return CountedAs.HOME_CHARGE_POINT


def _overlap(a: SessionFacts, b: SessionFacts) -> bool:
    return a.start_ms < b.end_ms and b.start_ms < a.end_ms


def _preference(session: SessionFacts) -> tuple[int, int, str, str]:
    # Strongest evidence; among equals the earlier session, then a fixed order of ids.
    return (
        rank(session.evidence),
        session.start_ms,
        str(session.entity_id),
        str(session.session_id),
    )


def counted_sessions(
    driver_id: UUID,
    sessions: Iterable[SessionFacts],
    *,
    assignments: Sequence[Assignment],
    tag_holders: Mapping[str, Sequence[Assignment]],
    policy: Policy,
) -> list[CountedSession]:
    """The driver's sessions that count, each charge once, in order of start.

    `assignments` are the driver's own; `tag_holders` every driver's idTag assignments by tag.
    """
    counted: list[tuple[SessionFacts, CountedAs]] = []
    for session in sessions:
        reason = _counts(session, driver_id, assignments, tag_holders, policy)
        if reason is not None:
            counted.append((session, reason))
    counted.sort(
        key=lambda item: (item[0].start_ms, str(item[0].entity_id), str(item[0].session_id))
    )
    # Charges seen by a car and by a charge point: groups of sessions overlapping in time,
    # across the two kinds (two sessions of one charge point are two charges).
    parent = list(range(len(counted)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (first, _) in enumerate(counted):
        for j in range(i + 1, len(counted)):
            second = counted[j][0]
            if second.start_ms >= first.end_ms:
                break
            if first.entity_kind is not second.entity_kind and _overlap(first, second):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(counted)):
        groups.setdefault(root(i), []).append(i)
    result: list[CountedSession] = []
    for members in groups.values():
        best = min(members, key=lambda i: _preference(counted[i][0]))
        session, reason = counted[best]
        others = tuple(
            AlsoSeen(counted[i][0].entity_id, counted[i][0].session_id, counted[i][0].evidence)
            for i in members
            if i != best
        )
        result.append(CountedSession(session, reason, others))
    result.sort(key=lambda c: (c.facts.start_ms, str(c.facts.entity_id), str(c.facts.session_id)))
    return result
