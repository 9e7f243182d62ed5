"""Bad bodies get the documented envelope and code, never a 500, and leave state alone."""

from __future__ import annotations

import pytest

from .helpers import GP, GVN, allocation, create

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{", JSON, 400),
        (b"", JSON, 400),
        (b"   ", JSON, 400),
        (b"null", JSON, 400),
        (b"[]", JSON, 400),
        (b'"text"', JSON, 400),
        (b"\xff\xfe{}", JSON, 400),
        (b'{"transaction_id": NaN}', JSON, 400),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400),
        (b'{"transaction_id": "t", "a": {"numbers": ["98765\\u000000001"]}}', JSON, 400),
        (b'{"transaction_id": "' + b"x" * 100_000 + b'"}', JSON, 400),
        (b"transaction_id=t", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b'{"transaction_id": "t"}', {}, 415),
        (b'{"transaction_id": "t"}', {"content-type": "text/plain"}, 415),
        (b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}', JSON, 413),
    ],
    ids=[
        "truncated", "empty", "blank", "null", "array", "string", "not-utf8", "nan",
        "deep-nesting", "control-character", "long-string", "form", "no-type", "text", "2mb",
    ],
)
def test_bad_bodies_are_refused_with_code_5(client, content, headers, status):
    response = client.post(GP, content=content, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] in (3, 5, 16)
    assert body["success"] is False
    assert len(response.content) < 2000  # the answer does not echo a huge request


@pytest.mark.parametrize(
    "value",
    [10**30, -1, 0, 1.5, True, None, "١٢٣", "1e3", [], {}],
    ids=["huge", "negative", "zero", "float", "bool", "null", "arabic-digits", "exp", "list",
         "object"],
)
def test_odd_pin_lengths(client, value):
    body = allocation(a={"numbers": ["9876500001"], "vns": ["6292134464"], "pin_length": value})
    response = client.post(GP, json=body)
    assert (response.status_code, response.json()["code"]) == (400, 5)


def test_greenvn_bad_body_is_a_list(client):
    response = client.post(GVN, content=b"{", headers=JSON)
    assert response.status_code == 400
    assert response.json()[0]["code"] == 5


def test_huge_arrays_are_refused(client):
    body = allocation(a={"numbers": [f"98765{i:05d}" for i in range(5000)], "vns": ["6292134464"]})
    response = client.post(GP, json=body)
    assert (response.status_code, response.json()["code"]) == (400, 5)


def test_state_survives_hostile_requests(client):
    created = create(client, allocation())
    for content in (b"{", b"\x00" * 100, b"[" * 10_000):
        client.put(GP + "/" + created["greenpin_id"], content=content, headers=JSON)
        client.put(GP, content=content, headers=JSON)
    assert client.get(GP + "/" + created["greenpin_id"]).json()["data"] == created


def test_unknown_paths_and_methods_answer_json(client):
    assert client.get("/v1/tenants/demo/greenpin/a/b").status_code == 404
    response = client.patch(GP)
    assert response.status_code == 405
    assert response.json()["success"] is False


def test_credentials_are_compared_whatever_their_characters_and_not_kept_when_long(client):
    import base64

    from mock_server.routes.requests import ACCEPTED_HEADER_BYTES

    for token in ("tökén", "demo_token\u0000", "x" * 2000):
        header = "Basic " + base64.b64encode(f"demo_key:{token}".encode()).decode()
        answer = client.get("/v1/tenants/demo/greenpin", headers={"authorization": header},
                            auth=None)
        assert answer.status_code == 401, answer.text
    long_but_right = "Basic " + base64.b64encode(b"demo_key:demo_token").decode() + " " * 1000
    assert client.get("/v1/tenants/demo/greenpin", headers={"authorization": long_but_right},
                      auth=None).status_code == 200
    kept = client.app.state.context.credentials._accepted
    assert all(len(header) <= ACCEPTED_HEADER_BYTES for header in kept)
