"""The OCPP WebSocket handshake over real sockets, and the credentials behind it.

A charge point connects to ws://<server>/ocpp/<tenant id>/<identity> offering the subprotocol
ocpp1.6 or ocpp2.0.1, with HTTP Basic authentication (security profile 1): user name its
identity (the ChargePoint entity's identifier), password the one set by
PUT /v1/entities/{id}/ocpp-credentials (16 to 40 characters). Everything else is refused
before the upgrade: the server answers the upgrade request with HTTP 403 and the `websockets`
client raises InvalidStatus."""

import asyncio
import base64
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from tests.ocpp.charge_points.charger import (
    PASSWORD,
    assert_problem,
    basic_auth,
    charger_path,
    connect_client,
    connect_raw,
    new_identity,
    raw_call,
    register_charge_point,
    ws_url,
)
from tests.support.api import TenantApi

SUBPROTOCOLS = ["ocpp2.0.1", "ocpp1.6"]


async def refused_status(
    base_url: str,
    path: str,
    password: str | None,
    *,
    subprotocols: list[str] | None = None,
    user: str | None = None,
) -> int:
    """Connect and expect a refusal at the handshake; the HTTP status of the refusal."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect_raw(
            base_url,
            path,
            password,
            subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols,
            user=user,
        ):
            pass
    status: int = refused.value.response.status_code
    return status


async def accepted_subprotocol(
    base_url: str, path: str, password: str, subprotocols: list[str]
) -> str | None:
    """Connect, check that a Heartbeat is answered, and return the negotiated subprotocol."""
    async with connect_raw(base_url, path, password, subprotocols=subprotocols) as connection:
        answer = await raw_call(connection, "hb-1", "Heartbeat", {})
        assert answer[:2] == [3, "hb-1"], answer
        assert set(answer[2]) == {"currentTime"}
        return connection.subprotocol


# ---- accepted ---------------------------------------------------------------------------------


async def test_ocpp16_boot_is_accepted_and_the_subprotocol_echoed(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        assert client._connection.subprotocol == "ocpp1.6"
        boot = await client.call(
            call16.BootNotification(
                charge_point_vendor="Acme",
                charge_point_model="Wallbox 11",
                charge_point_serial_number="SN-0001",
                firmware_version="1.2.3",
            ),
            suppress=False,
        )
        assert (boot.status, boot.interval) == ("Accepted", 300)
        assert boot.current_time.endswith("Z")
        heartbeat = await client.call(call16.Heartbeat(), suppress=False)
        assert heartbeat.current_time.endswith("Z")
        status = await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"),
            suppress=False,
        )
        assert status is not None
        authorized = await client.call(call16.Authorize(id_tag="RFID-1"), suppress=False)
        assert authorized.id_tag_info == {"status": "Accepted"}
        transfer = await client.call(call16.DataTransfer(vendor_id="acme"), suppress=False)
        assert transfer.status == "UnknownVendorId"


async def test_ocpp201_boot_is_accepted_and_the_subprotocol_echoed(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "2.0.1") as client:
        assert client._connection.subprotocol == "ocpp2.0.1"
        boot = await client.call(
            call201.BootNotification(
                charging_station={"model": "Wallbox 11", "vendor_name": "Acme"},
                reason="PowerUp",
            ),
            suppress=False,
        )
        assert (boot.status, boot.interval) == ("Accepted", 300)
        assert boot.current_time.endswith("Z")
        heartbeat = await client.call(call201.Heartbeat(), suppress=False)
        assert heartbeat.current_time.endswith("Z")
        status = await client.call(
            call201.StatusNotification(
                timestamp="2024-06-03T19:30:00Z",
                connector_status="Available",
                evse_id=1,
                connector_id=1,
            ),
            suppress=False,
        )
        assert status is not None
        authorized = await client.call(
            call201.Authorize(id_token={"id_token": "RFID-1", "type": "ISO14443"}),
            suppress=False,
        )
        assert authorized.id_token_info == {"status": "Accepted"}


async def test_a_charger_offering_both_versions_speaks_201(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api, location=False, calendar=None)
    both = ["ocpp1.6", "ocpp2.0.1"]
    assert await accepted_subprotocol(live_server, setup.path, PASSWORD, both) == "ocpp2.0.1"
    assert await accepted_subprotocol(
        live_server, setup.path, PASSWORD, ["ocpp1.5", "ocpp1.6"]
    ) == ("ocpp1.6")


@pytest.mark.parametrize(
    ("offered", "version"),
    [("OCPP1.6", "1.6"), ("Ocpp1.6", "1.6"), ("OCPP2.0.1", "2.0.1"), ("ocpp2.0.1", "2.0.1")],
)
async def test_subprotocol_spellings_are_accepted_and_echoed(
    api: TenantApi, live_server: str, offered: str, version: str
) -> None:
    """Chargers spell the subprotocol their own way; the name is matched without regard to
    case, and the answer repeats the charger's own spelling (a client checks it offered it),
    and the charger is served in the version it named."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_raw(live_server, setup.path, PASSWORD, subprotocols=[offered]) as connection:
        assert connection.subprotocol == offered
        answer = await raw_call(connection, "hb-1", "Heartbeat", {})
        assert answer[0] == 3, answer
        boot = (
            {"chargePointVendor": "V", "chargePointModel": "M"}
            if version == "1.6"
            else {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
        )
        answer = await raw_call(connection, "boot-1", "BootNotification", boot)
        assert answer[0] == 3, answer
        assert answer[2]["status"] == "Accepted"


@pytest.mark.parametrize(
    "shape",
    ["{base}/ocpp/{tenant}/{id}/", "{base}/ocpp/{tenant}//{id}", "{base}/ocpp//{tenant}/{id}"],
)
async def test_a_path_with_stray_slashes_is_served(
    api: TenantApi, live_server: str, shape: str
) -> None:
    """`/ocpp/T/CP1/` is what a charger produces when its URL was typed with a trailing
    slash, `/ocpp/T//CP1` when it appends its identity to a URL ending in a slash."""
    setup = await register_charge_point(api, location=False, calendar=None)
    base = live_server.replace("http://", "ws://", 1)
    async with websockets.connect(
        shape.format(base=base, tenant=api.tenant_id, id=setup.identity),
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers={"Authorization": basic_auth(setup.identity, PASSWORD)},
        open_timeout=15,
    ) as connection:
        answer = await raw_call(connection, "hb-1", "Heartbeat", {})
        assert answer[0] == 3, answer


# ---- refused at the handshake ------------------------------------------------------------------


@pytest.mark.parametrize(
    "subprotocols",
    [["ocpp1.5"], ["ocpp2.0"], ["ocpp2.1"], ["OCPP1.6.1"], []],
    ids=["ocpp1.5", "ocpp2.0", "ocpp2.1", "ocpp1.6.1", "none"],
)
async def test_without_a_subprotocol_in_common_the_handshake_completes_and_closes(
    api: TenantApi, live_server: str, subprotocols: list[str]
) -> None:
    """OCPP-J: a server that agrees to none of the offered subprotocols completes the
    handshake without one and closes the connection at once (1002, protocol error)."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_raw(
        live_server, setup.path, PASSWORD, subprotocols=subprotocols or None
    ) as connection:
        assert connection.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1002
    # The right subprotocol with the same credentials is accepted.
    assert await accepted_subprotocol(live_server, setup.path, PASSWORD, ["ocpp1.6"]) == ("ocpp1.6")


async def test_an_unknown_identity_is_refused_with_403(api: TenantApi, live_server: str) -> None:
    await register_charge_point(api, location=False, calendar=None)
    for subprotocol in SUBPROTOCOLS:
        assert (
            await refused_status(
                live_server,
                charger_path(api.tenant_id, new_identity("UNKNOWN")),
                PASSWORD,
                subprotocols=[subprotocol],
            )
            == 403
        )


async def test_a_charge_point_without_credentials_is_refused(
    api: TenantApi, live_server: str
) -> None:
    """A ChargePoint entity exists with this identifier, but no password was ever set."""
    identity = new_identity()
    await api.create_entity("ChargePoint", name="no password", identifier=identity)
    assert await refused_status(live_server, charger_path(api.tenant_id, identity), PASSWORD) == 403


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_a_wrong_password_is_refused_with_403(
    api: TenantApi, live_server: str, subprotocol: str
) -> None:
    setup = await register_charge_point(api, location=False, calendar=None)
    for wrong in (PASSWORD + "x", PASSWORD[:-1], PASSWORD.upper(), "", "x" * 16):
        assert (
            await refused_status(live_server, setup.path, wrong, subprotocols=[subprotocol]) == 403
        )
    assert await accepted_subprotocol(live_server, setup.path, PASSWORD, [subprotocol]) == (
        subprotocol
    )


async def test_a_user_name_other_than_the_identity_is_refused(
    api: TenantApi, live_server: str
) -> None:
    """Two charge points of the tenant: A's password with B's user name on A's path, and B's
    own credentials on A's path, are both refused; each on its own path is accepted."""
    first = await register_charge_point(api, location=False, calendar=None)
    second = await register_charge_point(
        api, password="second-password-00002", location=False, calendar=None
    )
    assert await refused_status(live_server, first.path, first.password, user="other") == 403
    assert (
        await refused_status(live_server, first.path, first.password, user=second.identity) == 403
    )
    assert (
        await refused_status(live_server, first.path, second.password, user=second.identity) == 403
    )
    assert (
        await refused_status(live_server, first.path, first.password, user=first.identity.lower())
        == 403
    )
    for setup in (first, second):
        assert await accepted_subprotocol(live_server, setup.path, setup.password, ["ocpp1.6"]) == (
            "ocpp1.6"
        )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abcdefghijklmnop",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-at-all").decode(),
    ],
    ids=["missing", "bearer", "basic-empty", "basic-garbage", "basic-no-colon"],
)
async def test_a_missing_or_malformed_authorization_is_refused(
    api: TenantApi, live_server: str, authorization: str | None
) -> None:
    setup = await register_charge_point(api, location=False, calendar=None)
    headers = {} if authorization is None else {"Authorization": authorization}
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            ws_url(live_server, setup.path),
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=headers,
            open_timeout=15,
        ):
            pass
    assert refused.value.response.status_code == 403


def _server_logs(base: Path) -> str:
    paths = {path.resolve() for path in base.glob("*/server.log")}
    return "\n".join(path.read_text(errors="replace") for path in sorted(paths))


async def test_a_refused_wrong_password_is_logged_without_the_password(
    api: TenantApi, live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The live server logs to <pytest tmp>/server*/server.log: who was refused, from where,
    and why; never the password nor the Authorization header that carried it."""
    setup = await register_charge_point(api, location=False, calendar=None)
    wrong = f"wrong-{uuid.uuid4().hex}"  # 38 characters nobody else logs
    assert await refused_status(live_server, setup.path, wrong) == 403
    expected = (
        f"refused {api.tenant_id}/{setup.identity} from 127.0.0.1: "
        "unknown identity or wrong password"
    )
    deadline = time.monotonic() + 5
    logs = _server_logs(tmp_path_factory.getbasetemp())
    while expected not in logs and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        logs = _server_logs(tmp_path_factory.getbasetemp())
    assert expected in logs
    token = basic_auth(setup.identity, wrong).removeprefix("Basic ")
    for secret in (wrong, token, PASSWORD):
        assert secret not in logs


# ---- PUT /v1/entities/{id}/ocpp-credentials ------------------------------------------------


async def put_credentials(api: TenantApi, entity_id: str, password: Any) -> Any:
    return await api.http.put(
        f"/v1/entities/{entity_id}/ocpp-credentials", json={"password": password}
    )


async def test_credentials_answer_identity_path_and_subprotocols_never_the_password(
    api: TenantApi,
) -> None:
    """The path names the tenant (identities are per tenant); the base path is what the
    tenant's chargers are configured with (they append their identity)."""
    identity = new_identity()
    entity = await api.create_entity("ChargePoint", name="wallbox", identifier=identity)
    response = await put_credentials(api, entity["id"], PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "identity": identity,
        "path": f"/ocpp/{api.tenant_id}/{identity}",
        "basePath": f"/ocpp/{api.tenant_id}",
        "legacyPath": None,
        "subprotocols": ["ocpp2.0.1", "ocpp1.6"],
    }
    assert PASSWORD not in response.text
    fetched = await api.http.get(f"/v1/entities/{entity['id']}")
    assert fetched.status_code == 200, fetched.text
    assert PASSWORD not in fetched.text
    assert "password" not in fetched.text.lower()


@pytest.mark.parametrize("length", [16, 40])
async def test_passwords_of_16_and_40_characters_are_accepted(
    api: TenantApi, live_server: str, length: int
) -> None:
    password = ("p4ss-" * 10)[:length]
    setup = await register_charge_point(api, password=password, location=False, calendar=None)
    assert await accepted_subprotocol(live_server, setup.path, password, ["ocpp1.6"]) == ("ocpp1.6")


@pytest.mark.parametrize("password", ["", "x" * 15, "y" * 41, 1234567890123456789, None])
async def test_a_password_too_short_too_long_or_not_text_is_a_400(
    api: TenantApi, live_server: str, password: Any
) -> None:
    identity = new_identity()
    entity = await api.create_entity("ChargePoint", name="wallbox", identifier=identity)
    assert_problem(await put_credentials(api, entity["id"], password), 400)
    # Nothing was set: the identity is still unknown at the handshake.
    path = charger_path(api.tenant_id, identity)
    assert await refused_status(live_server, path, str(password)) == 403


@pytest.mark.parametrize("entity_type", ["HeatPump", "EV", "Meter"])
async def test_credentials_for_an_entity_that_is_no_charge_point_are_a_409(
    api: TenantApi, live_server: str, entity_type: str
) -> None:
    identity = new_identity()
    entity = await api.create_entity(entity_type, name="not a charger", identifier=identity)
    assert_problem(await put_credentials(api, entity["id"], PASSWORD), 409)
    assert await refused_status(live_server, charger_path(api.tenant_id, identity), PASSWORD) == 403


async def test_credentials_for_a_charge_point_without_identifier_are_a_409(
    api: TenantApi,
) -> None:
    entity = await api.create_entity("ChargePoint", name="no identifier")
    assert_problem(await put_credentials(api, entity["id"], PASSWORD), 409)


async def test_credentials_for_an_unknown_or_other_tenants_entity_are_a_404(
    api: TenantApi, other_api: TenantApi
) -> None:
    assert_problem(await put_credentials(api, str(uuid.uuid4()), PASSWORD), 404)
    theirs = await other_api.create_entity("ChargePoint", name="theirs", identifier=new_identity())
    assert_problem(await put_credentials(api, theirs["id"], PASSWORD), 404)


async def test_setting_the_password_again_replaces_the_old_one(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api, location=False, calendar=None)
    new_password = "the-new-password-000002"
    response = await put_credentials(api, setup.entity_id, new_password)
    assert response.status_code == 200, response.text
    assert await refused_status(live_server, setup.path, PASSWORD) == 403
    assert await accepted_subprotocol(live_server, setup.path, new_password, ["ocpp1.6"]) == (
        "ocpp1.6"
    )


async def _connects(base_url: str, path: str, identity: str, password: str) -> bool:
    try:
        async with connect_raw(base_url, path, password, user=identity) as connection:
            answer = await raw_call(connection, "hb", "Heartbeat", {})
            return bool(answer[0] == 3)
    except InvalidStatus:
        return False


@pytest.mark.parametrize(
    "identifier",
    ["L" * 42 + "{u}", "L" * 43 + "{u}", "CP:{u}", "site/{u}"],
    ids=["48-characters", "49-characters", "colon", "slash"],
)
async def test_credentials_are_only_handed_out_for_identities_a_charger_can_use(
    api: TenantApi, live_server: str, identifier: str
) -> None:
    """OCPP identities are at most 48 characters (the WebSocket route allows no more), and
    HTTP Basic cannot carry a user name with a colon, nor a URL path segment a slash. For such
    an identifier the PUT must be refused (409, like an entity without identifier); when it
    is answered 200, the charger must be able to connect with the identity and path given."""
    identifier = identifier.format(u=uuid.uuid4().hex[:6].upper())
    entity = await api.create_entity("ChargePoint", name="odd identity", identifier=identifier)
    response = await put_credentials(api, entity["id"], PASSWORD)
    assert response.status_code in (200, 409), response.text
    if response.status_code == 409:
        assert_problem(response, 409)
        return
    answer = response.json()
    assert answer["identity"] == identifier
    path = f"/ocpp/{api.tenant_id}/{urllib.parse.quote(identifier, safe='')}"
    assert await _connects(live_server, path, identifier, PASSWORD), (
        f"PUT ocpp-credentials answered {answer} but a charger with that identity "
        "is refused at the handshake"
    )
