"""A served mock under load, under `kill -9`, under hostile bytes and under negative fuzzing.

Every test here talks to a real `exomock serve` process over HTTP, as users run it.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import Served

AUTH = ("demo_key", "demo_token")
BASIC = "Basic " + base64.b64encode(b"demo_key:demo_token").decode()
GP = "/v1/tenants/demo/greenpin"
JSON = {"content-type": "application/json", "authorization": BASIC}
ENVELOPE_KEYS = {"success", "status", "code", "message", "data"}


def allocation(transaction_id: str, a_number: str, b_number: str, vn: str,
               **extra: Any) -> dict[str, Any]:
    a_party: dict[str, Any] = {"numbers": [a_number], "vns": [vn]}
    a_party.update(extra.pop("a", {}))
    return {"transaction_id": transaction_id, "a": a_party, "b": {"numbers": [b_number]}, **extra}


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert body["success"] is False
    assert body["status"] == response.status_code
    assert body["data"] is None
    assert isinstance(body["message"], str)
    return body


# -- 1. Concurrency --------------------------------------------------------------------------------

CLIENTS = 32
REQUESTS = 160  # more than the 100 PINs of length 2 on one VN
CROWDED_VN = "+916292134471"


def test_concurrent_creates_share_the_pins_of_one_vn_exactly(served):
    server = served()
    barrier = threading.Barrier(CLIENTS)

    def client_run(worker: int) -> list[httpx.Response]:
        answers = []
        with httpx.Client(base_url=server.base, auth=AUTH, timeout=30) as client:
            barrier.wait(timeout=30)
            for i in range(worker, REQUESTS, CLIENTS):
                body = allocation(f"crowd-{i}", f"98765{i:05d}", f"98766{i:05d}", CROWDED_VN,
                                  a={"pin_length": 2})
                answers.append(client.post(GP, json=body))
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [r for batch in pool.map(client_run, range(CLIENTS)) for r in batch]

    assert len(answers) == REQUESTS
    assert Counter(r.status_code for r in answers) == {200: 100, 452: REQUESTS - 100}
    refused = [assert_envelope(r) for r in answers if r.status_code == 452]
    assert {b["code"] for b in refused} == {4}
    made = [r.json()["data"] for r in answers if r.status_code == 200]
    pins = [d["a"]["pin"] for d in made]
    assert len(set(pins)) == 100
    assert set(pins) == {f"{n:02d}" for n in range(100)}

    state = httpx.get(server.base + "/_mock/state", params={"tenant_id": "demo"}).json()
    active = [a for a in state["tenants"]["demo"]
              if a["state"] == "active" and CROWDED_VN in a["a"]["vns"]]
    assert len(active) == 100
    assert {a["id"]: a["a"]["pins"] for a in active} == {
        d["greenpin_id"]: [d["a"]["pin"]] for d in made
    }


# -- 2. Crash safety -------------------------------------------------------------------------------

STREAM_VN = "+916292134465"


def test_acknowledged_allocations_survive_kill_9_mid_stream(served, tmp_path: Path):
    state_file = str(tmp_path / "state.db")
    first = served("--state-file", state_file)
    pending_body = allocation("pending", "9876100000", "9876100001", "6292134464",
                              deallocation_policy={"duration": "2s"})
    pending = httpx.post(first.base + GP, auth=AUTH, json=pending_body)
    pending_made = time.monotonic()
    assert pending.status_code == 200, pending.text
    pending_data = pending.json()["data"]
    assert pending_data["state"] == "active"

    acknowledged: list[dict[str, Any]] = []
    other_answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=first.base, auth=AUTH, timeout=5) as client:
            for i in itertools.count():
                if stop.is_set():
                    return
                body = allocation(f"stream-{i}", f"98767{i:05d}", f"98768{i:05d}", STREAM_VN,
                                  a={"pin_length": 4})
                try:
                    response = client.post(GP, json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    acknowledged.append(response.json()["data"])
                else:
                    other_answers.append((response.status_code, response.text))

    writer = threading.Thread(target=stream, daemon=True)
    writer.start()
    started = time.monotonic()
    while time.monotonic() - started < 1.2 and not (
        time.monotonic() - started >= 0.5 and len(acknowledged) >= 100
    ):
        time.sleep(0.01)
    assert writer.is_alive()  # killed in the middle of the stream
    first.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.process.wait(timeout=10)
    writer.join(timeout=10)
    stop.set()
    assert not writer.is_alive()
    assert other_answers == []
    assert len(acknowledged) >= 20, "too few creates before the kill to test anything"
    print(f"{len(acknowledged)} creates acknowledged before kill -9")
    # The pending deallocation was still pending when the process died.
    assert killed - pending_made < 2

    second = served("--state-file", state_file)
    with httpx.Client(base_url=second.base, auth=AUTH, timeout=10) as client:
        for data in acknowledged:
            got = client.get(f"{GP}/{data['greenpin_id']}")
            assert got.status_code == 200, (data, got.text)
            assert got.json()["data"] == data

        # No PIN is served twice: the PINs of acknowledged allocations are still taken.
        for n, held in enumerate((acknowledged[0], acknowledged[-1])):
            body = allocation(f"again-{n}", f"98769{n:05d}", f"98769{n + 50:05d}", STREAM_VN,
                              a={"pin": held["a"]["pin"]})
            refused = client.post(GP, json=body)
            assert refused.status_code == 452, refused.text
            assert assert_envelope(refused)["code"] == 4

        # The deallocation scheduled before the kill still happens.
        deadline = time.monotonic() + 8
        while True:
            current = client.get(f"{GP}/{pending_data['greenpin_id']}").json()["data"]
            if current["state"] == "vault" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert current["state"] == "vault", current


# -- 3. Hostile input ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[Served]:
    server = Served()
    yield server
    server.stop(signal.SIGKILL)


_valid_numbers = itertools.count()


def _body(**changes: Any) -> bytes:
    body: dict[str, Any] = {"transaction_id": "hostile",
                            "a": {"numbers": ["9876500001"], "vns": ["6292134464"]}}
    for name, value in changes.items():
        if name.startswith("a_"):
            body["a"][name[2:]] = value
        else:
            body[name] = value
    return json.dumps(body).encode()


def _with_raw_number(raw: bytes) -> bytes:
    """A body whose a-party number is the JSON text `raw`, not a string."""
    return b'{"transaction_id": "t", "a": {"numbers": [' + raw + b'], "vns": ["6292134464"]}}'


def _case(content: bytes, status: int, codes: tuple[int | None, ...], *, id: str,
          method: str = "POST", path: str = GP, headers: dict[str, str] | None = None) -> Any:
    return pytest.param(method, path, content, JSON if headers is None else headers, status,
                        codes, id=id)


def _auth(value: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["authorization"] = value
    return headers


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


VALID = _body(transaction_id="never-made", a_numbers=["9876599999"])
BAD_NUMBER = 16
BAD_BODY = (5,)

HOSTILE = [
    # Bodies that are not a JSON object within limits: code 5.
    _case(b'{"transaction_id": "t", "a": {', 400, BAD_BODY, id="malformed-json"),
    _case(b"{'transaction_id': 't'}", 400, BAD_BODY, id="single-quoted-json"),
    _case(VALID, 415, BAD_BODY, id="content-type-text-plain",
          headers={"content-type": "text/plain", "authorization": BASIC}),
    _case(b"transaction_id=t", 415, BAD_BODY, id="content-type-form",
          headers={"content-type": "application/x-www-form-urlencoded", "authorization": BASIC}),
    _case(VALID, 415, BAD_BODY, id="content-type-missing", headers={"authorization": BASIC}),
    _case(b"", 400, BAD_BODY, id="empty-body"),
    _case(b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}', 413, BAD_BODY, id="10mb-body"),
    _case(b"[" * 100_000 + b"]" * 100_000, 400, BAD_BODY, id="nested-arrays-100000-deep"),
    _case(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, BAD_BODY,
          id="nested-objects-100000-deep"),
    _case(_body(a_numbers=[f"98765{i:05d}" for i in range(100_000)]), 413, BAD_BODY,
          id="array-of-100000-numbers-over-the-size-limit"),
    _case(_body(a_numbers=[1] * 100_000), 400, (5, BAD_NUMBER),
          id="array-of-100000-integers"),
    _case(_body(transaction_id="x" * 1_000_000), 400, BAD_BODY, id="1mb-string"),
    _case(_body(a_numbers=["9" * 1_000_000]), 400, (BAD_NUMBER,), id="1mb-number-string"),
    _case(b'{"transaction_id": "\xff\xfe\xfd", "a": {}}', 400, BAD_BODY, id="not-utf8"),
    _case(b"\xef\xbb\xbf" + VALID, 400, BAD_BODY, id="utf8-bom"),
    _case(b'{"transaction_id": "a\x01b", "a": {"numbers": ["9876500001"]}}', 400, BAD_BODY,
          id="raw-control-character-in-string"),
    _case(_body(a_numbers=["98765\x0000001"]), 400, (BAD_NUMBER,),
          id="escaped-nul-in-number"),
    _case(_body(a_numbers=["9876500001\n"]), 400, (BAD_NUMBER,), id="newline-after-number"),
    _case(b'{"transaction_id": NaN, "a": {}}', 400, BAD_BODY, id="nan"),
    _case(b'{"transaction_id": "\\ud800", "a": {"numbers": ["9876500001"], "vns": ["6292134464"]}}',
          400, BAD_BODY, id="lone-surrogate-escape"),
    _case(b'{"transaction_id": "t"} {"transaction_id": "u"}', 400, BAD_BODY,
          id="two-json-documents"),
    # Numbers in odd formats; the spec's pattern refuses every one (code 16).
    _case(_body(a_numbers=["+91-98765-00001"]), 400, (BAD_NUMBER,), id="number-with-dashes"),
    _case(_body(a_numbers=["+91 98765 00001"]), 400, (BAD_NUMBER,), id="number-with-spaces"),
    _case(_body(a_numbers=["९८७६५००००१"]), 400, (BAD_NUMBER,), id="number-devanagari-digits"),
    _case(_body(a_numbers=["0091 9876500001"]), 400, (BAD_NUMBER,), id="number-0091-prefix"),
    _case(_body(a_numbers=["+919876500001" + "0" * 20]), 400, (BAD_NUMBER,),
          id="number-too-long"),
    _case(_with_raw_number(b"1e10"), 400, (5, BAD_NUMBER), id="number-as-json-1e10"),
    _case(_with_raw_number(b"98765.00001"), 400, (5, BAD_NUMBER), id="number-as-json-float"),
    _case(_with_raw_number(b"-9876500001"), 400, (5, BAD_NUMBER), id="number-as-json-negative"),
    _case(_with_raw_number(b"9876500001"), 400, (5, BAD_NUMBER), id="number-as-json-integer"),
    # Unknown members.
    _case(_body(colour="red"), 400, BAD_BODY, id="unknown-top-level-field"),
    _case(_body(a_colour="red"), 400, BAD_BODY, id="unknown-party-field"),
    # Methods the path does not serve.
    _case(b"", 405, (None,), id="method-patch", method="PATCH"),
    _case(b"", 405, (None,), id="method-options", method="OPTIONS"),
    _case(b"", 405, (None,), id="method-trace", method="TRACE"),
    # Path traversal and odd bytes in ids: no such allocation (or no such path).
    _case(b"", 404, (None, 1), id="id-traversal-encoded-slashes", method="GET",
          path=GP + "/..%2F..%2Fetc%2Fpasswd"),
    _case(b"", 404, (None, 1), id="id-traversal-encoded-dots", method="GET",
          path=GP + "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
    _case(b"", 404, (1,), id="id-nul-byte", method="GET", path=GP + "/%00"),
    _case(b"", 404, (1,), id="id-nul-byte-delete", method="DELETE", path=GP + "/%00"),
    _case(b"", 404, (1,), id="id-percent-garbage", method="GET", path=GP + "/%ff%fe"),
    # Credentials: code 7 for every kind of broken Authorization header.
    _case(VALID, 401, (7,), id="auth-missing", headers=_auth(None)),
    _case(VALID, 401, (7,), id="auth-empty", headers=_auth("")),
    _case(VALID, 401, (7,), id="auth-garbage", headers=_auth("garbage")),
    _case(VALID, 401, (7,), id="auth-bearer", headers=_auth("Bearer demo_token")),
    _case(VALID, 401, (7,), id="auth-not-base64", headers=_auth("Basic !!!not base64!!!")),
    _case(VALID, 401, (7,), id="auth-base64-not-utf8", headers=_auth("Basic " + _b64(b"\xff\xfe"))),
    _case(VALID, 401, (7,), id="auth-no-colon", headers=_auth("Basic " + _b64(b"demo_key"))),
    _case(VALID, 401, (7,), id="auth-wrong-token",
          headers=_auth("Basic " + _b64(b"demo_key:wrong"))),
    _case(VALID, 401, (7,), id="auth-long-24kb",
          headers=_auth("Basic " + _b64(b"demo_key:" + b"x" * 18_000))),
    # Past the 32 KiB of headers, refused before any route (without a code of the documents).
    _case(VALID, 431, (None,), id="auth-huge-256kb",
          headers=_auth("Basic " + _b64(b"demo_key:" + b"x" * 192_000))),
]


@pytest.mark.parametrize(("method", "path", "content", "headers", "status", "codes"), HOSTILE)
def test_hostile_input_is_refused_and_the_next_create_succeeds(
    hostile_server, method, path, content, headers, status, codes
):
    with httpx.Client(base_url=hostile_server.base, timeout=10) as client:
        started = time.monotonic()
        response = client.request(method, path, content=content, headers=headers)
        assert time.monotonic() - started < 5
        assert response.status_code == status, response.text[:500]
        assert response.headers["content-type"] == "application/json"
        body = assert_envelope(response)
        assert body["code"] in codes, body
        assert len(response.content) < 2000  # the answer does not echo a huge request
        if status == 405:
            allowed = set(response.headers["allow"].split(", "))
            assert {"GET", "POST", "PUT"} <= allowed
            assert method not in allowed

        n = next(_valid_numbers)
        valid = allocation(f"after-{n}", f"98770{n:05d}", f"98771{n:05d}", "6292134464")
        after = client.post(GP, json=valid, auth=AUTH)
        assert after.status_code == 200, after.text
        assert after.json()["data"]["transaction_id"] == f"after-{n}"
        assert client.get("/_mock/state").status_code == 200
    assert hostile_server.process.poll() is None


def test_a_refused_lone_surrogate_leaves_no_allocation_behind(hostile_server):
    """A lone `\\ud800` once created the allocation, then failed to answer (500), leaving its
    number taken and every later listing of the tenant failing."""
    number = "9876900011"
    content = (b'{"transaction_id": "x\\udfff", "a": {"numbers": ["' + number.encode()
               + b'"], "vns": ["6292134464"]}}')
    with httpx.Client(base_url=hostile_server.base, auth=AUTH, timeout=10) as client:
        refused = client.post(GP, content=content, headers={"content-type": "application/json"})
        assert refused.status_code == 400, refused.text
        assert assert_envelope(refused)["code"] == 5
        made = client.post(GP, json=allocation("surrogate-after", number, "9876900012",
                                               "6292134464"))
        assert made.status_code == 200, made.text
        assert client.get(GP).status_code == 200
        assert client.get("/_mock/state").status_code == 200
        control = client.put("/_mock/tenants/demo/callback-urls", content=b'{"*": "\\ud800"}',
                             headers={"content-type": "application/json"})
        assert control.status_code == 400, control.text


def test_escaped_control_characters_in_a_transaction_id_are_kept(hostile_server):
    """The spec allows any string of 1-255 characters; what is given comes back unchanged
    (control characters, bidi overrides, and a character outside the BMP sent as a surrogate
    pair)."""
    transaction_id = "ctl-\u0000\u0001\u001f\u007f-\u202e-\U0001f600"
    body = allocation(transaction_id, "9876900001", "9876900002", "6292134464")
    with httpx.Client(base_url=hostile_server.base, auth=AUTH, timeout=10) as client:
        made = client.post(GP, json=body)
        assert made.status_code == 200, made.text
        data = made.json()["data"]
        assert data["transaction_id"] == transaction_id
        got = client.get(f"{GP}/{data['greenpin_id']}")
        assert got.json()["data"]["transaction_id"] == transaction_id


def test_a_body_of_many_small_wrong_items_is_answered_quickly(served):
    server = served()
    items = (1024 * 1024 - 100) // 2
    content = (b'{"transaction_id": "t", "a": {"numbers": [' + b",".join([b"1"] * items)
               + b'], "vns": ["6292134464"]}}')
    assert len(content) <= 1024 * 1024
    response = httpx.post(server.base + GP, content=content, headers=JSON, timeout=3)
    assert response.status_code == 400
    assert assert_envelope(response)["code"] in (5, BAD_NUMBER)


# -- 4. Negative fuzzing ---------------------------------------------------------------------------

# 30 an operation in the test run (about 450 cases); EXOMOCK_NEGATIVE_EXAMPLES=140 for the
# longer run (over 2,000).
NEGATIVE_EXAMPLES_PER_OPERATION = int(os.environ.get("EXOMOCK_NEGATIVE_EXAMPLES", "30"))
MIN_NEGATIVE_CASES = 14 * NEGATIVE_EXAMPLES_PER_OPERATION
# Generating negative cases costs far more than answering them: the operations are shared out
# among worker processes, one per core of the machine the file is meant to run on.
FUZZ_WORKERS = 2


@functools.cache
def _negative_schema(base_url: str) -> Any:
    import schemathesis

    from contract_tests.contract import Contract

    schema = schemathesis.openapi.from_dict(Contract().for_generation())
    schema.config.update(base_url=base_url, basic_auth=AUTH,
                         parameters={"path.tenant_id": "demo", "path.account_sid": "demo"})
    schema.config.generation.update(modes=[schemathesis.GenerationMode.NEGATIVE],
                                    max_examples=NEGATIVE_EXAMPLES_PER_OPERATION)
    return schema


def _fuzz_operation(task: tuple[str, str]) -> tuple[str, list[int], list[str]]:
    """Negative cases of one operation against the server: every status, and each 5xx told."""
    import hypothesis
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase

    base_url, label = task
    operations = [r.ok() for r in _negative_schema(base_url).get_all_operations()]
    operation = next(op for op in operations if op.label == label)
    # The run's own tenant and valid credentials, so that the generated data reaches the body
    # and query checks instead of stopping at authentication.
    fixed = {name: "demo" for name in ("tenant_id", "account_sid")
             if "{" + name + "}" in operation.path}
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE,
                                     path_parameters=fixed, headers={"Authorization": BASIC})
    statuses: list[int] = []
    server_errors: list[str] = []

    with requests.Session() as session:

        @hypothesis.settings(
            max_examples=NEGATIVE_EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @hypothesis.given(case=strategy)
        def fuzz(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, timeout=10)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(
                    f"{response.status_code} {case.as_curl_command()[:500]} "
                    f"-> {response.text[:300]}"
                )

        fuzz()
    return label, statuses, server_errors


@pytest.mark.slow
def test_negative_fuzzing_never_gets_a_server_error(served):
    server = served()
    labels = [r.ok().label for r in _negative_schema(server.base).get_all_operations()]
    context = multiprocessing.get_context("spawn")
    with context.Pool(FUZZ_WORKERS) as pool:
        results = pool.map(_fuzz_operation, [(server.base, label) for label in labels],
                           chunksize=1)

    count = sum(len(statuses) for _, statuses, _ in results)
    statuses = Counter(status for _, found, _ in results for status in found)
    print(f"negative cases: {count} over {len(results)} operations; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert [error for _, _, errors in results for error in errors] == []
    assert {label for label, _, _ in results} == set(labels)
    assert count >= MIN_NEGATIVE_CASES
    assert server.process.poll() is None
    valid = allocation("after-fuzz", "9876800001", "9876800002", "6292134464")
    assert httpx.post(server.base + GP, auth=AUTH, json=valid).status_code == 200
