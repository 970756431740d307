"""Keyset paging shared by every list: fetch one row more than asked to know if a next
page exists, and hand out a signed continuation token that resumes after the last row."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from chargeledger.domain.cursor import (
    CursorKind,
    InvalidCursorError,
    PageCursor,
    decode_cursor,
    encode_cursor,
)
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import InvalidContinuationTokenError

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Frame:
    """A half-open time frame: start <= instant < end. Lists without a frame use (0, 0)."""

    start_ms: int
    end_ms: int


NO_FRAME = Frame(0, 0)


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    rows: Sequence[Row]
    frame: Frame
    page_size: int
    continuation_token: str | None


def resume_after(
    token: str | None,
    *,
    key: TokenKeys,
    kind: CursorKind,
    scope_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int | None,
) -> tuple[Frame, tuple[int, UUID] | None]:
    """The frame to list and the keyset position to resume after, checking the token is ours.

    `frame_end_ms` None means the client gave no end: the frame ends at the end that was
    fixed when the first page was served, so later pages see the same frame.
    """
    if token is None:
        raise ValueError("resume_after needs a token; first pages have no position")
    try:
        cursor = decode_cursor(token, key)
    except InvalidCursorError as error:
        raise InvalidContinuationTokenError(str(error)) from None
    if cursor.kind != kind or cursor.scope_id != scope_id:
        raise InvalidContinuationTokenError(
            "continuationToken was issued for another list; start again without it"
        )
    if cursor.frame_start_ms != frame_start_ms or (
        frame_end_ms is not None and cursor.frame_end_ms != frame_end_ms
    ):
        raise InvalidContinuationTokenError(
            "continuationToken was issued for another time frame: pass the same start and end "
            "as for the first page, or follow links.next"
        )
    return Frame(cursor.frame_start_ms, cursor.frame_end_ms), (
        cursor.after_sort_ms,
        cursor.after_id,
    )


def unframed_position(
    token: str | None, *, key: TokenKeys, kind: CursorKind, scope_id: UUID
) -> tuple[int, UUID] | None:
    """For lists without a time frame: where to resume, None for the first page."""
    if token is None:
        return None
    _, after = resume_after(
        token, key=key, kind=kind, scope_id=scope_id, frame_start_ms=0, frame_end_ms=0
    )
    return after


def make_page(
    rows: Sequence[Row],
    *,
    page_size: int,
    frame: Frame,
    key: TokenKeys,
    kind: CursorKind,
    scope_id: UUID,
    sort_key: Callable[[Row], tuple[int, UUID]],
) -> Page[Row]:
    """`rows` holds up to page_size + 1 rows; the extra one only says a next page exists."""
    if len(rows) <= page_size:
        return Page(rows=rows, frame=frame, page_size=page_size, continuation_token=None)
    served = rows[:page_size]
    last_sort_ms, last_id = sort_key(served[-1])
    token = encode_cursor(
        PageCursor(
            kind=kind,
            scope_id=scope_id,
            frame_start_ms=frame.start_ms,
            frame_end_ms=frame.end_ms,
            after_sort_ms=last_sort_ms,
            after_id=last_id,
        ),
        key,
    )
    return Page(rows=served, frame=frame, page_size=page_size, continuation_token=token)
