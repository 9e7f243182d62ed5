"""The server under test, reached only over HTTP, and the guard rails for talking to it.

With no `--base-url`, the mock is started as a separate process (`python -m mock_server serve`),
so the suite never imports it and treats it exactly like a remote server.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import requests

from .transport import ServerUnavailable

CREATE_PATHS = ("/greenpin", "/greenvn")


class BudgetExhausted(RuntimeError):
    """The run made as many requests as `--request-budget` allows."""


@dataclass
class Target:
    base_url: str
    tenant_id: str
    auth: tuple[str, str]
    account_sid: str
    # True when the server has the mock's control plane (`/_mock/`): clock, resets, calls.
    has_control_plane: bool = False
    process: subprocess.Popen[bytes] | None = None
    # `Authorization` for the control plane, when the mock was started with a control token.
    control_headers: dict[str, str] = field(default_factory=dict)
    # Where `/_mock/` is reached: the base URL unless a proxy (Prism) stands before the mock.
    control_base_url: str = ""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def control_url(self, path: str) -> str:
        return (self.control_base_url or self.base_url).rstrip("/") + path

    @property
    def greenpin(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/greenpin"

    @property
    def greenvn(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/greenvn"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_local_mock(seed: int | None) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    command = [sys.executable, "-m", "mock_server", "serve", "--port", str(port),
               "--log-level", "warning"]
    if seed is not None:
        command += ["--seed", str(seed)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the mock exited before serving: {error}")
        try:
            httpx.get(base_url + "/_mock/clock", timeout=1)
            return base_url, process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the mock did not start within 30 s")


# The socket's own words at the bottom of what requests and urllib3 wrap around them.
_SOCKET_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\")\]]{1,120})")


def connect_failure(exc: BaseException) -> str:
    """Why a request could not be sent, briefly: the socket's error ("Connection refused",
    "Name or service not known") rather than three layers of wrapping, else the start of it."""
    text = str(exc)
    found = _SOCKET_ERROR.findall(text)
    if found:
        return str(found[-1]).strip()
    return text[:200] or type(exc).__name__


class TargetUnusable(RuntimeError):
    """The server cannot be judged as given: it cannot be reached, or refuses the credentials."""


def preflight(session: requests.Session, base_url: str, tenant_id: str,
              auth: tuple[str, str]) -> None:
    """One request before the run, so that a wrong URL or wrong credentials are said at once,
    in one line, instead of as a failure of every test (TargetUnusable)."""
    url = f"{base_url.rstrip('/')}/v1/tenants/{tenant_id}/greenpin"
    try:
        answer = session.get(url, auth=auth)
    except requests.RequestException as exc:
        raise TargetUnusable(f"cannot connect to {base_url}: {connect_failure(exc)}") from None
    if answer.status_code in (401, 403):
        raise TargetUnusable(
            f"credentials rejected by {base_url} for tenant {tenant_id} "
            f"({answer.status_code}): give the right --tenant, --api-key and --api-token "
            "(EXOBRIDGE_TENANT, EXOBRIDGE_API_KEY, EXOBRIDGE_API_TOKEN)"
        )


class ControlTokenNeeded(RuntimeError):
    """The server has the mock's control plane, and it refuses the token given (or none)."""


def probe_control_plane(session: requests.Session, base_url: str,
                        headers: dict[str, str] | None = None) -> bool:
    try:
        response = session.get(base_url.rstrip("/") + "/_mock/clock", headers=headers)
    except (requests.RequestException, ServerUnavailable):
        return False
    if response.status_code == 401 and "control token" in response.text:
        raise ControlTokenNeeded(
            f"{base_url}/_mock/ needs its control token: --control-token or "
            "EXOBRIDGE_CONTROL_TOKEN" + (" (the one given was refused)" if headers else "")
        )
    return response.status_code == 200 and "epoch_seconds" in response.text


@dataclass
class Guard:
    """Counts requests against the budget and remembers what the run made: the allocations, for
    teardown; and, to reconcile a create whose answer was lost, the calls it placed, the
    `connection_id`s its GreenVN allocations hold, and the server's latest `Date`."""

    budget: int
    used: int = 0
    created: dict[str, str] = field(default_factory=dict)  # id -> URL of its collection
    deleted: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)  # SIDs of the calls the run placed
    connections: dict[str, str] = field(default_factory=dict)  # connection_id -> greenvn_id
    server_date: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spend(self) -> None:
        with self.lock:
            if self.used >= self.budget:
                raise BudgetExhausted(f"the request budget of {self.budget} is spent")
            self.used += 1

    def note(self, method: str, url: str, response: requests.Response) -> None:
        """Keeps what a create made (allocations by the URL of their collection, for deletion
        at the end; calls; GreenVN connection ids), and what a deletion deleted."""
        self.server_date = response.headers.get("date") or self.server_date
        if method not in ("POST", "DELETE") or response.status_code != 200:
            return
        collection = urlsplit(url).path.rstrip("/")
        if collection.endswith("/_mock/reset"):
            with self.lock:
                self.connections.clear()  # the mock forgot its allocations
            return
        try:
            body = response.json()
        except ValueError:
            return
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        connection_id = data.get("connection_id")
        if method == "DELETE":
            parent, _, deleted_id = collection.rpartition("/")
            if parent.endswith(CREATE_PATHS):
                with self.lock:
                    self.deleted.add(deleted_id)
                    if (isinstance(connection_id, str)
                            and self.connections.get(connection_id) == deleted_id):
                        del self.connections[connection_id]
            return
        if CALL_CREATE.search(collection):
            self.placed(_call_sid(body))
        allocation_id = data.get("greenpin_id") or data.get("greenvn_id")
        if not collection.endswith(CREATE_PATHS) or not isinstance(allocation_id, str):
            return
        self.adopt(allocation_id, url.split("?")[0].rstrip("/"))
        if collection.endswith("/greenvn") and isinstance(connection_id, str):
            with self.lock:
                self.connections[connection_id] = allocation_id

    def adopt(self, allocation_id: str, collection: str) -> bool:
        """Keeps `allocation_id` for deletion; False when it was already kept."""
        with self.lock:
            if allocation_id in self.created:
                return False
            self.created[allocation_id] = collection
            return True

    def placed(self, call_sid: object) -> bool:
        """Remembers a call the run placed; False when it was already known (or no SID)."""
        with self.lock:
            if not isinstance(call_sid, str) or call_sid in self.calls:
                return False
            self.calls.add(call_sid)
            return True


# The creates of a call: click-to-call (v3) and the classic connect (v1, with or without .json).
CALL_CREATE = re.compile(r"/(v3/accounts/[^/]+/calls|v1/Accounts/[^/]+/Calls/connect(\.json)?)$")


def _call_sid(body: object) -> object:
    """The SID in a create's answer: `response.call_details.sid` (v3) or `Call.Sid` (v1)."""
    path = ("Call", "Sid") if isinstance(body, dict) and "Call" in body else (
        "response", "call_details", "sid")
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body
