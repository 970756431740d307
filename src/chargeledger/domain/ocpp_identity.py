"""Where a charge point connects: its identity, and the WebSocket path that names it.

A charger connects at /ocpp/<tenant id>/<identity>: the tenant's id is the base URL all of
its chargers are configured with (most append their identity themselves), so identities are
unique within a tenant only and no tenant can see or take another's. Stations registered
while the path named no tenant also answer at /ocpp/<identity> (the legacy path).
"""

import re
from dataclasses import dataclass
from urllib.parse import quote
from uuid import UUID

MAX_IDENTITY_LENGTH = 48
# OCPP 2.0.1's identifierString (what 1.6 chargers send in practice too), without ':', which
# an HTTP Basic user name cannot hold. Anything else (control characters, spaces, '/', '%')
# is no identity a charger can be given, and is refused at the handshake.
IDENTITY_PATTERN = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")
IDENTITY_CHARACTERS = "A-Z a-z 0-9 * - _ = + | @ ."
_TENANT_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
OCPP_PATH_PREFIX = "/ocpp"


@dataclass(frozen=True, slots=True)
class ChargerAddress:
    tenant_id: UUID | None  # None: the legacy path, /ocpp/<identity>
    identity: str

    @property
    def label(self) -> str:
        """How logs name the charger: <tenant id>/<identity>, or the identity alone."""
        return self.identity if self.tenant_id is None else f"{self.tenant_id}/{self.identity}"


def is_charger_identity(text: str) -> bool:
    return IDENTITY_PATTERN.fullmatch(text) is not None


def tenant_base_path(tenant_id: UUID) -> str:
    """The URL path a tenant's chargers are configured with (they append their identity)."""
    return f"{OCPP_PATH_PREFIX}/{tenant_id}"


def charger_path(tenant_id: UUID, identity: str) -> str:
    return f"{tenant_base_path(tenant_id)}/{_path_segment(identity)}"


def legacy_charger_path(identity: str) -> str:
    return f"{OCPP_PATH_PREFIX}/{_path_segment(identity)}"


def _path_segment(identity: str) -> str:
    # '|' is the one identity character a URL path cannot hold as it is.
    return quote(identity, safe="*=+@")


def charger_address(path: str) -> ChargerAddress | None:
    """The charger named by what follows /ocpp/ (percent-decoded): `<tenant id>/<identity>`
    or, legacy, `<identity>`. Empty segments are ignored: a URL typed with a trailing slash
    gives `T/CP1/`, one ending in a slash with the identity appended `T//CP1`. None when the
    path names no charger: more segments, a tenant that is no UUID, an identity outside
    OCPP's identifierString."""
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) == 1:
        tenant_id, identity = None, segments[0]
    elif len(segments) == 2 and _TENANT_KEY.fullmatch(segments[0]):
        tenant_id, identity = UUID(segments[0]), segments[1]
    else:
        return None
    if not is_charger_identity(identity):
        return None
    return ChargerAddress(tenant_id=tenant_id, identity=identity)
