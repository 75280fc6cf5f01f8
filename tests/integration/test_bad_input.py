"""Bad input never yields a 5xx or a stack trace: one test per case, on every database."""

from __future__ import annotations

import pytest


def assert_clean_client_error(response, status=422):
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert "detail" in response.json()


async def test_malformed_json(client):
    response = await client.put(
        "/hello/alice", content=b'{"dateOfBirth": ', headers={"content-type": "application/json"}
    )
    assert_clean_client_error(response)


async def test_wrong_content_type(client):
    response = await client.put(
        "/hello/alice", content=b"dateOfBirth=2000-01-01", headers={"content-type": "text/plain"}
    )
    assert_clean_client_error(response)


async def test_missing_body(client):
    assert_clean_client_error(await client.put("/hello/alice"))


async def test_body_not_an_object(client):
    assert_clean_client_error(await client.put("/hello/alice", json=["2000-01-01"]))


async def test_unknown_field_rejected(client):
    assert_clean_client_error(
        await client.put("/hello/alice", json={"dateOfBirth": "2000-01-01", "admin": True})
    )


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-30",
        "2023-13-01",
        "2021-02-29",
        "not-a-date",
        "20000101",
        "2000-01-01T00:00:00",
        946684800,
        None,
        "",
    ],
)
async def test_impossible_or_malformed_dates(client, value):
    assert_clean_client_error(await client.put("/hello/alice", json={"dateOfBirth": value}))


async def test_future_date(client):
    response = await client.put("/hello/alice", json={"dateOfBirth": "2999-01-01"})
    assert_clean_client_error(response)
    assert "Date of birth cannot be in the future" in response.json()["detail"][0]["msg"]
    assert response.json()["detail"][0]["loc"] == ["body", "dateOfBirth"]


@pytest.mark.parametrize(
    "username",
    [
        "al1ce",
        "alice bob",
        "alice%20bob",
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth "alice"
        "alicé",
        "al-ice",
        "ali_ce",
        "a" * 10_000,
        "alice%00",
        "%F0%9F%98%80",
    ],
)
async def test_invalid_usernames(client, username):
    response = await client.put(f"/hello/{username}", json={"dateOfBirth": "2000-01-01"})
    assert_clean_client_error(response)
    assert ["path", "username"] in [error["loc"] for error in response.json()["detail"]]
    get = await client.get(f"/hello/{username}")
    assert_clean_client_error(get)


@pytest.mark.parametrize("limit", ["-1", "0", "1001", "99999999999999999999", "abc", "1.5"])
async def test_bad_limits(client, limit):
    assert_clean_client_error(await client.get("/list", params={"limit": limit}))
    assert_clean_client_error(await client.get("/visitors", params={"limit": limit}))


@pytest.mark.parametrize(
    "cursor", ["garbage", "W10", "WyJ4Il0", "eyJhIjoxfQ", "!!!", "x" * 600, "WzEsMl0"]
)
async def test_garbage_cursors(client, cursor):
    response = await client.get("/list", params={"cursor": cursor})
    assert_clean_client_error(response)
    assert_clean_client_error(await client.get("/visitors", params={"cursor": cursor}))


@pytest.mark.parametrize("before", ["0", "-5", str(2**63), "99999999999999999999999"])
async def test_out_of_range_before(client, before):
    assert_clean_client_error(await client.get("/list", params={"before": before}))


async def test_out_of_range_cursor(client):
    from shipshape.domain.pagination import encode_cursor

    assert_clean_client_error(await client.get("/list", params={"cursor": encode_cursor(2**70)}))


async def test_bad_ip_filter(client):
    assert_clean_client_error(await client.get("/list", params={"ip": "not-an-ip"}))


async def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(client):
    response = await client.get(
        "/", headers={"x-forwarded-for": "1.2.3.4", "forwarded": "for=5.6.7.8"}
    )
    assert response.json()["ip"] == "203.0.113.7"
    assert (await client.get("/list")).json()[0]["ip"] == "203.0.113.7"


async def test_forwarded_for_honoured_from_trusted_proxy(app_factory):
    async with app_factory(client_addr=("127.0.0.1", 1)) as client:
        response = await client.get("/", headers={"x-forwarded-for": "6.6.6.6, 198.51.100.9"})
        # The client itself claimed 6.6.6.6; the trusted proxy saw 198.51.100.9.
        assert response.json()["ip"] == "198.51.100.9"


async def test_oversized_body(client):
    response = await client.put(
        "/hello/alice",
        content=b'{"dateOfBirth":"' + b"1" * 200_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_clean_client_error(response, 413)


async def test_oversized_chunked_body(client):
    async def chunks():
        for _ in range(100):
            yield b"x" * 10_000

    response = await client.put(
        "/hello/alice", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_clean_client_error(response, 413)


async def test_unknown_path_and_method(client):
    assert_clean_client_error(await client.get("/does/not/exist"), 404)
    assert_clean_client_error(await client.delete("/hello/alice"), 405)
