"""Numbers sent where the schema wants text, turned into text before validation
(chargeledger.ocpp.charge_points.tolerance.numbers_as_strings).

Payloads are CALL payloads as chargers send them (camelCase). The properties draw payloads
from the ocpp package's own JSON schemas, so every schema feature the actions use is met.
"""

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.messages import get_validator

from chargeledger.ocpp.charge_points.tolerance import numbers_as_strings

PROPERTY_SETTINGS = settings(deadline=None)  # loading a schema the first time is slow

AT = "2024-06-03T19:30:00Z"


def validate(payload: Any, action: str, version: str) -> None:
    get_validator(2, action, version).validate(payload)


# --- OCPP 1.6 --------------------------------------------------------------------------------


def test_1_6_meter_values_sent_as_numbers_become_their_text() -> None:
    payload = {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [
            {
                "timestamp": AT,
                "sampledValue": [
                    {"value": 1234, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": 12.5, "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": 1234.0, "measurand": "SoC", "unit": "Percent"},
                    {"value": "42", "measurand": "Voltage", "unit": "V"},  # already text
                ],
            }
        ],
    }

    repaired, count = numbers_as_strings(payload, action="MeterValues", ocpp_version="1.6")

    assert count == 3
    values = [sampled["value"] for sampled in repaired["meterValue"][0]["sampledValue"]]
    assert values == ["1234", "12.5", "1234", "42"]
    assert (repaired["connectorId"], repaired["transactionId"]) == (1, 7)  # integers by schema
    validate(repaired, "MeterValues", "1.6")


def test_the_payload_handed_in_is_not_changed() -> None:
    payload = {"connectorId": 1, "meterValue": [{"timestamp": AT, "sampledValue": [{"value": 5}]}]}
    before = copy.deepcopy(payload)

    numbers_as_strings(payload, action="MeterValues", ocpp_version="1.6")

    assert payload == before


def test_1_6_stop_transaction_data_and_id_tag_sent_as_numbers_become_text() -> None:
    payload = {
        "transactionId": 7,
        "meterStop": 1245567,
        "timestamp": AT,
        "idTag": 4711,
        "transactionData": [
            {"timestamp": AT, "sampledValue": [{"value": 1234567}, {"value": 0.5}]},
            {"timestamp": AT, "sampledValue": [{"value": 1245567, "context": "Transaction.End"}]},
        ],
    }

    repaired, count = numbers_as_strings(payload, action="StopTransaction", ocpp_version="1.6")

    assert count == 4
    assert repaired["idTag"] == "4711"
    assert repaired["meterStop"] == 1245567
    assert [
        [sampled["value"] for sampled in meter_value["sampledValue"]]
        for meter_value in repaired["transactionData"]
    ] == [["1234567", "0.5"], ["1245567"]]
    validate(repaired, "StopTransaction", "1.6")


@pytest.mark.parametrize("action", ["Authorize", "StartTransaction"])
def test_1_6_an_id_tag_sent_as_a_number_becomes_text(action: str) -> None:
    payload: dict[str, Any] = {"idTag": 123456789}
    if action == "StartTransaction":
        payload.update(connectorId=1, meterStart=1234567, timestamp=AT)

    repaired, count = numbers_as_strings(payload, action=action, ocpp_version="1.6")

    assert count == 1
    assert repaired == {**payload, "idTag": "123456789"}
    validate(repaired, action, "1.6")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1234, "1234"),
        (0, "0"),
        (-5, "-5"),
        (12.5, "12.5"),
        (1234.0, "1234"),
        (-3.0, "-3"),
        (0.1, "0.1"),
        (123456789012345.0, "123456789012345"),  # integral and under 1e15: no ".0"
        (1e15, "1000000000000000.0"),  # from 1e15 on, Python's own text of the float
        (1e20, "1e+20"),
        (1.5e-7, "1.5e-07"),
        (10**20, "100000000000000000000"),
    ],
)
def test_a_number_becomes_its_text_without_a_needless_point_zero(number: float, text: str) -> None:
    repaired, count = numbers_as_strings(
        {"vendorId": "acme", "data": number}, action="DataTransfer", ocpp_version="1.6"
    )

    assert count == 1
    assert repaired["data"] == text
    assert float(repaired["data"]) == number


@pytest.mark.parametrize(
    ("action", "version", "payload"),
    [
        ("Authorize", "1.6", {"idTag": True}),
        ("DataTransfer", "1.6", {"vendorId": False, "data": True}),
        (
            "MeterValues",
            "1.6",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": AT, "sampledValue": [{"value": True}]}],
            },
        ),
        ("Authorize", "2.0.1", {"idToken": {"idToken": False, "type": "ISO14443"}}),
    ],
)
def test_booleans_are_never_turned_into_text(
    action: str, version: str, payload: dict[str, Any]
) -> None:
    assert numbers_as_strings(payload, action=action, ocpp_version=version) == (payload, 0)


def test_numbers_where_the_schema_wants_numbers_stay_numbers() -> None:
    payload = {
        "connectorId": 1.0,  # not an integer, and not the text the schema never wants either
        "idTag": "ABC",
        "meterStart": 1234567,
        "reservationId": 3,
        "timestamp": AT,
    }

    assert numbers_as_strings(payload, action="StartTransaction", ocpp_version="1.6") == (
        payload,
        0,
    )


def test_numbers_under_properties_the_schema_does_not_name_stay_as_they_are() -> None:
    payload = {"idTag": 5, "vendorExtension": 7, "nested": {"idTag": 8}}

    repaired, count = numbers_as_strings(payload, action="Authorize", ocpp_version="1.6")

    assert count == 1
    assert repaired == {"idTag": "5", "vendorExtension": 7, "nested": {"idTag": 8}}


@pytest.mark.parametrize(
    ("action", "version"),
    [
        ("NoSuchAction", "1.6"),
        ("TransactionEvent", "1.6"),  # a 2.0.1 action
        ("StartTransaction", "2.0.1"),  # a 1.6 action
        ("MeterValues", "3.0"),  # no such OCPP version
        ("", "1.6"),
        ("Meter\x00Values", "1.6"),
    ],
)
def test_an_action_without_a_schema_leaves_the_payload_as_it_is(action: str, version: str) -> None:
    payload = {"idTag": 5, "value": 1234, "idToken": {"idToken": 7}}

    repaired, count = numbers_as_strings(payload, action=action, ocpp_version=version)

    assert repaired is payload
    assert count == 0


@pytest.mark.parametrize("payload", [[1, 2], "1234", 1234, None])
def test_a_payload_that_is_no_object_is_left_as_it_is(payload: Any) -> None:
    assert numbers_as_strings(payload, action="Authorize", ocpp_version="1.6") == (payload, 0)


def test_an_array_of_text_sent_as_an_object_is_left_as_it_is() -> None:
    payload = {"connectorId": 1, "meterValue": {"timestamp": AT, "sampledValue": 5}}

    assert numbers_as_strings(payload, action="MeterValues", ocpp_version="1.6") == (payload, 0)


# --- OCPP 2.0.1 ------------------------------------------------------------------------------


def transaction_event(id_token: Any, transaction_id: Any, value: Any) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "offline": False,
        "transactionInfo": {"transactionId": transaction_id, "chargingState": "Charging"},
        "idToken": {"idToken": id_token, "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": AT,
                "sampledValue": [
                    {
                        "value": value,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "kWh", "multiplier": 0},
                    }
                ],
            }
        ],
    }


def test_2_0_1_an_id_token_sent_as_a_number_becomes_text_and_meter_values_stay_numbers() -> None:
    payload = transaction_event(id_token=4711, transaction_id="tx-1", value=1234.5)

    repaired, count = numbers_as_strings(payload, action="TransactionEvent", ocpp_version="2.0.1")

    assert count == 1
    assert repaired == transaction_event(id_token="4711", transaction_id="tx-1", value=1234.5)
    assert repaired["evse"] == {"id": 1, "connectorId": 1}
    assert repaired["offline"] is False
    validate(repaired, "TransactionEvent", "2.0.1")


def test_2_0_1_a_transaction_id_sent_as_a_number_becomes_text() -> None:
    payload = transaction_event(id_token="ABC", transaction_id=987654, value=10)

    repaired, count = numbers_as_strings(payload, action="TransactionEvent", ocpp_version="2.0.1")

    assert count == 1
    assert repaired["transactionInfo"]["transactionId"] == "987654"
    assert repaired["meterValue"][0]["sampledValue"][0]["value"] == 10  # a number by schema
    validate(repaired, "TransactionEvent", "2.0.1")


def test_2_0_1_meter_values_that_conform_are_left_as_they_are() -> None:
    payload = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": AT,
                "sampledValue": [
                    {"value": 1234.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
                    {"value": 7, "measurand": "Power.Active.Import"},
                ],
            }
        ],
    }

    assert numbers_as_strings(payload, action="MeterValues", ocpp_version="2.0.1") == (payload, 0)


def test_2_0_1_a_unit_sent_as_a_number_becomes_text() -> None:
    """unitOfMeasure is reached through $ref definitions; its unit is text by schema."""
    payload = {
        "evseId": 1,
        "meterValue": [
            {"timestamp": AT, "sampledValue": [{"value": 1, "unitOfMeasure": {"unit": 1}}]}
        ],
    }

    repaired, count = numbers_as_strings(payload, action="MeterValues", ocpp_version="2.0.1")

    assert count == 1
    assert repaired["meterValue"][0]["sampledValue"][0]["unitOfMeasure"] == {"unit": "1"}


def test_2_0_1_data_transfer_data_of_any_type_stays_a_number() -> None:
    payload = {"vendorId": "acme", "data": 42}

    assert numbers_as_strings(payload, action="DataTransfer", ocpp_version="2.0.1") == (
        payload,
        0,
    )


# --- Properties, drawn from the actions' own schemas -----------------------------------------

# Actions a charger sends (CALLs to the central system), by version.
ACTIONS = [
    *(
        (action, "1.6")
        for action in (
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "SecurityEventNotification",
            "SignedFirmwareStatusNotification",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
        )
    ),
    *(
        (action, "2.0.1")
        for action in (
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "NotifyEvent",
            "SecurityEventNotification",
            "StatusNotification",
            "TransactionEvent",
        )
    ),
]


@dataclass(frozen=True)
class Number:
    """Drawn: a number sent where the schema wants a string."""

    number: int | float


@dataclass(frozen=True)
class Boolean:
    """Drawn: a boolean sent where the schema wants a string."""

    value: bool


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if isinstance(reference, str):
        name = reference.removeprefix("#/definitions/")
        resolved = root["definitions"][name]
        assert isinstance(resolved, dict)
        return resolved
    return schema


TIMESTAMPS = [AT, "2024-06-03T21:30:00+02:00", "2024-06-03T19:30:00.123Z"]
plain_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=16)
numeric_text = st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True)
numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
any_json = st.none() | st.booleans() | st.integers() | plain_text


@st.composite
def drawn_instance(
    draw: st.DrawFn, schema: dict[str, Any], root: dict[str, Any], defects: bool
) -> Any:
    """An instance of `schema` with, if `defects`, some plain strings drawn as Number or
    Boolean markers instead."""
    schema = resolve(schema, root)
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if kind == "object":
        instance: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for name, property_schema in schema.get("properties", {}).items():
            if name in required or draw(st.booleans()):
                instance[name] = draw(drawn_instance(property_schema, root, defects))
        if schema.get("additionalProperties", True) is not False and draw(st.booleans()):
            instance["vendorExtension"] = draw(numbers)  # not named: left alone
        return instance
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 2), low + 2)
        size = draw(st.integers(low, high))
        return [draw(drawn_instance(schema["items"], root, defects)) for _ in range(size)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return draw(st.sampled_from(TIMESTAMPS))
        max_length = schema.get("maxLength", 100)
        if defects and draw(st.integers(0, 3)) == 0:
            if draw(st.integers(0, 4)) == 0:
                return Boolean(draw(st.booleans()))
            return Number(draw(numbers.filter(lambda n: len(repr(n)) <= max_length)))
        return draw((plain_text | numeric_text).filter(lambda text: len(text) <= max_length))
    if kind == "integer":
        return draw(st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)))
    if kind == "number":
        return draw(
            st.integers(-(10**9), 10**9)
            | st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
        )
    if kind == "boolean":
        return draw(st.booleans())
    assert kind is None, f"schema type {kind!r} not drawn"
    return draw(any_json)  # no type: anything


def sent(template: Any) -> Any:
    """The payload as the charger sends it: markers replaced by their number or boolean."""
    if isinstance(template, Number):
        return template.number
    if isinstance(template, Boolean):
        return template.value
    if isinstance(template, dict):
        return {name: sent(value) for name, value in template.items()}
    if isinstance(template, list):
        return [sent(value) for value in template]
    return template


def markers(template: Any, kind: type) -> int:
    if isinstance(template, kind):
        return 1
    if isinstance(template, dict):
        return sum(markers(value, kind) for value in template.values())
    if isinstance(template, list):
        return sum(markers(value, kind) for value in template)
    return 0


def assert_repaired(result: Any, template: Any) -> None:
    """Each Number is now text that reads back as the number; all else is unchanged, type
    and all (True is not 1, 1 is not 1.0)."""
    if isinstance(template, Number):
        assert isinstance(result, str)
        assert float(result) == template.number
        number = template.number
        if isinstance(number, int):
            assert result == str(number)
        elif number.is_integer() and abs(number) < 1e15:
            assert result == str(int(number))  # 1234.0 is "1234"
        return
    if isinstance(template, Boolean):
        assert result is template.value
        return
    assert type(result) is type(template)
    if isinstance(template, dict):
        assert list(result) == list(template)
        for name, value in template.items():
            assert_repaired(result[name], value)
    elif isinstance(template, list):
        assert len(result) == len(template)
        for item, value in zip(result, template, strict=True):
            assert_repaired(item, value)
    else:
        assert result == template


@st.composite
def payloads(draw: st.DrawFn, *, defects: bool) -> tuple[str, str, Any]:
    action, version = draw(st.sampled_from(ACTIONS))
    schema = get_validator(2, action, version).schema
    return action, version, draw(drawn_instance(schema, schema, defects))


@PROPERTY_SETTINGS
@given(drawn=payloads(defects=False))
def test_a_conforming_payload_comes_back_identical(drawn: tuple[str, str, Any]) -> None:
    action, version, payload = drawn
    validate(payload, action, version)  # the drawing is right: it conforms
    before = copy.deepcopy(payload)

    repaired, count = numbers_as_strings(payload, action=action, ocpp_version=version)

    assert count == 0
    assert_repaired(repaired, before)
    assert payload == before


@PROPERTY_SETTINGS
@given(drawn=payloads(defects=True))
def test_numbers_sent_as_text_are_all_repaired_and_then_the_payload_validates(
    drawn: tuple[str, str, Any],
) -> None:
    """Numbers where the schema wants strings: each becomes its text, counted; booleans stay
    (and are not counted). With no boolean among the defects, the result validates."""
    action, version, template = drawn
    payload = sent(template)

    repaired, count = numbers_as_strings(payload, action=action, ocpp_version=version)

    assert count == markers(template, Number)
    assert_repaired(repaired, template)
    if markers(template, Boolean) == 0:
        validate(repaired, action, version)
    assert numbers_as_strings(repaired, action=action, ocpp_version=version)[1] == 0
