"""What keeps web pages from driving the mock through a user's browser.

A mock on a developer's machine is reached by any page the developer opens. Two guards:

- `Origin`: a browser names the page's origin on every request that is not a plain GET; a
  request to `/_mock/` from another origin (a page elsewhere making the mock reset, move its
  clock or send callbacks where it says) is refused 403. Requests without `Origin` (curl, SDKs,
  the contract suite) and the dashboard's own requests pass.
- `Host`: a mock that listens on a loopback address answers only requests that name a loopback
  host (`localhost`, `127.0.0.1`, `[::1]`, ...), so that a page whose own name is made to
  resolve to 127.0.0.1 (DNS rebinding) cannot read it. A mock served on another address (with
  its control token) accepts any name.
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from .envelopes import CONTROL_PREFIX
from .refusals import refusal_body


def loopback_host(host: str) -> bool:
    """Whether a Host header's name (port left out) is a loopback one."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class BrowserGuard:
    def __init__(self, app: ASGIApp, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        path: str = scope["path"]
        problem = None
        if self.loopback_only and not loopback_host(host):
            problem = (f"this mock answers loopback names only (localhost, 127.0.0.1), "
                       f"not {host[:60]!r}")
        elif path.startswith(CONTROL_PREFIX + "/") and b"origin" in headers:
            origin = headers[b"origin"].decode("latin-1")
            if origin != f"{scope.get('scheme', 'http')}://{host}":
                problem = (f"the control plane takes no requests from other web pages "
                           f"(Origin {origin[:60]!r})")
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(refusal_body(scope["method"], path, 403, problem)).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
