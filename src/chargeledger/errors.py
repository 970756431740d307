"""Errors that services raise. Each knows its HTTP status; the API turns it into RFC 9457."""

from typing import Any, ClassVar


class ChargeLedgerError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"
    # A URN per kind of problem, documented in the README's "Errors" section.
    type: ClassVar[str] = "about:blank"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidInputError(ChargeLedgerError):
    status = 400
    title = "Invalid input"
    type = "urn:chargeledger:problem:invalid-input"


class InvalidContinuationTokenError(ChargeLedgerError):
    status = 400
    title = "Invalid continuation token"
    type = "urn:chargeledger:problem:invalid-continuation-token"


class UnauthorizedError(ChargeLedgerError):
    status = 401
    title = "Unauthorized"
    type = "urn:chargeledger:problem:unauthorized"


class NotFoundError(ChargeLedgerError):
    status = 404
    title = "Not Found"
    type = "urn:chargeledger:problem:not-found"


class ConflictError(ChargeLedgerError):
    status = 409
    title = "Conflict"
    type = "urn:chargeledger:problem:conflict"


class UnsupportedMediaTypeError(ChargeLedgerError):
    status = 415
    title = "Unsupported Media Type"
    type = "about:blank"


class CaptureDisabledError(ConflictError):
    type = "urn:chargeledger:problem:capture-disabled"


class DatabaseUnavailableError(ChargeLedgerError):
    """The database is down, unreachable, too slow or locked: nothing the client did wrong,
    and the same request may well succeed a little later (README, "Operations")."""

    status = 503
    title = "Service Unavailable"
    type = "urn:chargeledger:problem:database-unavailable"
    # What the answer's Retry-After says: about as long as the shortest timeout involved.
    retry_after_s: ClassVar[int] = 5


class TooManyRequestsError(ChargeLedgerError):
    """A rate limit of POST /v1/authentication is exhausted (api/rate_limits.py); the answer's
    Retry-After says when the limit lets the next attempt through."""

    status = 429
    title = "Too Many Requests"
    type = "urn:chargeledger:problem:too-many-requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class HashingBusyError(ChargeLedgerError):
    """The process already checks as many client secrets as it may, and its queue is full
    (auth/hashing_gate.py). A 503, not a 429: the caller may have sent one request; the
    server is what is overloaded, and Retry-After tells everyone when to come back."""

    status = 503
    title = "Service Unavailable"
    type = "urn:chargeledger:problem:authentication-busy"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


# The same words whether the thing does not exist or belongs to another tenant.
def entity_not_found(entity_id: object) -> NotFoundError:
    return NotFoundError(f"entity {entity_id} was not found")


def location_not_found(location_id: object) -> NotFoundError:
    return NotFoundError(f"location {location_id} was not found")
