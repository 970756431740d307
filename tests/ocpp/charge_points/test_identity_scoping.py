"""OCPP identities are per tenant (issue 10, finding 7), and nothing a charger puts in the
path can forge a log line (finding 9, identity part).

A charger connects at /ocpp/<tenant id>/<identity>: registering an identity another tenant
uses answers exactly as for a free one, neither tenant can reach or lock out the other's
station, and an unknown tenant is refused exactly as an unknown identity. Stations registered
before identities were per tenant keep /ocpp/<identity> (their `legacy_identity`, set by
migration 0007: tests/storage/test_migrations.py upgrades a real one); here one is made so
by setting that column, on the suite's live server."""

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.exceptions import InvalidStatus

from chargeledger.storage.database import Database
from chargeledger.storage.tables import ocpp_stations
from tests.ocpp.charge_points.charger import (
    PASSWORD,
    ChargePointSetup,
    charger_path,
    connect_raw,
    list_ocpp_events,
    new_identity,
    raw_call,
    register_charge_point,
)
from tests.support.api import TenantApi

OTHER_PASSWORD = "other-tenant-password-1"


async def connects(base_url: str, path: str, password: str, *, user: str | None = None) -> bool:
    """Whether a charger is accepted at `path` (its Heartbeat answered) or refused at the
    handshake with 403; anything else fails the test."""
    try:
        async with connect_raw(base_url, path, password, user=user) as connection:
            answer = await raw_call(connection, "hb", "Heartbeat", {})
            assert answer[0] == 3, answer
            return True
    except InvalidStatus as refused:
        status = refused.response.status_code
    assert status == 403
    return False


async def put_credentials(api: TenantApi, entity_id: str, password: str) -> Any:
    return await api.http.put(
        f"/v1/entities/{entity_id}/ocpp-credentials", json={"password": password}
    )


async def make_legacy(database: Database, setup: ChargePointSetup) -> None:
    """What migration 0007 does to a station registered before it."""
    async with database.write() as connection:
        await connection.execute(
            sa.update(ocpp_stations)
            .where(ocpp_stations.c.entity_id == uuid.UUID(setup.entity_id))
            .values(legacy_identity=setup.identity)
        )


# ---- finding 7: no way to learn or take another tenant's identity ------------------------


async def test_an_identity_another_tenant_uses_is_registered_exactly_as_a_free_one(
    api: TenantApi, other_api: TenantApi, live_server: str
) -> None:
    """Before: 409 for an identity in use by another tenant, 200 for a free one; the second
    tenant learned the identity was taken, and by claiming one first locked its owner out.
    Now both answer 200 with the same members, each path under the tenant's own id."""
    theirs = await register_charge_point(other_api, password=OTHER_PASSWORD, location=False)
    same = await api.create_entity("ChargePoint", name="same", identifier=theirs.identity)
    free = await api.create_entity("ChargePoint", name="free", identifier=new_identity())
    taken_answer = await put_credentials(api, same["id"], PASSWORD)
    free_answer = await put_credentials(api, free["id"], PASSWORD)
    assert (taken_answer.status_code, free_answer.status_code) == (200, 200), taken_answer.text
    for answer, identity in ((taken_answer, theirs.identity), (free_answer, free["identifier"])):
        assert answer.json() == {
            "identity": identity,
            "path": f"/ocpp/{api.tenant_id}/{identity}",
            "basePath": f"/ocpp/{api.tenant_id}",
            "legacyPath": None,
            "subprotocols": ["ocpp2.0.1", "ocpp1.6"],
        }
    ours = charger_path(api.tenant_id, theirs.identity)
    # Each charger is served at its own tenant's path with its own password, and only there.
    assert await connects(live_server, ours, PASSWORD)
    assert await connects(live_server, theirs.path, OTHER_PASSWORD)
    assert not await connects(live_server, ours, OTHER_PASSWORD)
    assert not await connects(live_server, theirs.path, PASSWORD)


async def test_a_charger_reaches_only_its_own_tenants_station(
    api: TenantApi, other_api: TenantApi, live_server: str
) -> None:
    """Two tenants' stations share an identity: what a charger sends at tenant A's path is
    A's station's, never B's (B's event log stays empty), whichever password it tries."""
    first = await register_charge_point(api, location=False, calendar=None)
    second = await register_charge_point(
        other_api, identity=first.identity, password=OTHER_PASSWORD, location=False, calendar=None
    )
    async with connect_raw(live_server, first.path, first.password) as connection:
        boot = {"chargePointVendor": "Acme", "chargePointModel": "A"}
        assert (await raw_call(connection, "b", "BootNotification", boot))[0] == 3
    assert [e["kind"] for e in await list_ocpp_events(api, first.entity_id)] == ["BootNotification"]
    assert await list_ocpp_events(other_api, second.entity_id) == []
    # B's password at A's path, and A's at B's: both refused.
    assert not await connects(live_server, first.path, second.password)
    assert not await connects(live_server, second.path, first.password)


async def test_two_tenants_chargers_with_one_identity_stay_connected_side_by_side(
    api: TenantApi, other_api: TenantApi, live_server: str
) -> None:
    """The live connections are one per (tenant, identity): the second tenant's charger
    connecting does not replace the first one's (which it would if they were keyed by
    identity: the older connection is closed as the newer one opens)."""
    first = await register_charge_point(api, location=False, calendar=None)
    second = await register_charge_point(
        other_api, identity=first.identity, password=OTHER_PASSWORD, location=False, calendar=None
    )
    async with connect_raw(live_server, first.path, first.password) as older:
        assert (await raw_call(older, "h1", "Heartbeat", {}))[0] == 3
        async with connect_raw(live_server, second.path, second.password) as newer:
            assert (await raw_call(newer, "h2", "Heartbeat", {}))[0] == 3
            assert (await raw_call(older, "h3", "Heartbeat", {}))[0] == 3
    kinds = [event["kind"] for event in await list_ocpp_events(api, first.entity_id)]
    assert "ConnectionReplaced" not in kinds


async def test_an_unknown_tenant_is_refused_exactly_as_an_unknown_identity(
    api: TenantApi,
    other_api: TenantApi,
    live_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """403 at the handshake in every case: a tenant that does not exist, a tenant that
    exists but has no such identity (it is another tenant's), an identity our tenant does
    not have, and a tenant key that is no tenant id at all. The first three are logged in
    the same words: nothing tells an unknown tenant from an unknown identity."""
    setup = await register_charge_point(api, location=False, calendar=None)
    unknown = new_identity("NONE")
    addresses = [
        (uuid.uuid4(), setup.identity),  # no such tenant
        (other_api.tenant_id, setup.identity),  # a tenant without it
        (api.tenant_id, unknown),  # our tenant, unknown identity
    ]
    for tenant_id, identity in addresses:
        path = charger_path(tenant_id, identity)
        assert not await connects(live_server, path, setup.password, user=identity), path
    for path in (
        f"/ocpp/not-a-tenant/{setup.identity}",
        f"/ocpp/{str(api.tenant_id).replace('-', '')}/{setup.identity}",  # not canonical
    ):
        assert not await connects(live_server, path, setup.password, user=setup.identity), path
    assert await connects(live_server, setup.path, setup.password)
    for tenant_id, identity in addresses:
        (line,) = await _lines_with(tmp_path_factory.getbasetemp(), f"{tenant_id}/{identity} ")
        assert "unknown identity or wrong password" in line, line


async def test_a_new_registration_is_not_reachable_on_the_path_without_tenant(
    api: TenantApi, live_server: str
) -> None:
    """Only stations registered before identities were per tenant answer at /ocpp/<identity>;
    a new one is reached through its tenant's path only."""
    setup = await register_charge_point(api, location=False, calendar=None)
    assert not await connects(live_server, f"/ocpp/{setup.identity}", setup.password)
    assert await connects(live_server, setup.path, setup.password)


# ---- stations registered before: the legacy path -------------------------------------------


async def test_a_legacy_station_answers_at_both_paths_and_keeps_its_old_one_on_a_new_password(
    api: TenantApi, live_server: str, database: Database
) -> None:
    """Its charger was configured with /ocpp/<identity>: that keeps working, the tenant path
    works too, and setting a new password keeps the old path (the answer names it)."""
    setup = await register_charge_point(api, location=False, calendar=None)
    await make_legacy(database, setup)
    legacy = f"/ocpp/{setup.identity}"
    assert await connects(live_server, legacy, setup.password)
    assert await connects(live_server, setup.path, setup.password)
    new_password = "the-new-password-000003"
    answer = await put_credentials(api, setup.entity_id, new_password)
    assert answer.status_code == 200, answer.text
    assert answer.json()["legacyPath"] == legacy
    assert answer.json()["path"] == setup.path
    assert not await connects(live_server, legacy, setup.password)
    assert await connects(live_server, legacy, new_password)


async def test_another_tenant_registering_a_legacy_identity_gets_its_own_station(
    api: TenantApi, other_api: TenantApi, live_server: str, database: Database
) -> None:
    """The legacy identity stays reserved for the legacy path only: another tenant's
    registration of it answers 200 (as for any identity) and is reached at its own tenant
    path; the legacy path still reaches the original station, and only with its password."""
    legacy_setup = await register_charge_point(api, location=False, calendar=None)
    await make_legacy(database, legacy_setup)
    theirs = await register_charge_point(
        other_api,
        identity=legacy_setup.identity,
        password=OTHER_PASSWORD,
        location=False,
        calendar=None,
    )
    legacy = f"/ocpp/{legacy_setup.identity}"
    assert await connects(live_server, theirs.path, OTHER_PASSWORD)
    assert not await connects(live_server, legacy, OTHER_PASSWORD)
    assert await connects(live_server, legacy, legacy_setup.password)
    async with connect_raw(live_server, legacy, legacy_setup.password) as connection:
        boot = {"chargePointVendor": "Acme", "chargePointModel": "legacy"}
        assert (await raw_call(connection, "b", "BootNotification", boot))[0] == 3
    assert [e["kind"] for e in await list_ocpp_events(api, legacy_setup.entity_id)] == [
        "BootNotification"
    ]
    assert await list_ocpp_events(other_api, theirs.entity_id) == []


# ---- finding 9: the path cannot forge a log line ---------------------------------------------


def _live_server_log(base: Path) -> list[str]:
    """The lines of the suite's live server's log (conftest: <pytest tmp>/server*/server.log;
    pytest links servercurrent to the newest)."""
    paths = sorted({path.resolve() for path in base.glob("server*/server.log")})
    return [line for path in paths for line in path.read_text(errors="replace").splitlines()]


async def _lines_with(base: Path, marker: str) -> list[str]:
    """The log lines holding `marker`, once there is one (the server writes them before it
    answers the handshake, from another process)."""
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in _live_server_log(base) if marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "shape",
    [
        "/ocpp/CP%0A{marker}%20refused%20nothing",  # legacy path: the identity
        "/ocpp/{tenant}/CP%0A{marker}",  # tenant path: the identity
        "/ocpp/CP%0D%0A{marker}/CP-1",  # the tenant key
        "/ocpp/CP%0A{marker}/x/y",  # a path that names no charger at all
    ],
    ids=["legacy-identity", "identity", "tenant-key", "no-charger"],
)
async def test_a_line_break_in_the_path_is_refused_and_logged_escaped_on_one_line(
    api: TenantApi, live_server: str, tmp_path_factory: pytest.TempPathFactory, shape: str
) -> None:
    """A charger identity holding `%0A` (a URL-encoded newline) used to start a log line of
    its own, forged by the caller. It is refused at the handshake (no identity may hold a
    control character), and logged as one record, the newline escaped: the marker that
    follows it never starts a line, it appears once, after the escaped newline."""
    marker = f"FORGED-{uuid.uuid4().hex[:12]}"
    path = shape.format(marker=marker, tenant=api.tenant_id)
    assert not await connects(live_server, path, PASSWORD, user="CP")
    lines = await _lines_with(tmp_path_factory.getbasetemp(), marker)
    assert len(lines) == 1, lines
    (line,) = lines
    assert "refused" in line
    # The newline is escaped in the record, however the record is framed (a JSON log
    # escapes the escape's backslash once more).
    assert re.search(r"CP(\\+r)?\\+n" + marker, line), line


async def test_a_long_path_is_logged_cut_short(
    api: TenantApi, live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever a client puts in the path, at most 64 characters of it reach the log."""
    marker = f"LONG-{uuid.uuid4().hex[:12]}"
    assert not await connects(live_server, f"/ocpp/{marker}" + "x" * 2_000, PASSWORD, user="CP")
    (line,) = await _lines_with(tmp_path_factory.getbasetemp(), marker)
    logged = re.search(marker + r"x*", line)
    assert logged is not None, line
    assert len(logged.group()) == 64, line
