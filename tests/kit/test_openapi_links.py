"""The document's links: what a POST creates, every operation under it is linked to, with
each path parameter filled from the creating call (its new id, or its own path)."""

import re

from chargeledger.api.app import create_app

DOCUMENT = create_app().openapi()
OPERATION_IDS = {
    operation["operationId"]: (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
}


def _links(path: str) -> dict[str, dict[str, object]]:
    links: dict[str, dict[str, object]] = DOCUMENT["paths"][path]["post"]["responses"]["201"][
        "links"
    ]
    return links


def test_every_operation_of_an_entity_is_linked_from_its_creation() -> None:
    linked = {link["operationId"] for link in _links("/v1/entities").values()}
    expected = {
        operation["operationId"]
        for path, item in DOCUMENT["paths"].items()
        if re.fullmatch(r"/v1/entities/\{entityId\}(/[a-z-]+)*", path)
        for operation in item.values()
    }
    assert expected
    assert linked == expected


def test_a_location_and_a_session_link_their_own_id_and_the_entity_of_the_path() -> None:
    for collection, created in (
        ("/v1/entities/{entityId}/locations", "locationId"),
        ("/v1/entities/{entityId}/charge-sessions", "sessionId"),
    ):
        links = _links(collection)
        assert links
        for link in links.values():
            path, _ = OPERATION_IDS[str(link["operationId"])]
            assert path.startswith(f"{collection}/{{{created}}}")
            assert link["parameters"] == {
                "entityId": "$request.path.entityId",
                created: "$response.body#/id",
            }


def test_a_webhook_links_the_operations_on_it_that_need_only_its_id() -> None:
    """Its log and secret rotation, not a single delivery (that needs a delivery id)."""
    linked = {
        OPERATION_IDS[str(link["operationId"])][0]
        for link in _links("/v1/webhooks").values()
        if link["parameters"] == {"webhookId": "$response.body#/id"}
    }
    assert linked == {
        "/v1/webhooks/{webhookId}",
        "/v1/webhooks/{webhookId}/secret/rotate",
        "/v1/webhooks/{webhookId}/deliveries",
    }
