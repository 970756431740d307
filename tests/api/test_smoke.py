"""The server answers, authenticates, and lists a posted session in the seed's shape."""

from tests.support.api import TenantApi, session_body


async def test_post_then_list_round_trip(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    posted = await api.post_session(
        entity["id"], session_body("s1", "2024-05-27T13:00:00Z", "2024-05-27T15:00:00Z")
    )
    assert posted.status_code == 201, posted.text
    listed = await api.list_sessions(entity["id"], start="2024-05-27 13:00:00Z")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [record["id"] for record in body["data"]] == [posted.json()["id"]]
    assert body["data"][0]["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.0}
    assert body["links"] == {"next": None}
    assert body["meta"] == {"continuationToken": None, "pageSize": 25}
