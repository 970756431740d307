"""Chargers that bend the specification lose no charge (issue 9), over real sockets: the
exact frames such chargers send, the exact answers, and the sessions listed through the
seed's endpoint with the right energy, start and end.

The charge is the one of the other OCPP tests (charger.py): 2024-06-03 19:30Z to 20:30Z,
11 kW, the register from 1 234 567 Wh to 1 245 567 Wh: 11.0 kWh, average 11.0 kW, split by
BE-day-night at 22:00 local (20:00Z) into t1 = t2 = 5.5 kWh.
"""

import base64
import uuid
from typing import Any

from tests.ocpp.charge_points.charger import (
    EVENING,
    METER_START_WH,
    MINUTES,
    ChargePointSetup,
    connect_raw,
    energy16,
    energy201,
    expected_data,
    list_ocpp_events,
    meter_value,
    meter_wh,
    minutes_after,
    power201,
    raw_call,
    register_charge_point,
    soc16,
    stamp,
    tiers,
    wait_for_sessions,
)
from tests.support.api import TenantApi
from tests.support.ocmf_examples import KEBA_OCMF, KEBA_PUBLIC_KEY
from tests.support.ocmf_signing import new_meter_key, public_key_hex, signed_ocmf

METER_STOP_WH = meter_wh(MINUTES)
TOKEN_201 = {"idToken": "RFID-0001", "type": "ISO14443"}
EVENING_TOTAL = tiers(5.5, 5.5, 0.0, 0.0, 11.0)


def evening(setup: ChargePointSetup, *, id_tag: str | None = "RFID-0001") -> dict[str, Any]:
    return expected_data(
        setup,
        start="2024-06-03T19:30:00Z",
        end="2024-06-03T20:30:00Z",
        total=EVENING_TOTAL,
        average_kw=11.0,
        soc=None,
        id_tag=id_tag,
    )


def event201(
    event_type: str, transaction_id: str, minute: int, seq_no: int, *sampled: dict[str, Any]
) -> dict[str, Any]:
    """A TransactionEvent as a station puts it on the wire (camelCase)."""
    instant = minutes_after(EVENING, minute)
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": stamp(instant),
        "triggerReason": {"Started": "Authorized", "Ended": "EVCommunicationLost"}.get(
            event_type, "MeterValuePeriodic"
        ),
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id},
    }
    if event_type == "Started":
        payload["idToken"] = TOKEN_201
        payload["evse"] = {"id": 1, "connectorId": 1}
    if event_type == "Ended":
        payload["transactionInfo"]["stoppedReason"] = "EVDisconnected"
    if sampled:
        payload["meterValue"] = [meter_value(instant, *sampled)]
    return payload


async def send_event(
    connection: Any,
    unique_id: str,
    event_type: str,
    transaction_id: str,
    minute: int,
    seq_no: int,
    *sampled: dict[str, Any],
) -> Any:
    """Send a TransactionEvent; it must be answered with a CALLRESULT; its payload."""
    payload = event201(event_type, transaction_id, minute, seq_no, *sampled)
    return await accepted(connection, unique_id, "TransactionEvent", payload)


def register201(minute: int, context: str) -> dict[str, Any]:
    return energy201(meter_wh(minute), context=context)


async def accepted(connection: Any, unique_id: str, action: str, payload: Any) -> Any:
    """Send a CALL; it must be answered with a CALLRESULT; its payload."""
    answer = await raw_call(connection, unique_id, action, payload)
    assert answer[:2] == [3, unique_id], answer
    return answer[2]


async def start16(connection: Any) -> int:
    answer = await accepted(
        connection,
        "start",
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "RFID-0001",
            "meterStart": METER_START_WH,
            "timestamp": stamp(EVENING),
        },
    )
    assert answer["idTagInfo"] == {"status": "Accepted"}
    transaction_id: int = answer["transactionId"]
    return transaction_id


# ---- 1. a 2.0.1 TransactionEvent reusing a seqNo ----------------------------------------------


async def test_events_all_sent_with_seq_no_0_make_the_session(
    api: TenantApi, live_server: str
) -> None:
    """Simulators send seqNo 0 on every event. Each is answered and each counts: the Ended
    one closes the transaction, the Updated ones give its profile (the split at 20:00Z). The
    reuse is noted in the charger's event log."""
    setup = await register_charge_point(api)
    transaction_id = str(uuid.uuid4())
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        answer = await send_event(
            connection, "e-0", "Started", transaction_id, 0, 0, register201(0, "Transaction.Begin")
        )
        assert answer == {"idTokenInfo": {"status": "Accepted"}}
        for minute in range(5, MINUTES, 5):
            sampled = (register201(minute, "Sample.Periodic"), power201(11.0))
            answer = await send_event(
                connection, f"e-{minute}", "Updated", transaction_id, minute, 0, *sampled
            )
            assert answer == {}
        answer = await send_event(
            connection,
            "e-end",
            "Ended",
            transaction_id,
            MINUTES,
            0,
            register201(MINUTES, "Transaction.End"),
        )
        assert answer == {}
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)
    kinds = [event["kind"] for event in await list_ocpp_events(api, setup.entity_id)]
    assert "SeqNoReused" in kinds


async def test_a_seq_no_count_restarting_after_a_reboot_loses_nothing(
    api: TenantApi, live_server: str
) -> None:
    """The station counts 0, 1, 2 ... then reboots mid-charge and counts from 0 again, over a
    new connection. Every event after the reboot is stored; the session is complete."""
    setup = await register_charge_point(api)
    transaction_id = str(uuid.uuid4())
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        await send_event(
            connection, "s", "Started", transaction_id, 0, 0, register201(0, "Transaction.Begin")
        )
        for seq_no, minute in enumerate(range(10, 31, 10), start=1):
            await send_event(
                connection,
                f"u{minute}",
                "Updated",
                transaction_id,
                minute,
                seq_no,
                register201(minute, "Sample.Periodic"),
            )
    async with connect_raw(  # after the reboot
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        for seq_no, minute in enumerate(range(40, 51, 10)):
            await send_event(
                connection,
                f"v{minute}",
                "Updated",
                transaction_id,
                minute,
                seq_no,
                register201(minute, "Sample.Periodic"),
            )
        await send_event(
            connection,
            "end",
            "Ended",
            transaction_id,
            MINUTES,
            2,
            register201(MINUTES, "Transaction.End"),
        )
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)


# ---- 7. a 2.0.1 transaction whose Started never arrived ---------------------------------------


async def test_a_transaction_without_its_started_event_still_becomes_a_session(
    api: TenantApi, live_server: str
) -> None:
    """Only Updated and Ended events arrive (the Started one was lost in the station's
    queue). The transaction starts at its earliest event; its first register value is the
    start meter: the first Updated carries the Transaction.Begin value at 19:30Z, so the
    session is the whole charge. Its idToken comes with the Ended event."""
    setup = await register_charge_point(api)
    transaction_id = str(uuid.uuid4())
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        await send_event(
            connection, "u0", "Updated", transaction_id, 0, 1, register201(0, "Transaction.Begin")
        )
        for minute in (15, 30, 45):
            await send_event(
                connection,
                f"u{minute}",
                "Updated",
                transaction_id,
                minute,
                minute,
                register201(minute, "Sample.Periodic"),
            )
        ended = event201(
            "Ended", transaction_id, MINUTES, 99, register201(MINUTES, "Transaction.End")
        )
        ended["idToken"] = TOKEN_201
        assert await accepted(connection, "end", "TransactionEvent", ended) == {
            "idTokenInfo": {"status": "Accepted"}
        }
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)
    kinds = [event["kind"] for event in await list_ocpp_events(api, setup.entity_id)]
    assert "TransactionStartInferred" in kinds


async def test_a_late_started_event_fixes_an_inferred_start(
    api: TenantApi, live_server: str
) -> None:
    """Events arrive out of order: Updated from 19:40Z, then Ended, then (from an offline
    queue) the Started of 19:30Z with the start meter. The session is then the whole
    charge, whatever came first."""
    setup = await register_charge_point(api)
    transaction_id = str(uuid.uuid4())
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        for minute in (10, 20, 30, 40, 50):
            await send_event(
                connection,
                f"u{minute}",
                "Updated",
                transaction_id,
                minute,
                minute,
                register201(minute, "Sample.Periodic"),
            )
        await send_event(
            connection,
            "end",
            "Ended",
            transaction_id,
            MINUTES,
            MINUTES,
            register201(MINUTES, "Transaction.End"),
        )
        await send_event(
            connection,
            "start",
            "Started",
            transaction_id,
            0,
            0,
            register201(0, "Transaction.Begin"),
        )
        (session,) = await wait_for_sessions(
            api, setup.entity_id, until=lambda s: s[0]["data"]["start"] == "2024-06-03T19:30:00Z"
        )
    assert session["data"] == evening(setup)


# ---- 3. one bad value does not cost the frame --------------------------------------------------


async def test_a_soc_of_minus_one_next_to_the_register_is_dropped_alone_16(
    api: TenantApi, live_server: str
) -> None:
    """A 1.6 charger whose car reports no state of charge sends SoC -1 next to the energy
    register in every MeterValues and in StopTransaction's transactionData. Each call is
    answered; the registers make the session; the dropped value is in the event log (once:
    the same note again is recorded at its 10th, 100th, ... occurrence on a connection, so a
    charger repeating itself costs a few writes, not one per call)."""
    setup = await register_charge_point(api)
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        transaction_id = await start16(connection)
        for minute in (20, 40):
            answer = await accepted(
                connection,
                f"mv{minute}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "meterValue": [
                        meter_value(
                            minutes_after(EVENING, minute),
                            energy16(meter_wh(minute)),
                            {**soc16(0), "value": "-1"},
                        )
                    ],
                },
            )
            assert answer == {}
        answer = await accepted(
            connection,
            "stop",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": METER_STOP_WH,
                "timestamp": stamp(minutes_after(EVENING, MINUTES)),
                "idTag": "RFID-0001",
                "transactionData": [
                    meter_value(
                        minutes_after(EVENING, MINUTES),
                        energy16(METER_STOP_WH, context="Transaction.End"),
                        {**soc16(0), "value": "-1"},
                    )
                ],
            },
        )
        assert answer == {"idTagInfo": {"status": "Accepted"}}
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)
    dropped = [
        e for e in await list_ocpp_events(api, setup.entity_id) if e["kind"] == "ValuesDropped"
    ]
    (event,) = dropped
    assert event["detail"]["occurrences"] == 1
    (value,) = event["detail"]["values"]
    assert (value["measurand"], value["value"]) == ("SoC", "-1")
    assert "0 to 100" in value["reason"]


async def test_a_bad_value_in_a_201_ended_event_is_dropped_alone(
    api: TenantApi, live_server: str
) -> None:
    """The Ended event carries the end register and a SoC of -1: answered, the register
    ends the session."""
    setup = await register_charge_point(api)
    transaction_id = str(uuid.uuid4())
    bad_soc = {"value": -1, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        await send_event(
            connection,
            "s",
            "Started",
            transaction_id,
            0,
            0,
            register201(0, "Transaction.Begin"),
            bad_soc,
        )
        await send_event(
            connection,
            "u",
            "Updated",
            transaction_id,
            30,
            1,
            register201(30, "Sample.Periodic"),
            bad_soc,
        )
        assert (
            await send_event(
                connection,
                "e",
                "Ended",
                transaction_id,
                MINUTES,
                2,
                register201(MINUTES, "Transaction.End"),
                bad_soc,
            )
            == {}
        )
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)


# ---- 2. signed meter values ---------------------------------------------------------------------


def signed16(data: str, context: str) -> dict[str, Any]:
    """A 1.6 sampled value carrying signed data (Eichrecht chargers: OCMF)."""
    return {
        "value": data,
        "context": context,
        "format": "SignedData",
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
    }


async def charge16_with_signed_values(
    live_server: str, setup: ChargePointSetup, begin_data: str, end_data: str
) -> None:
    """The evening charge from a 1.6 calibrated charger: the begin reading signed in a
    MeterValues call, the end one in StopTransaction's transactionData."""
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        transaction_id = await start16(connection)
        answer = await accepted(
            connection,
            "mv-begin",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    meter_value(
                        EVENING,
                        energy16(METER_START_WH, context="Transaction.Begin"),
                        signed16(begin_data, "Transaction.Begin"),
                    )
                ],
            },
        )
        assert answer == {}
        answer = await accepted(
            connection,
            "stop",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": METER_STOP_WH,
                "timestamp": stamp(minutes_after(EVENING, MINUTES)),
                "idTag": "RFID-0001",
                "reason": "EVDisconnected",
                "transactionData": [
                    meter_value(
                        minutes_after(EVENING, MINUTES),
                        energy16(METER_STOP_WH, context="Transaction.End"),
                        signed16(end_data, "Transaction.End"),
                    )
                ],
            },
        )
        assert answer == {"idTagInfo": {"status": "Accepted"}}


def evening_ocmf(key: Any, tx: str) -> str:
    """The calibrated meter's signed reading of the evening charge's begin or end."""
    if tx == "B":
        return signed_ocmf(key, [("2024-06-03T19:30:00,000+0000 S", "B", 1234.567)])
    return signed_ocmf(
        key,
        [
            ("2024-06-03T19:30:00,000+0000 S", "B", 1234.567),
            ("2024-06-03T20:30:00,000+0000 S", "E", 1245.567),
        ],
    )


async def put_settings(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.http.put(f"/v1/entities/{entity_id}/ocpp-settings", json=body)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def evidence_of(api: TenantApi, entity_id: str, session_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}/evidence")
    assert response.status_code == 200, response.text
    evidence: dict[str, Any] = response.json()
    return evidence


async def session_of(api: TenantApi, entity_id: str, session_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def test_signed_meter_values_of_a_16_charger_are_kept_and_verified(
    api: TenantApi, live_server: str
) -> None:
    """The signed values no longer refuse the calls: the session is the plain registers'
    11.0 kWh. Without a key its evidence is signed but unverified; with the meter's key the
    two readings verify and give exactly the session's energy (verified); with another key
    they do not (badSignature)."""
    setup = await register_charge_point(api)
    meter = new_meter_key()
    await charge16_with_signed_values(
        live_server, setup, evening_ocmf(meter, "B"), evening_ocmf(meter, "E")
    )
    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == {
        **evening(setup),
        "meterEvidence": {"status": "noPublicKey", "verified": False},
    }

    settings = await put_settings(api, setup.entity_id, {"meterPublicKey": public_key_hex(meter)})
    assert settings["meterPublicKey"] == public_key_hex(meter)
    record = await session_of(api, setup.entity_id, session["id"])
    assert record["data"]["meterEvidence"] == {"status": "verified", "verified": True}
    assert record["data"]["charge"] == session["data"]["charge"]  # the energy is unchanged
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    signed = evidence["signedMeter"]
    assert (signed["status"], signed["verified"]) == ("verified", True)
    assert signed["meterSerial"] == "EM-0042"
    assert signed["start"] == {"time": "2024-06-03T19:30:00Z", "value": "1234.567", "unit": "kWh"}
    assert signed["end"] == {"time": "2024-06-03T20:30:00Z", "value": "1245.567", "unit": "kWh"}
    assert signed["signedEnergy"] == {"unit": "kWh", "value": 11.0}
    assert [value["verification"] for value in signed["values"]] == ["verified", "verified"]
    assert [value["context"] for value in signed["values"]] == [
        "Transaction.Begin",
        "Transaction.End",
    ]
    assert evidence["transaction"]["idTag"] == "RFID-0001"
    assert evidence["transaction"]["meterStart"] == {"unit": "Wh", "value": METER_START_WH}

    await put_settings(api, setup.entity_id, {"meterPublicKey": public_key_hex(new_meter_key())})
    record = await session_of(api, setup.entity_id, session["id"])
    assert record["data"]["meterEvidence"] == {"status": "badSignature", "verified": False}
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    assert [value["verification"] for value in evidence["signedMeter"]["values"]] == [
        "badSignature",
        "badSignature",
    ]


async def test_the_public_ocmf_example_is_parsed_and_verified_by_the_evidence_endpoint(
    api: TenantApi, live_server: str
) -> None:
    """A KEBA KCP30's signed record from the S.A.F.E. transparency software's test data
    (tests/support/ocmf_examples.py), sent as a 1.6 charger's signed end value. The
    endpoint shows what it says; with KEBA's published key its signature verifies, with
    another it does not. Its readings (0.2596 and 0.2597 kWh) are not this session's 11 kWh,
    and the evidence says so rather than vouch for the session."""
    setup = await register_charge_point(api)
    await charge16_with_signed_values(live_server, setup, KEBA_OCMF, KEBA_OCMF)
    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"]["charge"]["total"] == EVENING_TOTAL

    await put_settings(api, setup.entity_id, {"meterPublicKey": KEBA_PUBLIC_KEY})
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    signed = evidence["signedMeter"]
    (value,) = signed["values"][:1]
    assert value["data"] == KEBA_OCMF
    assert value["verification"] == "verified"
    ocmf = value["ocmf"]
    assert (ocmf["gatewayId"], ocmf["gatewaySerial"], ocmf["pagination"]) == (
        "KEBA_KCP30",
        "17619300",
        "T32",
    )
    assert [(r["transaction"], r["value"], r["unit"], r["time"]) for r in ocmf["readings"]] == [
        ("B", "0.2596", "kWh", "2019-08-13T10:03:15Z"),
        ("E", "0.2597", "kWh", "2019-08-13T10:03:36Z"),
    ]
    assert (signed["status"], signed["verified"]) == ("energyMismatch", False)

    await put_settings(api, setup.entity_id, {"meterPublicKey": public_key_hex(new_meter_key())})
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    assert evidence["signedMeter"]["values"][0]["verification"] == "badSignature"
    assert evidence["signedMeter"]["status"] == "badSignature"


async def test_signed_meter_values_of_a_201_station_are_kept_and_verified(
    api: TenantApi, live_server: str
) -> None:
    """A 2.0.1 station sends signedMeterValue (base64 of the OCMF text, with its public key)
    next to the plain register in Started and Ended. With the meter's key configured
    beforehand, the session says its energy comes from a verified calibrated meter."""
    setup = await register_charge_point(api)
    meter = new_meter_key()
    await put_settings(api, setup.entity_id, {"meterPublicKey": public_key_hex(meter)})

    def signed201(minute: int, context: str, tx: str) -> dict[str, Any]:
        sampled = register201(minute, context)
        sampled["signedMeterValue"] = {
            "signedMeterData": base64.b64encode(evening_ocmf(meter, tx).encode()).decode(),
            "signingMethod": "ECDSA-secp256r1-SHA256",
            "encodingMethod": "OCMF",
            "publicKey": base64.b64encode(bytes.fromhex(public_key_hex(meter))).decode(),
        }
        return sampled

    transaction_id = str(uuid.uuid4())
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        await send_event(
            connection, "s", "Started", transaction_id, 0, 0, signed201(0, "Transaction.Begin", "B")
        )
        await send_event(
            connection, "u", "Updated", transaction_id, 30, 1, register201(30, "Sample.Periodic")
        )
        assert (
            await send_event(
                connection,
                "e",
                "Ended",
                transaction_id,
                MINUTES,
                2,
                signed201(MINUTES, "Transaction.End", "E"),
            )
            == {}
        )
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == {
        **evening(setup),
        "meterEvidence": {"status": "verified", "verified": True},
    }
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    assert [v["encodingMethod"] for v in evidence["signedMeter"]["values"]] == ["OCMF", "OCMF"]
    assert all(v["publicKeySent"] for v in evidence["signedMeter"]["values"])


async def test_a_session_without_signed_values_has_plain_evidence(
    api: TenantApi, live_server: str
) -> None:
    """Every session has evidence: an OCPP one without signed values shows its transaction
    and no signed meter; a posted one shows only where it came from."""
    setup = await register_charge_point(api)
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        transaction_id = await start16(connection)
        await accepted(
            connection,
            "stop",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": METER_STOP_WH,
                "timestamp": stamp(minutes_after(EVENING, MINUTES)),
            },
        )
    (session,) = await wait_for_sessions(api, setup.entity_id)
    evidence = await evidence_of(api, setup.entity_id, session["id"])
    assert evidence["source"] == "ocpp"
    assert evidence["transaction"]["transactionId"] == str(transaction_id)
    assert evidence["transaction"]["meterStop"] == {"unit": "Wh", "value": METER_STOP_WH}
    assert evidence["signedMeter"] is None
    assert evidence["energy"] == {"unit": "kWh", "value": 11.0}

    missing = await api.http.get(
        f"/v1/entities/{setup.entity_id}/charge-sessions/{uuid.uuid4()}/evidence"
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


# ---- tolerated deviations ----------------------------------------------------------------------


async def test_deviations_are_refused_by_default_and_tolerated_when_switched_on(
    api: TenantApi, live_server: str
) -> None:
    """A 1.6 charger sends numbers as sampled values and timestamps without a zone. By
    default such calls are refused (the charger is told, and retries); switched on for this
    charger, they are read (numbers as their text, the time as UTC), the session is right,
    and each deviation is in its event log."""
    setup = await register_charge_point(api)
    start = {
        "connectorId": 1,
        "idTag": "RFID-0001",
        "meterStart": METER_START_WH,
        "timestamp": "2024-06-03T19:30:00",
    }
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        answer = await raw_call(connection, "start-1", "StartTransaction", start)
        assert answer[:3] == [4, "start-1", "PropertyConstraintViolation"], answer

    settings = await put_settings(
        api,
        setup.entity_id,
        {"toleratesZonelessTimestamps": True, "toleratesNumbersAsStrings": True},
    )
    assert settings["toleratesZonelessTimestamps"] is True
    async with connect_raw(  # tolerances apply from the next connection
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        answer = await accepted(connection, "start-2", "StartTransaction", start)
        transaction_id = answer["transactionId"]
        numeric = {
            "value": meter_wh(30),
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
        await accepted(
            connection,
            "mv",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": "2024-06-03T20:00:00", "sampledValue": [numeric]}],
            },
        )
        await accepted(
            connection,
            "stop",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": METER_STOP_WH,
                "timestamp": "2024-06-03T20:30:00",
                "idTag": "RFID-0001",
            },
        )
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening(setup)
    events = await list_ocpp_events(api, setup.entity_id)
    deviations = {e["detail"]["deviation"] for e in events if e["kind"] == "DeviationTolerated"}
    assert deviations == {"timestampWithoutZone", "numberAsString"}
    refused = [e for e in events if e["kind"] == "CallRefused"]
    assert [(e["detail"]["action"], e["detail"]["errorCode"]) for e in refused] == [
        ("StartTransaction", "PropertyConstraintViolation")
    ]


async def test_settings_need_credentials_and_a_readable_key(api: TenantApi) -> None:
    """PUT ocpp-settings: 409 for a ChargePoint without OCPP credentials, 400 (with the
    reason) for a key that is no EC public key; GET shows the defaults."""
    entity = await api.create_entity("ChargePoint", name="no ocpp", identifier="NO-OCPP-1")
    response = await api.http.put(f"/v1/entities/{entity['id']}/ocpp-settings", json={})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"

    setup = await register_charge_point(api, location=False, calendar=None)
    response = await api.http.put(
        f"/v1/entities/{setup.entity_id}/ocpp-settings", json={"meterPublicKey": "not a key"}
    )
    assert response.status_code == 400, response.text
    assert "meterPublicKey" in response.json()["detail"]
    response = await api.http.get(f"/v1/entities/{setup.entity_id}/ocpp-settings")
    assert response.json() == {
        "identity": setup.identity,
        "meterPublicKey": None,
        "toleratesZonelessTimestamps": False,
        "toleratesNumbersAsStrings": False,
    }


async def test_a_new_password_keeps_the_chargers_meter_key_and_tolerances(
    api: TenantApi, live_server: str
) -> None:
    """Changing a charger's password must not silently drop its settings: its sessions'
    signed values would stop verifying (the station was recreated, settings lost)."""
    setup = await register_charge_point(api, location=False, calendar=None)
    settings = {
        "meterPublicKey": KEBA_PUBLIC_KEY,
        "toleratesZonelessTimestamps": True,
        "toleratesNumbersAsStrings": True,
    }
    response = await api.http.put(f"/v1/entities/{setup.entity_id}/ocpp-settings", json=settings)
    assert response.status_code == 200, response.text
    response = await api.http.put(
        f"/v1/entities/{setup.entity_id}/ocpp-credentials",
        json={"password": "another-long-charger-password"},
    )
    assert response.status_code == 200, response.text
    response = await api.http.get(f"/v1/entities/{setup.entity_id}/ocpp-settings")
    kept = response.json()
    assert kept["meterPublicKey"] is not None
    assert kept["toleratesZonelessTimestamps"] is True
    assert kept["toleratesNumbersAsStrings"] is True
    # The new password is the one that works.
    async with connect_raw(
        live_server, setup.path, "another-long-charger-password", subprotocols=["ocpp1.6"]
    ) as connection:
        await accepted(connection, "hb", "Heartbeat", {})


async def test_the_transactions_own_meters_are_its_energy_whatever_the_samples_say(
    api: TenantApi, live_server: str
) -> None:
    """A virtual charge point's last MeterValues says 1.80134 kWh, then its StopTransaction
    says meterStop 1800 Wh: the transaction's own start and stop meters are its energy (what
    the charger bills), so the session is 1.8 kWh, not the larger sample."""
    setup = await register_charge_point(api, calendar=None)
    async with connect_raw(
        live_server, setup.path, setup.password, subprotocols=["ocpp1.6"]
    ) as connection:
        answer = await accepted(
            connection,
            "start",
            "StartTransaction",
            {"connectorId": 1, "idTag": "VCP", "meterStart": 0, "timestamp": stamp(EVENING)},
        )
        transaction_id = answer["transactionId"]
        for minute, kwh in ((5, "0.90021"), (10, "1.80134")):
            await accepted(
                connection,
                f"mv{minute}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "meterValue": [
                        meter_value(
                            minutes_after(EVENING, minute), energy16(0, unit="kWh") | {"value": kwh}
                        )
                    ],
                },
            )
        await accepted(
            connection,
            "stop",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 1800,
                "timestamp": stamp(minutes_after(EVENING, 11)),
            },
        )
        (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"]["charge"]["total"] == tiers(1.8, 0.0, 0.0, 0.0, 1.8)
