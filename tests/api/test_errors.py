"""Every error is an RFC 9457 problem: routing, methods, body size, media type, validation."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support.api import TenantApi

PROBLEM = "application/problem+json"
LIMIT = 1024 * 1024
TOO_LARGE = f"the request body is larger than the limit of {LIMIT} bytes"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of that status: the media type and the four members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    return body


def entity_body_of_size(size: int) -> bytes:
    """A valid POST /v1/entities body of exactly `size` bytes."""
    skeleton = orjson.dumps({"type": "EV", "name": "padded", "properties": {"pad": ""}})
    body = orjson.dumps(
        {"type": "EV", "name": "padded", "properties": {"pad": "x" * (size - len(skeleton))}}
    )
    assert len(body) == size
    return body


async def in_chunks(body: bytes, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(body), chunk_size):
        yield body[offset : offset + chunk_size]


# ---- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/", "/v2/entities", "/v1/entities/x/y/z"])
def test_unknown_route_is_404_problem(anonymous: httpx.Client, path: str) -> None:
    body = assert_problem(anonymous.get(path), 404)
    assert body == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "there is no such resource; see /docs for the API",
    }


async def test_unknown_route_is_404_problem_for_an_authenticated_caller(api: TenantApi) -> None:
    assert_problem(await api.http.get("/v1/readings"), 404)


def test_wrong_method_is_405_problem(anonymous: httpx.Client) -> None:
    body = assert_problem(anonymous.delete("/v1/entities"), 405)
    assert body == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "this resource does not support that method",
    }


def test_get_on_authentication_is_405_allowing_post(anonymous: httpx.Client) -> None:
    response = anonymous.get("/v1/authentication")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_405_allow_header_lists_every_method_of_the_resource(anonymous: httpx.Client) -> None:
    # RFC 9110 15.5.6: a 405 MUST carry Allow with the resource's supported methods;
    # /v1/entities supports GET and POST.
    response = anonymous.delete("/v1/entities")
    assert_problem(response, 405)
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert allowed == {"GET", "POST"}


async def test_wrong_method_on_an_entity_is_405_problem(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    assert_problem(await api.http.delete(f"/v1/entities/{entity['id']}"), 405)


# ---- body size ----------------------------------------------------------------------------


def request_head(api: TenantApi, live_server: str, framing: str) -> bytes:
    url = httpx.URL(live_server)
    return (
        "POST /v1/entities HTTP/1.1\r\n"
        f"Host: {url.host}:{url.port}\r\n"
        f"Authorization: {api.http.headers['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"{framing}\r\n"
        "\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def exchange_raw(live_server: str, first: bytes, rest: bytes = b"") -> bytes:
    """Send `first`, give the server half a second to answer early, send `rest`, read all.

    Fails the test if the connection is reset while the client is still sending: a client
    without Expect: 100-continue sends its whole body before it reads, so a server that
    answers early must read (or linger over) the rest (RFC 9112 9.6), or the client may
    never see the answer.
    """
    url = httpx.URL(live_server)
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(first)
        await writer.drain()
        await asyncio.sleep(0.5)
        try:
            if rest:
                writer.write(rest)
                await writer.drain()
            return await asyncio.wait_for(reader.read(), timeout=10)
        except ConnectionError as error:
            pytest.fail(f"the connection was reset while the client was sending: {error!r}")
    finally:
        writer.close()


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, rest


async def test_announced_content_length_over_1_mib_is_413_before_the_body_is_sent(
    api: TenantApi, live_server: str
) -> None:
    """Only the headers are sent: the answer comes from the Content-Length alone."""
    raw = await exchange_raw(
        live_server, request_head(api, live_server, f"Content-Length: {LIMIT + 1}")
    )
    status, headers, payload = split_response(raw)
    assert status.startswith("HTTP/1.1 413 "), raw[:300]
    assert headers["content-type"] == PROBLEM
    assert headers["connection"] == "close"
    assert orjson.loads(payload[: int(headers["content-length"])]) == {
        "type": "about:blank",
        "title": "Request Entity Too Large",
        "status": 413,
        "detail": TOO_LARGE,
    }
    assert (await api.http.get("/v1/entities")).json()["data"] == []


async def test_client_sending_an_oversized_body_in_full_still_reads_the_413(
    api: TenantApi, live_server: str
) -> None:
    size = 2 * LIMIT
    raw = await exchange_raw(
        live_server,
        request_head(api, live_server, f"Content-Length: {size}"),
        entity_body_of_size(size),
    )
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]


async def test_chunked_body_over_1_mib_is_413(api: TenantApi) -> None:
    request = api.http.build_request(
        "POST",
        "/v1/entities",
        content=in_chunks(entity_body_of_size(LIMIT + 1)),
        headers={"Content-Type": "application/json"},
    )
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers
    response = await api.http.send(request)
    body = assert_problem(response, 413)
    assert body["detail"] == TOO_LARGE
    assert (await api.http.get("/v1/entities")).json()["data"] == []


async def test_connection_after_a_chunked_413_is_closed_cleanly_or_still_usable(
    api: TenantApi, live_server: str
) -> None:
    """A 2 MiB chunked body, then a pipelined GET /healthz on the same connection.

    The server may refuse the body mid-stream, but it must not reset the connection while
    the client sends; and if its 413 does not say Connection: close, the connection must
    answer the next request.
    """
    pieces = [chunk(b"x" * (64 * 1024)) for _ in range(32)]
    raw = await exchange_raw(
        live_server,
        request_head(api, live_server, "Transfer-Encoding: chunked") + b"".join(pieces[:17]),
        b"".join(pieces[17:]) + b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: test\r\n\r\n",
    )
    status, headers, rest = split_response(raw)
    assert status.startswith("HTTP/1.1 413 "), raw[:300]
    if headers.get("connection", "").lower() != "close":
        following = rest[int(headers["content-length"]) :]
        assert following.startswith(b"HTTP/1.1 200 "), (
            f"the 413 kept the connection open, but the next request got {following[:100]!r}"
        )


async def test_body_of_exactly_1_mib_is_accepted(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities",
        content=entity_body_of_size(LIMIT),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text[:300]


async def test_chunked_body_of_exactly_1_mib_is_accepted(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities",
        content=in_chunks(entity_body_of_size(LIMIT)),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text[:300]


def test_chunked_body_over_1_mib_on_authentication_is_413(anonymous: httpx.Client) -> None:
    body = b'{"clientId": "' + b"x" * LIMIT + b'", "clientSecret": "s"}'
    response = anonymous.post(
        "/v1/authentication",
        content=iter([body[:LIMIT], body[LIMIT:]]),
        headers={"Content-Type": "application/json"},
    )
    assert assert_problem(response, 413)["detail"] == TOO_LARGE


# ---- media type ---------------------------------------------------------------------------


async def test_text_plain_body_is_415(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities",
        content=b'{"type": "EV", "name": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    body = assert_problem(response, 415)
    assert body["title"] == "Unsupported Media Type"
    assert body["detail"] == "Content-Type text/plain is not supported; send application/json"
    assert (await api.http.get("/v1/entities")).json()["data"] == []


async def test_form_encoded_body_is_415(api: TenantApi) -> None:
    response = await api.http.post("/v1/entities", data={"type": "EV", "name": "x"})
    assert_problem(response, 415)


async def test_body_without_content_type_is_415(api: TenantApi) -> None:
    request = api.http.build_request("POST", "/v1/entities", content=b'{"type": "EV", "name": "x"}')
    assert "content-type" not in request.headers
    response = await api.http.send(request)
    body = assert_problem(response, 415)
    assert body["detail"] == "the request has a body but no Content-Type; send application/json"
    assert (await api.http.get("/v1/entities")).json()["data"] == []


async def test_chunked_body_without_content_type_is_415(api: TenantApi) -> None:
    request = api.http.build_request(
        "POST", "/v1/entities", content=in_chunks(b'{"type": "EV", "name": "x"}')
    )
    assert "content-type" not in request.headers
    assert_problem(await api.http.send(request), 415)


def test_text_plain_credentials_are_415(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/v1/authentication",
        content=b'{"clientId": "a", "clientSecret": "b"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_problem(response, 415)


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"],
)
async def test_json_media_types_are_accepted(api: TenantApi, content_type: str) -> None:
    response = await api.http.post(
        "/v1/entities",
        content=b'{"type": "EV", "name": "x"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


async def test_no_body_and_no_content_type_is_400_body_required(api: TenantApi) -> None:
    body = assert_problem(await api.http.post("/v1/entities"), 400)
    assert body["errors"] == [{"name": "body", "in": "body", "detail": "is required"}]


# ---- malformed JSON and validation --------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b'{"type": "EV",', b"{'type': 'EV'}", b"not json", b'{"type": "EV"} trailing']
)
async def test_malformed_json_is_400_naming_body(api: TenantApi, content: bytes) -> None:
    response = await api.http.post(
        "/v1/entities", content=content, headers={"Content-Type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-input"
    assert body["title"] == "Invalid input"
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert (error["name"], error["in"]) == ("body", "body")
    assert error["detail"].startswith("the body is not valid JSON")


async def test_json_that_is_not_an_object_is_400_naming_body(api: TenantApi) -> None:
    response = await api.http.post("/v1/entities", json=["EV", "x"])
    body = assert_problem(response, 400)
    assert [(e["name"], e["in"]) for e in body["errors"]] == [("body", "body")]


async def test_validation_error_is_400_not_422_with_named_errors(api: TenantApi) -> None:
    response = await api.http.post("/v1/entities", json={"type": "EV"})
    assert response.status_code == 400
    body = assert_problem(response, 400)
    assert body == {
        "type": "urn:chargeledger:problem:invalid-input",
        "title": "Invalid input",
        "status": 400,
        "detail": "name: is required",
        "errors": [{"name": "name", "in": "body", "detail": "is required"}],
    }


async def test_every_invalid_field_is_listed_with_name_in_and_detail(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities", json={"type": "Car", "name": "", "brand": 5, "extra": 1}
    )
    body = assert_problem(response, 400)
    assert {error["name"] for error in body["errors"]} == {"type", "name", "brand", "extra"}
    for error in body["errors"]:
        assert set(error) == {"name", "in", "detail"}
        assert error["in"] == "body"
        assert isinstance(error["detail"], str)
        assert error["detail"]
        assert f"{error['name']}: {error['detail']}" in body["detail"]


async def test_nested_body_field_is_named_with_a_dotted_path(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.post_session(
        entity["id"],
        {
            "externalId": "s1",
            "start": "2024-05-27T13:00:00Z",
            "end": "2024-05-27T15:00:00Z",
            "charge": {"total": {"t1": "lots", "total": 1}},
        },
    )
    body = assert_problem(response, 400)
    assert [(e["name"], e["in"]) for e in body["errors"]] == [("charge.total.t1", "body")]


async def test_invalid_query_parameter_is_400_naming_it_in_query(api: TenantApi) -> None:
    body = assert_problem(await api.http.get("/v1/entities", params={"pageSize": "many"}), 400)
    assert [(e["name"], e["in"]) for e in body["errors"]] == [("pageSize", "query")]


async def test_missing_query_parameter_is_400_naming_it(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    body = assert_problem(await api.http.get(f"/v1/entities/{entity['id']}/charge-sessions"), 400)
    assert body["errors"] == [{"name": "start", "in": "query", "detail": "is required"}]


async def test_invalid_path_parameter_is_400_naming_it_in_path(api: TenantApi) -> None:
    body = assert_problem(await api.http.get("/v1/entities/12345/features"), 400)
    assert [(e["name"], e["in"]) for e in body["errors"]] == [("entityId", "path")]


# ---- the shape of every problem -----------------------------------------------------------


async def test_every_kind_of_error_is_a_complete_problem(api: TenantApi, live_server: str) -> None:
    heat_pump = await api.create_entity("HeatPump")
    features_url = f"/v1/entities/{heat_pump['id']}/features"
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as anonymous:
        responses: list[tuple[int, httpx.Response]] = [
            (400, await api.http.post("/v1/entities", json={})),
            (400, await api.http.get("/v1/entities", params={"continuationToken": "x"})),
            (401, await anonymous.get("/v1/entities")),
            (
                401,
                await anonymous.post(
                    "/v1/authentication", json={"clientId": "a", "clientSecret": "b"}
                ),
            ),
            (404, await api.http.get(f"/v1/entities/{uuid.uuid4()}")),
            (404, await anonymous.get("/nowhere")),
            (405, await anonymous.put("/v1/entities")),
            (
                409,
                await api.http.patch(
                    features_url, json={"feature": "CaptureChargeSessions", "enabled": True}
                ),
            ),
            (
                415,
                await api.http.post(
                    "/v1/entities", content=b"{}", headers={"Content-Type": "text/xml"}
                ),
            ),
            (
                413,
                await anonymous.post(
                    "/v1/authentication",
                    content=in_chunks(b"x" * (LIMIT + 1)),
                    headers={"Content-Type": "application/json"},
                ),
            ),
        ]
    for status, response in responses:
        body = assert_problem(response, status)
        assert set(body) <= {"type", "title", "status", "detail", "instance", "errors"}
