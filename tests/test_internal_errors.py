"""A defect of the mock answers 500 code 0, is logged once, and leaves the connection usable."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Iterator

import pytest

from mock_server.testing import MockServer

REQUEST = (
    "GET /v1/tenants/demo/greenpin/{id} HTTP/1.1\r\nHost: localhost\r\n"
    "Authorization: Basic " + base64.b64encode(b"demo_key:demo_token").decode() + "\r\n\r\n"
)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("exomock", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_a_defect_answers_500_and_keeps_the_connection(records):
    with MockServer() as mock:
        greenpins = mock.app.state.backend.greenpins
        found = greenpins.get

        def defective(tenant, greenpin_id):
            if greenpin_id == "defect":
                raise RuntimeError("a defect of the mock")
            return found(tenant, greenpin_id)

        greenpins.get = defective
        ids: list[str] = []
        with socket.create_connection((mock.host, mock.port), timeout=10) as connection:
            for i in range(40):
                connection.sendall(REQUEST.format(id="defect" if i % 2 == 0 else "absent")
                                   .encode())
                status, headers, body = read_answer(connection)
                answer = json.loads(body)
                assert headers.get("connection") != "close"
                if i % 2 == 0:
                    assert status == 500
                    assert answer["code"] == 0
                    assert answer["success"] is False
                    # An error id, which the log has too; never the exception's text.
                    assert "a defect of the mock" not in answer["message"]
                    ids.append(answer["message"].rsplit("error id ", 1)[1])
                else:
                    assert status == 404  # the next request on the same connection is served
                    assert answer["code"] == 1
    internal = [m for m in records.messages if m.startswith("internal error ")]
    assert internal == [f"internal error {i} on GET /v1/tenants/demo/greenpin/defect" for i in ids]
    assert len(set(ids)) == 20
    assert not [m for m in records.messages if "Exception in ASGI application" in m]
