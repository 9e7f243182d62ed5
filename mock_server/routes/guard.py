"""The control plane's guard: with a control token, every `/_mock/` request must carry it
(reading the dashboard's page and assets excepted: they hold no data).

`Authorization: Bearer TOKEN`, compared in constant time; otherwise 401 in the control plane's
envelope, with `WWW-Authenticate: Bearer`. The provider's API is not guarded by it (it has its
tenants' credentials).
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .envelopes import CONTROL_PREFIX

# The dashboard's page and its assets hold no state: a browser loads them by navigation, which
# cannot carry the token; the page then sends it with every request it makes.
# Readiness probes reach the health check without it too; it tells nothing but that the mock
# serves.
PUBLIC_PATHS = ("/_mock/ui", "/_mock/ui/", "/_mock/health")
PUBLIC_PREFIX = "/_mock/ui/assets/"


class ControlGuard:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.expected is not None
            and scope["type"] == "http"
            and (scope["path"] == CONTROL_PREFIX or scope["path"].startswith(CONTROL_PREFIX + "/"))
            and not _public(scope)
            and not self._allowed(scope)
        ):
            answer = JSONResponse(
                {"error": "the control plane needs Authorization: Bearer <control token>"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="exomock control plane"'},
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        assert self.expected is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self.expected)
        return False


def _public(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] in ("GET", "HEAD") and (
        path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)
    )
