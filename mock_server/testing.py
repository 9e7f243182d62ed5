"""A mock running in a background thread on a free port, with its control plane as methods.

Used by the pytest plugin, the contract suite (when no target is given) and anyone who wants a
real HTTP mock inside a Python process:

    with MockServer() as mock:
        httpx.post(mock.url("/v1/tenants/demo/greenpin"), auth=mock.auth, json=...)
        mock.advance_clock(3600)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .routes.browsers import loopback_host
from .serving import uvicorn_config
from .settings import Settings
from .store.base import Store
from .store.state import State

DEFAULT_TENANT = "demo"
DEFAULT_AUTH = ("demo_key", "demo_token")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class MockServer:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        store: Store | None = None,
        state: State | None = None,
        seed: int | None = None,
        control_token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # Inside someone else's process: leave its garbage collector alone.
        self.app = create_app(
            settings, store=store, state=state, seed=seed, tune_gc=False,
            control_token=control_token, loopback_only=loopback_host(host),
        )
        self.settings: Settings = self.app.state.settings
        self.tenant_id = DEFAULT_TENANT
        self.auth = DEFAULT_AUTH
        config = uvicorn_config(
            self.app, self.settings, host=host, port=self.port, log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.control_headers = (
            {"authorization": f"Bearer {control_token}"} if control_token else {}
        )
        self._control = httpx.Client(
            base_url=self.base_url, timeout=10, headers=self.control_headers
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> MockServer:
        self._thread = threading.Thread(target=self._server.run, name="exomock", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the mock did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._control.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control plane --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._control.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self, tenant_id: str | None = None) -> None:
        self._call("POST", "/_mock/reset", json={"tenant_id": tenant_id} if tenant_id else {})

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_mock/clock")
        return result

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/_mock/clock/advance", json={"seconds": seconds}
        )
        return result

    def state(self, tenant_id: str | None = None) -> dict[str, Any]:
        params = {"tenant_id": tenant_id} if tenant_id else None
        result: dict[str, Any] = self._call("GET", "/_mock/state", params=params)
        return result

    def callbacks(self, **filters: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_mock/callbacks", params=filters)[
            "callbacks"
        ]
        return result

    def set_callback_urls(self, urls: dict[str, str | None], tenant_id: str | None = None) -> None:
        """Where callbacks go, by event name (`"*"` for all); reset restores the configured ones."""
        self._call("PUT", f"/_mock/tenants/{tenant_id or self.tenant_id}/callback-urls", json=urls)

    def inject_internal_errors(self, count: int) -> None:
        self._call("POST", "/_mock/faults", json={"internal_errors": count})


@contextlib.contextmanager
def redis_server(folder: Path, binary: str | None = None) -> Iterator[str]:
    """A `redis-server` of its own on a free loopback port, without persistence, its files in
    `folder`, for as long as the block runs: its URL (`redis://127.0.0.1:PORT/0`), for
    `exomock serve --store`. `FileNotFoundError` without a redis-server on the PATH."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (Debian: apt-get install "
                                "redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
