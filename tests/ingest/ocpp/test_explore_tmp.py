import json
from tests.ingest.ocpp.charger import *
from tests.support.api import TenantApi

async def test_explore(api: TenantApi, live_server: str) -> None:
    setup = await register_charge_point(api)
    for sp in ("ocpp1.6", "ocpp2.0.1"):
        async with connect_raw(live_server, setup.identity, setup.password, subprotocols=[sp]) as c:
            for frame in ["{not json", "[2, \"u1\"]", "{}", "[]", "[7, \"u2\", \"Heartbeat\", {}]", json.dumps([2, "u3", "FooBar", {}]),
                          json.dumps([2, "u4", "DiagnosticsStatusNotification", {"status": "Idle"}]),
                          json.dumps([2, "u5", "StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": "2024-06-03T19:30:00Z"}]),
                          json.dumps([2, "u6", "StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": "2024-06-03T19:30:00Z", "meterStart": 5, "extra": 1}]),
                          json.dumps([2, "u7", "StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": "2024-06-03T19:30:00Z", "meterStart": "abc"}]),
                          json.dumps([2, "u8", "StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": "yesterday", "meterStart": 5}]),
                          json.dumps([2, "u9", "TransactionEvent", {"eventType": "Started"}]),
                          json.dumps([2, "u10", "DataTransfer", {"vendorId": "acme"}]),
                          json.dumps([2, "u11", "Heartbeat", {}]),
                          b"\xff\xfe".decode("latin-1"),
                          ]:
                await c.send(frame)
                print(sp, frame[:60], "->", await c.recv())
            await c.send(b"\xff\xfe\x00")
            print("binary ->", await c.recv())
