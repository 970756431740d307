"""A charger's OCPP settings: its meter's public key (to verify signed meter values) and the
deviations from the specification tolerated for it."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.ocmf import InvalidPublicKeyError, load_public_key, public_key_text
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.entities.service import EntityType, get_entity
from chargeledger.errors import ConflictError, InvalidInputError
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp import service as ocpp_service


@dataclass(frozen=True, slots=True)
class OcppSettings:
    identity: str
    meter_public_key: str | None  # canonical: upper-case hex of the DER SubjectPublicKeyInfo
    zoneless_timestamps_as_utc: bool
    numbers_as_strings: bool


def _settings_of(station: sa.Row[Any]) -> OcppSettings:
    return OcppSettings(
        identity=station.identity,
        meter_public_key=station.meter_public_key,
        zoneless_timestamps_as_utc=bool(station.zoneless_timestamps_as_utc),
        numbers_as_strings=bool(station.numbers_as_strings),
    )


async def _station(
    connection: AsyncConnection, tenant_id: UUID, entity_id: UUID, *, lock: bool
) -> tuple[sa.Row[Any], sa.Row[Any]]:
    entity = await get_entity(
        connection, tenant_id=tenant_id, entity_id=entity_id, lock="update" if lock else None
    )
    if entity.type != EntityType.CHARGE_POINT:
        raise ConflictError(
            f"entity {entity_id} is a {entity.type}; only a ChargePoint speaks OCPP"
        )
    station = await ocpp_repository.station_by_entity(connection, entity_id=entity_id)
    if station is None:
        raise ConflictError(
            f"entity {entity_id} has no OCPP credentials yet: PUT .../ocpp-credentials first"
        )
    return entity, station


async def get_settings(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID
) -> OcppSettings:
    _, station = await _station(connection, tenant_id, entity_id, lock=False)
    return _settings_of(station)


async def put_settings(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    meter_public_key: str | None,
    zoneless_timestamps_as_utc: bool,
    numbers_as_strings: bool,
    config: DetectorConfig,
    now_ms: int,
) -> OcppSettings:
    """Replace the settings. A new meter key re-assesses the signed evidence of the
    charger's sessions at once; tolerances apply from the charger's next connection."""
    entity, station = await _station(connection, tenant_id, entity_id, lock=True)
    key_text = None
    if meter_public_key is not None:
        try:
            key_text = public_key_text(load_public_key(meter_public_key))
        except InvalidPublicKeyError as error:
            raise InvalidInputError(
                f"meterPublicKey: {error}",
                errors=[{"name": "meterPublicKey", "in": "body", "detail": str(error)}],
            ) from None
    await ocpp_repository.update_station(
        connection,
        entity_id=entity_id,
        meter_public_key=key_text,
        zoneless_timestamps_as_utc=zoneless_timestamps_as_utc,
        numbers_as_strings=numbers_as_strings,
    )
    if key_text != station.meter_public_key:
        await ocpp_service.reassess_evidence(connection, entity, config=config, now_ms=now_ms)
    updated = await ocpp_repository.station_by_entity(connection, entity_id=entity_id)
    assert updated is not None
    return _settings_of(updated)
