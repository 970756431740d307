"""A driver's statement for a period: the draft as it stands now, and finalising it.

The pricing, counting, deduplication, adjustments and the document itself are the domain's
(domain/reimbursement); this module loads what they need, and stores and numbers what is
finalised. A finalised statement never changes: a session that changes afterwards (or arrives
late) is settled by an adjustment line in the driver's next statement, worth the difference
between what the session is worth now and what finalised statements paid for it.

Which earlier periods are looked at again (counted anew, then settled session by session):
those where a session of the driver's cars and charge points starting in the period was
written after the period was last settled (its own finalisation, or a later statement's,
less CHANGE_SLACK_MS for writers whose clock or commit lagged), and those holding a session
paid for whose version is no longer the one last paid (or that no longer exists): versions,
not clocks, so a change to a paid session is never missed. What was paid for a session is the
sum of its lines in the driver's finalised statements; it is settled wherever the session
counts now (in its own period, or in this one if its start moved here), never paid twice.
"""

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.instants import parse_instant_ms
from chargeledger.domain.reimbursement.counting import (
    Assignment,
    AssignmentKind,
    CountedSession,
    Policy,
    counted_sessions,
)
from chargeledger.domain.reimbursement.money import plain
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.domain.reimbursement.statements import (
    PaidSoFar,
    Reconsidered,
    SessionKey,
    Statement,
    StatementRef,
    StatementStatus,
    canonical_bytes,
    compose_statement,
    statement_document,
)
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.drivers.repository import load_assignments, load_driver, load_tag_holders
from chargeledger.errors import ConflictError, InvalidContinuationTokenError, NotFoundError
from chargeledger.events.recording import record_event
from chargeledger.events.types import STATEMENT_FINALISED
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.rate_plans.repository import load_driver_plans
from chargeledger.statements import repository
from chargeledger.statements.facts import load_facts
from chargeledger.statements.periods import Period, period_window_ms
from chargeledger.statements.policy_repository import load_policy

_HELD_KINDS = (AssignmentKind.CAR, AssignmentKind.HOME_CHARGE_POINT)
# A session written this long before a finalisation may still have been invisible to it: a
# writer takes its clock's time when its request starts, and commits later (its request's
# time, bounded by the statement timeouts, plus the skew between machines' clocks). Such a
# session makes its period be looked at again: at worst work for nothing (what is settled
# already settles as nothing), never a change missed.
CHANGE_SLACK_MS = 15 * 60 * 1000
# A refusal lists this many problems; the draft shows them all.
MAX_PROBLEMS_SHOWN = 20


def driver_not_found(driver_id: object) -> NotFoundError:
    return NotFoundError(f"driver {driver_id} was not found")


def statement_not_found(statement_id: object) -> NotFoundError:
    return NotFoundError(f"statement {statement_id} was not found")


class StatementOverlapError(ConflictError):
    """The driver already has a finalised statement for (part of) the period."""


class StatementProblemsError(ConflictError):
    """The draft has problems (a session without a rate, ...): it cannot be finalised."""

    def __init__(self, detail: str, *, problems: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.problems = problems


class ContentChangedError(ConflictError):
    """The draft is no longer the one the client checked (expectedContentSha256)."""


def with_hash(content: bytes, content_sha256: str) -> bytes:
    """The document as served: its canonical bytes, spliced (not serialized again) with
    "contentSha256" added as the last member, so a finalised one is served byte for byte."""
    if not content.endswith(b"}"):
        raise ValueError("a statement document is a JSON object")
    return content[:-1] + b',"contentSha256":"' + content_sha256.encode() + b'"}'


@dataclass(frozen=True, slots=True)
class HashedDocument:
    """A statement's document, its canonical bytes and their SHA-256."""

    document: dict[str, Any]
    content: bytes
    content_sha256: str

    @classmethod
    def of(cls, statement: Statement) -> "HashedDocument":
        document = statement_document(statement)
        content = canonical_bytes(document)
        return cls(document, content, hashlib.sha256(content).hexdigest())

    def with_hash(self) -> dict[str, Any]:
        """The document with its contentSha256 (what exports take)."""
        return {**self.document, "contentSha256": self.content_sha256}

    def response_bytes(self) -> bytes:
        return with_hash(self.content, self.content_sha256)


@dataclass(frozen=True, slots=True)
class StoredStatement:
    """A finalised statement as stored: its document is content_json, never changed."""

    id: UUID
    number: str
    driver_id: UUID
    period_start: date
    period_end: date
    currency: str
    total_amount: str
    finalised_ms: int
    content_json: str
    content_sha256: str

    @classmethod
    def from_row(cls, row: Any) -> "StoredStatement":
        return cls(
            id=row.id,
            number=row.number,
            driver_id=row.driver_id,
            period_start=date.fromisoformat(row.period_start),
            period_end=date.fromisoformat(row.period_end),
            currency=row.currency,
            total_amount=row.total_amount,
            finalised_ms=row.finalised_ms,
            content_json=row.content_json,
            content_sha256=row.content_sha256,
        )

    def document(self) -> dict[str, Any]:
        """The stored document with its contentSha256 (what exports take)."""
        document: dict[str, Any] = orjson.loads(self.content_json)
        document["contentSha256"] = self.content_sha256
        return document

    def response_bytes(self) -> bytes:
        return with_hash(self.content_json.encode(), self.content_sha256)


# ---- drafts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Driver:
    """What counting a driver's sessions needs, loaded once per draft."""

    tenant_id: UUID
    driver_id: UUID
    policy: Policy
    assignments: list[Assignment]


def held_entities(assignments: list[Assignment], start: date, end: date) -> set[UUID]:
    """The cars and home charge points assigned to the driver on some day of [start, end)."""
    return {
        assignment.entity_id
        for assignment in assignments
        if assignment.kind in _HELD_KINDS
        and assignment.entity_id is not None
        and assignment.valid_from < end
        and (assignment.valid_to is None or start < assignment.valid_to)
    }


async def _counted(
    connection: AsyncConnection, driver: _Driver, start: date, end: date
) -> list[CountedSession]:
    """The driver's sessions that count, of those starting in the local dates [start, end)."""
    start_ms, end_ms = period_window_ms(Period(start, end), driver.policy.zone)
    stored = await load_facts(
        connection,
        tenant_id=driver.tenant_id,
        entity_ids=held_entities(driver.assignments, start, end),
        start_ms=start_ms,
        end_ms=end_ms,
    )
    sessions = [item.facts for item in stored]
    tags = {session.id_tag for session in sessions if session.id_tag is not None}
    holders = await load_tag_holders(connection, driver.tenant_id, tags) if tags else {}
    return counted_sessions(
        driver.driver_id,
        sessions,
        assignments=driver.assignments,
        tag_holders=holders,
        policy=driver.policy,
    )


async def compute_draft(
    connection: AsyncConnection,
    tenant_id: UUID,
    driver_id: UUID,
    period: Period,
    *,
    policy: Policy | None = None,
) -> Statement:
    """The driver's statement for the period as it would be finalised now (NotFoundError for
    a driver the tenant does not have). `policy`: the tenant's, when the caller has loaded it
    already (a run over many drivers); else it is loaded."""
    info = await load_driver(connection, tenant_id, driver_id)
    if info is None:
        raise driver_not_found(driver_id)
    if policy is None:
        policy = await load_policy(connection, tenant_id)
    driver = _Driver(
        tenant_id=tenant_id,
        driver_id=driver_id,
        policy=policy,
        assignments=await load_assignments(connection, tenant_id, driver_id),
    )
    plans = await load_driver_plans(connection, tenant_id, driver_id)
    current = await _counted(connection, driver, period.start, period.end)
    reconsidered = await _reconsidered(connection, driver, period, current)
    return compose_statement(
        tenant_id=tenant_id,
        driver=info,
        period_start=period.start,
        period_end=period.end,
        policy=policy,
        plans=plans,
        period_sessions=current,
        reconsidered=reconsidered,
    )


@dataclass(frozen=True, slots=True)
class _Finalised:
    """An earlier finalised statement of the driver, with its window of session starts."""

    ref: StatementRef
    start: date
    end: date
    start_ms: int
    end_ms: int
    finalised_ms: int
    entity_ids: frozenset[UUID]

    def covers(self, instant_ms: int) -> bool:
        return self.start_ms <= instant_ms < self.end_ms


@dataclass
class _Paid:
    """What the driver's finalised statements paid for one session, summed over its lines."""

    entity_id: UUID
    session_id: UUID
    start_ms: int
    energy_kwh: Registers
    amount: Decimal
    first: StatementRef
    first_line_number: int
    from_session_line: bool


def _paid_by_session(lines: list[Any]) -> dict[SessionKey, _Paid]:
    """Lines (in order of finalisation) summed per session; the first statement is the one
    with its session line, else the first that adjusted it (a session that arrived late)."""
    paid: dict[SessionKey, _Paid] = {}
    for line in lines:
        key = (line.entity_id, line.session_id)
        energy = Registers(
            Decimal(line.t1_kwh), Decimal(line.t2_kwh), Decimal(line.t3_kwh), Decimal(line.t4_kwh)
        )
        is_session_line = line.kind == "session"
        ref = StatementRef(line.statement_id, line.number)
        known = paid.get(key)
        if known is None:
            paid[key] = _Paid(
                entity_id=line.entity_id,
                session_id=line.session_id,
                start_ms=line.session_start_ms,
                energy_kwh=energy,
                amount=Decimal(line.amount),
                first=ref,
                first_line_number=line.line_number,
                from_session_line=is_session_line,
            )
            continue
        known.energy_kwh = known.energy_kwh + energy
        known.amount += Decimal(line.amount)
        if is_session_line and not known.from_session_line:
            known.first, known.first_line_number = ref, line.line_number
            known.start_ms, known.from_session_line = line.session_start_ms, True
    return paid


async def _earlier_finalised(
    connection: AsyncConnection, driver: _Driver, before: date
) -> list[_Finalised]:
    rows = await repository.finalised_before(
        connection, tenant_id=driver.tenant_id, driver_id=driver.driver_id, before=before
    )
    earlier = []
    for row in rows:
        start, end = date.fromisoformat(row.period_start), date.fromisoformat(row.period_end)
        # The tenant's zone of today: a statement keeps the zone it was made in, but a tenant
        # that changed its zone has at worst a boundary hour looked at again (never paid twice:
        # what was paid for a session is settled wherever it counts now).
        start_ms, end_ms = period_window_ms(Period(start, end), driver.policy.zone)
        earlier.append(
            _Finalised(
                ref=StatementRef(row.id, row.number),
                start=start,
                end=end,
                start_ms=start_ms,
                end_ms=end_ms,
                finalised_ms=row.finalised_ms,
                entity_ids=frozenset(held_entities(driver.assignments, start, end)),
            )
        )
    return earlier


@dataclass(frozen=True, slots=True)
class _Changes:
    """What changed since earlier statements were finalised: the statements whose period is
    to be counted again, and the paid sessions to settle again wherever they are now."""

    statements: list[_Finalised]
    paid_sessions: set[SessionKey]


def _settled_until_ms(earlier: list[_Finalised]) -> dict[UUID, int]:
    """Per earlier statement S, until when its sessions are settled: the latest finalisation of
    S or of a statement after it (whose draft looked at S's changes again), less the slack for
    writes that took their clock's time before and committed after a finalisation read."""
    settled: dict[UUID, int] = {}
    latest_ms = 0
    for item in sorted(earlier, key=lambda item: item.start, reverse=True):
        latest_ms = max(latest_ms, item.finalised_ms)
        settled[item.ref.id] = latest_ms - CHANGE_SLACK_MS
    return settled


async def _changed_since_finalised(
    connection: AsyncConnection, driver: _Driver, earlier: list[_Finalised]
) -> _Changes:
    """The earlier statements to look at again: a session of the driver's entities starting in
    the period was written after it was settled (a late arrival, or a change), or a session
    it paid for changed (a new version) or no longer exists."""

    def covering(instant_ms: int) -> _Finalised | None:
        return next((item for item in earlier if item.covers(instant_ms)), None)

    changed: set[UUID] = set()
    settled = _settled_until_ms(earlier)
    windows = [
        repository.Window(item.entity_ids, item.start_ms, item.end_ms, settled[item.ref.id])
        for item in earlier
    ]
    for row in await repository.changed_sessions(connection, windows):
        found = covering(row.start_ms)
        if found is not None:
            changed.add(found.ref.id)
    paid_sessions: set[SessionKey] = set()
    for row in await repository.changed_paid_sessions(
        connection,
        tenant_id=driver.tenant_id,
        driver_id=driver.driver_id,
        statement_ids=[item.ref.id for item in earlier],
    ):
        paid_sessions.add((row.entity_id, row.session_id))
        found = covering(row.start_ms)
        if found is not None:
            changed.add(found.ref.id)
    return _Changes([item for item in earlier if item.ref.id in changed], paid_sessions)


async def _end_ms_of_line(
    connection: AsyncConnection, statement_id: UUID, line_number: int
) -> int | None:
    """The end of a session as a finalised statement's line shows it (the session itself no
    longer exists)."""
    content = await repository.content_of(connection, statement_id)
    if content is None:
        return None
    for line in orjson.loads(content)["lines"]:
        if line["lineNumber"] == line_number:
            return parse_instant_ms(line["end"])
    return None


async def _reconsidered(
    connection: AsyncConnection, driver: _Driver, period: Period, current: list[CountedSession]
) -> list[Reconsidered]:
    """Sessions of earlier finalised periods to settle in this statement (spec step 4), and
    sessions counted now in this period that a finalised statement already paid for (a
    session whose start moved here: settled, not paid twice)."""
    earlier = await _earlier_finalised(connection, driver, period.start)
    if not earlier:
        return []
    changes = await _changed_since_finalised(connection, driver, earlier)
    again = changes.statements
    again_ids = {item.ref.id for item in again}
    counted_then: dict[SessionKey, tuple[CountedSession, _Finalised]] = {}
    for item in again:
        for counted in await _counted(connection, driver, item.start, item.end):
            counted_then[(counted.facts.entity_id, counted.facts.session_id)] = (counted, item)
    counted_now = {(c.facts.entity_id, c.facts.session_id): c for c in current}
    lines = await repository.paid_lines(
        connection,
        tenant_id=driver.tenant_id,
        driver_id=driver.driver_id,
        statement_ids=[item.ref.id for item in earlier],
        session_ids={key[1] for key in (*counted_then, *counted_now, *changes.paid_sessions)},
        windows=[(item.start_ms, item.end_ms) for item in again],
    )
    paid = _paid_by_session(lines)
    result: list[Reconsidered] = []
    for key, so_far in paid.items():
        home = next((item for item in earlier if item.covers(so_far.start_ms)), None)
        now: CountedSession | None
        if key in counted_then:
            now = counted_then[key][0]
        elif key in counted_now:
            now = counted_now[key]
        elif key in changes.paid_sessions or (home is not None and home.ref.id in again_ids):
            now = None  # it no longer exists, or no longer counts for this driver
        else:
            continue  # its period was not looked at again: nothing changed for it
        end_ms = now.facts.end_ms if now is not None else None
        if end_ms is None:
            end_ms = await _end_ms_of_line(connection, so_far.first.id, so_far.first_line_number)
        paid_so_far = PaidSoFar(
            entity_id=so_far.entity_id,
            session_id=so_far.session_id,
            start_ms=so_far.start_ms,
            end_ms=so_far.start_ms if end_ms is None else end_ms,
            energy_kwh=so_far.energy_kwh,
            amount=so_far.amount,
            first_statement=so_far.first,
        )
        result.append(
            Reconsidered(
                paid=paid_so_far,
                now=now,
                covering=home.ref if home is not None else so_far.first,
            )
        )
    for key, (counted, item) in counted_then.items():
        if key not in paid:  # arrived (or began to count) after its period was finalised
            result.append(Reconsidered(paid=None, now=counted, covering=item.ref))
    return result


# ---- finalising ---------------------------------------------------------------------------


def _line_rows(
    statement: Statement, statement_id: UUID, versions: dict[SessionKey, int]
) -> list[dict[str, Any]]:
    """A row per line. A line that took a payment back from a session that still exists (it
    no longer counts for the driver) keeps the session's version it looked at, so that only
    a later change brings the session back (the document says null: nothing was priced)."""
    return [
        {
            "statement_id": statement_id,
            "line_number": line.line_number,
            "tenant_id": statement.tenant_id,
            "driver_id": statement.driver.id,
            "kind": line.kind.value,
            "entity_id": line.entity_id,
            "session_id": line.session_id,
            "session_version": line.session_version
            if line.session_version is not None
            else versions.get((line.entity_id, line.session_id)),
            "session_start_ms": line.start_ms,
            "t1_kwh": plain(line.energy_kwh.t1),
            "t2_kwh": plain(line.energy_kwh.t2),
            "t3_kwh": plain(line.energy_kwh.t3),
            "t4_kwh": plain(line.energy_kwh.t4),
            "amount": plain(line.amount),
        }
        for line in statement.lines
    ]


async def _finalise(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    period: Period,
    expected_sha256: str | None,
    now_ms: int,
    done_if_finalised: bool,
    policy: Policy | None,
) -> StoredStatement:
    await repository.lock_counter(connection, tenant_id)
    overlapping = await repository.overlapping(
        connection, tenant_id=tenant_id, driver_id=driver_id, start=period.start, end=period.end
    )
    if overlapping:
        first = overlapping[0]
        if (
            done_if_finalised
            and len(overlapping) == 1
            and (first.period_start, first.period_end)
            == (period.start.isoformat(), period.end.isoformat())
        ):
            row = await repository.get_statement(
                connection, tenant_id=tenant_id, statement_id=first.id
            )
            return StoredStatement.from_row(row)
        raise StatementOverlapError(
            f"driver {driver_id} already has the finalised statement {first.number} "
            f"({first.id}) for {first.period_start}/{first.period_end}, which overlaps "
            f"{period.text}; a finalised statement is never replaced (later changes become "
            "adjustments in the next statement)"
        )
    draft = await compute_draft(connection, tenant_id, driver_id, period, policy=policy)
    if draft.problems:
        shown = "; ".join(draft.problems[:MAX_PROBLEMS_SHOWN])
        more = len(draft.problems) - MAX_PROBLEMS_SHOWN
        raise StatementProblemsError(
            f"the statement of driver {driver_id} for {period.text} cannot be finalised while "
            f"it has problems: {shown}"
            + (f"; and {more} more (see the draft)" if more > 0 else ""),
            problems=draft.problems,
        )
    if expected_sha256 is not None:
        now_sha256 = HashedDocument.of(draft).content_sha256
        if now_sha256 != expected_sha256:
            raise ContentChangedError(
                f"the draft changed since it was checked: its contentSha256 is now {now_sha256}, "
                f"not {expected_sha256}; GET the draft again, check it, and finalise that"
            )
    number = f"{period.start.year}-{await repository.next_number(connection, tenant_id):06d}"
    statement_id = uuid.uuid4()
    final = replace(
        draft,
        status=StatementStatus.FINALISED,
        id=statement_id,
        number=number,
        finalised_ms=now_ms,
    )
    hashed = HashedDocument.of(final)
    stored = StoredStatement(
        id=statement_id,
        number=number,
        driver_id=driver_id,
        period_start=period.start,
        period_end=period.end,
        currency=final.currency,
        total_amount=plain(final.total_amount),
        finalised_ms=now_ms,
        content_json=hashed.content.decode(),
        content_sha256=hashed.content_sha256,
    )
    await repository.insert_statement(
        connection,
        id=stored.id,
        tenant_id=tenant_id,
        driver_id=driver_id,
        number=number,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        currency=stored.currency,
        total_amount=stored.total_amount,
        finalised_ms=now_ms,
        content_json=stored.content_json,
        content_sha256=stored.content_sha256,
    )
    taken_back = {
        (line.entity_id, line.session_id) for line in final.lines if line.session_version is None
    }
    versions = await repository.current_versions(connection, taken_back) if taken_back else {}
    await repository.insert_lines(connection, _line_rows(final, statement_id, versions))
    record_event(
        connection,
        tenant_id=tenant_id,
        type=STATEMENT_FINALISED,
        entity_id=None,
        subject_id=statement_id,
        version=None,
        occurred_ms=now_ms,
        data={
            "statementId": str(statement_id),
            "number": number,
            "driverId": str(driver_id),
            "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
            "currency": stored.currency,
            "totalAmount": stored.total_amount,
            "contentSha256": stored.content_sha256,
        },
    )
    return stored


async def finalise(
    connection: AsyncConnection,
    tenant_id: UUID,
    driver_id: UUID,
    period: Period,
    expected_sha256: str | None,
    now_ms: int,
) -> StoredStatement:
    """Finalise the driver's statement for the period, in the caller's (write) transaction:
    the tenant's counter row is held until it ends, so one finalisation of the tenant at a
    time. ConflictError (409) when a finalised statement of the driver overlaps the period
    (StatementOverlapError), when the draft has problems (StatementProblemsError), or when
    `expected_sha256` is given and the draft's hash is now another (ContentChangedError)."""
    return await _finalise(
        connection,
        tenant_id=tenant_id,
        driver_id=driver_id,
        period=period,
        expected_sha256=expected_sha256,
        now_ms=now_ms,
        done_if_finalised=False,
        policy=None,
    )


async def finalise_if_needed(
    connection: AsyncConnection,
    tenant_id: UUID,
    driver_id: UUID,
    period: Period,
    now_ms: int,
    *,
    policy: Policy | None = None,
) -> StoredStatement:
    """As finalise, for statement runs: a statement of the driver already finalised for
    exactly this period is done, and returned as stored (a run resumed, or run again).
    `policy`: the tenant's, when the caller has loaded it already."""
    return await _finalise(
        connection,
        tenant_id=tenant_id,
        driver_id=driver_id,
        period=period,
        expected_sha256=None,
        now_ms=now_ms,
        done_if_finalised=True,
        policy=policy,
    )


# ---- reading ------------------------------------------------------------------------------


async def get_statement(
    connection: AsyncConnection, tenant_id: UUID, statement_id: UUID
) -> StoredStatement:
    row = await repository.get_statement(connection, tenant_id=tenant_id, statement_id=statement_id)
    if row is None:
        raise statement_not_found(statement_id)
    return StoredStatement.from_row(row)


async def finalised_for(
    connection: AsyncConnection, tenant_id: UUID, driver_id: UUID, period: Period
) -> StoredStatement | None:
    """The driver's statement finalised for exactly this period, if any (exports of runs)."""
    for row in await repository.overlapping(
        connection, tenant_id=tenant_id, driver_id=driver_id, start=period.start, end=period.end
    ):
        if (row.period_start, row.period_end) == (period.start.isoformat(), period.end.isoformat()):
            return await get_statement(connection, tenant_id, row.id)
    return None


async def driver_exists(connection: AsyncConnection, tenant_id: UUID, driver_id: UUID) -> bool:
    return await load_driver(connection, tenant_id, driver_id) is not None


_LIST_KIND = CursorKind.STATEMENTS


def _list_scope(tenant_id: UUID, driver_id: UUID | None, period_start: date | None) -> UUID:
    """A token serves the list it came from: the filters are part of its scope."""
    return uuid.uuid5(tenant_id, f"statements?driverId={driver_id}&periodStart={period_start}")


async def list_statements(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID | None,
    period_start: date | None,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[Any]:
    """Summaries of the tenant's finalised statements, by period start then driver: the
    keyset position is (the period start's day number, the driver id)."""
    scope_id = _list_scope(tenant_id, driver_id, period_start)
    position = unframed_position(
        continuation_token, key=cursor_key, kind=_LIST_KIND, scope_id=scope_id
    )
    after = None
    if position is not None:
        day, after_driver = position
        if not 1 <= day <= date.max.toordinal():
            raise InvalidContinuationTokenError("continuationToken is not one of this list")
        after = (date.fromordinal(day).isoformat(), after_driver)
    rows = await repository.list_statements(
        connection,
        tenant_id=tenant_id,
        driver_id=driver_id,
        period_start=period_start,
        after=after,
        limit=page_size + 1,
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=_LIST_KIND,
        scope_id=scope_id,
        sort_key=lambda row: (date.fromisoformat(row.period_start).toordinal(), row.driver_id),
    )
