"""Every message a charger may send (OCPP 1.6 with its security extension, and 2.0.1) gets
a conforming answer, and is kept in the charger's event log, newest first, paged."""

from typing import Any

import pytest
from ocpp.messages import get_validator

from tests.ocpp.charge_points.charger import (
    ChargePointSetup,
    connect_raw,
    list_ocpp_events,
    raw_call,
    register_charge_point,
)
from tests.support.api import TenantApi

NOW = "2024-06-03T19:30:00Z"
PROFILE = {
    "id": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
        }
    ],
}

# (version, action, a valid request, the answer we give)
MESSAGES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "1.6",
        "DataTransfer",
        {"vendorId": "com.example", "data": "x"},
        {"status": "UnknownVendorId"},
    ),
    ("1.6", "DiagnosticsStatusNotification", {"status": "Uploaded"}, {}),
    ("1.6", "FirmwareStatusNotification", {"status": "Installed"}, {}),
    ("1.6", "LogStatusNotification", {"status": "Uploaded", "requestId": 7}, {}),
    ("1.6", "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": NOW}, {}),
    ("1.6", "SignedFirmwareStatusNotification", {"status": "Installed", "requestId": 3}, {}),
    (
        "1.6",
        "SignCertificate",
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
        {"status": "Rejected"},
    ),
    ("2.0.1", "ClearedChargingLimit", {"chargingLimitSource": "EMS"}, {}),
    ("2.0.1", "DataTransfer", {"vendorId": "com.example"}, {"status": "UnknownVendorId"}),
    ("2.0.1", "FirmwareStatusNotification", {"status": "Installed"}, {}),
    (
        "2.0.1",
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AAAA",
        },
        {"status": "Failed", "exiResponse": ""},
    ),
    (
        "2.0.1",
        "GetCertificateStatus",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "00",
                "issuerKeyHash": "00",
                "serialNumber": "01",
                "responderURL": "http://ocsp.example.com",
            }
        },
        {"status": "Failed"},
    ),
    ("2.0.1", "LogStatusNotification", {"status": "Uploaded", "requestId": 7}, {}),
    ("2.0.1", "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}, {}),
    (
        "2.0.1",
        "NotifyCustomerInformation",
        {"data": "none", "seqNo": 0, "generatedAt": NOW, "requestId": 1},
        {},
    ),
    ("2.0.1", "NotifyDisplayMessages", {"requestId": 1}, {}),
    (
        "2.0.1",
        "NotifyEVChargingNeeds",
        {"chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}, "evseId": 1},
        {"status": "Rejected"},
    ),
    (
        "2.0.1",
        "NotifyEVChargingSchedule",
        {"timeBase": NOW, "chargingSchedule": PROFILE["chargingSchedule"][0], "evseId": 1},  # type: ignore[index]
        {"status": "Accepted"},
    ),
    (
        "2.0.1",
        "NotifyEvent",
        {
            "generatedAt": NOW,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": NOW,
                    "trigger": "Alerting",
                    "actualValue": "Faulted",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector"},
                    "variable": {"name": "AvailabilityState"},
                }
            ],
        },
        {},
    ),
    ("2.0.1", "NotifyMonitoringReport", {"requestId": 1, "seqNo": 0, "generatedAt": NOW}, {}),
    ("2.0.1", "NotifyReport", {"requestId": 1, "seqNo": 0, "generatedAt": NOW}, {}),
    ("2.0.1", "PublishFirmwareStatusNotification", {"status": "Published"}, {}),
    (
        "2.0.1",
        "ReportChargingProfiles",
        {"requestId": 1, "chargingLimitSource": "EMS", "evseId": 1, "chargingProfile": [PROFILE]},
        {},
    ),
    (
        "2.0.1",
        "ReservationStatusUpdate",
        {"reservationId": 1, "reservationUpdateStatus": "Expired"},
        {},
    ),
    ("2.0.1", "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": NOW}, {}),
    (
        "2.0.1",
        "SignCertificate",
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
        {"status": "Rejected"},
    ),
]


@pytest.fixture
async def station(api: TenantApi) -> ChargePointSetup:
    return await register_charge_point(api, location=False, calendar=None)


@pytest.mark.parametrize(
    ("version", "action", "request_payload", "answer_payload"),
    MESSAGES,
    ids=[f"{version}-{action}" for version, action, _, _ in MESSAGES],
)
async def test_a_charger_message_gets_a_conforming_answer_and_is_logged(
    api: TenantApi,
    live_server: str,
    station: ChargePointSetup,
    version: str,
    action: str,
    request_payload: dict[str, Any],
    answer_payload: dict[str, Any],
) -> None:
    """The request is valid by the version's own schema (checked here, so the test is
    sound); the answer is exactly the one expected, valid by the response schema, and the
    message is listed in the charger's event log as sent."""
    get_validator(2, action, version).validate(request_payload)
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[f"ocpp{version}"]
    ) as connection:
        answer = await raw_call(connection, "m-1", action, request_payload)
    assert answer == [3, "m-1", answer_payload]
    get_validator(3, action, version).validate(answer[2])
    (event,) = await list_ocpp_events(api, station.entity_id)
    assert (event["kind"], event["detail"]) == (action, request_payload)


async def test_the_event_log_is_newest_first_and_paged(
    api: TenantApi, other_api: TenantApi, live_server: str, station: ChargePointSetup
) -> None:
    """Boots, status changes and notifications, newest first; pages follow links.next
    with signed tokens; another tenant cannot read the log."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp1.6"]
    ) as connection:
        await raw_call(
            connection, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
        for index, status in enumerate(["Available", "Preparing", "Charging", "Finishing"]):
            await raw_call(
                connection,
                f"s{index}",
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": status},
            )
        await raw_call(connection, "h", "Heartbeat", {})  # not an event: the last-seen time
    first = await api.http.get(f"/v1/entities/{station.entity_id}/ocpp-events?pageSize=2")
    assert first.status_code == 200, first.text
    body = first.json()
    assert [e["detail"].get("status") for e in body["data"]] == ["Finishing", "Charging"]
    assert body["meta"]["pageSize"] == 2
    second = await api.http.get(body["links"]["next"])
    assert [e["detail"].get("status") for e in second.json()["data"]] == ["Preparing", "Available"]
    events = await list_ocpp_events(api, station.entity_id)
    assert [e["kind"] for e in events] == ["StatusNotification"] * 4 + ["BootNotification"]
    received = [e["received"] for e in events]
    assert received == sorted(received, reverse=True)

    foreign = await other_api.http.get(f"/v1/entities/{station.entity_id}/ocpp-events")
    assert foreign.status_code == 404
    tampered = body["meta"]["continuationToken"][:-2] + "AA"
    refused = await api.http.get(
        f"/v1/entities/{station.entity_id}/ocpp-events", params={"continuationToken": tampered}
    )
    assert refused.status_code == 400
